"""The appointment book on a CalDAV calendar (Google Calendar, iCloud, Nextcloud, Fastmail,
Radicale) through the maintained ``caldav`` client: the business sees and edits its
appointments in the calendar it already uses.

Each appointment is an event: the service and the caller's name as its summary, and
``X-VOICED-*`` properties for the service, the staff member and the caller's number (how a
caller is found again). CalDAV has no transactions, so two callers racing for one slot are
settled the way optimistic stores are: each writes its event under a fresh UID, then reads the
slot back, and keeps it only if its event is there alone. Seeing a rival, it deletes its own
and tries again after a random pause (the rival may have kept the slot: then it is taken).
"The first written wins" is not safe here: a ``DTSTAMP`` is the writer's clock, not the order
the server made the events visible in, so a rival stamped earlier can appear after the other
has already read the slot alone and told its caller "booked" (two bookings, seen in CI). The
client blocks, so every request runs in a worker thread, one at a time per book.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import trio

from ..config import CaldavConfig
from ..errors import EngineError, NotFound, SlotTaken
from .base import BookBase
from .schedule import Appointment, Schedule, Slot, Status

T = TypeVar("T")
# Write-and-read-back rounds before a contested slot is given up as taken.
_ATTEMPTS = 5


class CaldavBook(BookBase):
    def __init__(self, cfg: CaldavConfig, password: str, schedule: Schedule,
                 clock: Callable[[], datetime] | None = None) -> None:
        from caldav.davclient import DAVClient

        self.schedule = schedule
        self._now = clock or (lambda: datetime.now(schedule.zone))
        self._limiter = trio.CapacityLimiter(1)
        self._client = DAVClient(url=cfg.url, username=cfg.username or None,
                                 password=password or None, timeout=round(cfg.timeout_s))
        self._cfg = cfg
        self._calendar: Any = None

    def _cal(self) -> Any:
        if self._calendar is None:
            client: Any = self._client  # the caldav client's methods are not annotated
            if self._cfg.calendar:
                self._calendar = client.principal().calendar(name=self._cfg.calendar)
            else:
                self._calendar = client.calendar(url=self._cfg.url)
        return self._calendar

    async def _run(self, work: Callable[[], T]) -> T:
        def job() -> T:
            try:
                return work()
            except (NotFound, SlotTaken):
                raise
            except Exception as exc:  # the server's or the network's: the tool says so
                raise EngineError(f"the calendar failed: {type(exc).__name__}") from None
        return await trio.to_thread.run_sync(job, limiter=self._limiter)

    def _events(self, lo: datetime, hi: datetime) -> list[tuple[Any, Appointment, datetime]]:
        out = []
        for event in self._cal().search(start=lo, end=hi, event=True):
            vevent = event.icalendar_component
            if str(vevent.get("STATUS", "")).upper() == "CANCELLED":
                continue
            start = vevent["DTSTART"].dt.astimezone(self.schedule.zone)
            end = vevent["DTEND"].dt.astimezone(self.schedule.zone)
            appt = Appointment(str(vevent["UID"]), str(vevent.get("X-VOICED-SERVICE", "")),
                               Slot(start, end, str(vevent.get("X-VOICED-STAFF", ""))),
                               str(vevent.get("X-VOICED-PHONE", "")), str(vevent.get("SUMMARY", "")))
            stamp = vevent["DTSTAMP"].dt if "DTSTAMP" in vevent else datetime.max.replace(tzinfo=UTC)
            out.append((event, appt, stamp))
        return out

    async def busy(self, day: date) -> list[Slot]:
        lo = datetime.combine(day, datetime.min.time(), self.schedule.zone)
        return await self._run(lambda: [a.slot for _, a, _ in self._events(lo, lo + timedelta(days=1))])

    async def book(self, service: str, start: datetime, phone: str, name: str,
                   staff: str | None = None) -> Appointment:
        req = self.request(service, start, staff)
        svc, start, end, able = req.service, req.start, req.end, req.able

        def attempt(who: str) -> Appointment | None:
            """One write and read-back; None if a rival was seen (own event deleted)."""
            mine = Slot(start, end, who)
            uid = f"voiced-{secrets.token_hex(8)}"
            self._cal().save_event(
                uid=uid, dtstart=start, dtend=end, summary=f"{svc.name}: {name or phone}",
                dtstamp=datetime.now(UTC), x_voiced_service=svc.name, x_voiced_staff=who,
                x_voiced_phone=phone)
            overlapping = [(a.id, event) for event, a, _ in self._events(start, end)
                           if a.slot.overlaps(mine)]
            if [i for i, _ in overlapping] == [uid]:
                return Appointment(uid, svc.name, mine, phone, name)
            for rival_uid, event in overlapping:
                if rival_uid == uid:
                    event.delete()
            return None

        def work() -> Appointment:
            for who in able:
                mine = Slot(start, end, who)
                for n in range(_ATTEMPTS):
                    if any(a.slot.overlaps(mine) for _, a, _ in self._events(start, end)):
                        break  # kept by someone: the next staff member, if any
                    booked = attempt(who)
                    if booked is not None:
                        return booked
                    time.sleep(random.uniform(0.02, 0.1 * 2 ** n))  # the rivals spread out
            raise SlotTaken(f"{svc.name} at {start:%H:%M} on {start:%Y-%m-%d} is taken")
        return await self._run(work)

    async def upcoming(self, phone: str) -> list[Appointment]:
        now = self._now()
        horizon = now + timedelta(days=self.schedule.cfg.horizon_days + 1)
        found = await self._run(lambda: [a for _, a, _ in self._events(now, horizon)])
        return sorted((a for a in found if a.phone == phone and a.slot.start > now),
                      key=lambda a: a.slot.start)

    async def cancel(self, appointment_id: str, phone: str) -> Appointment:
        now = self._now()
        horizon = now + timedelta(days=self.schedule.cfg.horizon_days + 1)

        def work() -> Appointment:
            for event, appt, _ in self._events(now, horizon):
                if appt.id == appointment_id and appt.phone == phone:
                    event.delete()
                    return dataclasses.replace(appt, status=Status.CANCELLED)
            raise NotFound("no such appointment of yours")
        return await self._run(work)
