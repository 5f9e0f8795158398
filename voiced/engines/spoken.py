"""Every TTS engine reads words, not digits: the reply's numbers, prices, times and dates are
spelled out the way a speaker of its language says them, before any engine (Google's
included: it reads "14:30" as "fourteen thirty" in Hebrew too) and before the phrase cache,
so a cached line and a live one sound alike."""

from __future__ import annotations

import trio

from ..hebrew import speakable
from .base import TextToSpeech


class SpokenForm:
    def __init__(self, inner: TextToSpeech) -> None:
        self._inner = inner

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        await self._inner.synthesize(speakable(text, language), language, tx)
