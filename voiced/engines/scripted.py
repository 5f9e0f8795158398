"""The scripted receptionist: intents from config.toml, matched by keyword, spelling-tolerant.

It is the embedded default brain and the fallback when an LLM fails, so it must never fail
itself: no I/O, no model, an answer in microseconds.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

import trio

from ..business import Facts
from ..config import Intent, ScriptConfig
from ..events import EndCall, EndReason, UserTurn
from ..text import normalize, skeleton, word_forms
from ..tools.box import ReplyTools
from .booking import Booking, Draft


@dataclass(frozen=True)
class Match:
    intent: Intent | None
    score: float


class ScriptedBrain:
    def __init__(self, cfg: ScriptConfig, line_language: str,
                 booking: Booking | None = None, facts: Facts | None = None) -> None:
        self._cfg = cfg
        self._line_language = line_language
        self._facts = facts  # fills {hours}, {prices}... in answers
        self._booking = booking  # books through the call's tools, when it has them
        self._yes = {normalize(y) for ys in cfg.yes.values() for y in ys}
        # Pre-normalised keywords: (intent, word or phrase)
        self._keywords = [
            (intent, normalize(kw))
            for intent in cfg.intents
            for words in intent.keywords.values()
            for kw in words
            if normalize(kw)
        ]

    def _say(self, texts: Mapping[str, str], language: str) -> str:
        said_in = language if texts.get(language) else self._line_language
        text = texts.get(said_in) or ""
        return self._facts.fill(text, said_in) if self._facts is not None else text

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

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None:
        text = turn.text if not turn.dtmf else f"{turn.text} dtmf {turn.dtmf}"
        asked = self._asked(turn)
        if asked is not None and self._says_yes(turn.text):
            await self._act(asked, turn, tx)
            return
        if tools and self._booking is not None and not turn.dtmf:
            draft = tools.memo.setdefault("booking", Draft())
            if self._booking.wants(turn.text, draft, turn.language):
                answer = await self._booking.turn(turn, tools, draft, self._says_yes(turn.text))
                if answer:
                    await tx.send(answer)
                    return
        found = self.match(text)
        intent = found.intent
        if intent is None:
            await tx.send(self.fallback_line(turn.language))
            return
        if _acts(intent) and not self._confident(turn, found):
            # A call is ended or transferred on the caller's clear word, never on a guess.
            await tx.send(self._confirmation(intent, turn.language))
            return
        await self._act(intent, turn, tx)

    async def _act(self, intent: Intent, turn: UserTurn,
                   tx: trio.MemorySendChannel[str | EndCall]) -> None:
        answer = self._say(intent.answer, turn.language) or self.fallback_line(turn.language)
        await tx.send(answer)
        if _acts(intent):
            reason = EndReason.TRANSFERRED if intent.transfer_to else EndReason.AGENT_HANGUP
            await tx.send(EndCall(reason, intent.transfer_to, intent.name))

    def _confident(self, turn: UserTurn, found: Match) -> bool:
        """A key press, or a keyword heard exactly (not a near miss) in a short turn."""
        if turn.dtmf:
            return True
        return found.score >= 1.0 and len(normalize(turn.text).split()) <= self._cfg.confident_words

    def _confirmation(self, intent: Intent, language: str) -> str:
        default = self._cfg.confirm_transfer if intent.transfer_to else self._cfg.confirm_end
        return self._say(intent.confirm or default, language)

    def _asked(self, turn: UserTurn) -> Intent | None:
        """The action the agent's last words asked the caller to confirm, if they did."""
        last = next((m for m in reversed(turn.history) if m.role == "assistant"), None)
        if last is None:
            return None
        for intent in self._cfg.intents:
            if _acts(intent) and last.content.strip() in {
                    self._confirmation(intent, lang) for lang in (turn.language, self._line_language)}:
                return intent
        return None

    def _says_yes(self, text: str) -> bool:
        words = normalize(text).split()
        if not words or any(w in {"no", "not", "לא"} for w in words):
            return False
        return words[0] in self._yes or " ".join(words[:2]) in self._yes


def _acts(intent: Intent) -> bool:
    """Whether the intent changes the call (ends or transfers it)."""
    return intent.end_call or bool(intent.transfer_to)
