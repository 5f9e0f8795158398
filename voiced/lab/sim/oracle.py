"""A recogniser for the sim engine profile that knows the benchmark's recordings.

The sim profile measures turn-taking and pipeline overhead, not recognition accuracy, so its
recogniser is an oracle: it locates the audio it is given inside one of the known utterances
(the samples arrive bit-exact, mu-law in and mu-law out) and answers with the words of the
reference transcript spoken up to that point, in proportion to the characters of the text
against the speech heard. Like Google's streaming recogniser with automatic punctuation, only
the end of an utterance gets final punctuation; a stretch that ends at a mid-sentence pause
comes back unpunctuated, so the smart endpoint must wait, exactly the situation that makes
agents cut callers off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ...audio import FRAME_SAMPLES, frames, ulaw_decode
from ..dial import Utterance
from .google import VOICED_RMS

_PROBE = 40  # samples matched to place a stretch of audio: 5 ms is unique in speech
_END_PUNCT = re.compile(r"[.?!…]['\")\]]*$")


@dataclass(frozen=True)
class _Known:
    pcm_bytes: bytes
    loud_before: tuple[int, ...]  # frames of speech before each frame (and after the last)
    words: tuple[str, ...]
    cum_chars: tuple[int, ...]  # characters up to and including each word


class CorpusOracle:
    """``words_for`` for :class:`~voiced.lab.sim.google.FakeGoogle`."""

    def __init__(self, utterances: list[tuple[Utterance, str]]) -> None:
        self._known: list[_Known] = []
        for utt, transcript in utterances:
            words = _punctuated(transcript).split()
            pcm = ulaw_decode(b"".join(utt.frames))
            cum = np.cumsum([len(w) + 1 for w in words]).tolist()
            # Speech as the fake server hears it (its own level threshold), so that the last
            # stretch it cuts out of an utterance ends where this oracle's speech ends.
            loud = [float(np.sqrt(np.mean(f.astype(np.float64) ** 2))) > VOICED_RMS
                    for f in frames(pcm)]
            if not any(loud) or not words:
                continue
            before = np.concatenate([[0], np.cumsum(loud)]).tolist()
            self._known.append(_Known(pcm.tobytes(), tuple(before), tuple(words), tuple(cum)))

    def __call__(self, pcm: np.ndarray) -> str:
        """The words spoken in ``pcm``, a stretch of one known utterance ("" if unknown)."""
        if pcm.size < _PROBE:
            return ""
        head = pcm[:_PROBE].tobytes()
        tail = pcm[-_PROBE:].tobytes()
        for known in self._known:
            start = _find(known.pcm_bytes, head)
            if start < 0:
                continue
            end = _find(known.pcm_bytes, tail, start) + _PROBE
            if end < _PROBE:
                continue
            return " ".join(known.words[self._spoken(known, start):self._spoken(known, end)])
        return ""

    @staticmethod
    def _spoken(known: _Known, sample: int) -> int:
        """How many words have been said by ``sample``: a word counts once the speech heard
        (pauses do not count) covers its middle."""
        loud = known.loud_before
        frame = min(len(loud) - 1, round(sample / FRAME_SAMPLES))
        if loud[frame] >= loud[-1]:
            return len(known.words)
        said = loud[frame] / loud[-1] * known.cum_chars[-1]
        mids = [c - (len(w) + 1) / 2 for c, w in zip(known.cum_chars, known.words, strict=True)]
        return sum(1 for m in mids if m <= said)


def _find(haystack: bytes, needle: bytes, start: int = 0) -> int:
    """Sample index of ``needle`` in ``haystack`` (both int16 bytes), aligned to samples."""
    at = haystack.find(needle, start * 2)
    while at >= 0 and at % 2:
        at = haystack.find(needle, at + 1)
    return at // 2 if at >= 0 else -1


def _punctuated(transcript: str) -> str:
    """The transcript as the recogniser would end it: a trailing comma becomes a full stop."""
    text = transcript.strip().rstrip(",;:-–").rstrip()
    return text if _END_PUNCT.search(text) else text + "."
