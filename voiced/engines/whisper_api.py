"""Whisper over HTTP: any OpenAI-compatible ``/v1/audio/transcriptions`` (OpenAI, Groq,
self-hosted faster-whisper servers). One request per caller turn, a 16 kHz WAV upload."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Sequence

import httpx
import numpy as np

from ..audio import RATE, resample, to_float, to_pcm
from ..config import WhisperApiConfig, secret
from ..errors import EngineError
from ..events import Recognition
from ..lang import WHISPER


def wav16k(pcm: bytes) -> bytes:
    audio = to_pcm(resample(to_float(np.frombuffer(pcm, dtype="<i2")), RATE, 16000))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(audio.tobytes())
    return buf.getvalue()


class WhisperApiSTT:
    def __init__(self, cfg: WhisperApiConfig, http: httpx.AsyncClient, timeout_s: float) -> None:
        self._cfg = cfg
        self._http = http
        self._timeout = timeout_s
        self._url = cfg.base_url.rstrip("/") + "/audio/transcriptions"

    async def transcribe(self, pcm: bytes, languages: Sequence[str],
                         context: str = "") -> Recognition:
        t0 = time.perf_counter()
        data = {"model": self._cfg.model, "response_format": "json"}
        if len(languages) == 1:
            data["language"] = WHISPER[languages[0]]
        if context:
            data["prompt"] = context[-800:]  # the API's "previous text" (224 tokens at most)
        headers = {}
        key = secret(self._cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        try:
            resp = await self._http.post(
                self._url, data=data, headers=headers, timeout=self._timeout,
                files={"file": ("turn.wav", wav16k(pcm), "audio/wav")},
            )
        except httpx.HTTPError as exc:
            raise EngineError(f"transcription request failed: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise EngineError(f"transcription endpoint answered HTTP {resp.status_code}")
        try:
            body = resp.json()
            text = str(body["text"]).strip()
        except (ValueError, KeyError, TypeError):
            raise EngineError("transcription endpoint sent no text") from None
        lang = str(body.get("language", languages[0]))[:2].lower()
        language = {"he": "he", "iw": "he", "hebrew": "he", "en": "en", "english": "en"}.get(
            lang, languages[0])
        told = len(languages) == 1 or language in languages
        return Recognition(text, language if told else languages[0], time.perf_counter() - t0,
                           guessed=not told)
