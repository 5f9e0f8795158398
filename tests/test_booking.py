"""The scripted receptionist books by voice: the day and time from the caller's words
(Hebrew and English), asked back before booking, the nearest free times when the asked one is
taken, and cancelling; through the call's tools on a real SQLite book."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest
import trio

from voiced import config
from voiced.book.schedule import Schedule
from voiced.book.sqlite import SqliteBook
from voiced.book.when import parse_when
from voiced.engines.booking import Booking
from voiced.engines.scripted import ScriptedBrain
from voiced.events import EndCall, Message, UserTurn
from voiced.tools import builtin
from voiced.tools.base import CallContext
from voiced.tools.box import ToolBox

CFG = config.load(Path(__file__).resolve().parent.parent / "config.toml")
SCHEDULE = Schedule(CFG.book)
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=SCHEDULE.zone)  # a Wednesday morning


@pytest.mark.parametrize(("said", "lang", "day", "at"), [
    ("מחר בעשר", "he", date(2026, 12, 3), time(10, 0)),
    ("אפשר לבוא ביום שלישי בארבע וחצי?", "he", date(2026, 12, 8), time(16, 30)),
    ("ב-8 בדצמבר בשעה 16:30", "he", date(2026, 12, 8), time(16, 30)),
    ("יום ראשון ב-11", "he", date(2026, 12, 6), time(11, 0)),
    ("בעשר בבוקר", "he", None, time(10, 0)),
    ("next Tuesday at 10", "en", date(2026, 12, 8), time(10, 0)),
    ("can I come tomorrow at four thirty?", "en", date(2026, 12, 3), time(16, 30)),
    ("Thursday at half past two", "en", date(2026, 12, 3), time(14, 30)),
    ("December 9 at 11:15", "en", date(2026, 12, 9), time(11, 15)),
    ("next Wednesday at 11.30", "en", date(2026, 12, 9), time(11, 30)),  # as Whisper writes it
    ("I need 2 haircuts", "en", None, None),
    # As Whisper writes Hebrew: commas between the words, the hour's other spellings.
    ("יש לכם מקום לצבע, ביום שישי, בשעה שלוש.", "he", date(2026, 12, 4), time(15, 0)),
    ("ביום רביעי, בשעה שתים.", "he", date(2026, 12, 9), time(14, 0)),
    ("ביום שני בשעה שתים עשרה", "he", date(2026, 12, 7), time(12, 0)),
    ("אולי ביום רביעי בשלושה", "he", date(2026, 12, 9), time(15, 0)),
    ("ביום חמישי בחמישה וחצי", "he", date(2026, 12, 3), time(17, 30)),
    ("next Wednesday, at eleven.", "en", date(2026, 12, 9), time(11, 0)),
    ("יש מקום לצבע, ביום חמישי ותשע.", "he", date(2026, 12, 3), time(9, 0)),  # ב heard as ו
    ("לתספורת ביום, שלישי, ושעה אחת עשרה.", "he", date(2026, 12, 8), time(11, 0)),
    ("שתיים ושלוש", "he", None, None),  # "and" is not "at" but after a day
    # An hour in words is not a month or a day of one.
    ("I'd like to book a haircut on Monday at two", "en", date(2026, 12, 7), time(14, 0)),
    ("anything on Thursday at ten thirty?", "en", date(2026, 12, 3), time(10, 30)),
    ("Friday around eleven o'clock", "en", date(2026, 12, 4), time(11, 0)),

])
def test_the_day_and_time_callers_name(said: str, lang: str, day: date | None, at: time | None) -> None:
    when = parse_when(said, lang, NOW)
    assert (when.day, when.at) == (day, at)


class Caller:
    """One caller's side of a call with the scripted receptionist and its tools."""

    def __init__(self, brain: ScriptedBrain, box: ToolBox, lang: str) -> None:
        self.brain, self.box, self.lang = brain, box, lang
        self.history: list[Message] = []

    async def say(self, text: str) -> str:
        tx, rx = trio.open_memory_channel[str | EndCall](10)
        heard = trio.Event()
        heard.set()  # released at once: this caller always waits for the answer
        async with tx:
            await self.brain.reply(UserTurn(text, self.lang, history=tuple(self.history)), tx,
                                   self.box.for_reply(heard))
        answer = " ".join(x for x in [x async for x in rx] if isinstance(x, str))
        self.history += [Message("user", text), Message("assistant", answer)]
        return answer


@pytest.fixture
def book(tmp_path: Path) -> SqliteBook:
    return SqliteBook(tmp_path / "book.sqlite3", SCHEDULE, clock=lambda: NOW)


def tools_for(book: SqliteBook) -> list[object]:
    services = tuple(s.name for s in CFG.book.services)
    return [builtin.CheckAvailability(book, services),
            builtin.BookAppointment(book, services, SCHEDULE.zone),
            builtin.ListAppointments(book), builtin.CancelAppointment(book)]


