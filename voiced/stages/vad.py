"""vad: decides when the caller speaks, pauses, resumes and has finished.

The decision logic is :class:`Endpointer`, a pure state machine over (is-speech, time) pairs,
so its timing can be tested frame by frame. Two rules keep noise from steering turns: speech
starts only after ``onset_ms`` of consecutive voiced audio, and an isolated voiced frame
inside a pause (a click, a breath) neither resumes the turn nor restarts the silence count.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from ..audio import FRAME_MS
from ..config import BargeInConfig, TurnConfig, VadConfig
from ..engines.base import FrameClassifier
from ..events import (
    EarlyPause,
    Frame,
    LongPause,
    ShortPause,
    SpeechConfirmed,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStilled,
    SpeechStirred,
    VadEvent,
)
from ..nearend import TurnAudio

RESUME_FRAMES = 2  # voiced frames in a row that end a pause


class Endpointer:
    def __init__(self, vad: VadConfig, turn: TurnConfig, bargein: BargeInConfig | None = None) -> None:
        self._onset = max(1, vad.onset_ms // FRAME_MS)
        self._silence_end = vad.silence_ms // FRAME_MS
        self._silence_pause = turn.speculate_after_ms // FRAME_MS
        self._silence_early = turn.early_speculate_ms // FRAME_MS
        self._silence_short = turn.min_silence_ms // FRAME_MS
        self._silence_unsure = turn.unsure_silence_ms // FRAME_MS
        self._confirm_ms = (bargein or BargeInConfig()).min_speech_ms
        self._confirmed = False
        self._min_voiced_ms = vad.min_speech_ms
        self._speaking = False
        self._streak = 0  # consecutive voiced frames
        self._streak_t = 0.0  # arrival of the first frame of the streak
        self._silence = 0  # frames since the last accepted speech
        self._paused = False
        self._early = False  # an EarlyPause was sent for the current silence
        self._stirred = False  # a SpeechStirred was sent for the voiced frame just pushed
        self._voiced_ms = 0
        self._last_voiced_t = 0.0
        self._gen = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    def push(self, voiced: bool, t: float) -> list[VadEvent]:
        if voiced:
            if self._streak == 0:
                self._streak_t = t
            self._streak += 1
        else:
            self._streak = 0
        if not self._speaking:
            if self._streak >= self._onset:
                self._speaking = True
                self._silence = 0
                self._paused = self._early = self._stirred = False
                self._voiced_ms = self._streak * FRAME_MS
                self._last_voiced_t = t
                self._confirmed = False
                return [SpeechStarted(self._streak_t, self._gen), *self._confirm(t)]
            return []
        events: list[VadEvent] = []
        if voiced:
            self._voiced_ms += FRAME_MS
            events += self._confirm(t)
        if self._streak >= RESUME_FRAMES:
            self._silence = 0
            self._last_voiced_t = t
            if self._paused or self._early:
                self._paused = self._early = self._stirred = False
                self._gen += 1
                events.append(SpeechResumed(t, self._gen))
            return events
        if self._paused and voiced != self._stirred:
            self._stirred = voiced
            events.append(SpeechStirred(t, self._gen) if voiced else SpeechStilled(t, self._gen))
        self._silence += 1
        # A sound too short to be a turn is not worth transcribing at its pause.
        worth_it = self._voiced_ms >= self._min_voiced_ms
        if self._silence == self._silence_early and worth_it:
            self._early = True
            events.append(EarlyPause(self._last_voiced_t, self._gen))
        if not self._paused and self._silence >= self._silence_pause and worth_it:
            self._paused = True
            events.append(SpeechPaused(self._last_voiced_t, self._gen))
        if self._silence == self._silence_short and worth_it:
            events.append(ShortPause(self._last_voiced_t, t, self._gen))
        if self._silence == self._silence_unsure and worth_it:
            events.append(LongPause(self._last_voiced_t, t, self._gen))
        if self._silence >= self._silence_end:
            self._speaking = False
            self._streak = 0
            if self._voiced_ms >= self._min_voiced_ms:
                events.append(SpeechEnded(self._last_voiced_t, t, self._gen, self._voiced_ms))
            else:
                events.append(SpeechDiscarded(t, self._voiced_ms))
            self._gen += 1
        return events


    def _confirm(self, t: float) -> list[VadEvent]:
        if self._confirmed or self._voiced_ms < self._confirm_ms:
            return []
        self._confirmed = True
        return [SpeechConfirmed(t, self._gen)]


async def vad(
    rx: trio.MemoryReceiveChannel[Frame],
    tx: trio.MemorySendChannel[Frame | VadEvent],
    classifier: FrameClassifier,
    cfg: VadConfig,
    turn: TurnConfig,
    bargein: BargeInConfig,
    lag: Callable[[float], None] | None = None,
    heard: TurnAudio | None = None,
) -> None:
    """Every frame goes on downstream (streaming STT wants all audio, silence included),
    followed by the events it caused. ``lag`` hears how long each frame waited since it
    arrived: the inbound processing lag, which grows when the daemon falls behind.
    ``heard`` keeps the caller's current turn for the end-of-turn model."""
    with rx, tx:
        endpointer = Endpointer(cfg, turn, bargein)
        async for frame in rx:
            if lag is not None:
                lag(trio.current_time() - frame.t)
            events = endpointer.push(classifier.is_speech(frame.pcm), frame.t)
            if heard is not None:
                heard.push(frame.pcm)
                if any(isinstance(event, SpeechStarted) for event in events):
                    heard.turn_started()
            await tx.send(frame)
            for event in events:
                await tx.send(event)
