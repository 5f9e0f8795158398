"""The agent's own voice coming back down the line, and how to tell it from the caller's.

A caller on a speakerphone sends the agent's audio back 100-500 ms late and 10-30 dB down
(more or less, and smeared by the room). voiced holds what a phone network's echo suppressor
holds: the exact reference (every byte it sent) and when Twilio played it (8000 bytes a
second, in order, from when it arrived). So for each 20 ms of inbound audio it can predict
how loud the echo in it should be, and a frame no louder than that prediction (plus a margin)
is only echo: the caller is not speaking over the agent, whatever the VAD would say.

- :class:`FarEnd` is the reference: the energy of each 20 ms the agent played, on the
  playout clock. ``clear`` removes what Twilio flushed.
- :class:`EchoPath` learns the echo's delay and level from the call itself, by matching the
  inbound energy envelope with the reference's over the last seconds, and keeps learning (the
  delay drifts, a caller switches to speakerphone). Until it has heard enough of the agent it
  assumes the worst plausible echo.

Energy matching rather than a linear canceller: the decision it feeds is "caller or echo"
per frame, which needs no sample-exact alignment, costs microseconds a frame, and does not
break on the non-linear paths (mu-law twice, phone AGC, room) a linear filter must model.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .audio import FRAME_MS

FRAME_S = FRAME_MS / 1000
_QUIET = 1e-2  # mean square of 16-bit PCM below which a frame carries nothing (-99 dBFS)
_AUDIBLE = 1.0  # below this (-90 dBFS) an inbound frame is line silence


def energy(pcm: bytes) -> float:
    """Mean square of 16-bit PCM."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return float(np.dot(x, x) / max(1, x.size))


def frame_index(t: float) -> int:
    return math.floor(t / FRAME_S + 1e-6)


class FarEnd:
    """What the agent played, as the energy of each 20 ms on the playout clock."""

    def __init__(self, keep_s: float = 10.0) -> None:
        self._energy: dict[int, float] = {}
        self._order: deque[int] = deque()
        self._keep = int(keep_s / FRAME_S)

    def play(self, pcm: bytes, t_start: float) -> None:
        """``pcm`` starts playing at ``t_start`` (playout clock)."""
        k = frame_index(t_start)
        step = 2 * int(FRAME_S * 8000)
        for i in range(0, len(pcm), step):
            self._energy[k] = self._energy.get(k, 0.0) + energy(pcm[i : i + step])
            self._order.append(k)
            k += 1
        while len(self._order) > self._keep:
            self._energy.pop(self._order.popleft(), None)

    def clear(self, t: float) -> None:
        """Twilio flushed its buffer at ``t``: nothing after it will play."""
        k = frame_index(t)
        for key in [key for key in self._energy if key > k]:
            del self._energy[key]

    def at(self, k: int) -> float:
        return self._energy.get(k, 0.0)

    def loudest(self, first: int, last: int) -> float:
        return max((self._energy.get(k, 0.0) for k in range(first, last + 1)), default=0.0)


@dataclass(frozen=True)
class EchoEstimate:
    delay_frames: int
    gain: float  # echo energy / reference energy
    frames: int  # reference-active frames it rests on


