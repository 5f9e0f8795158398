"""What every store of the appointment book shares: free times from the schedule and the
store's busy ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..config import ServiceConfig
from .schedule import Schedule, Slot


@dataclass(frozen=True)
class Request:
    """A booking asked for, checked against the schedule: who could take it, when."""

    service: ServiceConfig
    start: datetime
    end: datetime
    able: tuple[str, ...]
    now: datetime


class BookBase:
    schedule: Schedule
    _now: Callable[[], datetime]

    async def busy(self, day: date) -> list[Slot]:
        raise NotImplementedError

    def request(self, service: str, start: datetime, staff: str | None) -> Request:
        """The booking checked before the store is asked: :class:`NotBookable` if it is no
        slot of the business's (unknown service, closed, off the grid, past, too far)."""
        svc = self.schedule.service(service)
        now = self._now()
        start = start.astimezone(self.schedule.zone)
        end = start + timedelta(minutes=svc.minutes)
        able = self.schedule.staff_for(svc, staff)
        for who in able:
            self.schedule.check(svc, Slot(start, end, who), now)
        return Request(svc, start, end, able, now)

    async def availability(self, service: str, day: date, staff: str | None = None) -> list[Slot]:
        svc = self.schedule.service(service)
        return self.schedule.free(svc, day, await self.busy(day), self._now(), staff)

    async def nearest(self, service: str, wanted: datetime, n: int = 3) -> list[Slot]:
        """Free slots nearest ``wanted``: that day, the day before and the next two."""
        svc = self.schedule.service(service)
        day = wanted.astimezone(self.schedule.zone).date()
        days = [day + timedelta(days=d) for d in (-1, 0, 1, 2)]
        now = self._now()
        free = [self.schedule.free(svc, d, await self.busy(d), now) for d in days]
        return self.schedule.nearest(svc, wanted, free, n)
