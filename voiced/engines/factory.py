"""Builds the process's engines from config, once: models load at start-up, not per call."""

from __future__ import annotations

import httpx

from ..config import Config
from .base import Brain, Engines, FrameClassifier, SpeechToText, TextToSpeech
from .cache import CachedTTS, fixed_lines
from .scripted import ScriptedBrain
from .vad import WebRtcClassifier


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
    if stt is None:
        from . import whisper

        stt = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper)
    if tts is None:
        from .espeak import EspeakTTS

        tts = CachedTTS(EspeakTTS(cfg.tts.espeak))
    aggressiveness = cfg.vad.aggressiveness

    def classifier() -> FrameClassifier:
        return WebRtcClassifier(aggressiveness)

    return Engines(stt=stt, brain=brain, tts=tts, fallback=scripted, classifier=classifier)


async def warm(engines: Engines, cfg: Config) -> None:
    """Start-up work that needs the event loop: the phrase cache."""
    if isinstance(engines.tts, CachedTTS):
        await engines.tts.warm(fixed_lines(cfg))
