"""Language codes, in one place. Callers speak "he" or "en"; each engine spells them its own
way, and Google spells Hebrew two ways: the old code iw-IL for Speech-to-Text, he-IL for
Text-to-Speech voices."""

from __future__ import annotations

GOOGLE_STT = {"he": "iw-IL", "en": "en-US"}
GOOGLE_TTS = {"he": "he-IL", "en": "en-US"}
WHISPER = {"he": "he", "en": "en"}


def from_google(code: str) -> str:
    """Our language for a code Google reports back ("iw-il", "he-IL", "en-US")."""
    base = code.split("-")[0].lower()
    return "he" if base in ("iw", "he") else "en" if base == "en" else base
