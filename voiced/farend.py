"""What the agent played, on the playout clock: the reference the echo model and the canceller
hold the inbound audio against (:mod:`voiced.echo`, :mod:`voiced.canceller`), and the energy
measures both use."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator

import numpy as np

from .audio import FRAME_MS, FRAME_SAMPLES, RATE

FRAME_S = FRAME_MS / 1000


def mean_square(x: np.ndarray) -> float:
    """Not ``np.dot``: numpy lets the GIL go around every BLAS call (and in ``arange``, and
    around any loop over more than 500 elements), and on the daemon's thread each of those
    is a chance for a gRPC or engine thread to take it until it lets go. With one busy thread
    beside it, a 160-sample ``np.dot`` took 24 us instead of 1. A frame is 160 samples:
    squared and summed, the GIL stays."""
    return float(np.square(x).sum()) / max(1, x.size)


def energy(pcm: bytes) -> float:
    """Mean square of 16-bit PCM."""
    return mean_square(np.frombuffer(pcm, dtype="<i2").astype(np.float32))


def frame_index(t: float) -> int:
    return math.floor(t / FRAME_S + 1e-6)


class FarEnd:
    """What the agent played, on the playout clock: the samples and the energy of each 20 ms
    frame of the clock's grid, in rings of ``keep_s`` indexed by absolute sample and frame.

    A reply goes to Twilio as fast as it is synthesised, so what is written may lie many
    seconds ahead of what is being played; ``keep_s`` covers that lead plus the look-back
    (the echo path's window, the canceller's span). Each frame slot remembers which frame it
    holds, so a slot overwritten by audio further ahead, or emptied by a ``clear``, reads as
    silence rather than as another frame's energy. (The first version kept energies in a
    dict with a deque for their age: a ``clear`` left the flushed frames in the deque, the
    next reply added them again, and when the stale entries aged out they deleted the new
    energies of audio that had just played. On long Hebrew replies, cleared and replaced, the
    echo path then saw no reference for its own echo: 44 self-interruptions in six calls.)
    """

    def __init__(self, keep_s: float = 60.0) -> None:
        self._size = int(keep_s * RATE)
        self._ring = np.zeros(self._size, np.float32)
        self._end = 0  # absolute sample index the ring holds audio up to (exclusive)
        self._keep = int(keep_s / FRAME_S)
        self._frame = np.full(self._keep, -1, np.int64)  # which frame each slot holds
        self._energy = np.zeros(self._keep, np.float64)
        self._iota = np.arange(self._keep)  # frame offsets for span(): np.arange lets the GIL go
        # Frames at which playback started again after a gap (a reply, or the next sentence
        # of one whose synthesis fell behind): the far end starts it on its own tick, a few
        # ms off the reference's timing.
        self._restarts: deque[int] = deque(maxlen=64)

    def play(self, pcm: bytes, t_start: float) -> None:
        """``pcm`` starts playing at ``t_start`` (playout clock)."""
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)[-self._size :]
        s0 = round(t_start * RATE)
        if s0 > self._end:  # the agent was quiet in between: silence, not last round's audio
            self._write(self._end, np.zeros(min(s0 - self._end, self._size), np.float32))
            self._restarts.append(s0 // FRAME_SAMPLES)
        self._write(s0, x)
        self._end = max(self._end, s0 + x.size)
        self._frames(s0, s0 + x.size)

    def clear(self, t: float) -> None:
        """Twilio flushed its buffer at ``t``: nothing after it will play."""
        s = round(t * RATE)
        if s < self._end:
            self._write(s, np.zeros(min(self._end - s, self._size), np.float32))
            ks = np.arange(s // FRAME_SAMPLES + 1, (self._end - 1) // FRAME_SAMPLES + 1)
            held = self._frame[ks % self._keep] == ks
            self._frame[ks[held] % self._keep] = -1
            self._end = s
            self._frames(s, s)

    def samples(self, start: int, n: int) -> np.ndarray:
        """Samples ``start`` (absolute index) on, zeros where nothing (still held) played."""
        out = np.empty(n, np.float32)
        out.fill(0.0)
        lo, hi = max(start, self._end - self._size, 0), min(start + n, self._end)
        for at, pos, m in self._pieces(lo, hi - lo):
            out[at - start : at - start + m] = self._ring[pos : pos + m]
        return out

    def restarted(self, first: int, last: int) -> bool:
        """Whether playback started again after a gap in frames ``first`` to ``last``."""
        return any(first <= k <= last for k in self._restarts)

    def at(self, k: int) -> float:
        slot = k % self._keep
        return float(self._energy[slot]) if self._frame[slot] == k else 0.0

    def span(self, first: int, last: int) -> np.ndarray:
        """The energies of frames ``first`` to ``last``, 0 for those not held."""
        n = last + 1 - first
        ks = self._iota[:n] + first if n <= self._keep else np.arange(first, last + 1)
        slots = ks % self._keep
        return np.where(self._frame[slots] == ks, self._energy[slots], 0.0)

    def loudest(self, first: int, last: int) -> float:
        if last < first or first * FRAME_SAMPLES >= self._end:
            return 0.0  # nothing played from ``first`` on: most frames while the caller talks
        return float(self.span(first, last).max())

    def _write(self, start: int, x: np.ndarray) -> None:
        for at, pos, m in self._pieces(start, x.size):
            self._ring[pos : pos + m] = x[at - start : at - start + m]

    def _pieces(self, start: int, n: int) -> Iterator[tuple[int, int, int]]:
        """Samples ``start`` to ``start + n`` (at most the ring's size) as slices of the
        ring: (absolute index, ring position, length), two where it wraps. Slices, not
        ``np.arange`` indices, which let the GIL go."""
        while n > 0:
            pos = start % self._size
            m = min(n, self._size - pos)
            yield start, pos, m
            start, n = start + m, n - m

    def _frames(self, lo: int, hi: int) -> None:
        for k in range(lo // FRAME_SAMPLES, (max(hi, lo + 1) - 1) // FRAME_SAMPLES + 1):
            slot = k % self._keep
            self._frame[slot] = k
            self._energy[slot] = mean_square(self.samples(k * FRAME_SAMPLES, FRAME_SAMPLES))
