"""Builds the process's engines from config, once: models load at start-up, not per call."""

from __future__ import annotations

import httpx

from ..config import Config
from .base import Brain, Engines, FrameClassifier, SpeechToText, StreamingSpeech, TextToSpeech
from .cache import CachedTTS, fixed_lines
from .scripted import ScriptedBrain
from .spoken import SpokenForm
from .vad import EnergyGate, WebRtcClassifier


def build(
    cfg: Config,
    http: httpx.AsyncClient,
    *,
    stt: SpeechToText | None = None,
    tts: TextToSpeech | None = None,
) -> Engines:
    scripted = ScriptedBrain(cfg.brain.script, cfg.call.language)
    brain: Brain = scripted
    if cfg.brain.engine == "openai":
        from .openai import OpenAIBrain

        brain = OpenAIBrain(cfg.brain.openai, http)
    recognizer: SpeechToText | StreamingSpeech
    if stt is not None:
        recognizer = stt
    elif cfg.stt.engine == "google":
        from ..stages.stt_stream import GoogleSpeech
        from .google import speech_client

        recognizer = GoogleSpeech(speech_client(cfg.stt.google), cfg.stt.google.max_streams)
    elif cfg.stt.engine == "whisper-api":
        from .whisper_api import WhisperApiSTT

        recognizer = WhisperApiSTT(cfg.stt.whisper_api, http, cfg.stt.timeout_s)
    else:
        from . import whisper

        recognizer = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper)
    if tts is None:
        if cfg.tts.engine == "google":
            from .google import GoogleTTS

            tts = CachedTTS(SpokenForm(GoogleTTS(cfg.tts.google)))
        else:
            from .espeak import EspeakTTS

            tts = CachedTTS(SpokenForm(EspeakTTS(cfg.tts.espeak)))
    aggressiveness, floor_db = cfg.vad.aggressiveness, cfg.vad.energy_floor_db

    def classifier() -> FrameClassifier:
        webrtc = WebRtcClassifier(aggressiveness)
        return EnergyGate(webrtc, floor_db) if floor_db > 0 else webrtc

    return Engines(stt=recognizer, brain=brain, tts=tts, fallback=scripted, classifier=classifier)


async def warm(engines: Engines, cfg: Config) -> None:
    """Start-up work that needs the event loop: the phrase cache."""
    if isinstance(engines.tts, CachedTTS):
        await engines.tts.warm(fixed_lines(cfg))
