"""What flows between a call's stages. Each is a frozen dataclass: once sent, never changed.

Times (``t``) are ``trio.current_time()`` readings: the monotonic clock in production and the
virtual clock under ``MockClock`` in tests, so latency arithmetic is the same in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .wire import Dtmf, Mark

if TYPE_CHECKING:
    from .latency import TurnLog


@dataclass(frozen=True)
class Frame:
    """20 ms of caller audio as 16-bit PCM at 8 kHz, stamped with its arrival time."""

    pcm: bytes
    t: float
    seq: int


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
    SpeechStarted | SpeechConfirmed | EarlyPause | SpeechPaused | ShortPause | SpeechResumed
    | SpeechEnded | SpeechDiscarded
)


@dataclass(frozen=True)
class Recognition:
    text: str
    language: str
    compute_s: float = 0.0  # time the engine spent, for the latency line


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
    error: str = ""  # the engine failed; the caller hears the fallback line


@dataclass(frozen=True)
class Partial:
    """Words so far from a streaming recognizer (debounced); informational."""

    text: str
    gen: int
    t: float


DialogueEvent = Transcript | Partial | VadEvent | Mark | Dtmf


@dataclass(frozen=True)
class Sentence:
    """One piece of the agent's reply, spoken as a unit and followed by a mark."""

    text: str
    language: str


@dataclass(frozen=True)
class EndCall:
    """The brain decided the conversation is over: say what came before, then hang up, or
    transfer the call to ``transfer_to``."""

    reason: str = "goodbye"
    transfer_to: str = ""


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    content: str


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
