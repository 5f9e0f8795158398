"""The process's engines from config, built once (models load at start-up, not per call),
each recogniser wrapped in the stage of its kind.

This is the composition root: it alone knows every engine and which stage each runs as, so
it sits above both :mod:`voiced.engines` and :mod:`voiced.stages`."""

from __future__ import annotations

import httpx

from .config import Config
from .engines.base import Brain, Engines, FrameClassifier, Recognizer, SpeechToText, TextToSpeech
from .engines.cache import CachedTTS, fixed_lines
from .engines.scripted import ScriptedBrain
from .engines.spoken import SpokenForm
from .engines.vad import EnergyGate, WebRtcClassifier
from .stages.stt import BatchRecognizer
from .stages.stt_stream import StreamingRecognizer


def build_engines(
    cfg: Config,
    http: httpx.AsyncClient,
    *,
    stt: SpeechToText | None = None,
    tts: TextToSpeech | None = None,
) -> Engines:
    scripted = ScriptedBrain(cfg.brain.script, cfg.call.language)
    brain: Brain = scripted
    if cfg.brain.engine == "openai":
        from .engines.openai import OpenAIBrain

        brain = OpenAIBrain(cfg.brain.openai, http)
    recognizer: Recognizer
    if stt is not None:
        recognizer = BatchRecognizer(stt)
    elif cfg.stt.engine == "google":
        from .engines.google import GoogleSpeech, speech_client

        recognizer = StreamingRecognizer(
            GoogleSpeech(speech_client(cfg.stt.google), cfg.stt.google.max_streams))
    elif cfg.stt.engine == "whisper-api":
        from .engines.whisper_api import WhisperApiSTT

        recognizer = BatchRecognizer(WhisperApiSTT(cfg.stt.whisper_api, http, cfg.stt.timeout_s))
    else:
        from .engines import whisper

        recognizer = BatchRecognizer(whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper))
    if tts is None:
        if cfg.tts.engine == "google":
            from .engines.google import GoogleTTS

            tts = CachedTTS(SpokenForm(GoogleTTS(cfg.tts.google)))
        else:
            from .engines.espeak import EspeakTTS

            tts = CachedTTS(SpokenForm(EspeakTTS(cfg.tts.espeak)))
    aggressiveness, floor_db = cfg.vad.aggressiveness, cfg.vad.energy_floor_db

    def classifier() -> FrameClassifier:
        webrtc = WebRtcClassifier(aggressiveness)
        return EnergyGate(webrtc, floor_db) if floor_db > 0 else webrtc

    return Engines(stt=recognizer, brain=brain, tts=tts, fallback=scripted, classifier=classifier)


async def warm_engines(engines: Engines, cfg: Config) -> None:
    """Start-up work that needs the event loop: the phrase cache."""
    if isinstance(engines.tts, CachedTTS):
        await engines.tts.warm(fixed_lines(cfg))
