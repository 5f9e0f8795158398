"""The phrase cache: lines the agent says word for word (greeting, fillers, fallbacks, the
scripted answers) are synthesized once at start-up and played from memory, with zero TTS
latency and no dependence on a TTS engine being up at that moment."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import trio

from ..business import Facts
from ..config import Config
from ..errors import EngineError
from ..text import SentenceSplitter
from .base import TextToSpeech

log = logging.getLogger("voiced.tts.cache")


def fixed_lines(cfg: Config) -> list[tuple[str, str]]:
    """(text, language) of every line the config makes the agent say verbatim."""
    script = cfg.brain.script
    facts = Facts(cfg)
    tables = [script.greeting, script.fallback, script.goodbye, script.filler, script.reprompt,
              script.transfer, script.trouble, *(i.answer for i in script.intents)]
    return [(facts.fill(text, lang), lang) for table in tables for lang, text in table.items()
            if text]


def sentences(text: str) -> list[str]:
    """The pieces the brain stage will hand to TTS for this text (same splitter)."""
    splitter = SentenceSplitter()
    out = splitter.push(text)
    rest = splitter.flush()
    return [*out, rest] if rest else out


class CachedTTS:
    def __init__(self, inner: TextToSpeech) -> None:
        self._inner = inner
        self._cache: dict[tuple[str, str], bytes] = {}

    def __len__(self) -> int:
        return len(self._cache)

    async def warm(self, lines: Iterable[tuple[str, str]]) -> None:
        t0 = time.perf_counter()
        for text, language in lines:
            for piece in {text, *sentences(text)}:
                key = (piece, language)
                if key in self._cache:
                    continue
                tx, rx = trio.open_memory_channel[bytes](64)
                try:
                    async with tx:
                        await self._inner.synthesize(piece, language, tx)
                except EngineError as exc:
                    log.warning("could not cache %r: %s", piece[:40], exc)
                    continue
                self._cache[key] = b"".join([chunk async for chunk in rx])
        log.info("phrase cache: %d lines in %.2fs", len(self._cache), time.perf_counter() - t0)

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        hit = self._cache.get((text, language))
        if hit is not None:
            await tx.send(hit)
            return
        await self._inner.synthesize(text, language, tx)
