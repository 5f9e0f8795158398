"""stt: a finished caller turn as text, usually before the endpoint is even reached.

At the first pause (``turn.speculate_after_ms``) the turn's audio so far is transcribed
speculatively, in its own cancel scope. If the caller goes on, that work is cancelled; if the
pause becomes the endpoint (``vad.silence_ms``), the transcript is already there or nearly, so
the 800 ms the users asked us to wait hides the transcription instead of adding to it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import trio

from ..audio import FRAME_MS
from ..config import SttConfig, VadConfig
from ..engines.base import SpeechToText
from ..errors import EngineError, FaultKind
from ..events import (
    DialogueEvent,
    Frame,
    Recognition,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Transcript,
    VadEvent,
)

log = logging.getLogger("voiced.stt")


class _Languages:
    """The languages a call's turns may be in, the one the caller last spoke first: a
    recogniser favours the first, so an English caller's short "yes" on a Hebrew line is heard
    in English. ``known`` once the recogniser has told a language from the caller's words, not
    assumed it: a guess before that is only the line's language."""

    def __init__(self, languages: Sequence[str]) -> None:
        self.order = list(languages)
        self.known = len(self.order) == 1

    @property
    def first(self) -> str:
        return self.order[0]

    def heard(self, t: Transcript) -> Transcript:
        if t.text and t.language in self.order:
            self.order.sort(key=lambda lang: lang != t.language)
            self.known = self.known or not t.language_guessed
        return t


@dataclass
class _Job:
    """One transcription of a fixed stretch of audio, cancellable on its own."""

    audio: bytes
    gen: int
    t_end: float
    frames: int = 0  # of the turn's frames, how many this covers (from its start)
    before: str = ""  # the words of the turn's earlier part, transcribed already
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    done: trio.Event = field(default_factory=trio.Event)
    result: Recognition | None = None
    error: str = ""
    fault: FaultKind | None = None

    async def run(self, engine: SpeechToText, languages: Sequence[str], timeout_s: float) -> None:
        try:
            with self.scope, trio.fail_after(timeout_s):
                heard = await engine.transcribe(self.audio, languages, self.before)
                self.result = dataclasses.replace(heard, text=_join(self.before, heard.text))
        except trio.TooSlowError as exc:
            self.error, self.fault = f"STT gave no result within {timeout_s:.1f}s", FaultKind.of(exc)
        except EngineError as exc:
            self.error, self.fault = f"STT failed: {exc}", FaultKind.of(exc)
        finally:
            self.done.set()

    def transcript(self, speculative: bool, languages: _Languages) -> Transcript:
        """What came of it (in the expected language if the engine said nothing)."""
        r = self.result
        return Transcript(text=r.text if r else "",
                          language=r.language if r else languages.first, gen=self.gen,
                          t_end=self.t_end, t_ready=trio.current_time(),
                          compute_s=r.compute_s if r else 0.0, speculative=speculative,
                          error=self.error, fault=self.fault,
                          language_guessed=r is not None and r.guessed and not languages.known)


# A first part shorter than this is not transcribed apart: too little for Whisper to hear it
# well alone (an opener, "שלום,", came out as English), so the pass covers the whole turn.
MIN_PART_MS = 1500


def _join(before: str, after: str) -> str:
    """The turn's words from its parts: the full stop Whisper ends every part with is not the
    end of the caller's sentence when they went on."""
    if not before:
        return after
    if not after:
        return before
    return f"{before[:-1] if before.endswith('.') else before} {after}"


