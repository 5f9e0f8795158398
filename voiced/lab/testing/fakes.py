"""Async fakes of the engine Protocols, for tests on ``trio.testing.MockClock``.

They sleep on the Trio clock instead of computing, so a test states exactly how long each
engine takes and asserts exact virtual times. (Autojump cannot see worker threads, so real
engines are tested separately on the real clock.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import trio

from ...audio import RATE, ulaw_encode
from ...config import Config
from ...engines.base import Brain, Engines
from ...engines.scripted import ScriptedBrain
from ...engines.vad import EnergyClassifier
from ...errors import EngineError
from ...events import EndCall, Recognition, UserTurn
from ...stages.stt import BatchRecognizer
from ...tools.box import ReplyTools


def tone(ms: int, amplitude: int = 8000, freq: float = 440.0) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@dataclass
class FakeSTT:
    """Answers ``text`` after ``delay`` seconds of virtual time."""

    text: str = "what are your opening hours"
    language: str = "en"
    delay: float = 0.1
    started: int = 0
    finished: int = 0
    cancelled: int = 0
    active: int = 0
    audio_seconds: list[float] = field(default_factory=list)
    asked: list[tuple[str, ...]] = field(default_factory=list)  # the languages, in order
    contexts: list[str] = field(default_factory=list)  # the words before each audio
    # As Whisper: with several languages allowed, audio shorter than this is heard in the
    # first, a guess (``stt.whisper.language_switch_min_s``); 0: never a guess.
    guess_under_s: float = 0.0

    async def transcribe(self, pcm: bytes, languages: Sequence[str],
                         context: str = "") -> Recognition:
        self.started += 1
        self.asked.append(tuple(languages))
        self.contexts.append(context)
        self.active += 1
        self.audio_seconds.append(len(pcm) / 2 / RATE)
        try:
            await trio.sleep(self.delay)
        except trio.Cancelled:
            self.cancelled += 1
            raise
        finally:
            self.active -= 1
        self.finished += 1
        if len(languages) > 1 and self.audio_seconds[-1] < self.guess_under_s:
            return Recognition(self.text, languages[0], self.delay, guessed=True)
        return Recognition(self.text, self.language, self.delay)


@dataclass
class FakeTTS:
    """First (and only) audio chunk after ``delay``: ``ms_per_char`` of tone per character."""

    delay: float = 0.03
    ms_per_char: int = 20
    # Syllables: the tone's level rises and falls ~5 times a second, as speech does (an echo
    # of a steady tone would have no shape to find its delay by).
    syllables: bool = False
    spoken: list[str] = field(default_factory=list)
    active: int = 0

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        self.active += 1
        try:
            await trio.sleep(self.delay)
            self.spoken.append(text)
            pcm = tone(self.ms_per_char * max(1, len(text)))
            if self.syllables:
                t = np.arange(pcm.size) / RATE
                pcm = (pcm * (0.55 + 0.45 * np.sin(2 * np.pi * 5 * t + len(text)))).astype(np.int16)
            await tx.send(ulaw_encode(pcm))
        finally:
            self.active -= 1


@dataclass
class FakeBrain:
    """Streams ``tokens`` with a first-token delay and a per-token delay."""

    tokens: Sequence[str] = ("We are open ", "nine to six. ", "Anything else?")
    first_delay: float = 0.05
    token_delay: float = 0.01
    end_call: bool = False
    turns: list[UserTurn] = field(default_factory=list)

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None:
        self.turns.append(turn)
        await trio.sleep(self.first_delay)
        for i, token in enumerate(self.tokens):
            if i:
                await trio.sleep(self.token_delay)
            await tx.send(token)
        if self.end_call:
            await tx.send(EndCall())


class FakeTurnModel:
    """An end-of-turn model that hears the turn as ``complete`` after ``delay`` of virtual
    time, and keeps how much audio it was given (bytes) each time."""

    def __init__(self, complete: float = 0.97, delay: float = 0.03) -> None:
        self.complete, self.delay = complete, delay
        self.heard: list[int] = []

    async def judge(self, pcm: bytes) -> float:
        self.heard.append(len(pcm))
        await trio.sleep(self.delay)
        return self.complete


def fake_engines(
    cfg: Config,
    stt: FakeSTT | None = None,
    tts: FakeTTS | None = None,
    brain: Brain | None = None,
    turn_model: FakeTurnModel | None = None,
) -> Engines:
    scripted = ScriptedBrain(cfg.brain.script, cfg.call.language)
    return Engines(
        stt=BatchRecognizer(stt or FakeSTT()),
        brain=brain or scripted,
        tts=tts or FakeTTS(),
        fallback=scripted,
        classifier=lambda: EnergyClassifier(-40.0),
        turn_model=turn_model,
    )


def fake_engines_for(cfg: Config, http: object) -> Engines:
    """:func:`fake_engines` as a worker process builds its engines (``server.Worker.engines``):
    importable by name, so a spawned worker can be given it."""
    return fake_engines(cfg)


def broken_engines_for(cfg: Config, http: object) -> Engines:
    """A worker's engines that cannot be built (a missing model, a bad key)."""
    raise EngineError("no model here")
