"""The sections about the phone line and its calls: the server, each call's bounds, turn-taking,
barge-in, silences, Twilio and the log."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .fields import LANGUAGES, in_range, one_of


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata=in_range(0, 65535))
    # The host Twilio reaches us at (behind a proxy this is not what the socket sees).
    public_host: str = "localhost:8080"
    # This instance's own host name for the media socket (the TwiML's stream URL); empty: the
    # public_host. Behind a load balancer in front of several VMs, each VM names itself here,
    # so a call's media lands on the VM that answered its webhook (README, "Deployment").
    stream_host: str = ""
    voice_path: str = "/twilio/voice"
    status_path: str = "/webhook/stream_status"
    media_path: str = "/ws/twilio-media"
    # Twilio's largest message is a media frame of a few hundred bytes.
    max_message_bytes: int = field(default=65536, metadata=in_range(1024, 16 * 1024 * 1024))
    # Daemon processes accepting on the one port, each with its own event loop and engines
    # (docs/CAPACITY.md); 0: one per core with cloud STT, one with the embedded Whisper (whose
    # decodes already use every core; voiced.sizing). max_calls is the machine's either way.
    workers: int = field(default=0, metadata=in_range(0, 256))
    # A worker whose event loop has not run for this long (a blocking call, a deadlock) is
    # killed and replaced by the supervisor, as systemd's watchdog does a single process.
    worker_stall_s: float = field(default=20.0, metadata=in_range(1.0, 3600.0))
    # Calls at once, on the whole machine; the next caller hears that the line is busy.
    # 0: what the cores hold at the load targets with the configured engines (voiced.sizing).
    max_calls: int = field(default=0, metadata=in_range(0, 100000))
    # Open TCP connections, all clients together. When full, the oldest without a complete
    # request is closed for a new one (or the new one, if all are busy). Twilio holds one per
    # call and opens a few short ones per call for its webhooks.
    max_connections: int = field(default=256, metadata=in_range(4, 100000))
    # Media sockets that have not yet sent a valid `start` (with its stream token); they do
    # not count against max_calls, and one more is refused (503).
    max_pending_streams: int = field(default=8, metadata=in_range(1, 10000))
    # Webhook bodies: Twilio's forms are 1-3 KB. A bigger one is refused (413) unread.
    max_body_bytes: int = field(default=8192, metadata=in_range(1024, 1024 * 1024))
    # A request's body must arrive within this long (408), its headers within
    # header_timeout_s, and any connection that sends nothing for read_timeout_s is closed
    # (a live call sends 50 messages a second).
    body_timeout_s: float = field(default=5.0, metadata=in_range(0.1, 120.0))
    header_timeout_s: float = field(default=5.0, metadata=in_range(0.1, 120.0))
    read_timeout_s: float = field(default=15.0, metadata=in_range(1.0, 600.0))
    # The voice webhook hands each call a single-use stream token; the media socket's
    # `start` must bring it back within this long.
    stream_token_ttl_s: float = field(default=30.0, metadata=in_range(1.0, 3600.0))
    # Where call records go; empty: $STATE_DIRECTORY (systemd's StateDirectory=), else
    # ~/.local/state/voiced.
    state_dir: str = ""

    @property
    def media_host(self) -> str:
        """Where Twilio opens this instance's media sockets."""
        return self.stream_host or self.public_host

    def records_dir(self) -> Path:
        if self.state_dir:
            return Path(self.state_dir)
        systemd = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
        return Path(systemd) if systemd else Path.home() / ".local" / "state" / "voiced"


@dataclass(frozen=True)
class ShutdownConfig:
    # On SIGTERM: stop taking calls, let the active ones finish for this long...
    grace_s: float = field(default=30.0, metadata=in_range(0.0, 3600.0))
    # ...then say goodbye to the rest and give the goodbye this long to play.
    goodbye_s: float = field(default=8.0, metadata=in_range(0.0, 120.0))


