"""Embedded TTS: espeak-ng (Debian package), speaks Hebrew and English, ~20 ms a sentence.

One process per sentence: espeak-ng starts in a few milliseconds, and a process per sentence
is cancelled by killing it (``trio.run_process`` does this), with nothing shared to corrupt.
Hebrew is handed over as phonemes (:mod:`voiced.hebrew`): espeak-ng's own Hebrew rules guess
the unwritten vowels and a listener hears nonsense.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import trio

from ..audio import RATE, parse_wav, resample, to_float, to_pcm, trim_silence, ulaw_encode
from ..config import EspeakConfig
from ..errors import EngineError
from ..hebrew import HebrewPhonemes

MBROLA_HEBREW = Path("/usr/share/mbrola/hb2/hb2")


def hebrew_voice(configured: str) -> str:
    if configured != "auto":
        return configured
    return "mb-hb2" if MBROLA_HEBREW.exists() and shutil.which("mbrola") else "he"


class EspeakTTS:
    def __init__(self, cfg: EspeakConfig) -> None:
        binary = shutil.which(cfg.binary)
        if binary is None:
            raise EngineError(f"{cfg.binary} not found: install the Debian package espeak-ng")
        self._binary = binary
        self._cfg = cfg
        self._voice_he = hebrew_voice(cfg.voice_he)
        self._phonemes = HebrewPhonemes() if cfg.hebrew_phonemes else None
        # Diacritisation is CPU work (20-40 ms a sentence): in a thread, a few at a time.
        self._limiter = trio.CapacityLimiter(2)

    def _command(self, language: str) -> list[str]:
        cfg = self._cfg
        if language == "he":
            voice, rate, pitch, gap = self._voice_he, cfg.rate_he, cfg.pitch_he, cfg.word_gap_he
        else:
            voice, rate, pitch, gap = cfg.voice_en, cfg.rate, cfg.pitch, 0
        return [self._binary, "-v", voice, "-s", str(rate), "-p", str(pitch), "-g", str(gap),
                "--stdout", "--stdin"]

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        if language == "he" and self._phonemes is not None:
            text = await trio.to_thread.run_sync(self._phonemes.espeak_input, text,
                                                 limiter=self._limiter)
        # Text goes through stdin, never argv: a reply starting with "-" is not an option.
        proc = await trio.run_process(
            self._command(language), stdin=text.encode("utf-8"), capture_stdout=True,
            capture_stderr=True, check=False,
        )
        if proc.returncode != 0:
            raise EngineError(f"espeak-ng exited {proc.returncode}: {proc.stderr[:200]!r}")
        try:
            pcm, rate = parse_wav(proc.stdout)
        except ValueError as exc:
            raise EngineError(f"espeak-ng wrote no usable WAV: {exc}") from None
        audio = trim_silence(to_pcm(resample(to_float(pcm), rate, RATE)), RATE)
        if audio.size:
            await tx.send(ulaw_encode(audio))