class EchoPath:
    """The echo's delay and level in one call, learnt from its own audio.

    Every ``every`` frames it finds the lag (0 to ``max_delay_ms``) at which the inbound
    energy envelope best follows the reference's over the last ``window_s``, and the echo's
    gain there as the median inbound/reference energy ratio (the median, so a caller who
    talked over the agent in some of those frames does not inflate it).

    Before there is enough audio for that (the first second or so of agent speech), the echo
    is bounded without its lag: each inbound frame against the loudest reference frame that
    could have caused it; the 90th percentile of that ratio is as loud as the echo has been
    seen to be. With fewer than ``min_bound_frames`` of those, ``prior_db`` is assumed. So a
    clean line is known to be clean after a fifth of a second of the greeting, and a caller
    who answers the greeting at once is not taken for its echo.

    Nothing is learnt from a frame within ``talk_db`` of the loudest reference that could have
    caused it (the Geigel rule of network echo cancellers): an echo that loud is not a
    speakerphone's, it is the caller talking, and learning it as echo would make the caller's
    next words "echo" too.
    """

    def __init__(self, far: FarEnd, *, max_delay_ms: int = 600, window_s: float = 6.0,
                 every: int = 10, min_frames: int = 25, min_bound_frames: int = 10,
                 prior_db: float = -6.0, margin_db: float = 6.0, talk_db: float = -3.0) -> None:
        self._far = far
        self._max_lag = max_delay_ms // FRAME_MS
        # Inbound frames: index, energy, and whether it was the caller (never learnt as echo).
        self._near: deque[tuple[int, float, bool]] = deque(maxlen=int(window_s / FRAME_S))
        self._bound: deque[float] = deque(maxlen=int(window_s / FRAME_S))
        self._min_bound = min_bound_frames
        self._every = every
        self._min_frames = min_frames
        self._prior = 10 ** (prior_db / 10)
        self._margin = 10 ** (margin_db / 10)
        self._talk = 10 ** (talk_db / 10)
        self._since = 0
        self.estimate: EchoEstimate | None = None

    def push(self, t: float, near_energy: float) -> None:
        """One inbound frame, arrived at ``t``."""
        k = frame_index(t)
        loudest = self._far.loudest(k - self._max_lag, k)
        talk = near_energy >= self._talk * loudest
        self._near.append((k, near_energy, talk))
        if loudest > 100 * _QUIET and not talk:
            self._bound.append(near_energy / loudest)
        self._since += 1
        if self._since >= self._every:
            self._since = 0
            self.estimate = self._estimate() or self.estimate

    def is_echo(self, t: float, near_energy: float) -> bool:
        """Whether a frame this loud, arriving at ``t``, can be nothing but the agent's echo."""
        k = frame_index(t)
        est = self.estimate
        if est is None:
            # No lag yet: any is possible, and the echo as loud as it has been seen to be.
            gain = float(np.percentile(self._bound, 90)) if len(self._bound) >= self._min_bound \
                else self._prior
            predicted = gain * self._far.loudest(k - self._max_lag, k)
        else:
            lag = est.delay_frames
            predicted = est.gain * self._far.loudest(k - lag - 1, k - lag + 1)
        # A silent frame is silence, not echo: nothing to take out.
        return near_energy > _AUDIBLE and near_energy <= predicted * self._margin

    def _estimate(self) -> EchoEstimate | None:
        if len(self._near) < 2 * self._min_frames:
            return None
        kept = [(k, e) for k, e, talk in self._near if not talk]
        if len(kept) < self._min_frames:
            return None
        ks = np.fromiter((k for k, _ in kept), dtype=np.int64, count=len(kept))
        near = np.fromiter((e for _, e in kept), dtype=np.float64, count=len(kept)) + _QUIET
        base = int(ks.min()) - self._max_lag
        far_all = np.array([self._far.at(k) for k in range(base, int(ks.max()) + 1)]) + _QUIET
        best: tuple[float, int] | None = None
        for lag in range(self._max_lag + 1):
            far = far_all[ks - lag - base]
            active = far > 100 * _QUIET
            if active.sum() < self._min_frames:
                continue
            score = _similarity(np.log(near[active]), np.log(far[active]))
            if best is None or score > best[0]:
                best = (score, lag)
        if best is None:
            return None
        far = far_all[ks - best[1] - base]
        active = far > 100 * _QUIET
        gain = float(np.median(near[active] / far[active]))
        return EchoEstimate(best[1], gain, int(active.sum()))


def _similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two log-energy envelopes; 0 when either is flat (no echo at all:
    any lag explains it equally badly, and the gain says it is negligible)."""
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / den) if den > 0 else 0.0