@dataclass(frozen=True)
class CallConfig:
    # The line's language: the greeting's and the fallback for replies.
    language: str = field(default="he", metadata=one_of(*LANGUAGES))
    # Languages a caller may speak; more than one turns on per-turn language detection.
    languages: tuple[str, ...] = ("he", "en")
    # Inbound audio buffer between recv and VAD, in 20 ms frames; the oldest is dropped when full.
    inbound_buffer_frames: int = field(default=50, metadata=in_range(5, 5000))
    # Unparseable messages tolerated before the call is closed as hostile.
    max_bad_messages: int = field(default=20, metadata=in_range(0, 100000))
    # Wait for Twilio's `start` this long after the socket opens (Twilio sends it at once).
    start_timeout_s: float = field(default=5.0, metadata=in_range(0.1, 600))
    # Outbound audio is sent in messages of this many milliseconds of audio. Twilio plays
    # any length; each message costs a WebSocket frame and a syscall on both ends, so 100 ms
    # sends a fifth of 20 ms's messages. Barge-in is unaffected: `clear` flushes it all.
    send_chunk_ms: int = field(default=100, metadata=in_range(20, 2000))
    # The agent says goodbye and hangs up after this long.
    max_duration_s: float = field(default=1800.0, metadata=in_range(10.0, 86400.0))
    # Consecutive turns with an engine fault after which the agent apologises and hangs up.
    max_faulty_turns: int = field(default=3, metadata=in_range(1, 100))
    # A mark Twilio has not echoed this long after its audio should have finished playing is
    # taken as played: a peer that never echoes cannot keep the agent "talking" (and the
    # idle and hang-up timers stopped) for the whole call.
    mark_slack_s: float = field(default=3.0, metadata=in_range(0.1, 600.0))
    # Items of conversation kept (for the brain's context and the history it is sent): the
    # oldest go first, so no caller input makes a turn's work grow without bound.
    max_history: int = field(default=100, metadata=in_range(4, 10000))

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

    media_per_s: float = field(default=100.0, metadata=in_range(50.0, 10000.0))
    media_burst: int = field(default=250, metadata=in_range(10, 100000))
    marks_per_s: float = field(default=20.0, metadata=in_range(1.0, 10000.0))
    marks_burst: int = field(default=60, metadata=in_range(1, 100000))
    dtmf_per_s: float = field(default=10.0, metadata=in_range(1.0, 10000.0))
    dtmf_burst: int = field(default=20, metadata=in_range(1, 100000))


@dataclass(frozen=True)
class VadConfig:
    # webrtcvad mode: 0 lets most sound through as speech, 3 is strictest.
    aggressiveness: int = field(default=2, metadata=in_range(0, 3))
    # A frame webrtcvad calls speech must also be within this many dB of the caller's recent
    # loudest speech (0 turns the gate off): breath and reverb after the last word are not
    # speech, so the endpoint timer starts when the words end.
    energy_floor_db: float = field(default=35.0, metadata=in_range(0.0, 90.0))
    # Silence that ends the caller's turn (the users asked for 800 ms).
    silence_ms: int = field(default=800, metadata=in_range(100, 5000))
    # Voiced audio needed before we believe speech started (a click is not a caller).
    onset_ms: int = field(default=60, metadata=in_range(20, 1000))
    # A turn with less voiced audio than this is noise and is dropped.
    min_speech_ms: int = field(default=200, metadata=in_range(20, 5000))
    # Audio kept from before the onset, so the first syllable reaches STT.
    preroll_ms: int = field(default=300, metadata=in_range(0, 2000))


