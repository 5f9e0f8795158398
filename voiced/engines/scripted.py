"""The scripted receptionist: intents from config.toml, matched by keyword, spelling-tolerant.

It is the embedded default brain and the fallback when an LLM fails, so it must never fail
itself: no I/O, no model, an answer in microseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

import trio

from ..config import Intent, ScriptConfig
from ..events import EndCall, EndReason, UserTurn
from ..text import normalize, skeleton, word_forms


@dataclass(frozen=True)
class Match:
    intent: Intent | None
    score: float


class ScriptedBrain:
    def __init__(self, cfg: ScriptConfig, line_language: str) -> None:
        self._cfg = cfg
        self._line_language = line_language
        # Pre-normalised keywords: (intent, word or phrase)
        self._keywords = [
            (intent, normalize(kw))
            for intent in cfg.intents
            for words in intent.keywords.values()
            for kw in words
            if normalize(kw)
        ]

    def _say(self, texts: Mapping[str, str], language: str) -> str:
        return texts.get(language) or texts.get(self._line_language) or ""

    def greeting(self, language: str) -> str:
        return self._say(self._cfg.greeting, language)

    def fallback_line(self, language: str) -> str:
        return self._say(self._cfg.fallback, language)

    def match(self, text: str) -> Match:
        """The intent whose keywords the caller's words hit best, or none."""
        words = normalize(text).split()
        if not words:
            return Match(None, 0.0)
        forms = [word_forms(w) for w in words]
        # Spelling variants meet in their skeletons; four letters at least, or "מחיר" (price)
        # would match "מחר" (tomorrow).
        skeletons = {skeleton(form) for f in forms for form in f}
        padded = f" {' '.join(words)} "
        scores: dict[str, float] = {}
        by_name: dict[str, Intent] = {}
        for intent, kw in self._keywords:
            score = 0.0
            if " " in kw:
                score = 2.0 if f" {kw} " in padded else 0.0
            elif any(kw in f for f in forms) or (len(skeleton(kw)) >= 4 and skeleton(kw) in skeletons):
                score = 1.0
            elif len(kw) >= 4:
                # Only words of four letters or more: "יפה" (nice) is one edit from "איפה".
                best = max((difflib.SequenceMatcher(None, kw, form).ratio()
                            for f in forms for form in f if len(form) >= 4), default=0.0)
                if best >= self._cfg.fuzzy_ratio:
                    score = 0.8
            if score:
                scores[intent.name] = scores.get(intent.name, 0.0) + score
                by_name[intent.name] = intent
        if not scores:
            return Match(None, 0.0)
        name = max(scores, key=lambda n: scores[n])
        return Match(by_name[name], scores[name])

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall]) -> None:
        text = turn.text if not turn.dtmf else f"{turn.text} dtmf {turn.dtmf}"
        found = self.match(text)
        if found.intent is None:
            await tx.send(self.fallback_line(turn.language))
            return
        answer = self._say(found.intent.answer, turn.language) or self.fallback_line(turn.language)
        await tx.send(answer)
        if found.intent.end_call or found.intent.transfer_to:
            reason = EndReason.TRANSFERRED if found.intent.transfer_to else EndReason.AGENT_HANGUP
            await tx.send(EndCall(reason, found.intent.transfer_to, found.intent.name))
