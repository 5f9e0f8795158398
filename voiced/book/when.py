"""The day and time a caller asks for, from their words, in Hebrew or English.

Days come from dateparser (maintained, with Hebrew: "מחר", "ביום שלישי", "8 בדצמבר",
"next Tuesday"). Spoken times it does not read ("בעשר", "בארבע וחצי", "at ten thirty") are a
closed vocabulary of a dozen hour words and their halves and quarters, read here; digits
("ב-10", "16:30", "10am") too. A business books in its opening hours, so a bare hour from 1 to
7 is afternoon unless the caller says morning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from dateparser.search import search_dates

from ..text import normalize

# The hour words as callers say them and Whisper writes them: the feminine count ("בשלוש") and
# the masculine one ("בשלושה"), either spelling of two, keys normalised as caller text is.
_HE_HOURS = {normalize(k): v for k, v in {
    "אחת": 1, "שתיים": 2, "שתים": 2, "שלוש": 3, "שלושה": 3, "ארבע": 4, "ארבעה": 4, "חמש": 5,
    "חמישה": 5, "חמשה": 5, "שש": 6, "שישה": 6, "שבע": 7, "שבעה": 7, "שמונה": 8, "תשע": 9,
    "תשעה": 9, "עשר": 10, "עשרה": 10, "אחת עשרה": 11, "אחתעשרה": 11, "שתיים עשרה": 12,
    "שתים עשרה": 12}.items()}
_EN_HOURS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
             "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "noon": 12}
_HE_MINUTES = {"וחצי": 30, "ורבע": 15, "ועשרים": 20, "ועשר": 10, "וארבעים": 40}
_EN_MINUTES = {"thirty": 30, "fifteen": 15, "forty five": 45, "forty-five": 45, "twenty": 20,
               "ten": 10}
# Longest first, so "אחת עשרה" is read before "אחת".
_HE_LONGEST_FIRST = sorted(_HE_HOURS.items(), key=lambda kv: -len(kv[0]))
# Right after a day, "ו" before the hour is Whisper writing "ב" as it sounds (both /v/):
# "ביום חמישי ותשע" is "ביום חמישי בתשע", and "ושעה" anywhere is "בשעה".
_HE_DAY = "|".join(normalize(d) for d in ("ראשון", "שני", "שלישי", "רביעי", "חמישי", "שישי",
                                          "מחר", "מחרתיים"))
_EN_LONGEST_FIRST = sorted(_EN_HOURS.items(), key=lambda kv: -len(kv[0]))
_MORNING = ("בבוקר", "morning", "am", "a.m.")
_EVENING = ("בערב", "אחר הצהריים", "אחרי הצהריים", "בצהריים", "evening", "afternoon", "pm", "p.m.")
_MONTHS = (r"ינואר|פברואר|מרץ|אפריל|מאי|יוני|יולי|אוגוסט|ספטמבר|אוקטובר|נובמבר|דצמבר|january|"
           r"february|march|april|may|june|july|august|september|october|november|december")
# A day of the month with its month, either way round ("8 בדצמבר", "december 8", "8th of may").
_DAY_OF_MONTH = re.compile(rf"(\d{{1,2}}(st|nd|rd|th)?\s+(ב|of )?\S*({_MONTHS}))|"
                           rf"(({_MONTHS})\s+\d{{1,2}}(st|nd|rd|th)?)", re.IGNORECASE)
# A time in digits ("10", "16:30", "11.30" as Whisper writes it, "10am"), with the word before
# it that makes a bare number a time ("ב-10", "בשעה 10", "at 10").
_DIGITS = re.compile(r"(?P<at>(?<!\S)(?:ב-?|ל-?|בשעה |at |by |around ))?(?<![\d:.])(?P<h>\d{1,2})"
                     r"(?:[:.](?P<m>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?(?![\d:])")


@dataclass(frozen=True)
class When:
    day: date | None = None
    at: time | None = None


def _hour(h: int, m: int, text: str) -> time | None:
    if not (0 <= h <= 23 and 0 <= m <= 59):
        return None
    morning = any(w in text for w in _MORNING)
    evening = any(w in text for w in _EVENING)
    if h < 12 and (evening or (1 <= h <= 7 and not morning)):
        h += 12
    return time(h, m)


def spoken_time(text: str, language: str, bare: bool = False) -> time | None:
    """The time of day in ``text`` ("בעשר וחצי", "at four thirty", "16:30", "ב-10"); with
    ``bare`` (the caller was just asked for a time), a number alone too ("11 then", "עשר")."""
    low = f" {text.lower()} "
    for hit in _DIGITS.finditer(_strip_dates(low)):
        said_at = hit.group("at") and not hit.group("at").startswith("ל")
        if bare or said_at or hit.group("m") or hit.group("ampm"):
            return _hour(int(hit.group("h")), int(hit.group("m") or 0), low)
    words = f" {normalize(text)} "
    hours, minutes = (_HE_LONGEST_FIRST, _HE_MINUTES) if language == "he" else \
        (_EN_LONGEST_FIRST, _EN_MINUTES)
    for name, h in hours:
        # Hebrew says the hour with ב ("at"): בעשר; English after "at" or before a minute word.
        pattern = rf"(?: (?:{_HE_DAY}) (?P<and>ו)| (?P<at>ב|בשעה |ושעה |ל)?){name}( |$)" \
            if language == "he" else rf" (?P<at>at |around |by )?{name}( |$)"
        found = re.search(pattern, words)
        said_at = found is not None and (found.group("at") or found.groupdict().get("and"))
        if not found or (not bare and not said_at and
                         (language == "he" or not _has_minutes(words, name))):
            continue
        rest = words[found.end() - 1:]
        m = next((v for k, v in minutes.items() if rest.startswith(f" {k}")), 0)
        return _hour(h, m, low)
    if language == "en":
        for name, h in _EN_HOURS.items():
            for phrase, m, dh in ((f"half past {name}", 30, 0), (f"quarter past {name}", 15, 0),
                                  (f"quarter to {name}", 45, -1)):
                if f" {phrase} " in words:
                    return _hour((h + dh - 1) % 12 + 1, m, low)
    return None


# An English time in words, which dateparser would otherwise read as a date ("Monday at two":
# the 2nd of February; "Thursday at ten thirty": October).
_EN_SPOKEN = re.compile(
    rf"\b(?:(?:at|around|by)\s+(?:{'|'.join(_EN_HOURS)})(?:\s+(?:{'|'.join(_EN_MINUTES)}|o'clock))?"
    rf"|(?:half|quarter)\s+(?:past|to)\s+(?:{'|'.join(_EN_HOURS)}))\b", re.IGNORECASE)


def _days_only(text: str) -> str:
    """The text for the date parser: times out (their numbers are not days), a Hebrew
    prefix joined to a day of the month by a hyphen undone ("ב-8 בדצמבר": "8 בדצמבר"), and
    the commas and full stops Whisper puts between words out (dateparser reads "ביום שישי"
    and not "ביום שישי,")."""
    text = _EN_SPOKEN.sub(" ", re.sub(r"(?<!\S)[בלמ]-(\d{1,2} ב?\S+)", r"\1", text))
    kept, last = [], 0
    for date_phrase in _DAY_OF_MONTH.finditer(text):
        kept += [_DIGITS.sub(" ", text[last:date_phrase.start()]), date_phrase.group(0)]
        last = date_phrase.end()
    kept.append(_DIGITS.sub(" ", text[last:]))
    return re.sub(r"[,;:!?]|\.(?!\d)", " ", "".join(kept))


def _has_minutes(words: str, hour: str) -> bool:
    return any(f" {hour} {k}" in words for k in _EN_MINUTES)


def _strip_dates(text: str) -> str:
    """Day-of-month phrases ("8 בדצמבר", "december 8") out, so their number is not a time."""
    return _DAY_OF_MONTH.sub(" ", text)


def parse_when(text: str, language: str, now: datetime, expect_time: bool = False) -> When:
    """The day (with dateparser) and the time (spoken or in digits) the caller named;
    ``expect_time``: they were just asked for a time, so a number alone is one."""
    at = spoken_time(text, language, bare=expect_time)
    day = None
    found = search_dates(_days_only(text), languages=[language], settings={
        "RELATIVE_BASE": now.replace(tzinfo=None), "PREFER_DATES_FROM": "future",
        "RETURN_AS_TIMEZONE_AWARE": False}) or []
    for phrase, when in found:
        if re.search(r"[^\W\d_]", phrase) and when.date() >= now.date():
            day = when.date()  # a phrase with words in it: a day, not a bare number
            break
    return When(day, at)
