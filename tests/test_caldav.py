"""The appointment book on a real CalDAV server: Radicale, started by the test on loopback,
through the real ``caldav`` client."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from voiced.book.schedule import Schedule
from voiced.config import BookConfig, CaldavConfig, ServiceConfig
from voiced.errors import NotFound, SlotTaken
from voiced.lab.testing.race import race_for

caldav = pytest.importorskip("caldav")
pytest.importorskip("radicale")
from voiced.book.caldav import CaldavBook  # noqa: E402

SCHEDULE = Schedule(BookConfig(staff=("Ruti",), services=(ServiceConfig("haircut", 30),)))
Z = SCHEDULE.zone
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=Z)
SUNDAY = date(2026, 12, 6)


def at(hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, 6, h, m, tzinfo=Z)


@pytest.fixture
def radicale(tmp_path: Path) -> Iterator[CaldavConfig]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{port}",
         "--storage-filesystem-folder", str(tmp_path / "collections"), "--auth-type", "none",
         "--logging-level", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        client = caldav.DAVClient(url=url, username="salon", password="x")
        client.principal().make_calendar(name="bookings")
        yield CaldavConfig(url=url, calendar="bookings", username="salon")
    finally:
        server.terminate()
        server.wait(10)


def book_on(cfg: CaldavConfig) -> CaldavBook:
    return CaldavBook(cfg, "x", SCHEDULE, clock=lambda: NOW)


async def test_booking_finding_and_cancelling_on_a_caldav_calendar(radicale: CaldavConfig) -> None:
    book = book_on(radicale)
    first = await book.book("haircut", at("10:00"), "+972501111111", "Moshe")
    assert first.slot.start == at("10:00") and first.slot.staff == "Ruti"
    with pytest.raises(SlotTaken):
        await book.book("haircut", at("10:15"), "+972502222222", "Avi")
    free = {s.start for s in await book.availability("haircut", SUNDAY)}
    assert at("09:30") in free and at("09:45") not in free and at("10:30") in free
    # The business's own calendar shows it, under the caller's name.
    [event] = caldav.DAVClient(url=radicale.url, username="salon", password="x") \
        .principal().calendar(name="bookings").events()
    assert "Moshe" in str(event.icalendar_component["SUMMARY"])
    [mine] = await book.upcoming("+972501111111")
    with pytest.raises(NotFound):
        await book.cancel(mine.id, "+972502222222")  # not theirs
    await book.cancel(mine.id, "+972501111111")
    assert await book.upcoming("+972501111111") == []
    assert at("10:00") in {s.start for s in await book.availability("haircut", SUNDAY)}


def test_two_callers_racing_for_one_slot_on_caldav_get_it_once(radicale: CaldavConfig) -> None:
    """No transactions in CalDAV: each writes and reads back, and keeps the slot only if its
    event is there alone. Three races, four callers each: every slot booked exactly once."""
    for hour in ("14:00", "15:00", "16:00"):
        results = race_for(lambda: book_on(radicale), 4, "haircut", at(hour))
        assert sorted(results) == ["booked"] + ["taken"] * 3, hour
    remaining = caldav.DAVClient(url=radicale.url, username="salon", password="x") \
        .principal().calendar(name="bookings").events()
    assert len(remaining) == 3
