"""tts: one reply's sentences as audio, each followed by a Twilio ``mark``.

The mark after each sentence is how we learn, from Twilio's echo, how much of the reply the
caller actually heard.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import suppress

import trio

from ..callstate import Faults
from ..config import TtsConfig
from ..conversation import ReplyRecord
from ..engines.base import TextToSpeech
from ..errors import Engine, EngineError, FaultKind
from ..events import Audio, EndCall, Sentence
from ..latency import TurnLog
from ..twilio.wire import Mark

log = logging.getLogger("voiced.tts")


def audio_messages(audio: bytes, chunk_bytes: int, turn: TurnLog | None = None) -> list[Audio]:
    """Agent audio cut into the media messages the send stage writes, one per chunk."""
    return [Audio(audio[i : i + chunk_bytes], turn) for i in range(0, len(audio), chunk_bytes)]


async def tts(
    rx: trio.MemoryReceiveChannel[Sentence | EndCall],
    tx: trio.MemorySendChannel[Audio | Mark],
    engine: TextToSpeech,
    record: ReplyRecord,
    turnlog: TurnLog | None,
    cfg: TtsConfig,
    chunk_bytes: int,
    call_id: str,
    faults: Faults | None = None,
    trouble: Mapping[str, str] | None = None,
) -> None:
    """``trouble``: the cached line said instead of a sentence the engine failed to speak."""
    troubled = False  # the trouble line is said once a reply, however many sentences fail
    with rx, tx:
        async for item in rx:
            if isinstance(item, EndCall):
                await tx.send(Mark(record.end_mark(item)))
                continue
            t0 = trio.current_time()
            audio_tx, audio_rx = trio.open_memory_channel[bytes](8)
            heard = [item.text]  # what the caller will hear instead, if the engine fails

            async def speak(text: str = item.text, language: str = item.language,
                            audio_tx: trio.MemorySendChannel[bytes] = audio_tx,
                            heard: list[str] = heard) -> None:
                with audio_tx:
                    try:
                        with trio.fail_after(cfg.timeout_s):
                            await engine.synthesize(text, language, audio_tx)
                        return
                    except (trio.TooSlowError, EngineError) as exc:
                        kind = FaultKind.of(exc)
                        log.warning("call %s: TTS %s: %s", call_id, kind,
                                    exc or f"no audio within {cfg.timeout_s:.1f}s")
                    if faults is not None:
                        faults.add(Engine.TTS, kind)
                    nonlocal troubled
                    line = (trouble or {}).get(language, "")
                    if line and line != text and not troubled:
                        troubled = True
                        heard[0] = line
                        # From the phrase cache: it plays even with the engine down.
                        with trio.move_on_after(cfg.timeout_s), suppress(EngineError):
                            await engine.synthesize(line, language, audio_tx)

            spoke = False
            async with trio.open_nursery() as nursery:
                nursery.start_soon(speak)
                async for chunk in audio_rx:
                    if not spoke and turnlog is not None and turnlog.tts_first_s is None:
                        turnlog.tts_first_s = trio.current_time() - t0
                    spoke = True
                    for message in audio_messages(chunk, chunk_bytes, turnlog):
                        await tx.send(message)
            if spoke:
                await tx.send(Mark(record.sent(heard[0])))
