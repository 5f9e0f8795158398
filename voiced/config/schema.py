"""The whole file: its sections, and the checks that span more than one."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..sids import is_account_sid
from .book import BookConfig, BusinessConfig, ToolsConfig
from .engines import (
    BrainConfig,
    SttConfig,
    TtsConfig,
)
from .fields import LANGUAGES
from .line import (
    BargeInConfig,
    CallConfig,
    EchoConfig,
    FillerConfig,
    FloodConfig,
    IdleConfig,
    LogConfig,
    ServerConfig,
    ShutdownConfig,
    TurnConfig,
    TwilioConfig,
    VadConfig,
)


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    call: CallConfig = field(default_factory=CallConfig)
    flood: FloodConfig = field(default_factory=FloodConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    bargein: BargeInConfig = field(default_factory=BargeInConfig)
    filler: FillerConfig = field(default_factory=FillerConfig)
    echo: EchoConfig = field(default_factory=EchoConfig)
    idle: IdleConfig = field(default_factory=IdleConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    brain: BrainConfig = field(default_factory=BrainConfig)
    business: BusinessConfig = field(default_factory=BusinessConfig)
    book: BookConfig = field(default_factory=BookConfig)
    tools: ToolsConfig = field(default_factory=ToolsConfig)
    twilio: TwilioConfig = field(default_factory=TwilioConfig)
    shutdown: ShutdownConfig = field(default_factory=ShutdownConfig)
    log: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        for lang in self.call.languages:
            if lang not in LANGUAGES:
                raise ConfigError("call.languages", f"unknown language {lang!r}, use {LANGUAGES}")
        if not self.call.languages:
            raise ConfigError("call.languages", "must name at least one language")
        if self.turn.speculate_after_ms >= self.vad.silence_ms:
            raise ConfigError(
                "turn.speculate_after_ms",
                f"must be below vad.silence_ms ({self.vad.silence_ms}) or it never fires",
            )
        if self.turn.min_silence_ms < self.turn.speculate_after_ms:
            raise ConfigError(
                "turn.min_silence_ms",
                f"must be at least turn.speculate_after_ms ({self.turn.speculate_after_ms})",
            )
        if self.turn.min_silence_ms > self.vad.silence_ms:
            raise ConfigError("turn.min_silence_ms",
                              f"must not exceed vad.silence_ms ({self.vad.silence_ms})")
        for key, langs in (("turn.model_languages", self.turn.model_languages),
                           ("stt.transcribe_in_parts", self.stt.transcribe_in_parts)):
            for lang in langs:
                if lang not in LANGUAGES:
                    raise ConfigError(key, f"unknown language {lang!r}, use {LANGUAGES}")
        if not self.turn.min_silence_ms <= self.turn.unsure_silence_ms <= self.vad.silence_ms:
            raise ConfigError("turn.unsure_silence_ms",
                              f"must lie between turn.min_silence_ms ({self.turn.min_silence_ms})"
                              f" and vad.silence_ms ({self.vad.silence_ms})")
        if self.idle.hangup_s <= self.idle.reprompt_s:
            raise ConfigError("idle.hangup_s",
                              f"must be longer than idle.reprompt_s ({self.idle.reprompt_s})")
        if self.twilio.account_sid and not is_account_sid(self.twilio.account_sid):
            raise ConfigError("twilio.account_sid", "must be AC followed by 32 hex digits")
        script = self.brain.script
        for name in ("greeting", "fallback", "goodbye", "filler", "reprompt", "transfer"):
            if self.call.language not in getattr(script, name):
                raise ConfigError(
                    f"brain.script.{name}", f"has no text for the line language {self.call.language!r}"
                )
