"""What can be booked, from the business's settings alone: services by any of their names,
opening hours, the grid appointments start on, and who can do what. Pure: no store, no clock
of its own (times come in), so every rule is tested without a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from ..config.book import WEEKDAYS, BookConfig, ServiceConfig, opening_spans
from ..errors import ConfigError, NotBookable
from ..text import normalize


class Status(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware, the business's time zone
    end: datetime
    staff: str

    def overlaps(self, other: Slot) -> bool:
        return self.staff == other.staff and self.start < other.end and other.start < self.end


@dataclass(frozen=True)
class Appointment:
    id: str
    service: str
    slot: Slot
    phone: str
    name: str
    status: Status = Status.BOOKED


class Schedule:
    def __init__(self, cfg: BookConfig) -> None:
        self.cfg = cfg
        self.zone = ZoneInfo(cfg.timezone)
        unknown = sorted(set(cfg.hours) - set(WEEKDAYS))
        if unknown:
            raise ConfigError(f"book.hours.{unknown[0]}", f"not a weekday ({', '.join(WEEKDAYS)})")
        self._hours = {day: opening_spans(cfg.hours.get(day, ""), f"book.hours.{day}")
                       for day in WEEKDAYS}
        self._names: dict[str, ServiceConfig] = {}
        for service in cfg.services:
            for name in (service.name, *service.aliases):
                self._names[normalize(name)] = service
            for person in service.staff:
                if person not in cfg.staff:
                    raise ConfigError("book.services", f"{service.name}: {person!r} is not in "
                                      "book.staff")

    def service(self, name: str) -> ServiceConfig:
        found = self._names.get(normalize(name))
        if found is None:
            known = ", ".join(s.name for s in self.cfg.services)
            raise NotBookable(f"no service called {name!r} (we book: {known})")
        return found

    def find_service(self, text: str) -> ServiceConfig | None:
        """The service a caller's words name, if any ("תספורת", "a colour")."""
        words = f" {normalize(text)} "
        for name, service in sorted(self._names.items(), key=lambda kv: -len(kv[0])):
            if f" {name} " in words or any(f" {p}{name} " in words for p in ("ל", "ה", "ב", "לה")):
                return service
        return None

    def staff_for(self, service: ServiceConfig, wanted: str | None = None) -> tuple[str, ...]:
        able = service.staff or self.cfg.staff
        if wanted:
            if wanted not in able:
                raise NotBookable(f"{wanted} does not do {service.name}")
            return (wanted,)
        return able

    def candidates(self, service: ServiceConfig, day: date,
                   staff: str | None = None) -> list[Slot]:
        """Every start on the grid that day at which the service fits inside opening hours,
        for each person who can do it (earliest first)."""
        length = timedelta(minutes=service.minutes)
        step = timedelta(minutes=self.cfg.slot_minutes)
        out = []
        for a, b in self._hours[WEEKDAYS[day.weekday()]]:
            start = datetime.combine(day, a, self.zone)
            close = datetime.combine(day, b, self.zone)
            while start + length <= close:
                out += [Slot(start, start + length, who) for who in self.staff_for(service, staff)]
                start += step
        return sorted(out, key=lambda s: s.start)

    def free(self, service: ServiceConfig, day: date, busy: Iterable[Slot], now: datetime,
             staff: str | None = None) -> list[Slot]:
        taken = list(busy)
        return [s for s in self.candidates(service, day, staff)
                if s.start > now and not any(s.overlaps(b) for b in taken)]

    def check(self, service: ServiceConfig, slot: Slot, now: datetime) -> None:
        """Raise :class:`NotBookable` unless ``slot`` is one the business books."""
        if slot.start <= now:
            raise NotBookable("that time has passed")
        if slot.start.astimezone(self.zone).date() > (now + timedelta(days=self.cfg.horizon_days)).date():
            raise NotBookable(f"we book up to {self.cfg.horizon_days} days ahead")
        day = slot.start.astimezone(self.zone).date()
        if slot not in self.candidates(service, day, slot.staff):
            raise NotBookable("we are closed then, or it does not start on our grid")

    def nearest(self, service: ServiceConfig, wanted: datetime, free_by_day: Sequence[list[Slot]],
                n: int = 3) -> list[Slot]:
        """The ``n`` free slots nearest ``wanted`` among those given, one per start time."""
        seen: dict[datetime, Slot] = {}
        for slots in free_by_day:
            for s in slots:
                seen.setdefault(s.start, s)
        return sorted(seen.values(), key=lambda s: abs((s.start - wanted).total_seconds()))[:n]
