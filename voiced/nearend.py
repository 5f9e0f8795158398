"""The caller's current turn as the end-of-turn model hears it (:mod:`voiced.engines.turn`).

The VAD stage keeps it, frame by frame, from the turn's preroll on (the last 8 s: all the
model hears); the dialogue reads it only when a judgement can change anything, that is when
the caller has paused after words that read as finished. Judging every pause instead cost a
daemon on the sim engines 35 % of a core for 20 calls (52 ms a judgement), as much again as
everything else it did (docs/BENCHMARKS.md, "The end-of-turn model").
"""

from __future__ import annotations

from collections import deque

from .audio import FRAME_MS

SECONDS = 8  # what the model hears of a turn: its last 8 s


class TurnAudio:
    """The current turn's audio, 20 ms frames of 8 kHz PCM. Bounded: 8 s, the oldest out."""

    def __init__(self, preroll_ms: int) -> None:
        self._frames: deque[bytes] = deque(maxlen=SECONDS * 1000 // FRAME_MS)
        self._preroll = max(1, preroll_ms // FRAME_MS)

    def push(self, pcm: bytes) -> None:
        self._frames.append(pcm)

    def turn_started(self) -> None:
        """Speech began with the frame just pushed: what came before its preroll is not the
        turn (a previous turn's words would make this one sound finished or not)."""
        while len(self._frames) > self._preroll:
            self._frames.popleft()

    def pcm(self) -> bytes:
        return b"".join(self._frames)
