from __future__ import annotations

from pathlib import Path

import pytest
import trio

from voiced import config
from voiced.engines.scripted import ScriptedBrain
from voiced.events import EndCall, EndReason, UserTurn

CFG = config.load(Path(__file__).resolve().parent.parent / "config.toml")


@pytest.fixture
def brain() -> ScriptedBrain:
    return ScriptedBrain(CFG.brain.script, CFG.call.language)


@pytest.mark.parametrize(
    ("said", "intent"),
    [
        ("What are your opening hours?", "hours"),
        ("how much does a haircut cost", "prices"),
        ("Where are you located?", "address"),
        ("I'd like to book an appointment", "booking"),
        ("מה שעות הפתיחה?", "hours"),
        ("ובשעות הערב אתם פתוחים?", "hours"),  # prefixes ו+ב on שעות
        ("כמה עולה תספורת", "prices"),
        ("מה הכתובת שלכם", "address"),
        ("אני רוצה לקבוע תור", "booking"),
        ("I want to make an apointment", "booking"),  # misspelt
        ("אוקיי תודה רבה, להתראות", "goodbye"),
        ("מָה שְׁעוֹת הַפְּתִיחָה?", "hours"),  # with niqqud
        ("וּלְהַזְמִין תּוֹר?", "booking"),  # niqqud and the prefix ו
        ("ומה הכתבת שלכם", "address"),  # defective spelling of כתובת
        ("בכמה זה?", "prices"),  # ב+כמה
        ("מה המחירימ", "prices"),  # a final mem written as a plain one
        ("אפשר לדבר עם נציג", "person"),
        ("איפה אתם נמצאים", "address"),
        ("מתי אתם סוגרים היום", "hours"),
        ("יש משהו פנוי מחר", "booking"),
        ("ביי", "goodbye"),
        ("כמה עולה צבע לשיער?", "prices"),
        ("מה שעות הפעילות בשישי", "hours"),
    ],
)
def test_intents_match_in_hebrew_and_english(brain: ScriptedBrain, said: str, intent: str) -> None:
    found = brain.match(said)
    assert found.intent is not None and found.intent.name == intent


def test_unrelated_speech_matches_nothing(brain: ScriptedBrain) -> None:
    assert brain.match("the weather is nice today").intent is None
    assert brain.match("").intent is None
    assert brain.match("מזג האוויר יפה היום").intent is None
    # מחיר (price) without its yod is מחר (tomorrow): too short for a skeleton match.
    assert brain.match("אני אתקשר מחר").intent is None


async def reply(brain: ScriptedBrain, turn: UserTurn) -> list[str | EndCall]:
    tx, rx = trio.open_memory_channel[str | EndCall](10)
    async with tx:
        await brain.reply(turn, tx)
    return [x async for x in rx]


async def test_answers_in_the_callers_language_and_ends_on_goodbye(brain: ScriptedBrain) -> None:
    hours = {i.name: i for i in CFG.brain.script.intents}["hours"]
    assert await reply(brain, UserTurn("when do you open", "en")) == [hours.answer["en"]]
    assert await reply(brain, UserTurn("מתי אתם פתוחים", "he")) == [hours.answer["he"]]
    bye = await reply(brain, UserTurn("goodbye", "en"))
    assert bye[-1] == EndCall(EndReason.AGENT_HANGUP, detail="goodbye")
    assert await reply(brain, UserTurn("blah", "en")) == [CFG.brain.script.fallback["en"]]


NEWS = "ומה שאדם לא רוצים בשביל שתוכלו לקבל החלטה להשקיע במניה או לא"


async def test_a_call_is_transferred_or_ended_only_on_a_clear_request_or_a_yes(
    brain: ScriptedBrain,
) -> None:
    """Issue 13: a news sentence with "אדם" (a person) inside "שאדם" transferred the call.
    A long turn that only mentions an action's keyword is asked back; "yes" acts, "no" or
    anything else does not. A short clear request and a key press act at once."""
    from voiced.events import Message

    script = CFG.brain.script
    asked = await reply(brain, UserTurn(NEWS, "he"))
    assert asked == [script.confirm_transfer["he"]]  # no EndCall
    history = (Message("user", NEWS), Message("assistant", script.confirm_transfer["he"]))
    yes = await reply(brain, UserTurn("כן בבקשה", "he", history=history))
    assert isinstance(yes[-1], EndCall) and yes[-1].reason is EndReason.TRANSFERRED
    for other in ("לא, תודה", "כמה עולה תספורת"):
        assert not any(isinstance(x, EndCall) for x in
                       await reply(brain, UserTurn(other, "he", history=history)))
    long_bye = "thank you so much for all the information about the prices"
    assert await reply(brain, UserTurn(long_bye, "en")) == [script.confirm_end["en"]]
    for clear in (UserTurn("אפשר לדבר עם נציג", "he"), UserTurn("", "he", dtmf="0"),
                  UserTurn("bye", "en")):
        assert isinstance((await reply(brain, clear))[-1], EndCall), clear
