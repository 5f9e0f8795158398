"""The end-of-turn model: whether a caller who has paused has finished, from how they sound.

Words alone cannot tell "...concerned." followed by a breath from "...concerned." at the end
of a turn: both read as a finished sentence (19 of the 30 pauses inside the English corpus's
recordings do). Smart Turn v3.2 (Daily, BSD-2-Clause; :func:`voiced.models.smart_turn`) was
trained on exactly that question, on 23 languages' speech (not Hebrew: voiced asks it about
turns in ``turn.model_languages``, English by default): it hears the last 8 s of the caller's
audio, as Whisper's log-mel features, and says how likely the turn is complete.

It costs ~50 ms of one core a judgement (onnxruntime, one thread), off the event loop, in its
own :class:`trio.CapacityLimiter` so that it never queues behind Whisper; the turn-taking
rules ask it only where its answer counts (:class:`voiced.stages.turns.Judge`).

It chooses between two waits, ``turn.min_silence_ms`` and ``turn.unsure_silence_ms``; the
defaults make them equal (600 ms: longer than the corpus's breaths after a finished clause,
and no slower at the median), so it is off unless a line sets a shorter smart wait.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import trio

from ..audio import RATE
from ..errors import EngineError, ModelError
from ..nearend import SECONDS  # what the model hears: the last 8 s, silence before the turn's start
from ..threads import WorkCancelled, one_blas_thread, run_cancellable

MODEL_RATE = 16000


def upsample(pcm: bytes) -> np.ndarray:
    """8 kHz 16-bit PCM as 16 kHz floats in [-1, 1]: the spectrum zero-padded, exact for a
    phone line's audio (nothing above 4 kHz to lose or alias)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
    if x.size == 0:
        return np.zeros(0, np.float32)
    spectrum = np.fft.rfft(x)
    wide = np.zeros(x.size + 1, np.complex128)
    wide[: spectrum.size] = spectrum
    out: np.ndarray = (np.fft.irfft(wide, 2 * x.size) * 2).astype(np.float32)
    return out


class SmartTurn:
    """The ONNX model with its feature extractor; :meth:`complete` is the blocking call and
    :meth:`judge` the cancellable one for a call's stage."""

    def __init__(self, path: Path, *, concurrency: int = 1) -> None:
        try:
            import onnxruntime as ort
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError as exc:  # the embedded extra is not installed
            raise ModelError(f"the end-of-turn model needs voiced[embedded]: {exc}") from None
        if not path.is_file():
            raise ModelError(f"no end-of-turn model at {path}: run `voiced models install`")
        one_blas_thread()  # the features' product would spin a second core (threads.py)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session: Any = ort.InferenceSession(str(path), sess_options=options,
                                                  providers=["CPUExecutionProvider"])
        self._features: Any = FeatureExtractor(feature_size=80, sampling_rate=MODEL_RATE)
        self._limiter = trio.CapacityLimiter(concurrency)

    def complete(self, pcm: bytes) -> float:
        """How likely the caller's turn, 8 kHz PCM up to now, is finished (0 to 1)."""
        x = upsample(pcm[-SECONDS * RATE * 2 :])  # the last 8 s: at most n samples at 16 kHz
        n = SECONDS * MODEL_RATE
        x = np.pad(x, (n - x.size, 0))
        # Whisper's features of the waveform at zero mean and unit variance, as trained.
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        features = self._features(x, padding=0)[None, :, : n // 160].astype(np.float32)
        out = self._session.run(None, {"input_features": features})[0]
        return float(np.clip(out.reshape(-1)[0], 0.0, 1.0))

    async def judge(self, pcm: bytes) -> float:
        """:meth:`complete` on a worker thread; cancelled with its caller (it is one step)."""

        def work(cancelled: threading.Event) -> float:
            if cancelled.is_set():
                raise WorkCancelled
            return self.complete(pcm)

        try:
            return await run_cancellable(work, limiter=self._limiter, name="voiced-turn")
        except Exception as exc:  # onnxruntime's own errors are plain exceptions
            raise EngineError(f"end-of-turn model failed: {exc}") from exc