class _Turn:
    """A caller turn's audio, and what of it is transcribed already.

    A speculative pass the caller talked over is not thrown away (when the language the
    caller is expected in, the line's or the one they last spoke, is one of
    ``stt.transcribe_in_parts``): it finishes, and its words stand for the audio up to that
    pause, so the next pass covers only what followed, with those words as its context.
    Whisper's time grows with the words it decodes: at the last pause only the tail is left."""

    def __init__(self, preroll: deque[bytes], max_frames: int, in_parts: bool) -> None:
        self.frames: deque[bytes] = deque(preroll, maxlen=max_frames)
        self._in_parts = in_parts
        self._done: _Job | None = None  # the longest finished pass: its words, its frames
        self._over: _Job | None = None  # a pass the caller talked over, still running

    def job(self, gen: int, t_end: float) -> _Job:
        """A pass over what is not transcribed yet (everything, if nothing is)."""
        if self._over is not None and not self._over.done.is_set():
            self._over.scope.cancel()  # too late to help: this pass covers it all
        self._over = None
        done = self._done
        full = len(self.frames) == self.frames.maxlen  # the start has scrolled away
        short = done is not None and done.frames * FRAME_MS < MIN_PART_MS
        if done is None or done.result is None or not done.result.text or full or short:
            return _Job(b"".join(self.frames), gen, t_end, frames=len(self.frames))
        tail = list(self.frames)[done.frames:]
        return _Job(b"".join(tail), gen, t_end, frames=len(self.frames),
                    before=done.result.text)

    def talked_over(self, job: _Job) -> bool:
        """The caller went on after ``job`` began: keep it running if parts are on."""
        if not self._in_parts:
            return False
        self._over = job
        return True

    def finished(self, job: _Job) -> None:
        if job.result is not None and job.result.text and not job.error and \
                (self._done is None or job.frames > self._done.frames):
            self._done = job


@dataclass(frozen=True)
class BatchRecognizer:
    """A batch recogniser (Whisper, the Whisper API) as a call's STT stage
    (:class:`voiced.engines.base.Recognizer`)."""

    engine: SpeechToText

    async def __call__(self, rx: trio.MemoryReceiveChannel[Frame | VadEvent],
                       tx: trio.MemorySendChannel[DialogueEvent], cfg: SttConfig,
                       vad_cfg: VadConfig, languages: Sequence[str], call_id: str) -> None:
        await stt(rx, tx, self.engine, cfg, vad_cfg, languages, call_id)


async def stt(
    rx: trio.MemoryReceiveChannel[Frame | VadEvent],
    tx: trio.MemorySendChannel[DialogueEvent],
    engine: SpeechToText,
    cfg: SttConfig,
    vad_cfg: VadConfig,
    languages: Sequence[str],
    call_id: str,
) -> None:
    """Transcripts go downstream as soon as they exist, tagged with the speech segment
    (``gen``) they cover; the VAD events follow along, and the dialogue decides."""
    expected = _Languages(languages)
    with rx, tx:
        preroll: deque[bytes] = deque(maxlen=max(1, vad_cfg.preroll_ms // FRAME_MS))
        turn: _Turn | None = None
        job: _Job | None = None
        max_frames = int(cfg.max_turn_s * 1000 // FRAME_MS)

        async def deliver(job: _Job, speculative: bool, turn: _Turn) -> None:
            await job.done.wait()
            if job.scope.cancelled_caught:
                return
            turn.finished(job)
            if job.error:
                log.warning("call %s: %s", call_id, job.error)
            await tx.send(expected.heard(job.transcript(speculative, expected)))

        async with trio.open_nursery() as nursery:

            def start(gen: int, t_end: float, speculative: bool) -> None:
                nonlocal job
                assert turn is not None
                if job is not None:
                    job.scope.cancel()
                job = turn.job(gen, t_end)
                nursery.start_soon(job.run, engine, tuple(expected.order), cfg.timeout_s)
                nursery.start_soon(deliver, job, speculative, turn)

            async for item in rx:
                if isinstance(item, Frame):
                    (preroll if turn is None else turn.frames).append(item.pcm)
                    continue
                if isinstance(item, SpeechStarted):
                    turn = _Turn(preroll, max_frames, expected.first in cfg.transcribe_in_parts)
                    preroll.clear()
                elif isinstance(item, SpeechPaused) and turn is not None:
                    start(item.gen, item.t_end, speculative=True)
                elif isinstance(item, SpeechResumed | SpeechDiscarded):
                    if job is not None and (isinstance(item, SpeechDiscarded) or turn is None
                                            or not turn.talked_over(job)):
                        job.scope.cancel()
                    job = None
                    if isinstance(item, SpeechDiscarded):
                        turn = None
                elif isinstance(item, SpeechEnded) and turn is not None:
                    if job is None or job.gen != item.gen:
                        start(item.gen, item.t_end, speculative=False)
                    job, turn = None, None
                await tx.send(item)
            nursery.cancel_scope.cancel()
