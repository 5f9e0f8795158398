"""Frame classifiers: webrtcvad for real calls, an energy gate for tests and noise-free lines."""

from __future__ import annotations

import numpy as np
import webrtcvad

from ..audio import FRAME_BYTES_PCM, RATE


class WebRtcClassifier:
    def __init__(self, aggressiveness: int) -> None:
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, pcm: bytes) -> bool:
        if len(pcm) != FRAME_BYTES_PCM:
            return False
        return bool(self._vad.is_speech(pcm, RATE))


class EnergyClassifier:
    """Speech is anything louder than ``threshold_dbfs``. Deterministic, so tests can script
    exactly which frames are speech by their amplitude."""

    def __init__(self, threshold_dbfs: float = -40.0) -> None:
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20)

    def is_speech(self, pcm: bytes) -> bool:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        return bool(x.size and np.sqrt(np.mean(x * x)) > self._threshold)
