"""Everything voiced raises on purpose derives from :class:`VoicedError`.

The tree::

    VoicedError
    ├── ConfigError          a setting is missing, mistyped or out of range (names the key)
    ├── ModelError           embedded weights are missing or fail their checksum
    ├── ProtocolError        a Twilio Media Streams message we cannot use (skipped or call closed)
    │   ├── CallClosed       the socket went away; the call is over, not broken
    │   └── FloodError       more messages a second than a call can send: closed as abusive
    ├── EngineError          an STT, LLM or TTS engine failed; the call goes on with a fallback
    │   └── EngineTimeout    ... by missing its deadline
    └── BookError            the appointment book cannot do what was asked (said to the caller)
        ├── SlotTaken        ... the time is no longer free (another caller got it first)
        ├── NotBookable      ... no such service, closed then, off the grid, in the past
        └── NotFound         ... no such appointment of this caller's

Callers catch the narrowest class that lets them carry on: a ``ProtocolError`` costs one
message, an ``EngineError`` costs one reply, nothing here costs the daemon.
"""

from __future__ import annotations

from enum import StrEnum

import trio


class VoicedError(Exception):
    """Base of every error voiced raises on purpose."""


class ConfigError(VoicedError):
    """A bad setting. ``key`` is the dotted TOML path so the operator knows where to look."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


class ModelError(VoicedError):
    """Embedded model weights are missing or corrupt."""


class ProtocolError(VoicedError):
    """A message from the media socket that breaks the Twilio Media Streams protocol."""


class CallClosed(ProtocolError):
    """The peer closed the socket."""


class FloodError(ProtocolError):
    """A peer went over a per-call rate limit (``[flood]``)."""


class EngineError(VoicedError):
    """An engine failed to produce its result."""


class EngineTimeout(EngineError):
    """An engine did not answer within its deadline."""


class BookError(VoicedError):
    """The appointment book refused: the brain tells the caller why and offers what it can."""


class SlotTaken(BookError):
    """The time asked for is taken (or was, a moment ago, by another caller)."""


class NotBookable(BookError):
    """Not a time or service this business books."""


class NotFound(BookError):
    """No appointment of this caller's matches."""


class Engine(StrEnum):
    """Which engine a fault came from (a metric label and a key in the call record)."""

    STT = "stt"
    LLM = "llm"
    TTS = "tts"


class FaultKind(StrEnum):
    """How an engine failed, from what it raised: a deadline missed, or anything else."""

    TIMEOUT = "timeout"
    ERROR = "error"

    @classmethod
    def of(cls, exc: BaseException) -> FaultKind:
        # trio.TooSlowError is what ``fail_after`` raises around an engine that hangs.
        return cls.TIMEOUT if isinstance(exc, EngineTimeout | trio.TooSlowError) else cls.ERROR
