"""What flows between a call's stages. Each is a frozen dataclass: once sent, never changed.

Times (``t``) are ``trio.current_time()`` readings: the monotonic clock in production and the
virtual clock under ``MockClock`` in tests, so latency arithmetic is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from .audio import ulaw_to_pcm_bytes
from .errors import FaultKind
from .twilio.wire import Dtmf, Mark

if TYPE_CHECKING:
    from .latency import TurnLog


@dataclass(frozen=True)
class Frame:
    """20 ms of caller audio, stamped with its arrival time: Twilio's mu-law bytes as they came
    (what Google's recogniser takes) and the same decoded to 16-bit PCM at 8 kHz (what the VAD
    and Whisper take), so no stage encodes again what the caller's line already encoded."""

    ulaw: bytes
    pcm: bytes
    t: float
    seq: int

    @classmethod
    def decode(cls, ulaw: bytes, t: float, seq: int) -> Frame:
        return cls(ulaw, ulaw_to_pcm_bytes(ulaw), t, seq)


@dataclass(frozen=True)
class SpeechStarted:
    t: float  # arrival of the first voiced frame of the onset
    gen: int = 0


@dataclass(frozen=True)
class SpeechConfirmed:
    """The caller has now spoken ``bargein.min_speech_ms`` in this turn: enough to stop the
    agent if it is talking, more than a backchannel "mm"."""

    t: float
    gen: int


@dataclass(frozen=True)
class SpeechPaused:
    """Silence reached ``turn.speculate_after_ms``: a good moment to transcribe speculatively."""

    t_end: float  # arrival of the last voiced frame
    gen: int  # bumps at every resumption, so a stale speculation is recognised


@dataclass(frozen=True)
class SpeechResumed:
    t: float
    gen: int


@dataclass(frozen=True)
class SpeechStirred:
    """One voiced frame in a pause: the caller may be going on (a second in a row resumes the
    turn). No reply starts on a stir: released in the 20 ms before the turn resumed, the
    agent's first syllable met the caller's (the corpus's breaths inside a sentence, 0.5 s
    and more after a clause the end-of-turn model hears as finished, in 3 of 5 traced)."""

    t: float
    gen: int


@dataclass(frozen=True)
class SpeechStilled:
    """The stir came to nothing (the next frame was silent): the pause goes on."""

    t: float
    gen: int


@dataclass(frozen=True)
class EarlyPause:
    """Silence reached ``turn.early_speculate_ms``: too soon to spend a Whisper decode on, but
    a streaming recognizer already has the words, so its reply can start preparing."""

    t_end: float
    gen: int


@dataclass(frozen=True)
class ShortPause:
    """Silence reached ``turn.min_silence_ms``: the endpoint, if the words say the turn is done."""

    t_end: float
    t: float
    gen: int


@dataclass(frozen=True)
class LongPause:
    """Silence reached ``turn.unsure_silence_ms``: the endpoint for words that read as
    finished when the end-of-turn model doubted the caller was done."""

    t_end: float
    t: float
    gen: int


@dataclass(frozen=True)
class TurnJudged:
    """The end-of-turn model heard the caller's turn ``gen`` (asked by the turn-taking rules,
    in a pause after words that read as finished): how likely it is finished (0 to 1), and
    when that was known."""

    gen: int
    complete: float
    t: float


@dataclass(frozen=True)
class SpeechEnded:
    """The endpoint: silence reached ``vad.silence_ms``. The caller's turn is over."""

    t_end: float
    t_endpoint: float
    gen: int
    voiced_ms: int


@dataclass(frozen=True)
class SpeechDiscarded:
    """The endpoint of a sound too short to be a turn (a cough, a click, line noise)."""

    t_endpoint: float
    voiced_ms: int


VadEvent = (
    SpeechStarted | SpeechConfirmed | EarlyPause | SpeechPaused | ShortPause | LongPause
    | SpeechStirred | SpeechStilled | SpeechResumed | SpeechEnded | SpeechDiscarded
)


@dataclass(frozen=True)
class Recognition:
    text: str
    language: str
    compute_s: float = 0.0  # time the engine spent, for the latency line
    # Several languages were allowed and the engine could not tell which it heard (too little
    # audio): ``language`` is the one the caller was expected in, and the words are its guess.
    guessed: bool = False


@dataclass(frozen=True)
class Transcript:
    """The caller's turn up to speech segment ``gen``, as text. Speculative transcripts come
    at a pause, before the endpoint; whether the turn is over is the VAD events' say."""

    text: str
    language: str
    gen: int
    t_end: float  # end of caller speech
    t_ready: float  # when the text was available
    compute_s: float
    speculative: bool  # computed at a pause, before the endpoint
    error: str = ""  # the engine failed (why, for the log); the caller hears the fallback line
    fault: FaultKind | None = None  # ... and how, for the fault counters
    # Heard in a language assumed, not told (:attr:`Recognition.guessed`), before the caller
    # had been heard in any: the words may be another language's sounds ("Now, as..." on a
    # Hebrew line came out "מה?"), too unsure to end the turn early on.
    language_guessed: bool = False


@dataclass(frozen=True)
class Partial:
    """Words so far from a streaming recognizer (debounced); informational."""

    text: str
    gen: int
    t: float


DialogueEvent = Transcript | Partial | VadEvent | TurnJudged | Mark | Dtmf


@dataclass(frozen=True)
class Sentence:
    """One piece of the agent's reply, spoken as a unit and followed by a mark."""

    text: str
    language: str


class EndReason(StrEnum):
    """How a call ended: the ``voiced_calls_total`` label and the call record's ``reason``."""

    COMPLETED = "completed"  # the caller hung up (Twilio's stop)
    DROPPED = "dropped"  # the socket closed without a stop
    AGENT_HANGUP = "agent_hangup"  # the brain said goodbye
    TRANSFERRED = "transferred"
    IDLE = "idle"  # the caller stayed silent past ``idle.hangup_s``
    MAX_DURATION = "max_duration"
    SHUTDOWN = "shutdown"  # the daemon asked, and the agent said goodbye
    ENGINE_FAULTS = "engine_faults"  # too many turns in a row met an engine fault
    ENGINE_ERROR = "engine_error"  # an engine failed in a way no fallback covers
    PROTOCOL_ERROR = "protocol_error"
    FLOOD = "flood"
    CLOSED = "closed"  # cancelled by the daemon (shutdown past its grace)


@dataclass(frozen=True)
class EndCall:
    """The conversation is over: say what came before, then hang up, or transfer the call to
    ``transfer_to``. ``detail`` says more for the log (the scripted intent's name)."""

    reason: EndReason = EndReason.AGENT_HANGUP
    transfer_to: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ToolCall:
    """The brain asks for a tool: ``arguments`` is the JSON text the model wrote."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    role: str  # "user", "assistant", or "tool" (a tool's answer to ``tool_call_id``)
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn that called tools
    tool_call_id: str = ""


@dataclass(frozen=True)
class UserTurn:
    text: str
    language: str
    dtmf: str = ""
    history: tuple[Message, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Audio:
    """Agent audio for the send stage: 8 kHz mu-law, no header. ``turn`` is the turn whose
    latency this audio ends, if any (greetings and fillers end none)."""

    payload: bytes
    turn: TurnLog | None = None
