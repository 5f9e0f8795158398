"""The business's facts as sentences, in Hebrew and English, from ``[business]`` and
``[book]``: what the scripted receptionist says about hours, prices and the address, and what
the LLM is told. One source, so the opening hours it quotes are the hours it books."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time

from .config import Config, ServiceConfig
from .config.book import WEEKDAYS, opening_spans
from .text import is_hebrew

DAY_NAMES = {
    "he": {"sun": "ראשון", "mon": "שני", "tue": "שלישי", "wed": "רביעי", "thu": "חמישי",
           "fri": "שישי", "sat": "שבת"},
    "en": {"sun": "Sunday", "mon": "Monday", "tue": "Tuesday", "wed": "Wednesday",
           "thu": "Thursday", "fri": "Friday", "sat": "Saturday"},
}
# Hours as callers say them, on a twelve-hour clock.
HOUR_WORDS = {
    "he": ("שתים עשרה", "אחת", "שתיים", "שלוש", "ארבע", "חמש", "שש", "שבע", "שמונה", "תשע", "עשר",
           "אחת עשרה"),
    "en": ("twelve", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
           "eleven"),
}
# The week as the business lives it: from Sunday in Israel.
_WEEK = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def service_name(service: ServiceConfig, lang: str) -> str:
    """What the agent calls a service in ``lang``: in Hebrew its first Hebrew alias."""
    if lang == "he":
        return next((a for a in service.aliases if is_hebrew(a)), service.name)
    return service.name


def open_hours(cfg: Config) -> list[int]:
    """The whole hours the business books in on some day (9, 10, ... 17 for 09:00-18:00)."""
    hours = {h for day, text in cfg.book.hours.items()
             for a, b in opening_spans(text, f"book.hours.{day}") for h in range(a.hour, b.hour)}
    return sorted(hours)


def _clock(at: time, lang: str) -> str:
    if lang == "he":
        return f"{at.hour}:{at.minute:02d}"
    hour = at.hour % 12 or 12
    mins = f":{at.minute:02d}" if at.minute else ""
    return f"{hour}{mins} {'a.m.' if at.hour < 12 else 'p.m.'}"


def _span(spans: str, lang: str) -> str:
    if not spans.strip():
        return "סגור" if lang == "he" else "closed"
    parts = []
    for a, b in opening_spans(spans, "book.hours"):
        parts.append(f"מ-{_clock(a, lang)} עד {_clock(b, lang)}" if lang == "he"
                     else f"{_clock(a, lang)} to {_clock(b, lang)}")
    return (" ו" if lang == "he" else " and ").join(parts)


class Facts:
    def __init__(self, cfg: Config) -> None:
        self._cfg = cfg
        assert set(_WEEK) == set(WEEKDAYS)

    def _text(self, table: Mapping[str, str], lang: str) -> str:
        return table.get(lang) or table.get(self._cfg.call.language) or ""

    def hours(self, lang: str) -> str:
        """"Sunday to Thursday, 9 a.m. to 6 p.m.; Friday, 9 a.m. to 1 p.m.; Saturday, closed"."""
        lang = lang if lang in DAY_NAMES else "en"
        names = DAY_NAMES[lang]
        hours = self._cfg.book.hours
        runs: list[tuple[str, str, str]] = []  # first day, last day, hours
        for day in _WEEK:
            span = hours.get(day, "")
            if runs and runs[-1][2] == span:
                runs[-1] = (runs[-1][0], day, span)
            else:
                runs.append((day, day, span))
        said = []
        for first, last, span in runs:
            days = names[first] if first == last else \
                f"{names[first]} עד {names[last]}" if lang == "he" else f"{names[first]} to {names[last]}"
            said.append(f"{days}, {_span(span, lang)}")
        return "; ".join(said)

    def prices(self, lang: str) -> str:
        currency = self._text(self._cfg.business.currency, lang)
        said = []
        for s in self._cfg.book.services:
            if s.price:
                said.append(f"{service_name(s, lang)} {s.price} {currency}")
        return ", ".join(said)

    def fields(self, lang: str) -> dict[str, str]:
        """What an intent's answer may say by name."""
        b = self._cfg.business
        return {"name": self._text(b.name, lang), "address": self._text(b.address, lang),
                "policies": self._text(b.policies, lang), "hours": self.hours(lang),
                "prices": self.prices(lang)}

    def fill(self, text: str, lang: str) -> str:
        """``text`` with its {name}, {hours}... filled in (text without them unchanged)."""
        if "{" not in text:
            return text
        try:
            return text.format_map(self.fields(lang))
        except (KeyError, ValueError, IndexError):
            return text

    def vocabulary(self, lang: str) -> str:
        """What callers of this business say that a general recogniser hears worst, as one
        sentence in ``lang``: its name, its services, the days it opens and the hours it
        books. Given to Whisper as the text before the turn, it biases the decode towards
        these words (docs/BENCHMARKS.md, "Business vocabulary")."""
        lang = lang if lang in DAY_NAMES else "en"
        hours = self._cfg.book.hours
        days = [DAY_NAMES[lang][d] for d in _WEEK if hours.get(d, "").strip()]
        said = [HOUR_WORDS[lang][h % 12] for h in open_hours(self._cfg)]
        services = [service_name(s, lang) for s in self._cfg.book.services]
        name = self._text(self._cfg.business.name, lang)
        if lang == "he":
            parts = [f"תור ל{' או ל'.join(services)}" if services else "תור",
                     f"מחר או ביום {', '.join(days)}" if days else "",
                     f"בשעה {', '.join(said[:-1])} או {said[-1]} וחצי" if said else ""]
            ok = "כן, בסדר."
        else:
            parts = [f"an appointment for a {' or a '.join(services)}" if services
                     else "an appointment",
                     f"tomorrow or on {', '.join(days)}" if days else "",
                     f"at {', '.join(said[:-1])} or {said[-1]} thirty" if said else ""]
            ok = "Yes, that's fine."
        said_all = ", ".join(p for p in parts if p)
        return f"{name}: {said_all}. {ok}" if name else f"{said_all}. {ok}"

    def brief(self) -> str:
        """The facts for an LLM's system prompt, in English with the Hebrew names."""
        b = self._cfg.business
        services = "; ".join(
            f"{s.name} ({', '.join(s.aliases)}): {s.minutes} minutes"
            + (f", {s.price} {self._text(b.currency, 'en')}" if s.price else "")
            for s in self._cfg.book.services)
        return (f"The business: {self._text(b.name, 'en')} ({b.name.get('he', '')}). "
                f"Address: {self._text(b.address, 'en')} Opening hours: {self.hours('en')}. "
                f"Services: {services}. Policies: {self._text(b.policies, 'en')}")
