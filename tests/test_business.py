"""One source of the business's facts: the scripted receptionist's answers and the LLM's
system prompt come from [business] and [book], so they say the same hours the book books."""

from __future__ import annotations

import dataclasses
import types
from pathlib import Path

import httpx
import trio

from voiced import config
from voiced.business import Facts
from voiced.engines.openai import OpenAIBrain
from voiced.engines.scripted import ScriptedBrain
from voiced.events import EndCall, UserTurn
from voiced.lab.sim.llm import FakeLLM

CFG = config.load(Path(__file__).resolve().parent.parent / "config.toml")


async def answer(brain: ScriptedBrain, text: str, lang: str) -> str:
    tx, rx = trio.open_memory_channel[str | EndCall](10)
    async with tx:
        await brain.reply(UserTurn(text, lang), tx)
    return " ".join(x for x in [x async for x in rx] if isinstance(x, str))


async def test_the_receptionist_and_the_llm_quote_the_hours_the_book_books() -> None:
    facts = Facts(CFG)
    assert facts.hours("en") == ("Sunday to Thursday, 9 a.m. to 6 p.m.; Friday, 9 a.m. to 1 p.m.; "
                                 "Saturday, closed")
    assert facts.hours("he") == "ראשון עד חמישי, מ-9:00 עד 18:00; שישי, מ-9:00 עד 13:00; שבת, סגור"
    brain = ScriptedBrain(CFG.brain.script, "he", facts=facts)
    assert await answer(brain, "מה שעות הפתיחה?", "he") == f"אנחנו פתוחים: {facts.hours('he')}."
    assert await answer(brain, "how much is a haircut", "en") == \
        "Our prices: haircut 120 shekels, colour 250 shekels."
    # Change the book's Friday: the answer follows, no intent edited.
    friday = dataclasses.replace(CFG.book, hours=types.MappingProxyType(
        {**CFG.book.hours, "fri": "08:00-12:30"}))
    later = Facts(dataclasses.replace(CFG, book=friday))
    assert "Friday, 8 a.m. to 12:30 p.m." in later.hours("en")
    # The LLM is told the same facts.
    llm = FakeLLM(ttft_s=0.01, per_token_s=0.0)
    async with llm.running() as url, httpx.AsyncClient() as http:
        b = OpenAIBrain(dataclasses.replace(CFG.brain.openai, base_url=url), http,
                        facts=facts.brief())
        tx, rx = trio.open_memory_channel[str | EndCall](100)
        async with tx:
            await b.reply(UserTurn("when are you open?", "en"), tx)
        async for _ in rx:
            pass
    system = llm.requests[0]["messages"][0]["content"]
    assert facts.hours("en") in system and "10 Herzl Street" in system and "120 shekels" in system


def test_the_recognisers_vocabulary_is_the_business_s_own_words() -> None:
    """Whisper is told the services, the open days and the hours the book takes, in the
    caller's language; change the book and the words follow."""
    facts = Facts(CFG)
    he = facts.vocabulary("he")
    assert he.startswith("מספרת רותי: תור לתספורת או לצבע, מחר או ביום ראשון, שני, שלישי,")
    assert "בשעה תשע, עשר, אחת עשרה, שתים עשרה, אחת, שתיים, שלוש, ארבע או חמש וחצי" in he
    assert "שבת" not in he  # closed
    en = facts.vocabulary("en")
    assert en.startswith("Ruti's hair salon: an appointment for a haircut or a colour, tomorrow")
    assert "at nine, ten, eleven, twelve, one, two, three, four or five thirty" in en
    evenings = dataclasses.replace(CFG.book, hours=types.MappingProxyType(
        {"sun": "16:00-20:00", "mon": "", "tue": "", "wed": "", "thu": "", "fri": "", "sat": ""}),
        services=())
    words = Facts(dataclasses.replace(CFG, book=evenings)).vocabulary("en")
    assert words == "Ruti's hair salon: an appointment, tomorrow or on Sunday, at four, five, six " \
                    "or seven thirty. Yes, that's fine."