async def test_a_hebrew_caller_books_a_haircut_by_voice_and_cancels_it(book: SqliteBook) -> None:
    brain = ScriptedBrain(CFG.brain.script, "he", Booking(SCHEDULE, clock=lambda: NOW))
    async with trio.open_nursery() as call:
        box = ToolBox(tools_for(book), CallContext("CA1", "+972501111111", "he"), call)  # type: ignore[arg-type]
        caller = Caller(brain, box, "he")
        assert await caller.say("שלום, אני רוצה לקבוע תור") == "לאיזה שירות? תספורת או צבע"
        assert await caller.say("לתספורת מחר בעשר") == "לקבוע תספורת למחר בשעה 10:00?"
        assert await book.upcoming("+972501111111") == []  # not before the yes
        assert await caller.say("כן") == "קבעתי. תספורת מחר בשעה 10:00."
        [appt] = await book.upcoming("+972501111111")
        assert appt.slot.start == datetime(2026, 12, 3, 10, 0, tzinfo=SCHEDULE.zone)
        assert await caller.say("אני רוצה לבטל את התור") == "לבטל את התספורת מחר בשעה 10:00?"
        assert await caller.say("כן, בבקשה") == "ביטלתי את התור."
        assert await book.upcoming("+972501111111") == []


async def test_an_english_caller_is_offered_the_nearest_times_when_theirs_is_taken(
    book: SqliteBook,
) -> None:
    await book.book("haircut", datetime(2026, 12, 8, 10, 0, tzinfo=SCHEDULE.zone), "+1555", "A")
    brain = ScriptedBrain(CFG.brain.script, "en", Booking(SCHEDULE, clock=lambda: NOW))
    async with trio.open_nursery() as call:
        box = ToolBox(tools_for(book), CallContext("CA2", "+972502222222", "en"), call)  # type: ignore[arg-type]
        caller = Caller(brain, box, "en")
        assert await caller.say("Can I book a haircut next Tuesday at 10?") == \
            "That time is taken. The nearest free times are 09:30, 10:30 or 09:15. Which suits you?"
        assert await caller.say("10:30 please") == \
            "Shall I book a haircut on Tuesday the 8th at 10:30?"
        assert await caller.say("no") == \
            "On Tuesday the 8th we have 09:00, 09:15, 09:30 or 10:30. Which suits you?"
        assert await caller.say("11 then") == "Shall I book a haircut on Tuesday the 8th at 11:00?"
        assert await caller.say("yes") == "You're booked: a haircut on Tuesday the 8th at 11:00."
    assert [a.slot.start.hour for a in await book.upcoming("+972502222222")] == [11]


async def test_without_tools_the_receptionist_answers_as_before() -> None:
    brain = ScriptedBrain(CFG.brain.script, "en", Booking(SCHEDULE, clock=lambda: NOW))
    tx, rx = trio.open_memory_channel[str | EndCall](10)
    async with tx:
        await brain.reply(UserTurn("I'd like to book an appointment", "en"), tx)
    booking = {i.name: i for i in CFG.brain.script.intents}["booking"]
    assert [x async for x in rx] == [booking.answer["en"]]


async def test_two_callers_asking_for_one_slot_one_books_the_other_hears_the_nearest(
    book: SqliteBook,
) -> None:
    """Both are told 10:00 is free and asked to confirm; both say yes at once. One books it;
    the other is offered the nearest free times, not a double booking."""
    brain = ScriptedBrain(CFG.brain.script, "en", Booking(SCHEDULE, clock=lambda: NOW))
    async with trio.open_nursery() as call:
        callers = [Caller(brain, ToolBox(tools_for(book),  # type: ignore[arg-type]
                                         CallContext(f"CA{n}", f"+97250000000{n}", "en"), call),
                          "en") for n in (1, 2)]
        for c in callers:
            assert await c.say("A haircut next Tuesday at 10 please") == \
                "Shall I book a haircut on Tuesday the 8th at 10:00?"
        answers: list[str] = []

        async def yes(c: Caller) -> None:
            answers.append(await c.say("yes"))
        async with trio.open_nursery() as both:
            for c in callers:
                both.start_soon(yes, c)
    assert sorted(a.split(":")[0] for a in answers) == ["That time is taken. The nearest free times are 09",
                                                        "You're booked"]
    assert [a.slot.start.hour for n in (1, 2) for a in await book.upcoming(f"+97250000000{n}")] == [10]


async def test_free_times_tomorrow_are_said_as_english_says_them(book: SqliteBook) -> None:
    brain = ScriptedBrain(CFG.brain.script, "en", Booking(SCHEDULE, clock=lambda: NOW))
    async with trio.open_nursery() as call:
        box = ToolBox(tools_for(book), CallContext("CA3", "+972503333333", "en"), call)  # type: ignore[arg-type]
        caller = Caller(brain, box, "en")
        assert (await caller.say("Can I come in for a haircut tomorrow?")).startswith(
            "Tomorrow we have 09:00, 09:15")  # not "On tomorrow"
