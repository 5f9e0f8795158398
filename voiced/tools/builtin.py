"""The tools every business gets: the appointment book, taking a message, hanging up and
transferring. Times go to and from the brain as the business's local ISO date and time
("2026-12-08", "10:30"); the caller is known by the number they called from."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol

from ..book.schedule import Appointment, Slot
from ..errors import NotBookable, SlotTaken
from ..events import EndCall, EndReason
from .base import CallContext, Json, Outcome, ToolSpec

log = logging.getLogger("voiced.tools")


class Book(Protocol):
    """The appointment book as the tools use it (:class:`voiced.book.sqlite.SqliteBook`)."""

    async def availability(self, service: str, day: date, staff: str | None = None) -> list[Slot]: ...
    async def nearest(self, service: str, wanted: datetime, n: int = 3) -> list[Slot]: ...
    async def book(self, service: str, start: datetime, phone: str, name: str,
                   staff: str | None = None) -> Appointment: ...
    async def upcoming(self, phone: str) -> list[Appointment]: ...
    async def cancel(self, appointment_id: str, phone: str) -> Appointment: ...


def _slot(s: Slot) -> dict[str, str]:
    out = {"date": s.start.date().isoformat(), "time": s.start.strftime("%H:%M")}
    if s.staff:
        out["with"] = s.staff
    return out


def _appointment(a: Appointment) -> dict[str, str]:
    return {"id": a.id, "service": a.service, **_slot(a.slot)}


def _string(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


_CONFIRMED = {"type": "boolean",
              "description": "true only after the caller said yes to exactly this"}


@dataclass
class CheckAvailability:
    book: Book
    services: tuple[str, ...]
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = ToolSpec(
            "check_availability",
            "Free appointment times for a service on a day; with 'around', the free times "
            "nearest that time (also on the days around it).",
            {"type": "object", "required": ["service", "date"], "properties": {
                "service": _string("the service", enum=list(self.services)),
                "date": _string("YYYY-MM-DD"),
                "around": _string("HH:MM, the time the caller asked for")}},
            deadline_s=3.0)

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        try:
            day = date.fromisoformat(args["date"])
            around = time.fromisoformat(args["around"]) if args.get("around") else None
        except ValueError:
            raise NotBookable("date must be YYYY-MM-DD and around HH:MM") from None
        free = await self.book.availability(args["service"], day)
        result: dict[str, Any] = {"service": args["service"], "date": day.isoformat(),
                                  "free": sorted({s.start.strftime("%H:%M") for s in free})[:12]}
        if around is not None:
            wanted = datetime.combine(day, around, free[0].start.tzinfo if free else None)
            if wanted.tzinfo is not None:
                result["nearest"] = [_slot(s) for s in await self.book.nearest(args["service"], wanted)]
        return Outcome(result)


@dataclass
class BookAppointment:
    book: Book
    services: tuple[str, ...]
    zone: Any
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = ToolSpec(
            "book_appointment",
            "Book the caller in. Only after telling them the service, day and time and "
            "hearing them agree.",
            {"type": "object", "required": ["service", "date", "time", "name", "confirmed"],
             "properties": {
                 "service": _string("the service", enum=list(self.services)),
                 "date": _string("YYYY-MM-DD"), "time": _string("HH:MM"),
                 "name": _string("the caller's name"), "confirmed": _CONFIRMED}},
            side_effects=True, deadline_s=5.0)

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        if args["confirmed"] is not True:
            return Outcome({"error": "tell the caller the service, day and time and ask them "
                                     "to confirm first"})
        if not ctx.caller:
            return Outcome({"error": "the caller's number is withheld: take a message instead"})
        try:
            start = datetime.combine(date.fromisoformat(args["date"]),
                                     time.fromisoformat(args["time"]), self.zone)
        except ValueError:
            raise NotBookable("date must be YYYY-MM-DD and time HH:MM") from None
        try:
            booked = await self.book.book(args["service"], start, ctx.caller, args["name"])
        except SlotTaken as exc:
            near = await self.book.nearest(args["service"], start)
            return Outcome({"error": str(exc), "nearest": [_slot(s) for s in near]})
        return Outcome({"booked": _appointment(booked)}, record={"booked": _appointment(booked)})


@dataclass
class ListAppointments:
    book: Book
    spec: ToolSpec = field(default_factory=lambda: ToolSpec(
        "list_appointments", "The caller's upcoming appointments.", deadline_s=3.0))

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        if not ctx.caller:
            return Outcome({"appointments": [], "note": "the caller's number is withheld"})
        return Outcome({"appointments": [_appointment(a) for a in await self.book.upcoming(ctx.caller)]})


@dataclass
class CancelAppointment:
    book: Book
    spec: ToolSpec = field(default_factory=lambda: ToolSpec(
        "cancel_appointment",
        "Cancel one of the caller's appointments (its id from list_appointments). Only after "
        "telling them which and hearing them agree.",
        {"type": "object", "required": ["appointment_id", "confirmed"], "properties": {
            "appointment_id": _string("from list_appointments"), "confirmed": _CONFIRMED}},
        side_effects=True, deadline_s=5.0))

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        if args["confirmed"] is not True:
            return Outcome({"error": "tell the caller which appointment and ask them to "
                                     "confirm first"})
        cancelled = await self.book.cancel(args["appointment_id"], ctx.caller)
        return Outcome({"cancelled": _appointment(cancelled)},
                       record={"cancelled": _appointment(cancelled)})


@dataclass
class TakeMessage:
    """A message for the business: kept with the call record, and handed to ``send`` (the
    notification webhook), whose failure is the business's to see in the log, not the
    caller's."""

    send: Callable[[Mapping[str, Any]], Any] | None = None
    spec: ToolSpec = field(default_factory=lambda: ToolSpec(
        "take_message", "Take a message for someone at the business.",
        {"type": "object", "required": ["name", "message"], "properties": {
            "name": _string("who is calling"), "for": _string("who it is for"),
            "callback_number": _string("where to call back, if not this number"),
            "message": _string("what to pass on")}},
        side_effects=True, deadline_s=5.0))

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        message = {"from": args["name"], "for": args.get("for", ""),
                   "callback_number": args.get("callback_number") or ctx.caller,
                   "message": args["message"], "call_sid": ctx.call_sid}
        sent = True
        if self.send is not None:
            try:
                await self.send(message)
            except Exception as exc:  # httpx's, a bad answer: the record still has it
                log.warning("call %s: the message webhook failed (%s); the message is in the "
                            "call record", ctx.call_sid, type(exc).__name__)
                sent = False
        return Outcome({"taken": True}, record={"message": message, "sent": sent})


@dataclass
class Hangup:
    spec: ToolSpec = field(default_factory=lambda: ToolSpec(
        "hangup", "End the call, after saying goodbye, when the caller is done.",
        side_effects=True, deadline_s=1.0))

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        return Outcome({"ending": True}, end=EndCall(EndReason.AGENT_HANGUP, "", "hangup"))


@dataclass
class Transfer:
    targets: Mapping[str, str]  # who -> E.164 number
    spec: ToolSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = ToolSpec(
            "transfer", "Put the caller through to a person, when they ask for one.",
            {"type": "object", "required": ["to"], "properties": {
                "to": _string("who", enum=sorted(self.targets))}},
            side_effects=True, deadline_s=1.0)

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        return Outcome({"transferring": args["to"]},
                       end=EndCall(EndReason.TRANSFERRED, self.targets[args["to"]], args["to"]))
