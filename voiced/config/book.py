"""The appointment book's section: what the business offers, when, and by whom."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time

from ..errors import ConfigError
from .fields import in_range, one_of

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def opening_spans(text: str, key: str) -> list[tuple[time, time]]:
    """A day's opening hours, "09:00-13:00, 16:00-19:00", as (opens, closes) pairs."""
    spans = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            a, b = (time.fromisoformat(x.strip()) for x in part.split("-"))
        except ValueError:
            raise ConfigError(key, f"{part!r} is not HH:MM-HH:MM") from None
        if b <= a:
            raise ConfigError(key, f"{part!r} closes before it opens")
        spans.append((a, b))
    return spans


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    minutes: int = field(default=30, metadata=in_range(5, 24 * 60))
    # Other words callers use for it, in any of the line's languages ("תספורת", "cut").
    aliases: tuple[str, ...] = ()
    # Who does it; empty: any of book.staff.
    staff: tuple[str, ...] = ()
    price: int = field(default=0, metadata=in_range(0, 1_000_000))  # in business.currency; 0: not said


def _default_hours() -> Mapping[str, str]:
    # An Israeli week: Sunday to Thursday, a short Friday, closed on Shabbat.
    return types.MappingProxyType({
        "sun": "09:00-18:00", "mon": "09:00-18:00", "tue": "09:00-18:00", "wed": "09:00-18:00",
        "thu": "09:00-18:00", "fri": "09:00-13:00", "sat": "",
    })


def _default_services() -> tuple[ServiceConfig, ...]:
    return (ServiceConfig("haircut", 30, ("תספורת", "cut"), price=120),
            ServiceConfig("colour", 90, ("צבע", "color", "coloring", "colouring"), price=250))


@dataclass(frozen=True)
class BusinessConfig:
    """The business's facts, said by the scripted receptionist (an intent's answer may hold
    {name}, {address}, {hours}, {prices}, {policies}) and given to the LLM, from this one
    place with [book]'s hours and services, so the two never disagree."""

    name: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType(
        {"he": "מספרת רותי", "en": "Ruti's hair salon"}))
    address: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType(
        {"he": "רחוב הרצל 10, תל אביב. יש חניה ברחוב.",
         "en": "10 Herzl Street, Tel Aviv, with parking on the street."}))
    policies: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType(
        {"he": "אפשר לבטל עד 24 שעות מראש.", "en": "Please cancel at least 24 hours ahead."}))
    currency: Mapping[str, str] = field(default_factory=lambda: types.MappingProxyType(
        {"he": "שקלים", "en": "shekels"}))


@dataclass(frozen=True)
class CaldavConfig:
    # The calendar's URL (https://caldav.example.com/dav/calendars/user/bookings/), or the
    # server's with ``calendar`` naming one of the user's calendars.
    url: str = ""
    calendar: str = ""
    username: str = ""
    # The environment variable (or systemd credential) holding the password or app token.
    password_env: str = "VOICED_CALDAV_PASSWORD"
    timeout_s: float = field(default=10.0, metadata=in_range(1.0, 120.0))


@dataclass(frozen=True)
class BookConfig:
    # sqlite: a file in the state directory (the embedded default); caldav: a calendar on a
    # CalDAV server (Google Calendar, iCloud, Nextcloud, Fastmail).
    engine: str = field(default="sqlite", metadata=one_of("sqlite", "caldav"))
    timezone: str = "Asia/Jerusalem"
    # Appointments start on this grid (minutes past the hour).
    slot_minutes: int = field(default=15, metadata=in_range(5, 120))
    # Opening hours per weekday: "HH:MM-HH:MM", several separated by commas, "" closed.
    hours: Mapping[str, str] = field(default_factory=_default_hours)
    staff: tuple[str, ...] = ("",)  # "": one unnamed chair
    services: tuple[ServiceConfig, ...] = field(default_factory=_default_services)
    # How far ahead callers may book.
    horizon_days: int = field(default=60, metadata=in_range(1, 3650))
    caldav: CaldavConfig = field(default_factory=CaldavConfig)


@dataclass(frozen=True)
class HttpToolConfig:
    """One of the business's own tools: voiced POSTs the arguments as JSON to ``url``, signed
    (``X-Voiced-Signature``: HMAC-SHA256 of ``<X-Voiced-Timestamp>.<body>`` with the secret in
    ``tools.secret_env``), and hands the JSON answer to the brain."""

    name: str
    description: str
    url: str
    # JSON Schema of the arguments, as JSON text.
    parameters: str = '{"type": "object", "properties": {}}'
    deadline_s: float = field(default=5.0, metadata=in_range(0.1, 60.0))
    # Changes something on the business's side: run once per call, and only once the
    # caller hears the reply that asked for it.
    side_effects: bool = True


@dataclass(frozen=True)
class ToolsConfig:
    # The brain may use tools (the appointment book, messages, transfer, hang-up, the
    # business's own). Needs an LLM that does function calling (brain.engine = "openai").
    enabled: bool = True
    # Messages callers leave are kept with the call record and POSTed here (signed), if set.
    message_webhook: str = ""
    # The environment variable (or systemd credential) holding the signing secret.
    secret_env: str = "VOICED_TOOLS_SECRET"
    # Who the brain may put a caller through to: name -> E.164 number.
    transfer: Mapping[str, str] = field(default_factory=dict)
    http: tuple[HttpToolConfig, ...] = ()
