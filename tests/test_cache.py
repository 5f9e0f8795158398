from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from voiced import config
from voiced.business import Facts
from voiced.engines.cache import CachedTTS, fixed_lines
from voiced.lab.testing.fakes import FakeTTS

CFG = config.load(Path(__file__).resolve().parent.parent / "config.toml")


async def synth(tts: CachedTTS, text: str, language: str) -> bytes:
    tx, rx = trio.open_memory_channel[bytes](10)
    async with tx:
        await tts.synthesize(text, language, tx)
    return b"".join([c async for c in rx])


async def test_fixed_lines_play_from_memory_with_zero_latency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    inner = FakeTTS(delay=0.2)
    tts = CachedTTS(inner)
    await tts.warm(fixed_lines(CFG))
    warmed = len(inner.spoken)
    # As the receptionist says it: the business's hours filled in (voiced.business).
    hours = Facts(CFG).fill({i.name: i for i in CFG.brain.script.intents}["hours"].answer["he"], "he")
    t0 = trio.current_time()
    audio = await synth(tts, hours, "he")
    assert trio.current_time() == t0  # from memory
    assert audio and len(inner.spoken) == warmed
    # Each sentence the brain stage will cut from a line is cached too.
    greeting_first = CFG.brain.script.greeting["he"].split(". ")[0] + "."
    await synth(tts, greeting_first, "he")
    assert trio.current_time() == t0
    # Anything else goes to the engine.
    await synth(tts, "Something new.", "en")
    assert trio.current_time() == t0 + 0.2
