"""The embedded appointment book: SQLite in the state directory.

Two callers asking for the same slot at the same moment must not both get it, whether their
calls run in one daemon or in several worker processes on the VM. So a booking is one
``BEGIN IMMEDIATE`` transaction (SQLite's write lock, taken before the check) that looks for
an overlapping appointment of the same person and inserts only if there is none: the second
caller's transaction waits for the first's and then sees its row. Every database call runs in
a worker thread (``sqlite3`` blocks), one at a time per book, each on a connection of its own.
"""

from __future__ import annotations

import dataclasses
import secrets
import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import trio

from ..errors import NotFound, SlotTaken
from .base import BookBase
from .schedule import Appointment, Schedule, Slot, Status

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS appointments (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    staff TEXT NOT NULL,
    start TEXT NOT NULL,      -- UTC, ISO 8601: sorts as it should
    end TEXT NOT NULL,
    phone TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS by_time ON appointments (staff, start);
CREATE INDEX IF NOT EXISTS by_phone ON appointments (phone, start);
"""


_COLUMNS = "id, service, staff, start, end, phone, name, status"  # what _row reads


def _utc(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


class SqliteBook(BookBase):
    def __init__(self, path: str | Path, schedule: Schedule,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self.schedule = schedule
        self._now = clock or (lambda: datetime.now(schedule.zone))
        self._limiter = trio.CapacityLimiter(1)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._create()
        self.path.chmod(0o600)  # callers' names and numbers

    def _create(self, wait_s: float = 10.0) -> None:
        """WAL mode (the file keeps it: every later connection has it) and the schema.

        Worker processes starting together all get here at once, and SQLite refuses a
        change of journal mode at once ("database is locked", no busy wait) while another
        connection holds the file: a worker died at start-up that way (2 of 36 in six rounds
        of six processes). So it is tried again for up to ``wait_s``, and only here: once the
        file has it, a connection needs no pragma."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                with closing(self._connect()) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.02)  # start-up, before any call: nothing else on this thread

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10.0, isolation_level=None)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def job() -> T:
            db = self._connect()
            try:
                return work(db)
            finally:
                db.close()
        return await trio.to_thread.run_sync(job, limiter=self._limiter)

    def _row(self, row: tuple[str, ...]) -> Appointment:
        id_, service, staff, start, end, phone, name, status = row
        zone = self.schedule.zone
        slot = Slot(datetime.fromisoformat(start).astimezone(zone),
                    datetime.fromisoformat(end).astimezone(zone), staff)
        return Appointment(id_, service, slot, phone, name, Status(status))

    async def busy(self, day: date) -> list[Slot]:
        zone = self.schedule.zone
        lo = datetime.combine(day, datetime.min.time(), zone)
        hi = lo + timedelta(days=1)

        def work(db: sqlite3.Connection) -> list[Slot]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM appointments "
                "WHERE status = ? AND start < ? AND end > ?",
                (Status.BOOKED, _utc(hi), _utc(lo))).fetchall()
            return [self._row(r).slot for r in rows]
        return await self._run(work)

    async def book(self, service: str, start: datetime, phone: str, name: str,
                   staff: str | None = None) -> Appointment:
        """Book ``service`` at ``start`` for the caller, with ``staff`` or whoever is free;
        :class:`SlotTaken` if nobody able is, :class:`NotBookable` if it is not a slot."""
        req = self.request(service, start, staff)
        svc, start, end, able, now = req.service, req.start, req.end, req.able, req.now

        def work(db: sqlite3.Connection) -> Appointment:
            db.execute("BEGIN IMMEDIATE")
            try:
                for who in able:
                    clash = db.execute(
                        "SELECT 1 FROM appointments WHERE status = ? AND staff = ? "
                        "AND start < ? AND end > ? LIMIT 1",
                        (Status.BOOKED, who, _utc(end), _utc(start))).fetchone()
                    if clash is None:
                        appt = Appointment(secrets.token_hex(6), svc.name, Slot(start, end, who),
                                           phone, name)
                        db.execute("INSERT INTO appointments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   (appt.id, svc.name, who, _utc(start), _utc(end), phone, name,
                                    Status.BOOKED, _utc(now)))
                        db.execute("COMMIT")
                        return appt
                raise SlotTaken(f"{svc.name} at {start:%H:%M} on {start:%Y-%m-%d} is taken")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return await self._run(work)

    async def upcoming(self, phone: str) -> list[Appointment]:
        """The caller's booked appointments from now on, soonest first."""
        now = self._now()

        def work(db: sqlite3.Connection) -> list[Appointment]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM appointments "
                "WHERE phone = ? AND status = ? AND start > ? ORDER BY start",
                (phone, Status.BOOKED, _utc(now))).fetchall()
            return [self._row(r) for r in rows]
        return await self._run(work)

    async def cancel(self, appointment_id: str, phone: str) -> Appointment:
        """Cancel one of the caller's own appointments (another's is :class:`NotFound`)."""
        def work(db: sqlite3.Connection) -> Appointment:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(
                f"SELECT {_COLUMNS} FROM appointments "
                "WHERE id = ? AND phone = ? AND status = ?",
                (appointment_id, phone, Status.BOOKED)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise NotFound("no such appointment of yours")
            db.execute("UPDATE appointments SET status = ? WHERE id = ?",
                       (Status.CANCELLED, appointment_id))
            db.execute("COMMIT")
            return dataclasses.replace(self._row(row), status=Status.CANCELLED)
        return await self._run(work)
