"""Frame classifiers: webrtcvad for real calls, an energy gate for tests and noise-free lines."""

from __future__ import annotations

import numpy as np
import webrtcvad

from ..audio import FRAME_BYTES_PCM, RATE, rms_dbfs
from ..config import VadConfig
from .base import FrameClassifier


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


class EnergyGate:
    """Speech only if ``inner`` says so *and* the frame is within ``floor_db`` of the loudest
    recent speech. webrtcvad keeps calling breath and room reverb after the last word speech
    (on our corpus ~120 ms of it, in mode 2); the gate ends the turn where the words end, so
    the endpoint timer starts on time. The reference level decays slowly so a caller who
    moves away from the phone is still heard."""

    DECAY_DB_PER_FRAME = 0.02  # 1 dB a second

    def __init__(self, inner: FrameClassifier, floor_db: float) -> None:
        self._inner = inner
        self._floor_db = floor_db
        self._peak_db = -60.0

    def is_speech(self, pcm: bytes) -> bool:
        self._peak_db = max(self._peak_db - self.DECAY_DB_PER_FRAME, -60.0)
        if not self._inner.is_speech(pcm):
            return False  # most frames of a call: no need to measure the level (CPU per call)
        level = rms_dbfs(np.frombuffer(pcm, dtype="<i2"))
        self._peak_db = max(self._peak_db, level)
        return level > self._peak_db - self._floor_db


def call_classifier(vad: VadConfig) -> FrameClassifier:
    """A call's classifier as ``vad`` sets it: webrtcvad, behind the energy gate unless
    ``energy_floor_db`` is 0. The daemon makes one per call; the benchmarks that replay its
    VAD (``voiced bench echo``, ``voiced bench pauses``) make theirs here too."""
    webrtc = WebRtcClassifier(vad.aggressiveness)
    return EnergyGate(webrtc, vad.energy_floor_db) if vad.energy_floor_db > 0 else webrtc
