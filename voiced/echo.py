"""The agent's own voice coming back down the line, and how to tell it from the caller's.

A caller on a speakerphone sends the agent's audio back 100-500 ms late and 10-30 dB down
(smeared by the room). voiced holds what a phone network's echo canceller holds: the exact
reference (every byte it sent) and when Twilio played it (8000 bytes a second, in order,
from when it arrived). Three parts:

- :class:`voiced.farend.FarEnd` is the reference: the samples the agent played, on the
  playout clock, and the energy of each 20 ms; ``clear`` removes what Twilio flushed.
- :class:`EchoPath` learns the echo's delay and level from the call itself, by matching the
  inbound energy envelope with the reference's over the last seconds, and keeps learning (the
  delay drifts, a caller switches to speakerphone). It predicts how loud the echo in each
  inbound frame can be; a frame no louder than that (plus a margin) is echo alone.
- :class:`voiced.canceller.EchoCanceller` subtracts the echo the reference predicts (an adaptive filter
  aligned at that delay), so what is left to judge is the residual, 40-50 dB down once it has
  converged: a caller talking over the agent, even well under its level, stands out of it.

The stage (:mod:`voiced.stages.echo`) runs them per frame and silences echo alone before the
VAD and the recogniser hear it.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from .audio import FRAME_MS
from .farend import FRAME_S, FarEnd, frame_index

_QUIET = 1e-2  # mean square of 16-bit PCM below which a frame carries nothing (-99 dBFS)
AUDIBLE = 1.0  # below this (-90 dBFS) an inbound frame is line silence
_MIN_SCORE = 0.5  # how closely the inbound envelope must follow the reference to be its echo
_MIN_SCORE_CALLERS = 0.7  # ... when most of the window is what the stage let through as the caller
_SWITCH = 0.1  # how much better a new delay must explain it to replace the current one
ADAPTED = 25  # frames of adaptation before a canceller's output is trusted
_LEFT_SEEN = 10  # frames of trusted output before what it leaves of the echo is believed
_LEFT_Q = 75  # percentile of what it left that bounds what it leaves
_FLOOR_Q = 10  # percentile of the inbound frames' energy over the last seconds: the line's noise
_FLOOR_SEEN = 25  # frames before there is a noise floor to speak of
_NOISE_MARGIN = 2.0  # how far over the noise floor (3 dB) a frame's remainder may be, as noise


@dataclass(frozen=True)
class EchoBound:
    """How loud an inbound frame (mean square) can be and be nothing but the agent's echo,
    the margin in: ``echo`` after the canceller, its output judged as it is; ``uncancelled``
    with nothing taken to have been taken out; ``noise``, what the line's noise may add
    beside the echo."""

    echo: float
    uncancelled: float
    noise: float

    def holds(self, energy: float, *, uncancelled: bool = False, noise: bool = False) -> bool:
        """A frame this loud is echo alone (with ``noise``: or echo and the line's noise). A
        silent frame is silence, not echo: nothing to take out, no noise beside it."""
        limit = (self.uncancelled if uncancelled else self.echo) + (self.noise if noise else 0.0)
        return AUDIBLE < energy <= limit


class Window:
    """The last ``size`` values, also kept in order, for a percentile every frame without
    sorting (``np.percentile`` of a deque copied it and sorted it each time: a tenth of the
    echo stage's CPU). Percentiles interpolate linearly, as numpy's default does."""

    def __init__(self, size: int) -> None:
        self._values: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size

    def __len__(self) -> int:
        return len(self._values)

    def append(self, value: float) -> None:
        if len(self._values) == self._size:
            del self._sorted[bisect.bisect_left(self._sorted, self._values.popleft())]
        self._values.append(value)
        bisect.insort(self._sorted, value)

    def clear(self) -> None:
        self._values.clear()
        self._sorted.clear()

    def percentile(self, q: float) -> float:
        a = self._sorted
        pos = (len(a) - 1) * q / 100
        lo = math.floor(pos)
        hi = min(lo + 1, len(a) - 1)
        return a[lo] + (a[hi] - a[lo]) * (pos - lo)


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

    What the canceller leaves of the echo is measured against the loudest reference in its
    span, the frame at the lag and ``ring_ms`` before it, not against the frame's own level: a
    room rings on after a loud syllable, and what the canceller leaves of that ring is
    relative to the syllable. Measured against the frame's own level, the frames after each
    loud syllable of a Hebrew reply went through as the caller (25-30 dB taken out of the
    syllable, the same absolute level left in the 60-100 ms after it: 6-12 dB of those
    quieter frames); 300 ms of them in a row became a self-interruption. 80 ms: the
    canceller's own span past the lag.

    Nothing is learnt from a frame within ``talk_db`` of the loudest reference that could have
    caused it (the Geigel rule of network echo cancellers): an echo that loud is not a
    speakerphone's, it is the caller talking, and learning it as echo would make the caller's
    next words "echo" too.
    """

    def __init__(self, far: FarEnd, *, max_delay_ms: int = 600, window_s: float = 6.0,
                 every: int = 10, min_frames: int = 25, min_bound_frames: int = 10,
                 prior_db: float = -6.0, margin_db: float = 6.0, talk_db: float = -3.0,
                 ring_ms: int = 80) -> None:
        self._far = far
        self._max_lag = max_delay_ms // FRAME_MS
        self._ring = ring_ms // FRAME_MS
        # The window's inbound frames, in rings: index, energy, and whether it was the caller
        # (never learnt as echo). Order does not matter to the estimate.
        self._size = int(window_s / FRAME_S)
        self._near_k = np.zeros(self._size, np.int64)
        self._near_e = np.zeros(self._size, np.float64)
        self._near_talk = np.zeros(self._size, np.bool_)
        self._near_caller = np.zeros(self._size, np.bool_)
        self._pushed = 0
        self._bound = Window(self._size)
        self._left = Window(int(3.0 / FRAME_S))  # residual / loudest reference in span
        self._floor = Window(int(5.0 / FRAME_S))  # inbound energy, for the line's noise floor
        self._min_bound = min_bound_frames
        self._every = every
        self._min_frames = min_frames
        self._prior = 10 ** (prior_db / 10)
        self._margin = 10 ** (margin_db / 10)
        self._talk = 10 ** (talk_db / 10)
        self._since = 0
        self._recent = (-1, 0.0)  # (frame, loudest reference that could echo in it)
        self._spanned = (-1, -1, 0.0)  # (frame, lag, loudest reference in the span)
        self._heard = -(10**9)  # the last inbound frame the reference could have echoed in
        self._filter = 0  # the canceller's filter that ``_left`` describes
        self.estimate: EchoEstimate | None = None

    def _loudest_recent(self, k: int) -> float:
        """The loudest reference frame any echo arriving in frame ``k`` could come from; asked
        up to three times a frame (talking, push, bound), looked up once."""
        if self._recent[0] != k:
            self._recent = (k, self._far.loudest(k - self._max_lag, k))
        return self._recent[1]

    def _span(self, k: int) -> float:
        """The loudest reference in the canceller's span for frame ``k``: at the lag (+-1
        frame) and ``ring_ms`` before it; 0 with no lag. Asked up to twice a frame (push,
        bound), looked up once."""
        est = self.estimate
        if est is None:
            return 0.0
        lag = est.delay_frames
        if self._spanned[:2] != (k, lag):
            self._spanned = (k, lag, self._far.loudest(k - lag - 1 - self._ring, k - lag + 1))
        return self._spanned[2]

    def talking(self, t: float, near_energy: float) -> bool:
        """Within ``talk_db`` of the loudest reference that could have caused it: the caller."""
        return near_energy >= self._talk * self._loudest_recent(frame_index(t))

    def push(self, t: float, near_energy: float, residual: float | None = None,
             trusted: bool = False, could_be_echo: bool = True, caller: bool = False,
             hold: bool = False, filter_id: int = 0) -> None:
        """One inbound frame at ``t``; ``residual``: its energy after an
        :class:`EchoCanceller` whose output is ``trusted`` or not, running filter
        ``filter_id``; ``could_be_echo``: it could be echo alone, judged with nothing taken
        out (else it is the caller, and says nothing of how well the echo was taken out);
        ``caller``: the stage let it through as the caller's voice (the estimate leaves it
        out, within limits); ``hold``: the estimate stays as it is (the canceller doubts what
        it hears).

        What the canceller leaves of the echo is learnt from its trusted output only, and
        kept while the same filter runs: between replies it is not trusted until it has
        realigned on the next one, and then it leaves what it left before. (It was forgotten
        at every reply: the gate then took a caller under the echo's full level for echo
        until ten frames of the new reply had been seen, and the caller's own silenced
        frames, counted among them, kept it so; Hebrew barge-ins, whose replies' voices
        begin later, were heard 0.5-1.0 s late on ``voiced bench echo``.) It is measured
        on every frame that could be echo, not only on those the gate took for echo with it:
        a filter that got worse would never be seen to, its echo let through, never measured
        (a self-interruption in 2 of 31 e2e runs of one call)."""
        if filter_id != self._filter:
            self._left.clear()
            self._filter = filter_id
        self._floor.append(near_energy)
        k = frame_index(t)
        loudest = self._loudest_recent(k)
        talk = near_energy >= self._talk * loudest
        left = near_energy if residual is None else residual
        i = self._pushed % self._size
        self._near_k[i], self._near_e[i], self._near_talk[i] = k, near_energy, talk
        self._near_caller[i] = caller and loudest > 100 * _QUIET
        self._pushed += 1
        if loudest > 100 * _QUIET and not talk:
            self._bound.append(near_energy / loudest)
            span = self._span(k)
            if near_energy > AUDIBLE and could_be_echo and trusted and span > 0:
                self._left.append(left / span)
        if loudest > 100 * _QUIET:
            self._heard = k
        self._since += 1
        if self._since >= self._every and not hold:
            self._since = 0
            # No reference in reach of any frame of the window (the agent has been silent
            # that long): no lag can be judged, so none is tried.
            if k - self._heard < self._size:
                self.estimate = self._estimate() or self.estimate

    def is_echo(self, t: float, near_energy: float, trusted: bool = True,
                noise: bool = False) -> bool:
        """Whether a frame this loud, arriving at ``t``, can be nothing but the agent's echo
        (:meth:`bound`); with ``noise``, or its echo and the line's noise beside it."""
        bound = self.bound(t, trusted)
        return bound is not None and bound.holds(near_energy, noise=noise)

    def bound(self, t: float, trusted: bool = True) -> EchoBound | None:
        """How loud a frame arriving at ``t`` can be and still be nothing but the agent's echo,
        after a canceller whose output is ``trusted`` (else nothing is taken to have been
        taken out of it); None where nothing played could echo in it (most frames while the
        caller talks). Worked out once a frame: the stage asks three questions of it.

        The line's noise is part of the answer where an echo is due. What the canceller
        leaves of the echo sits on the line's noise, which it cannot take out, and a frame
        whose echo is quiet (between two syllables, or as the echo of a pause rings out) is
        all noise and more than its echo is predicted to leave. Judged as the caller, those
        frames went on to the VAD with what the canceller left in them, and the VAD added them
        up to speech: with the echo at -10 dB and white noise at -45 dBFS, 8 self-interruptions
        in 6 English calls, most of them in the greeting. The stage silences such frames but
        does not learn from them (the canceller learning from noise took out less of the echo
        on a clean line)."""
        k = frame_index(t)
        if self._loudest_recent(k) <= 0.0:
            return None
        est = self.estimate
        if est is None:
            # No lag yet: any is possible, and the echo as loud as it has been seen to be.
            # Once a whole window of the agent's speech has come and gone with no lag
            # following it, there is no echo to speak of: what came back loudest then was
            # the caller going on over a reply (on a clean line, at -5 to -9 dB of it: the
            # 90th percentile made the next 6 s of barge-ins "echo"), so the median.
            q = 50 if len(self._bound) >= self._size else 90
            gain = self._bound.percentile(q) if len(self._bound) >= self._min_bound \
                else self._prior
            predicted = echo = gain * self._loudest_recent(k)
        else:
            # The echo as it comes while the canceller's output is not trusted, or until this
            # filter's trusted output has been seen for 200 ms; then what it left in the last
            # 3 s of it, against the reference in its span, and never more than the echo. The
            # 75th percentile: what the filter leaves varies from sound to sound (replaying six
            # e2e Hebrew calls at -10 dB, the median let 954 frames of echo through as the
            # caller, 46 runs of 5 or more; the 75th 716 and 27), and a caller talking over
            # the agent for a while, whose voice it rightly leaves, is at most a quarter of
            # the frames measured (a caller louder than the echo is not measured at all).
            lag = est.delay_frames
            predicted = echo = est.gain * self._far.loudest(k - lag - 1, k - lag + 1)
            if trusted and len(self._left) >= _LEFT_SEEN:
                echo = min(predicted, self._left.percentile(_LEFT_Q) * self._span(k))
        return EchoBound(echo * self._margin, predicted * self._margin,
                         self.noise_floor * _NOISE_MARGIN)

    @property
    def noise_floor(self) -> float:
        """The line's own noise, mean square: the 10th percentile of the inbound frames'
        energy over the last 5 s (0 on a clean line, whose gaps are digital silence)."""
        return self._floor.percentile(_FLOOR_Q) if len(self._floor) >= _FLOOR_SEEN else 0.0

    def _estimate(self) -> EchoEstimate | None:
        n = min(self._pushed, self._size)
        if n < 2 * self._min_frames:
            return None
        kept = ~self._near_talk[:n]
        caller = self._near_caller[:n] & kept
        callers_in = 2 * int(caller.sum()) >= int(np.count_nonzero(kept))
        if not callers_in:
            # The caller's voice let through over the agent's echo is not the echo (a caller
            # barging in raised the gain 3-6 dB, one who went on as a reply started moved
            # the lag by 80-280 ms), unless it is most of what there is: the agent talked on
            # over it for seconds, which barge-in would not allow, so it is more likely an
            # echo the estimate no longer explains (its delay changed), and must be learnt;
            # then only a lag that follows the reference closely will do (below).
            kept &= ~caller
        ks = self._near_k[:n][kept]
        if ks.size < self._min_frames:
            return None
        near = self._near_e[:n][kept] + _QUIET
        lo, max_lag = int(ks.min()), self._max_lag
        base = lo - max_lag
        far_all = self._far.span(base, int(ks.max())) + _QUIET
        active = far_all > 100 * _QUIET
        # The window on its own grid, frame ``lo`` on: how many frames are kept at each (one,
        # or none), and their log energies and squares summed there.
        grid = ks - lo
        size = int(grid.max()) + 1
        log_near = np.log(near)
        kept_at = np.bincount(grid, minlength=size).astype(np.float64)
        a = np.bincount(grid, weights=log_near, minlength=size)
        a2 = np.bincount(grid, weights=log_near * log_near, minlength=size)
        scores, counts = _similarities(a, a2, kept_at, np.where(active, np.log(far_all), 0.0),
                                       active.astype(np.float64), max_lag)
        if int(counts.min()) < self._min_frames:
            # Every lag is judged on enough frames, or none is: at the start of a reply
            # only the shortest lags reach back into it, and one of them would win for
            # want of rivals (it did, 0.5 s into Hebrew replies: the estimate jumped from
            # 360 ms to 0, the canceller started afresh and the echo went through).
            return None
        lag = int(np.argmax(scores))
        current = self.estimate.delay_frames if self.estimate is not None else None
        if current is not None and scores[lag] < scores[current] + _SWITCH:
            lag = current  # a new lag must explain the echo clearly better, or the old stays
        elif scores[lag] < _MIN_SCORE:
            return None  # no lag follows the reference: no echo to speak of, or not yet
        if callers_in and scores[lag] < _MIN_SCORE_CALLERS:
            # Mostly the caller's voice, which no lag explains well: the caller talking over
            # the agent on a clean line (correlations 0.15-0.54 on ``voiced bench echo``; a
            # real echo's 0.58-0.85 there). Its gain would make the caller's next words
            # "echo" (-8 to -15 dB, for seconds): the estimate there was stays.
            return None
        far = far_all[grid + (max_lag - lag)]
        heard = active[grid + (max_lag - lag)]
        gain = float(np.median(near[heard] / far[heard]))
        return EchoEstimate(lag, gain, int(heard.sum()))


_FLAT = 1e-9  # variance of a log-energy envelope, per frame, below which it is flat


def _similarities(a: np.ndarray, a2: np.ndarray, kept: np.ndarray, b: np.ndarray,
                  active: np.ndarray, max_lag: int) -> tuple[np.ndarray, np.ndarray]:
    """For each lag 0 to ``max_lag``: the Pearson correlation of the inbound log-energy
    envelope (``kept`` frames at each index, ``a`` and ``a2`` their values and squares
    summed) with the reference's ``b`` that lag earlier (frames where it was ``active``), and
    on how many frames it rests. ``b`` and ``active`` start ``max_lag`` frames before ``a``.
    0 when either is flat (no echo at all: any lag explains it equally badly, and the gain
    says it is negligible).

    Six sliding sums give every lag's means and (co)variances at once, in ``np.correlate``
    over arrays a window long (the first version built a lag-by-frame matrix, 31 x 300, and
    took it through a dozen numpy passes: a quarter of the echo stage's CPU)."""

    def by_lag(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # sum over frames i of y[i] * x[i + max_lag - lag], for lag = 0..max_lag
        return np.correlate(x, y, mode="valid")[::-1]

    n = by_lag(active, kept)
    sa, saa = by_lag(active, a), by_lag(active, a2)
    sb, sbb = by_lag(b, kept), by_lag(b * b, kept)
    sab = by_lag(b, a)
    safe = np.maximum(n, 1.0)
    cov = sab - sa * sb / safe
    va = saa - sa * sa / safe
    vb = sbb - sb * sb / safe
    ok = (va > _FLAT * safe) & (vb > _FLAT * safe)
    scores = np.where(ok, cov / np.sqrt(np.where(ok, va * vb, 1.0)), 0.0)
    return scores, n
