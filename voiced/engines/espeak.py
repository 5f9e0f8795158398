"""Embedded TTS: espeak-ng (Debian package), speaks Hebrew and English, ~20 ms a sentence.

One process per sentence: espeak-ng starts in a few milliseconds, and a process per sentence
is cancelled by killing it (``trio.run_process`` does this), with nothing shared to corrupt.
"""

from __future__ import annotations

import shutil

import trio

from ..audio import RATE, parse_wav, resample, to_float, to_pcm, trim_silence, ulaw_encode
from ..config import EspeakConfig
from ..errors import EngineError


class EspeakTTS:
    def __init__(self, cfg: EspeakConfig) -> None:
        binary = shutil.which(cfg.binary)
        if binary is None:
            raise EngineError(f"{cfg.binary} not found: install the Debian package espeak-ng")
        self._binary = binary
        self._cfg = cfg

    def _command(self, language: str) -> list[str]:
        voice = self._cfg.voice_he if language == "he" else self._cfg.voice_en
        return [self._binary, "-v", voice, "-s", str(self._cfg.rate), "-p", str(self._cfg.pitch),
                "--stdout", "--stdin"]

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
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
