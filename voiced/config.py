"""Settings: config.toml read into frozen dataclasses, checked once at start-up.

Every threshold a user may tune lives here, so a daemon that started is a daemon whose
settings were valid: a bad file fails ``voiced check-config`` and ``voiced serve`` with one
line naming the key, never later inside a call. Secrets are never read from the file; a
setting only names the environment variable (or systemd credential) that holds one.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .sids import is_account_sid

LANGUAGES = ("he", "en")


def _range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=_range(0, 65535))
    # The host Twilio reaches us at (behind a proxy this is not what the socket sees).
    public_host: str = "localhost:8080"
    voice_path: str = "/twilio/voice"
    status_path: str = "/webhook/stream_status"
    media_path: str = "/ws/twilio-media"
    # Twilio's largest message is a media frame of a few hundred bytes.
    max_message_bytes: int = field(default=65536, metadata=_range(1024, 16 * 1024 * 1024))
    # Calls at once; the next caller hears that the line is busy.
    max_calls: int = field(default=30, metadata=_range(1, 100000))
    # Open TCP connections, all clients together. When full, the oldest without a complete
    # request is closed for a new one (or the new one, if all are busy). Twilio holds one per
    # call and opens a few short ones per call for its webhooks.
    max_connections: int = field(default=256, metadata=_range(4, 100000))
    # Media sockets that have not yet sent a valid `start` (with its stream token); they do
    # not count against max_calls, and one more is refused (503).
    max_pending_streams: int = field(default=8, metadata=_range(1, 10000))
    # Webhook bodies: Twilio's forms are 1-3 KB. A bigger one is refused (413) unread.
    max_body_bytes: int = field(default=8192, metadata=_range(1024, 1024 * 1024))
    # A request's body must arrive within this long (408), its headers within
    # header_timeout_s, and any connection that sends nothing for read_timeout_s is closed
    # (a live call sends 50 messages a second).
    body_timeout_s: float = field(default=5.0, metadata=_range(0.1, 120.0))
    header_timeout_s: float = field(default=5.0, metadata=_range(0.1, 120.0))
    read_timeout_s: float = field(default=15.0, metadata=_range(1.0, 600.0))
    # The voice webhook hands each call a single-use stream token; the media socket's
    # `start` must bring it back within this long.
    stream_token_ttl_s: float = field(default=30.0, metadata=_range(1.0, 3600.0))
    # Where call records go; empty: $STATE_DIRECTORY (systemd's StateDirectory=), else
    # ~/.local/state/voiced.
    state_dir: str = ""

    def records_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(systemd) if systemd else Path.home() / ".local" / "state" / "voiced"


@dataclass(frozen=True)
class ShutdownConfig:
    # On SIGTERM: stop taking calls, let the active ones finish for this long...
    grace_s: float = field(default=30.0, metadata=_range(0.0, 3600.0))
    # ...then say goodbye to the rest and give the goodbye this long to play.
    goodbye_s: float = field(default=8.0, metadata=_range(0.0, 120.0))


@dataclass(frozen=True)
class CallConfig:
    # The line's language: the greeting's and the fallback for replies.
    language: str = field(default="he", metadata=_choice(*LANGUAGES))
    # Languages a caller may speak; more than one turns on per-turn language detection.
    languages: tuple[str, ...] = ("he", "en")
    # Inbound audio buffer between recv and VAD, in 20 ms frames; the oldest is dropped when full.
    inbound_buffer_frames: int = field(default=50, metadata=_range(5, 5000))
    # Unparseable messages tolerated before the call is closed as hostile.
    max_bad_messages: int = field(default=20, metadata=_range(0, 100000))
    # Wait for Twilio's `start` this long after the socket opens (Twilio sends it at once).
    start_timeout_s: float = field(default=5.0, metadata=_range(0.1, 600))
    # Outbound audio is sent in messages of this many milliseconds of audio. Twilio plays
    # any length; each message costs a WebSocket frame and a syscall on both ends, so 100 ms
    # sends a fifth of 20 ms's messages. Barge-in is unaffected: `clear` flushes it all.
    send_chunk_ms: int = field(default=100, metadata=_range(20, 2000))
    # The agent says goodbye and hangs up after this long.
    max_duration_s: float = field(default=1800.0, metadata=_range(10.0, 86400.0))
    # Consecutive turns with an engine fault after which the agent apologises and hangs up.
    max_faulty_turns: int = field(default=3, metadata=_range(1, 100))
    # A mark Twilio has not echoed this long after its audio should have finished playing is
    # taken as played: a peer that never echoes cannot keep the agent "talking" (and the
    # idle and hang-up timers stopped) for the whole call.
    mark_slack_s: float = field(default=3.0, metadata=_range(0.1, 600.0))
    # Items of conversation kept (for the brain's context and the history it is sent): the
    # oldest go first, so no caller input makes a turn's work grow without bound.
    max_history: int = field(default=100, metadata=_range(4, 10000))

    def ordered_languages(self) -> tuple[str, ...]:
        """The caller's possible languages, the line's own first: recognisers favour it."""
        if self.language not in self.languages:
            return self.languages
        return (self.language, *(lang for lang in self.languages if lang != self.language))


@dataclass(frozen=True)
class FloodConfig:
    """Per call, messages a second on average and the burst allowed above it. Twilio sends 50
    media messages a second, a mark per sentence played and a DTMF per key press; a call that
    goes over a limit is closed as abusive."""

    media_per_s: float = field(default=100.0, metadata=_range(50.0, 10000.0))
    media_burst: int = field(default=250, metadata=_range(10, 100000))
    marks_per_s: float = field(default=20.0, metadata=_range(1.0, 10000.0))
    marks_burst: int = field(default=60, metadata=_range(1, 100000))
    dtmf_per_s: float = field(default=10.0, metadata=_range(1.0, 10000.0))
    dtmf_burst: int = field(default=20, metadata=_range(1, 100000))


@dataclass(frozen=True)
class VadConfig:
    # webrtcvad mode: 0 lets most sound through as speech, 3 is strictest.
    aggressiveness: int = field(default=2, metadata=_range(0, 3))
    # A frame webrtcvad calls speech must also be within this many dB of the caller's recent
    # loudest speech (0 turns the gate off): breath and reverb after the last word are not
    # speech, so the endpoint timer starts when the words end.
    energy_floor_db: float = field(default=35.0, metadata=_range(0.0, 90.0))
    # Silence that ends the caller's turn (the users asked for 800 ms).
    silence_ms: int = field(default=800, metadata=_range(100, 5000))
    # Voiced audio needed before we believe speech started (a click is not a caller).
    onset_ms: int = field(default=60, metadata=_range(20, 1000))
    # A turn with less voiced audio than this is noise and is dropped.
    min_speech_ms: int = field(default=200, metadata=_range(20, 5000))
    # Audio kept from before the onset, so the first syllable reaches STT.
    preroll_ms: int = field(default=300, metadata=_range(0, 2000))


@dataclass(frozen=True)
class TurnConfig:
    # At a pause this long, transcribe and prepare the reply speculatively; it is played only
    # once the endpoint is confirmed, and discarded if the caller goes on.
    speculate_after_ms: int = field(default=200, metadata=_range(20, 5000))
    # With a streaming recognizer the words are already there: its reply may start preparing
    # after this much silence (a batch recognizer like Whisper waits for speculate_after_ms).
    early_speculate_ms: int = field(default=60, metadata=_range(20, 5000))
    # Smart endpointing: when the transcript reads as a finished question or sentence, this
    # much silence ends the turn instead of vad.silence_ms. Lower answers sooner and risks
    # cutting off a caller who pauses after a complete-looking clause.
    min_silence_ms: int = field(default=300, metadata=_range(20, 5000))
    smart_endpoint: bool = True


@dataclass(frozen=True)
class BargeInConfig:
    enabled: bool = True
    # Caller speech over the agent for this long stops the agent (a "mm" does not).
    min_speech_ms: int = field(default=300, metadata=_range(40, 5000))
    # A turn made only of these words gets no answer of its own (it is acknowledgement).
    backchannels: tuple[str, ...] = (
        "mm", "mhm", "hmm", "uh huh", "uh-huh", "yeah", "yes", "yep", "ok", "okay", "right",
        "sure", "כן", "אהה", "אה", "אוקיי", "נכון", "טוב", "ממ", "בסדר", "יופי",
    )


@dataclass(frozen=True)
class FillerConfig:
    enabled: bool = True
    # If the reply has no audio this long after the endpoint, say the cached filler line.
    after_ms: int = field(default=700, metadata=_range(50, 10000))


@dataclass(frozen=True)
class IdleConfig:
    # Caller silence (with the agent quiet too) before asking if they are still there ...
    reprompt_s: float = field(default=8.0, metadata=_range(1.0, 600.0))
    # ... and before saying goodbye and hanging up.
    hangup_s: float = field(default=20.0, metadata=_range(1.0, 3600.0))


@dataclass(frozen=True)
class WhisperConfig:
    # Empty: assemble the packaged Whisper base weights into the cache directory.
    model_dir: str = ""
    compute_type: str = field(default="int8", metadata=_choice("int8", "int8_float32", "float32"))
    cpu_threads: int = field(default=2, metadata=_range(1, 64))
    # Calls decoding at once across the process; each uses cpu_threads cores.
    concurrency: int = field(default=1, metadata=_range(1, 64))
    beam_size: int = field(default=1, metadata=_range(1, 10))
    # Hebrew gains more from a wider beam than English does (docs/BENCHMARKS.md).
    beam_size_he: int = field(default=1, metadata=_range(1, 10))
    # Repetition guards against Whisper's loops on noise and short context.
    no_repeat_ngram_size: int = field(default=6, metadata=_range(0, 20))
    # Above 1, tokens already produced are less likely again: against "טינטינטינ" loops.
    repetition_penalty: float = field(default=1.0, metadata=_range(1.0, 3.0))
    max_new_tokens: int = field(default=160, metadata=_range(8, 440))
    # Whisper was trained on 30 s windows; encoding only this much (audio plus padding) is
    # 6x cheaper on short turns. Shorter than ~8 s costs accuracy.
    min_context_s: float = field(default=10.0, metadata=_range(4.0, 30.0))
    # Above this no-speech probability a turn is treated as silence.
    no_speech_threshold: float = field(default=0.6, metadata=_range(0.0, 1.0))
    # Vocabulary hint given to the decoder as previous text.
    initial_prompt: str = ""
    # With several call.languages, another language than the line's is chosen only when
    # Whisper finds it this many times likelier: a short or unclear turn is heard in the
    # line's language instead of being misheard as English (docs/BENCHMARKS.md).
    language_switch_odds: float = field(default=3.0, metadata=_range(1.0, 1000.0))

    def beam_for(self, language: str) -> int:
        return self.beam_size_he if language == "he" else self.beam_size


@dataclass(frozen=True)
class GoogleConfig:
    # host:port of the API; empty means Google's own endpoint with Application Default
    # Credentials ($GOOGLE_APPLICATION_CREDENTIALS or a systemd credential file).
    endpoint: str = ""
    # Plaintext gRPC without credentials: only for local servers (tests, benchmarks).
    insecure: bool = False


@dataclass(frozen=True)
class GoogleSttConfig(GoogleConfig):
    # Google's model for 8 kHz phone audio.
    model: str = "telephony"
    # Audio is sent in requests of this many milliseconds.
    batch_ms: int = field(default=120, metadata=_range(20, 1000))
    # Interim results are passed on at most this often.
    partial_debounce_ms: int = field(default=160, metadata=_range(0, 5000))
    # Google ends a stream at ~305 s: we restart it before, replaying unacknowledged audio.
    streaming_limit_s: float = field(default=240.0, metadata=_range(10.0, 300.0))
    # Streams open at once in this process (each holds a worker thread).
    max_streams: int = field(default=250, metadata=_range(1, 10000))
    # No words this long after the endpoint: the stream is failing; the caller hears the
    # fallback line instead of silence.
    final_timeout_ms: int = field(default=1500, metadata=_range(100, 30000))


@dataclass(frozen=True)
class WhisperApiConfig:
    # Any OpenAI-compatible /v1/audio/transcriptions (OpenAI, Groq, faster-whisper servers).
    base_url: str = "https://api.openai.com/v1"
    model: str = "whisper-1"
    api_key_env: str = "VOICED_STT_API_KEY"


@dataclass(frozen=True)
class SttConfig:
    engine: str = field(default="whisper", metadata=_choice("whisper", "google", "whisper-api"))
    # Longest turn sent to STT; longer speech keeps its last part.
    max_turn_s: float = field(default=30.0, metadata=_range(1.0, 120.0))
    timeout_s: float = field(default=10.0, metadata=_range(0.1, 120.0))
    whisper: WhisperConfig = WhisperConfig()
    google: GoogleSttConfig = GoogleSttConfig()
    whisper_api: WhisperApiConfig = WhisperApiConfig()


@dataclass(frozen=True)
class EspeakConfig:
    binary: str = "espeak-ng"
    # "auto": the MBROLA Hebrew diphone voice (Debian's mbrola-hb2, non-free: free to use, not
    # to sell) when installed, far more intelligible than espeak-ng's own "he" formant voice.
    voice_he: str = "auto"
    voice_en: str = "en-us"
    # Words per minute and pitch (0-99); Hebrew slower and lower, which a listener (and
    # Whisper) follows better: docs/BENCHMARKS.md has the measurements.
    rate: int = field(default=170, metadata=_range(80, 450))
    rate_he: int = field(default=130, metadata=_range(80, 450))
    # Hebrew through vowel restoration (Nakdimon) and phonemes, not espeak-ng's letter rules.
    hebrew_phonemes: bool = True
    pitch: int = field(default=50, metadata=_range(0, 99))
    pitch_he: int = field(default=35, metadata=_range(0, 99))
    # Pause between Hebrew words, in 10 ms units: diphone Hebrew run together is the hardest
    # part to follow (round-trip CER 0.31 -> 0.25 with 80 ms, docs/BENCHMARKS.md).
    word_gap_he: int = field(default=8, metadata=_range(0, 50))


@dataclass(frozen=True)
class GoogleTtsConfig(GoogleConfig):
    voice_he: str = "he-IL-Wavenet-A"
    voice_en: str = "en-US-Neural2-F"
    speaking_rate: float = field(default=1.05, metadata=_range(0.25, 4.0))
    # Streaming synthesis: "auto" uses it for the voices that support it (Chirp 3: HD).
    streaming: str = field(default="auto", metadata=_choice("auto", "on", "off"))


@dataclass(frozen=True)
class TtsConfig:
    engine: str = field(default="espeak", metadata=_choice("espeak", "google"))
    timeout_s: float = field(default=5.0, metadata=_range(0.1, 60.0))
    espeak: EspeakConfig = EspeakConfig()
    google: GoogleTtsConfig = GoogleTtsConfig()


@dataclass(frozen=True)
class OpenAIConfig:
    base_url: str = "http://127.0.0.1:11434/v1"
    model: str = "llama3.2"
    # Name of the environment variable holding the key; the key itself is never in the file.
    api_key_env: str = "VOICED_LLM_API_KEY"
    system_prompt: str = (
        "You are the receptionist of a small business on the phone. Answer in the caller's "
        "language, in one or two short spoken sentences, without lists or markup."
    )
    temperature: float = field(default=0.3, metadata=_range(0.0, 2.0))
    max_tokens: int = field(default=150, metadata=_range(1, 4096))
    first_token_timeout_ms: int = field(default=1500, metadata=_range(50, 60000))
    total_timeout_ms: int = field(default=8000, metadata=_range(100, 120000))
    # Turns of history sent with each request.
    history_turns: int = field(default=10, metadata=_range(0, 200))


@dataclass(frozen=True)
class Intent:
    name: str
    # Per language: words or phrases; one hit is enough, more hits win over fewer.
    keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    answer: Mapping[str, str] = field(default_factory=dict)
    # Say the answer, then end the call.
    end_call: bool = False
    # Say the answer, then transfer the call to this number (E.164).
    transfer_to: str = ""


@dataclass(frozen=True)
class ScriptConfig:
    greeting: Mapping[str, str] = field(
        default_factory=lambda: {"he": "שלום, הגעתם לעסק. במה אפשר לעזור?",
                                 "en": "Hello, you have reached the business. How can I help?"}
    )
    fallback: Mapping[str, str] = field(
        default_factory=lambda: {"he": "סליחה, לא הבנתי. אפשר לחזור על זה?",
                                 "en": "Sorry, I did not catch that. Could you say it again?"}
    )
    goodbye: Mapping[str, str] = field(
        default_factory=lambda: {"he": "תודה שהתקשרתם, להתראות.",
                                 "en": "Thank you for calling, goodbye."}
    )
    filler: Mapping[str, str] = field(
        default_factory=lambda: {"he": "רגע, בודק.", "en": "One moment."}
    )
    reprompt: Mapping[str, str] = field(
        default_factory=lambda: {"he": "אתם עדיין על הקו?", "en": "Are you still there?"}
    )
    # Said (with Twilio's <Say>) to a caller when max_calls are already in progress.
    busy: Mapping[str, str] = field(
        default_factory=lambda: {"he": "כל הקווים תפוסים כרגע. נסו שוב בעוד כמה דקות.",
                                 "en": "All our lines are busy. Please call again in a few minutes."}
    )
    transfer: Mapping[str, str] = field(
        default_factory=lambda: {"he": "מעביר אתכם לנציג, רגע.",
                                 "en": "Transferring you to a person, one moment."}
    )
    # Said when an engine fails mid-reply, and before hanging up after repeated failures.
    trouble: Mapping[str, str] = field(
        default_factory=lambda: {"he": "סליחה, יש לנו תקלה טכנית.",
                                 "en": "Sorry, we are having a technical problem."}
    )
    # Similarity (0-1) at which a misspelt or misheard word still counts as a keyword.
    fuzzy_ratio: float = field(default=0.84, metadata=_range(0.5, 1.0))
    intents: tuple[Intent, ...] = ()


@dataclass(frozen=True)
class BrainConfig:
    engine: str = field(default="scripted", metadata=_choice("scripted", "openai"))
    openai: OpenAIConfig = OpenAIConfig()
    script: ScriptConfig = ScriptConfig()


@dataclass(frozen=True)
class TwilioConfig:
    # The REST API (hang up, transfer). Tests point it at a local server.
    api_base: str = "https://api.twilio.com"
    # Environment variable (or systemd credential) holding the account's auth token.
    auth_token_env: str = "TWILIO_AUTH_TOKEN"
    # Refuse requests without a valid X-Twilio-Signature. Off only for local development
    # (`voiced serve --insecure-dev`); the daemon warns at start-up when it is off.
    validate_signatures: bool = True
    # The account (AC + 32 hex) whose calls this daemon answers. Set, a webhook or stream of
    # any other account is refused and the REST API is only called for this one; empty, a
    # stream must carry the account its webhook named.
    account_sid: str = ""
    timeout_s: float = field(default=5.0, metadata=_range(0.1, 60.0))


@dataclass(frozen=True)
class LogConfig:
    level: str = field(default="INFO", metadata=_choice("DEBUG", "INFO", "WARNING", "ERROR"))
    # What callers said and were told, and the keys they pressed, in the log. Off, the log
    # says that a turn happened and how long it was; the words stay in the call records
    # (0600). Caller numbers are always masked in the log.
    transcripts: bool = False


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    call: CallConfig = CallConfig()
    flood: FloodConfig = FloodConfig()
    vad: VadConfig = VadConfig()
    turn: TurnConfig = TurnConfig()
    bargein: BargeInConfig = BargeInConfig()
    filler: FillerConfig = FillerConfig()
    idle: IdleConfig = IdleConfig()
    stt: SttConfig = SttConfig()
    tts: TtsConfig = TtsConfig()
    brain: BrainConfig = BrainConfig()
    twilio: TwilioConfig = TwilioConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    log: LogConfig = LogConfig()

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


def load(path: str | os.PathLike[str] | None) -> Config:
    """Read a TOML file (or nothing, for the defaults) into a checked :class:`Config`."""
    if path is None:
        return Config()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: invalid TOML: {exc}") from None
    return from_dict(data)


def from_dict(data: Mapping[str, Any]) -> Config:
    cfg = _build(Config, data, "")
    assert isinstance(cfg, Config)
    return cfg


def _build(cls: type[Any], data: Any, key: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(key, f"expected a table, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(where, f"unknown setting (known here: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        sub = f"{key}.{name}" if key else name
        values[name] = _convert(hints[name], value, sub)
        _check(fields[name].metadata, values[name], sub)
    try:
        return cls(**values)
    except TypeError as exc:  # a required field left out
        raise ConfigError(key, str(exc)) from None


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected a number, got {_kind(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {_kind(value)}")
        return value
    if origin is tuple:
        (item,) = (a for a in typing.get_args(hint) if a is not Ellipsis)
        if not isinstance(value, list):
            raise ConfigError(key, f"expected an array, got {_kind(value)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        _, item = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {_kind(value)}")
        return types.MappingProxyType(
            {str(k): _convert(item, v, f"{key}.{k}") for k, v in value.items()}
        )
    raise AssertionError(f"unsupported config type {hint!r} at {key}")  # pragma: no cover


def _check(meta: Mapping[str, Any], value: Any, key: str) -> None:
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(key, f"{value} is out of range [{lo}, {hi}]")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(meta['choices'])}")


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def secret(env_name: str) -> str | None:
    """A secret from the environment or from a systemd credential (``LoadCredential=``)."""
    value = os.environ.get(env_name)
    if value:
        return value
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        try:
            return (Path(cred_dir) / env_name).read_text().strip() or None
        except OSError:
            return None
    return None


def render(cfg: Config) -> str:
    """The effective settings as TOML-like text, with the secrets they point at masked."""
    lines: list[str] = []

    def emit(obj: Any, prefix: str) -> None:
        scalars = []
        nested = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                nested.append((f.name, value))
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                nested.extend((f"{f.name}[{i}]", v) for i, v in enumerate(value))
            else:
                scalars.append((f.name, value))
        if scalars:
            lines.append(f"[{prefix}]")
            for name, value in scalars:
                lines.append(f"{name} = {_show(value)}")
                if name.endswith("_env") and isinstance(value, str):
                    lines.append(f"# {value} is {'set (****)' if secret(value) else 'not set'}")
            lines.append("")
        for name, value in nested:
            emit(value, f"{prefix}.{name}" if prefix else name)

    for f in dataclasses.fields(cfg):
        emit(getattr(cfg, f.name), f.name)
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    return str(value)
