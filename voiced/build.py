"""The process's engines from config, built once (models load at start-up, not per call),
each recogniser wrapped in the stage of its kind.

This is the composition root: it alone knows every engine and which stage each runs as, so
it sits above both :mod:`voiced.engines` and :mod:`voiced.stages`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from .business import Facts
from .config import Config, secret
from .engines.base import Brain, Engines, Recognizer, SpeechToText, TextToSpeech, TurnModel
from .engines.cache import CachedTTS, fixed_lines
from .engines.scripted import ScriptedBrain
from .engines.spoken import SpokenForm
from .engines.vad import call_classifier
from .errors import ConfigError, ModelError
from .stages.stt import BatchRecognizer
from .stages.stt_stream import StreamingRecognizer
from .tools.base import Tool

log = logging.getLogger("voiced.build")

if TYPE_CHECKING:
    from .book.schedule import Schedule


def build_engines(
    cfg: Config,
    http: httpx.AsyncClient,
    *,
    stt: SpeechToText | None = None,
    tts: TextToSpeech | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Engines:
    """``clock``: the business's local time for the appointment book (default: now), so a
    scenario that says "tomorrow" means the day after its own date."""
    booking = tools = None
    if cfg.tools.enabled:
        from .book.schedule import Schedule
        from .engines.booking import Booking

        schedule = Schedule(cfg.book)  # one for the tools and the receptionist's booking
        booking = Booking(schedule, clock)
        tools = build_tools(cfg, http, schedule, clock)
    facts = Facts(cfg)
    scripted = ScriptedBrain(cfg.brain.script, cfg.call.language, booking, facts)
    brain: Brain = scripted
    if cfg.brain.engine == "openai":
        from .engines.openai import OpenAIBrain

        brain = OpenAIBrain(cfg.brain.openai, http, filler=cfg.brain.script.filler,
                            filler_after_ms=cfg.filler.after_ms, facts=facts.brief())
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

        recognizer = BatchRecognizer(
            whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper, vocabulary(cfg)))
    if tts is None:
        if cfg.tts.engine == "google":
            from .engines.google import GoogleTTS

            tts = CachedTTS(SpokenForm(GoogleTTS(cfg.tts.google)))
        else:
            from .engines.espeak import EspeakTTS

            tts = CachedTTS(SpokenForm(EspeakTTS(cfg.tts.espeak)))
    return Engines(stt=recognizer, brain=brain, tts=tts, fallback=scripted,
                   classifier=partial(call_classifier, cfg.vad), tools=tools or (),
                   turn_model=turn_model(cfg))


def turn_model(cfg: Config) -> TurnModel | None:
    """The end-of-turn model, if configured and installed. Without it the daemon still answers,
    by the words alone (more callers cut off in a breath): said once, loudly, at start."""
    if cfg.turn.model == "off" or not cfg.turn.smart_endpoint:
        return None
    from .engines.turn import SmartTurn
    from .models import smart_turn_path

    try:
        return SmartTurn(smart_turn_path())
    except ModelError as exc:
        log.warning("end-of-turn model unavailable (%s): turns end by the words alone; "
                    "`voiced models install`, or turn.model = \"off\" to silence this", exc)
        return None


def book_path(cfg: Config) -> Path:
    """The embedded appointment book's file."""
    return cfg.server.records_dir() / "book.sqlite3"


def vocabulary(cfg: Config) -> dict[str, str]:
    """The business's words per caller language, for a recogniser that takes them."""
    if not cfg.stt.whisper.vocabulary:
        return {}
    facts = Facts(cfg)
    return {lang: facts.vocabulary(lang) for lang in cfg.call.languages}


def build_tools(cfg: Config, http: httpx.AsyncClient, schedule: Schedule,
                clock: Callable[[], datetime] | None = None) -> tuple[Tool, ...]:
    """The appointment book's tools, messages, hang-up and transfer, and the business's own."""
    from .book.sqlite import SqliteBook
    from .tools import builtin
    from .tools.http import HttpTool, Webhook

    book: builtin.Book
    if cfg.book.engine == "caldav":
        from .book.caldav import CaldavBook

        if not cfg.book.caldav.url:
            raise ConfigError("book.caldav.url", "book.engine = \"caldav\" needs the calendar's URL")
        book = CaldavBook(cfg.book.caldav, secret(cfg.book.caldav.password_env) or "", schedule,
                          clock)
    else:
        book = SqliteBook(book_path(cfg), schedule, clock)
    services = tuple(s.name for s in cfg.book.services)
    key = secret(cfg.tools.secret_env) or ""
    if (cfg.tools.message_webhook or cfg.tools.http) and not key:
        raise ConfigError("tools.secret_env", f"set ${cfg.tools.secret_env} (or a systemd "
                          "credential of that name): requests to the business are signed with it")
    webhook = Webhook(cfg.tools.message_webhook, http, key) if cfg.tools.message_webhook else None
    tools: list[Tool] = [
        builtin.CheckAvailability(book, services),
        builtin.BookAppointment(book, services, schedule.zone),
        builtin.ListAppointments(book),
        builtin.CancelAppointment(book),
        builtin.TakeMessage(webhook),
        builtin.Hangup(),
    ]
    if cfg.tools.transfer:
        tools.append(builtin.Transfer(cfg.tools.transfer))
    tools += [HttpTool(t, http, key) for t in cfg.tools.http]
    names = [t.spec.name for t in tools]
    if len(set(names)) != len(names):
        raise ConfigError("tools.http", "a tool's name is used twice")
    return tuple(tools)


async def warm_engines(engines: Engines, cfg: Config) -> None:
    """Start-up work that needs the event loop: the phrase cache."""
    if isinstance(engines.tts, CachedTTS):
        await engines.tts.warm(fixed_lines(cfg))
