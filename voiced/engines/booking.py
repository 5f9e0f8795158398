"""The scripted receptionist books too: it fills the booking tools' slots by rules.

Service, day and time come from the caller's words (:mod:`voiced.book.when`); what is
missing is asked for; the time is checked, then said back and booked only on the caller's
yes; a taken time gets the nearest free ones. It goes through the same tools an LLM would
(:mod:`voiced.tools`), so the same guarantees hold: a booking happens only once the reply
asking for it is heard, once. The booking in progress is the call's (``tools.memo``), so one
caller's half-made booking is never another's.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from ..book.schedule import Schedule
from ..book.when import parse_when
from ..business import DAY_NAMES, service_name
from ..config import ServiceConfig
from ..config.book import WEEKDAYS
from ..events import ToolCall, UserTurn
from ..text import normalize
from ..tools.box import ReplyTools

_BOOK = {"תור", "לקבוע", "להזמין", "פנוי", "פנויה", "book", "booking", "appointment", "slot",
         "available", "free"}
_CANCEL = {"לבטל", "ביטול", "cancel", "cancelling", "canceling"}
_NO = {"לא", "no", "not", "nope"}

TEXTS = {
    "which_service": {"he": "לאיזה שירות? {options}", "en": "Which would you like: {options}?"},
    "which_day": {"he": "לאיזה יום ושעה?", "en": "Which day and time would suit you?"},
    "free": {"he": "{on_day} יש מקום ב-{times}. מה מתאים?",
             "en": "{On_day} we have {times}. Which suits you?"},
    "full": {"he": "{on_day} אין מקום. אפשר יום אחר?",
             "en": "{day} is fully booked. Another day?"},
    "confirm": {"he": "לקבוע {service} ל{day} בשעה {time}?",
                "en": "Shall I book a {service} on {day} at {time}?"},
    "booked": {"he": "קבעתי. {service} {on_day} בשעה {time}.",
               "en": "You're booked: a {service} on {day} at {time}."},
    "taken": {"he": "השעה הזאת תפוסה. הכי קרוב: {times}. מה מתאים?",
              "en": "That time is taken. The nearest free times are {times}. Which suits you?"},
    "not_bookable": {"he": "לשעה הזאת אי אפשר לקבוע. אפשר שעה אחרת?",
                     "en": "We can't book that time. Could you pick another?"},
    "confirm_cancel": {"he": "לבטל את ה{service} {on_day} בשעה {time}?",
                       "en": "Cancel your {service} on {day} at {time}?"},
    "cancelled": {"he": "ביטלתי את התור.", "en": "Done, it's cancelled."},
    "none": {"he": "לא מצאתי תור על המספר הזה.",
             "en": "I can't find an appointment for this number."},
    "failed": {"he": "סליחה, לא הצלחתי לקבוע עכשיו. נסו שוב בעוד רגע.",
               "en": "Sorry, I couldn't book that just now. Please try again in a moment."},
}


@dataclass
class Draft:
    """A booking being made in one call."""

    service: ServiceConfig | None = None
    day: date | None = None
    at: time | None = None
    offered: bool = False  # the caller was asked to confirm service, day and time
    cancelling: dict[str, Any] | None = None  # the appointment the caller was asked to cancel
    started: bool = False  # the receptionist asked something about it

    @property
    def active(self) -> bool:
        return self.started


class Booking:
    def __init__(self, schedule: Schedule, clock: Any = None) -> None:
        self.schedule = schedule
        self._clock = clock or (lambda: datetime.now(schedule.zone))

    def wants(self, text: str, draft: Draft, language: str = "en") -> bool:
        """A booking in progress, words about booking or cancelling, or a service with a day
        or time ("a haircut next Tuesday at 10")."""
        words = set(normalize(text).split())
        if draft.active or words & (_BOOK | _CANCEL):
            return True
        if self.schedule.find_service(text) is None:
            return False
        when = parse_when(text, language if language in ("he", "en") else "en", self._clock())
        return when.day is not None or when.at is not None

    async def turn(self, turn: UserTurn, tools: ReplyTools, draft: Draft, says_yes: bool) -> str:
        draft.started = True
        lang = turn.language if turn.language in ("he", "en") else "en"
        words = set(normalize(turn.text).split())
        said_no = bool(words & _NO)
        if draft.cancelling is not None:
            appt, draft.cancelling = draft.cancelling, None
            if says_yes:
                await self._call(tools, "cancel_appointment",
                                 {"appointment_id": appt["id"], "confirmed": True})
                draft.started = False
                return self._say("cancelled", lang)
            if said_no:
                return self._say("which_day", lang) if draft.service else ""
        if words & _CANCEL:
            return await self._cancel(tools, draft, lang)
        if draft.offered and says_yes:
            return await self._book(tools, draft, lang)
        draft.offered = False
        if said_no and not (words & _BOOK):
            draft.at = None
        return await self._fill(turn, tools, draft, lang)

    async def _fill(self, turn: UserTurn, tools: ReplyTools, draft: Draft, lang: str) -> str:
        draft.service = self.schedule.find_service(turn.text) or draft.service
        asked_time = draft.day is not None and draft.at is None
        when = parse_when(turn.text, lang, self._clock(), expect_time=asked_time)
        draft.day, draft.at = when.day or draft.day, when.at or draft.at
        services = self.schedule.cfg.services
        if draft.service is None:
            if len(services) > 1:
                options = (" או " if lang == "he" else " or ").join(service_name(s, lang) for s in services)
                return self._say("which_service", lang, options=options)
            draft.service = services[0]
        if draft.day is None:
            if draft.at is None:
                return self._say("which_day", lang)
            draft.day = self._clock().date()
        args: dict[str, Any] = {"service": draft.service.name, "date": draft.day.isoformat()}
        if draft.at is not None:
            args["around"] = draft.at.strftime("%H:%M")
        found = await self._call(tools, "check_availability", args)
        if "error" in found:
            draft.at = None
            return self._say("not_bookable", lang)
        if draft.at is None:
            if not found["free"]:
                return self._say("full", lang, day=draft.day)
            return self._say("free", lang, day=draft.day,
                             times=self._times(found["free"][:4], lang))
        if draft.at.strftime("%H:%M") not in found["free"]:
            draft.at = None
            return self._say("taken", lang, times=self._times(
                [s["time"] for s in found.get("nearest", [])], lang))
        draft.offered = True
        return self._say("confirm", lang, service=service_name(draft.service, lang),
                         day=draft.day, time=draft.at.strftime("%H:%M"))

    async def _book(self, tools: ReplyTools, draft: Draft, lang: str) -> str:
        assert draft.service is not None and draft.day is not None and draft.at is not None
        result = await self._call(tools, "book_appointment", {
            "service": draft.service.name, "date": draft.day.isoformat(),
            "time": draft.at.strftime("%H:%M"), "name": "", "confirmed": True})
        service, day, at = draft.service, draft.day, draft.at
        if "booked" in result:
            draft.service, draft.day, draft.at, draft.offered = None, None, None, False
            draft.started = False
            return self._say("booked", lang, service=service_name(service, lang),
                             day=day, time=at.strftime("%H:%M"))
        draft.at, draft.offered = None, False
        if result.get("nearest"):
            return self._say("taken", lang, times=self._times(
                [s["time"] for s in result["nearest"]], lang))
        return self._say("failed", lang)

    async def _cancel(self, tools: ReplyTools, draft: Draft, lang: str) -> str:
        found = await self._call(tools, "list_appointments", {})
        mine = found.get("appointments", [])
        if not mine:
            return self._say("none", lang)
        appt = mine[0]
        draft.cancelling = appt
        service = self.schedule.service(appt["service"])
        return self._say("confirm_cancel", lang, service=service_name(service, lang),
                         day=date.fromisoformat(appt["date"]), time=appt["time"])

    @staticmethod
    async def _call(tools: ReplyTools, name: str, args: dict[str, Any]) -> dict[str, Any]:
        answer = json.loads(await tools.call(
            ToolCall(f"scripted_{secrets.token_hex(4)}", name, json.dumps(args, ensure_ascii=False))))
        return answer if isinstance(answer, dict) else {}

    def _say(self, key: str, lang: str, **fields: Any) -> str:
        day = fields.get("day")
        if isinstance(day, date):
            fields["day"], fields["on_day"] = self._day(day, lang), self._on_day(day, lang)
            fields["On_day"] = fields["on_day"][:1].upper() + fields["on_day"][1:]
        return TEXTS[key][lang].format(**fields)

    def _on_day(self, day: date, lang: str) -> str:
        """The day with its preposition: "מחר", "ביום שלישי, 8 בדצמבר", "tomorrow", "on
        Tuesday the 8th"."""
        said = self._day(day, lang)
        if said in ("היום", "מחר", "today", "tomorrow"):
            return said
        return f"ב{said}" if lang == "he" else f"on {said}"

    def _day(self, day: date, lang: str) -> str:
        today = self._clock().date()
        offset = (day - today).days
        if lang == "he":
            if offset in (0, 1):
                return ("היום", "מחר")[offset]
            weekday = DAY_NAMES["he"][WEEKDAYS[day.weekday()]]
            return f"יום {weekday}, {day.day} ב{_HE_MONTHS[day.month - 1]}"
        if offset in (0, 1):
            return ("today", "tomorrow")[offset]
        return f"{day:%A} the {day.day}{_suffix(day.day)}"

    @staticmethod
    def _times(times: list[str], lang: str) -> str:
        if not times:
            return ""
        joiner = " או " if lang == "he" else " or "
        return ", ".join(times[:-1]) + joiner + times[-1] if len(times) > 1 else times[0]


_HE_MONTHS = ("ינואר", "פברואר", "מרץ", "אפריל", "מאי", "יוני", "יולי", "אוגוסט", "ספטמבר",
              "אוקטובר", "נובמבר", "דצמבר")


def _suffix(n: int) -> str:
    return "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