@dataclass(frozen=True)
class TurnConfig:
    # At a pause this long, transcribe and prepare the reply speculatively; it is played only
    # once the endpoint is confirmed, and discarded if the caller goes on.
    speculate_after_ms: int = field(default=200, metadata=in_range(20, 5000))
    # With a streaming recognizer the words are already there: its reply may start preparing
    # after this much silence (a batch recognizer like Whisper waits for speculate_after_ms).
    # 60 suits a recogniser whose words keep up with the audio; a real one's trail it by
    # ~300 ms and are revised, so a reply prepared at 60 ms is mostly dropped: 200 bills a
    # third of the LLM requests, no slower (docs/BENCHMARKS.md, "Worker processes").
    early_speculate_ms: int = field(default=200, metadata=in_range(20, 5000))
    # Smart endpointing: when the transcript reads as a finished question or sentence, this
    # much silence ends the turn instead of vad.silence_ms. Lower answers sooner and cuts off
    # callers who breathe after a finished clause: the corpus's breaths there last up to
    # 580 ms, and 300 (the default before) cut off 2 of 24 English turns in every run, 600
    # none, at the same median reply (docs/BENCHMARKS.md, "A smart wait longer than a breath").
    min_silence_ms: int = field(default=600, metadata=in_range(20, 5000))
    smart_endpoint: bool = True
    # A statement shorter than this many words ("Hi.", "I'm sorry.", "שלום.") is an opener that
    # callers usually go on from after a pause: it waits vad.silence_ms. Questions are exempt.
    min_complete_words: int = field(default=3, metadata=in_range(1, 20))
    # The end-of-turn model (voiced.engines.turn; "off": the words alone): in a pause after
    # words that read as finished, in one of model_languages, the turn ends at min_silence_ms
    # only if it finds the turn complete with at least model_complete; else at
    # unsure_silence_ms. It tells the two waits apart, so it is worth its CPU only where
    # min_silence_ms is set below unsure_silence_ms: off by default, where they are equal.
    # Hebrew is not among the languages it was trained on (docs/BENCHMARKS.md).
    model: str = field(default="off", metadata=one_of("smart-turn", "off"))
    model_languages: tuple[str, ...] = ("en",)
    model_complete: float = field(default=0.95, metadata=in_range(0.0, 1.0))
    unsure_silence_ms: int = field(default=600, metadata=in_range(20, 5000))
    # A caller the smart endpoint cut off (they went on after it answered) pauses mid-thought:
    # the rest of that turn ends at vad.silence_ms only. Without it a long Hebrew sentence
    # with 300-800 ms pauses was answered, and cut off, at every one of them; kept for the
    # rest of the call, it slowed the cut-off English callers' next turns by 0.2-0.26 s
    # (docs/BENCHMARKS.md, "Patient after a cut-off").
    patient_after_cut_off: bool = True


@dataclass(frozen=True)
class BargeInConfig:
    enabled: bool = True
    # Caller speech over the agent for this long stops the agent (a "mm" does not).
    min_speech_ms: int = field(default=300, metadata=in_range(40, 5000))
    # A turn made only of these words gets no answer of its own (it is acknowledgement).
    backchannels: tuple[str, ...] = (
        "mm", "mhm", "hmm", "uh huh", "uh-huh", "yeah", "yes", "yep", "ok", "okay", "right",
        "sure", "כן", "אהה", "אה", "אוקיי", "נכון", "טוב", "ממ", "בסדר", "יופי",
    )


@dataclass(frozen=True)
class FillerConfig:
    enabled: bool = True
    # If the reply has no audio this long after the endpoint, say the cached filler line.
    after_ms: int = field(default=700, metadata=in_range(50, 10000))


@dataclass(frozen=True)
class EchoConfig:
    """The agent's own voice coming back from a speakerphone (:mod:`voiced.echo`)."""

    # Inbound audio no louder than the agent's predicted echo is not the caller: it is replaced
    # by silence before the VAD and the recogniser hear it.
    enabled: bool = True
    # The longest echo delay looked for (network both ways plus the room).
    max_delay_ms: int = field(default=600, metadata=in_range(100, 2000))
    # How much louder than the predicted echo a frame must be to count as the caller.
    margin_db: float = field(default=6.0, metadata=in_range(0.0, 30.0))
    # Until the echo is learnt (the call's first half second or so of agent speech): assume
    # one this loud against what the agent played, at any delay.
    prior_db: float = field(default=-6.0, metadata=in_range(-60.0, 0.0))
    # How much of the call the estimate looks back over (it follows a drifting delay).
    window_s: float = field(default=6.0, metadata=in_range(1.0, 60.0))


@dataclass(frozen=True)
class IdleConfig:
    # Caller silence (with the agent quiet too) before asking if they are still there ...
    reprompt_s: float = field(default=8.0, metadata=in_range(1.0, 600.0))
    # ... and before saying goodbye and hanging up.
    hangup_s: float = field(default=20.0, metadata=in_range(1.0, 3600.0))


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
    timeout_s: float = field(default=5.0, metadata=in_range(0.1, 60.0))


@dataclass(frozen=True)
class LogConfig:
    level: str = field(default="INFO", metadata=one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    # What callers said and were told, and the keys they pressed, in the log. Off, the log
    # says that a turn happened and how long it was; the words stay in the call records
    # (0600). Caller numbers are always masked in the log.
    transcripts: bool = False
