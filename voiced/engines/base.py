"""The engine Protocols. A stage knows these and nothing of Whisper, espeak-ng or HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import trio

from ..config import SttConfig, VadConfig
from ..events import DialogueEvent, EndCall, Frame, Recognition, UserTurn, VadEvent
from ..tools.base import Tool
from ..tools.box import ReplyTools


class FrameClassifier(Protocol):
    """Says whether one 20 ms frame of 8 kHz 16-bit PCM is speech. One per call: stateful."""

    def is_speech(self, pcm: bytes) -> bool: ...


class SpeechToText(Protocol):
    """Turns a finished (or speculatively paused) caller turn into text.

    Must be cancellable: a cancelled call returns promptly and leaves no work running.
    """

    async def transcribe(self, pcm: bytes, languages: Sequence[str],
                         context: str = "") -> Recognition:
        """``context``: the caller's words just before this audio, in the same turn."""
        ...


class Brain(Protocol):
    """Streams the reply to a caller turn into ``tx`` as text fragments (tokens or sentences).

    A channel rather than an async generator: an engine keeps its deadlines in cancel scopes,
    and a cancel scope must not span a ``yield``. Raises EngineError when it cannot answer.
    """

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None: ...


class TextToSpeech(Protocol):
    """Speaks one sentence into ``tx`` as 8 kHz mu-law chunks without any file header."""

    async def synthesize(
        self, text: str, language: str, tx: trio.MemorySendChannel[bytes]
    ) -> None: ...


class TurnModel(Protocol):
    """Hears whether a caller who paused has finished their turn (voiced.engines.turn)."""

    async def judge(self, pcm: bytes) -> float:
        """How likely the turn so far (8 kHz PCM) is complete, 0 to 1. Cancellable; raises
        EngineError when it cannot say."""
        ...


class Recognizer(Protocol):
    """A recogniser as it runs in a call: the STT stage of its kind, bound to its engine.

    Each kind brings its own, so a call starts whichever it is given without asking which:
    :class:`voiced.stages.stt.BatchRecognizer` around a :class:`SpeechToText` (Whisper, the
    Whisper API), :class:`voiced.stages.stt_stream.StreamingRecognizer` around Google's
    client. It reads the VAD's frames and events and passes them on, with transcripts, to
    the dialogue.
    """

    async def __call__(
        self, rx: trio.MemoryReceiveChannel[Frame | VadEvent],
        tx: trio.MemorySendChannel[DialogueEvent], cfg: SttConfig, vad_cfg: VadConfig,
        languages: Sequence[str], call_id: str,
    ) -> None: ...


@dataclass(frozen=True)
class Engines:
    """The process-wide engines, built once (models load once, not per call)."""

    stt: Recognizer
    brain: Brain
    tts: TextToSpeech
    fallback: Brain  # answers when ``brain`` fails; the scripted receptionist
    classifier: Callable[[], FrameClassifier]
    tools: tuple[Tool, ...] = ()  # what the brain can do for a caller (voiced.tools)
    turn_model: TurnModel | None = None  # None: the smart endpoint goes by the words alone
