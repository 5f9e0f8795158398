"""The echo canceller: the agent's own voice subtracted from the inbound audio, as a
phone network's canceller does it, with the reference voiced holds (:class:`voiced.farend.FarEnd`)
aligned at the delay :class:`voiced.echo.EchoPath` found."""

from __future__ import annotations

from collections import deque

import numpy as np

from .audio import FRAME_SAMPLES
from .echo import ADAPTED
from .farend import FarEnd

_SPOKEN = 1e4  # mean square of a reference frame with a voice in it (-50 dBFS)
_MOST = 0.5  # a realignment's predicted echo: at least this share of what came in
_MATCH = 0.15  # and found in it within this share of its own energy
_REGULARISE = 1e4  # a step's regularisation, mean square of the reference (-50 dBFS)
_NOISE_REG = 4.0  # ... or this many times the line's noise, where that is more


class EchoCanceller:
    """Subtracts the echo the agent's own audio predicts from the inbound audio: a partitioned
    block frequency-domain adaptive filter (the MDF family of speexdsp's canceller) over the
    reference aligned at the delay :class:`EchoPath` found, starting ``lead`` frames before it
    and ``partitions`` frames long, so a delay estimate a frame off and a room's tail both fit.

    It learns (:meth:`learn`) only from what the stage judges echo alone (the caller's voice
    is not echo to learn) and realigns when the delay estimate moves by more than a frame.

    Each reply reaches the caller up to a packet (20 ms) earlier or later than the last: the
    far end starts playing it on its own tick. That slip puts a learnt filter out of step
    (on the e2e benchmark's replies: from 21-26 dB of echo taken out to none), and learning
    it again takes seconds. So at the start of each reply (a *talk spurt*) the first
    ``resync_frames`` of its echo are matched against what the learnt filter predicts at
    every slip up to ``max_slip`` samples either way; the best slip, if it takes at least
    ``trust_db`` out, realigns the reference and the filter is trusted at once.

    The filter that last realigned that well is kept aside (the two-filter scheme of network
    cancellers, in its simplest form): learning can still take in a caller's quiet onset as
    echo, and a few such steps left a filter that predicted an echo louder than what came in
    and matched none of it, so no later reply realigned and each was learnt again for seconds
    (Hebrew replies on ``voiced bench echo``: 1.6-3.2 dB taken out). A reply the learnt filter
    does not fit is tried on the kept one too, and where that fits it comes back.

    The call's first filter, when the first delay estimate comes, first learns from the last
    ``history`` frames the stage judged echo alone before it: the greeting's first second or
    so of echo, which would otherwise only have passed, is learnt at once rather than left
    for the frames after it (the greeting is all a filter has learnt when the caller first
    barges in).
    """

    def __init__(self, far: FarEnd, *, partitions: int = 6, lead: int = 2, mu: float = 0.8,
                 resync_frames: int = 10, max_slip: int = 240, trust_db: float = 10.0,
                 resync_tries: int = 5, hangover: int = 10, history: int = 50) -> None:
        self._far = far
        self._parts = partitions
        self._lead = lead
        self._mu = mu
        self._resync_frames = resync_frames
        self._resync_tries = resync_tries
        self._hangover_frames = hangover
        self._max_slip = max_slip
        self._trust = 10 ** (-trust_db / 10)
        self._lag: int | None = None
        # Which filter runs: a new one each time it starts afresh or another replaces it, or
        # a realignment fits it only in part (what it leaves of the echo is then not known).
        self.filter_id = 0
        self._e: np.ndarray | None = None
        self._proven: tuple[np.ndarray, int] | None = None  # (filter, slip), realigned well
        # Inbound frames judged echo alone (samples, where they start), to start the first
        # filter on; and the frame just processed before there is one, which learn() adds.
        self._history: deque[tuple[np.ndarray, int]] = deque(maxlen=history)
        self._last: tuple[np.ndarray, int] | None = None
        self._reset()

    def _reset(self) -> None:
        self.filter_id += 1
        self.adapted = 0  # adaptation steps since it started afresh, or was realigned
        self.learnt = 0  # adaptation steps since the filter started from zero
        self.slip = 0  # samples the echo has moved since the filter learnt it
        self.resyncs = 0
        bins = FRAME_SAMPLES + 1
        self._w = np.zeros((self._parts, bins), np.complex128)
        self._x = np.zeros((self._parts, bins), np.complex128)
        self._prev = np.zeros(FRAME_SAMPLES, np.float32)
        self._spurt: list[np.ndarray] | None = None  # a reply's first echo, to realign on
        self._spurt_start = 0
        self._tries = 0  # realignments tried on this talk spurt
        self._hangover = 0  # frames before it learns again, after the caller was heard
        self._proven = None  # learnt at another delay: no use at this one

    def _shift(self, slip: int | None = None) -> int:
        assert self._lag is not None
        return max(0, self._lag - self._lead) * FRAME_SAMPLES + \
            (self.slip if slip is None else slip)

    def process(self, near: np.ndarray, start: int, lag_frames: int | None) -> np.ndarray:
        """The inbound frame (samples ``start`` on, playout clock) with the echo taken out.
        :meth:`learn` then adapts the filter to it, if the caller judges it echo alone."""
        self._e = None
        self._hangover = max(0, self._hangover - 1)
        if lag_frames is None:
            self._last = (near, start)  # learn() keeps it, if echo alone, for the first filter
            return near
        if self._lag is None or abs(lag_frames - self._lag) > 1:
            # Aligned afresh only when the echo moved out of reach: an estimate wobbling by a
            # frame stays within the filter's span, and restarting would undo what it learnt.
            first = self._lag is None
            self._lag = lag_frames
            self._reset()
            if first:
                self._replay(start)
        lag = self._lag
        k = start // FRAME_SAMPLES
        if self._far.loudest(k - lag - self._parts - 1, k) == 0.0:
            # The agent silent for the whole span: nothing to take out, and its next reply
            # may reach the caller a few ms off this one's timing: realign on it.
            self._x[:] = 0
            self._prev = self._far.samples(start - self._shift(), FRAME_SAMPLES)
            self.adapted = 0
            if self.learnt >= 2 * ADAPTED:
                self._spurt, self._tries = [], 0
            return near
        if self._spurt is None and self.learnt >= 2 * ADAPTED and \
                self._far.restarted(k - lag - 1, k - lag):
            # Mid-reply, the audio stopped and started again (the next sentence's synthesis
            # fell behind): the far end restarts it on its own tick, so realign on it too,
            # and trust nothing until then.
            self._spurt, self._tries = [], 0
            self.adapted = 0
        if self._spurt is not None and (self._spurt or self._far.at(k - lag) > _SPOKEN):
            # The reply's voice is due in the echo (not the near-silence TTS and recordings
            # start with, which says nothing of the timing): gather it, every frame on.
            if not self._spurt:
                self._spurt_start = start
            self._spurt.append(near)
            if len(self._spurt) >= self._resync_frames:
                self._realign(start)
        return self._cancel(near, start).astype(np.float32)

    def _cancel(self, near: np.ndarray, start: int) -> np.ndarray:
        """The reference's frame for ``start`` shifted into the blocks, and ``near`` less the
        echo they predict (kept as the error :meth:`_step` learns from)."""
        n = FRAME_SAMPLES
        ref = self._far.samples(start - self._shift(), n)
        self._x[1:] = self._x[:-1]
        self._x[0] = np.fft.rfft(np.concatenate([self._prev, ref]))
        self._prev = ref
        self._e = near - np.fft.irfft((self._w * self._x).sum(axis=0), 2 * n)[n:]
        return self._e

    def _realign(self, start: int) -> None:
        """Find how far this reply's echo slipped against the learnt filter (or the one kept
        aside, if the learnt one does not fit), from the frames gathered since its echo
        began, and move the reference by that much."""
        assert self._spurt is not None
        near = np.concatenate(self._spurt).astype(np.float64)
        first, self._spurt = self._spurt_start, None
        if first + near.size != start + FRAME_SAMPLES:
            return  # not one stretch of audio (a frame went missing): learn instead
        power = float(np.dot(near, near))
        candidates = [(self._w, self.slip)] + ([self._proven] if self._proven else [])
        for w, slip in candidates:
            moved, strong = self._fit(near, first, w, slip, power)
            if moved is not None:
                self._adopt(start, w, slip + moved, strong)
                return
        # The caller talking in it (a caller who goes on as the agent answers), or an echo
        # path that changed: try again on the next stretch, learning nothing meanwhile (it
        # would learn the caller), and only after a few tries learn afresh.
        self._tries += 1
        if self._tries < self._resync_tries:
            self._spurt = []

    def _fit(self, near: np.ndarray, first: int, w: np.ndarray, slip: int,
             power: float) -> tuple[int | None, bool]:
        """How far (samples) the echo in ``near`` slipped against filter ``w`` at ``slip``, if
        the filter fits it there (:meth:`_fits`), and whether it took ``trust_db`` out."""
        n, parts, slack = FRAME_SAMPLES, self._parts, self._max_slip
        h = np.fft.irfft(w, 2 * n, axis=1)[:, :n].reshape(-1)
        lo = first - self._shift(slip) - slack - (parts * n - 1)
        ref = self._far.samples(lo, near.size + 2 * slack + parts * n - 1).astype(np.float64)
        pred = np.convolve(ref, h, mode="valid")  # the filter's echo at every slip
        cross = np.correlate(pred, near, mode="valid")  # index i: slip of (slack - i) samples
        cum = np.concatenate([[0.0], np.cumsum(pred**2)])
        predicted = cum[near.size :] - cum[: -near.size]
        left = power - 2 * cross + predicted
        best = int(np.argmin(left))
        if not self._fits(power, float(left[best]), float(predicted[best]), float(cross[best])):
            return None, False
        return slack - best, bool(left[best] <= self._trust * power)

    def _adopt(self, start: int, w: np.ndarray, slip: int, strong: bool) -> None:
        """Filter ``w`` at ``slip`` from this frame on, trusted at once; kept aside too if it
        took ``trust_db`` out."""
        if w is not self._w or not strong:
            self.filter_id += 1
        if w is not self._w:
            self._w = w.copy()
        self.slip = slip
        self.resyncs += 1
        if strong:
            self._proven = (self._w.copy(), slip)
        self._blocks(start)
        self.adapted = max(self.adapted, ADAPTED)

    def _blocks(self, start: int) -> None:
        """The reference's blocks for the frames before the one at ``start``, at the current
        alignment (process() shifts that frame's in), so that frame is cancelled in full."""
        n = FRAME_SAMPLES
        for p in range(self._parts):
            self._x[p] = np.fft.rfft(self._far.samples(start - self._shift() - (p + 2) * n, 2 * n))
        self._prev = self._far.samples(start - self._shift() - n, n)

    def _replay(self, start: int) -> None:
        """The call's first filter learns from the echo-alone frames kept, in order, at its
        alignment; one pass (two or three fitted them, no better for the echo that followed).
        Not counted as adaptation: trust still comes from ``ADAPTED`` steps on the frames that
        follow. (Not after a later restart: the frames kept then would be the echo at its old
        delay.) 3-7 ms on the loop, once a call, for ~40 frames."""
        after: int | None = None
        for near, at in self._history:
            if at >= start:
                continue
            if at != after:
                self._blocks(at)  # not the frame after the last: its blocks afresh
            self._cancel(near, at)
            self._step()
            after = at + FRAME_SAMPLES
        self._history.clear()
        self._e = None
        self._blocks(start)

    def _fits(self, power: float, left: float, predicted: float, cross: float) -> bool:
        """Whether the filter's echo at the best slip is this stretch's echo: it takes
        ``trust_db`` out, or it is most of what came in and is found in it at its own level
        (``cross`` ~ ``predicted``). The second, for a reply whose echo the filter predicts
        only in part (it took 4-8 dB out, at the same slip three tries running, on
        ``voiced bench echo``): a filter that does not fit is not found at its own level."""
        if power <= 0:
            return False
        if left <= self._trust * power:
            return True
        return predicted >= _MOST * power and abs(cross - predicted) <= _MATCH * predicted

    def _step(self, noise: float = 0.0) -> None:
        """One adaptation step on the blocks in hand and the error of the frame just taken,
        regularised by the line's ``noise`` (mean square) where it is over the fixed floor."""
        assert self._e is not None
        n = FRAME_SAMPLES
        power = (np.abs(self._x) ** 2).sum(axis=0) + max(_REGULARISE, _NOISE_REG * noise) * 2 * n
        grad = np.conj(self._x) * np.fft.rfft(np.concatenate([np.zeros(n), self._e])) * (self._mu / power)
        g = np.fft.irfft(grad, 2 * n, axis=1)
        g[:, n:] = 0  # each partition stays n taps long: the filter stays causal
        self._w += np.fft.rfft(g, axis=1)

    @property
    def residual(self) -> np.ndarray | None:
        """The frame just processed with the echo taken out (None: nothing was taken out)."""
        return self._e

    @property
    def doubting(self) -> bool:
        """A filter that fitted earlier replies is not yet realigned on this one (the first
        200 ms of its echo, or longer if the caller talks over it or the echo path changed):
        what comes in is not known to be echo."""
        return self.learnt >= 2 * ADAPTED and not self.trusted

    @property
    def trusted(self) -> bool:
        """Adapted long enough since it (re)started, or realigned on a reply's echo with
        enough taken out, for its output to say what echo is left."""
        return self.adapted >= ADAPTED

    def caller_heard(self) -> None:
        """The frame just processed was the caller's voice: learn nothing from the next
        ``hangover`` frames either. A caller's quiet syllables between loud ones pass for
        echo, and a filter that learnt them forgot the echo (on ``voiced bench echo``: the
        next reply would not realign, and its echo came through)."""
        if self.learnt >= 2 * ADAPTED:  # before that, what it leaves says little
            self._hangover = self._hangover_frames

    def learn(self, noise: float = 0.0) -> None:
        """Adapt to the frame just processed. Only on echo alone: learning the caller's voice
        as echo would make the filter cancel the caller and forget the echo. Not while a
        reply's first echo is gathered to realign on: it would learn the slip instead.

        ``noise``: the line's noise floor (mean square). The error a step learns from carries
        the line's noise, which no filter of the reference can take out; where the reference
        in a bin is quieter than that noise, a normalised step mostly learns the noise. So
        the step is regularised by it. On a line with white noise at -45 dBFS and the echo at
        -10 dB (the syllables of tests/test_echo.py), a filter learning at the full step took
        4.8-11.2 dB out where the noise left room for ~15, 12.6-13.5 regularised; one of them
        fell apart 11 s in, trusted, and its output went on to the VAD as the caller, which
        confirmed speech."""
        if self._hangover > 0:
            return
        if self._lag is None and self._last is not None:
            self._history.append(self._last)  # no filter yet: kept for the first one
        if self._e is None or self._spurt is not None:
            return
        self._step(noise)
        self.adapted += 1
        if self._x[0].any():
            self.learnt += 1
