"""stt (streaming): one Google Speech-to-Text stream per call, fed every frame, silence too.

Google wants audio at real-time rate for the whole call and ends a stream at ~305 s, so the
stream is restarted once ``streaming_limit_s`` of audio went through it. Audio after the end of
the last *final* result has not been acknowledged; it is kept and replayed into the new stream,
and the old stream is cancelled rather than drained so none of its words arrive twice (Google's
"endless streaming" sample does the same).

Our VAD still owns the turn: as soon as the caller has been quiet for
``turn.early_speculate_ms``, and at each result (interim or final) that comes while they are
quiet, the words so far (finals plus the latest interim) go downstream as a speculative
transcript; a later one that changes them replaces it until the reply is released. Interim
words trail the audio, so in the pause they catch up with the caller's last word, usually
before the final result does.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import trio

from ..audio import FRAME_MS, RATE
from ..config import SttConfig, VadConfig
from ..errors import EngineError, FaultKind
from ..events import (
    DialogueEvent,
    EarlyPause,
    Frame,
    Partial,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Transcript,
    VadEvent,
)
from ..lang import from_google

if TYPE_CHECKING:
    from ..engines.google import GoogleSpeech

log = logging.getLogger("voiced.stt.google")


@dataclass
class _Feeder:
    """Audio bookkeeping across stream restarts, in seconds of call audio."""

    sent_s: float = 0.0
    stream_start_s: float = 0.0
    unacked: deque[tuple[float, bytes]] = field(default_factory=deque)

    def acked(self, until_s: float) -> None:
        """Google finalised the audio up to ``until_s``: forget it, cutting into the chunk that
        straddles it (replaying a word's tail would make it a word again)."""
        while self.unacked and self.unacked[0][0] + len(self.unacked[0][1]) / RATE <= until_s + 1e-6:
            self.unacked.popleft()
        if self.unacked and self.unacked[0][0] < until_s:
            offset, chunk = self.unacked[0]
            cut = round((until_s - offset) * RATE)  # mu-law: one byte a sample
            self.unacked[0] = (offset + cut / RATE, chunk[cut:])


@dataclass
class _Turn:
    """What has been sent downstream for the caller's current turn."""

    gen: int | None = None
    ended: bool = False
    quiet: bool = False  # the caller is in a pause (the VAD's early pause or later)
    emitted: str | None = None
    t_end: float = 0.0
    onset: float = 0.0
    first_partial: bool = False
    last_partial: float = -1e9
    language: str = "he"  # the language Google last heard, of the line's


@dataclass
class _Stream:
    """The stream being fed now; responses from any other are stragglers."""

    stream: Any = None
    scope: trio.CancelScope | None = None
    id: int = 0


@dataclass
class _Words:
    """The words of the current turn: finals (with their end, in call audio seconds) and the
    latest interim."""

    finals: list[tuple[float, str]] = field(default_factory=list)
    interim: str = ""
    turn_start_s: float = 0.0

    def text(self) -> str:
        words = [t for end, t in self.finals if end > self.turn_start_s]
        if self.interim:
            words.append(self.interim)
        return " ".join(w.strip() for w in words if w.strip())


@dataclass(frozen=True)
class StreamingRecognizer:
    """Google's streaming recogniser as a call's STT stage (:class:`voiced.engines.base.Recognizer`)."""

    speech: GoogleSpeech

    async def __call__(self, rx: trio.MemoryReceiveChannel[Frame | VadEvent],
                       tx: trio.MemorySendChannel[DialogueEvent], cfg: SttConfig,
                       vad_cfg: VadConfig, languages: Sequence[str], call_id: str) -> None:
        with rx, tx:
            await _StreamingCall(self.speech, tx, cfg, vad_cfg, languages, call_id).run(rx)


class _StreamingCall:
    """One call's recognition: the stream(s) to Google, their results, and the VAD's events
    that say when a turn starts, pauses and ends."""

    def __init__(self, speech: GoogleSpeech, tx: trio.MemorySendChannel[DialogueEvent],
                 cfg: SttConfig, vad_cfg: VadConfig, languages: Sequence[str], call_id: str) -> None:
        self.speech = speech
        self.tx = tx
        self.gcfg = cfg.google
        self.preroll_s = vad_cfg.preroll_ms / 1000
        self.languages = tuple(languages)
        self.call_id = call_id
        self.batch_frames = max(1, self.gcfg.batch_ms // FRAME_MS)
        self.quiet_batch_frames = max(1, self.gcfg.quiet_batch_ms // FRAME_MS)
        # Frames since the caller's last turn ended (or the call began); None while they speak.
        self.quiet_frames: int | None = 0
        self.awaited_frames = self.gcfg.final_timeout_ms // FRAME_MS
        self.feeder = _Feeder()
        self.words = _Words()
        self.current = _Stream()
        self.state = _Turn(language=self.languages[0])
        self.resp_tx, self.resp_rx = trio.open_memory_channel[tuple[int, Any]](64)

    async def run(self, rx: trio.MemoryReceiveChannel[Frame | VadEvent]) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.run_streams)
            nursery.start_soon(self.results)
            batch: list[bytes] = []
            async for item in rx:
                if isinstance(item, Frame):
                    # Google takes mu-law: the frames' own bytes from Twilio, not re-encoded.
                    batch.append(item.ulaw)
                    if self.quiet_frames is not None:
                        self.quiet_frames += 1
                    if len(batch) >= self.batch_size():
                        self.feed(b"".join(batch))
                        batch.clear()
                    continue
                if isinstance(item, SpeechStarted) and batch:
                    self.feed(b"".join(batch))  # the caller's first words go at once
                    batch.clear()
                await self.on_event(item, nursery)
                await self.tx.send(item)
            nursery.cancel_scope.cancel()

    def batch_size(self) -> int:
        """Frames a request: few while the caller speaks and until their turn's words are in
        (``final_timeout_ms`` after it), many while nothing of theirs is awaited. Google wants
        the audio in real time, not in small pieces, and a request costs the gRPC client's
        threads about the same whatever its size (360 ms requests throughout halved their
        CPU against 120 ms ones, and cost 40 ms of reply p95: hence only while quiet)."""
        if self.quiet_frames is not None and self.quiet_frames > self.awaited_frames:
            return self.quiet_batch_frames
        return self.batch_frames

    def feed(self, chunk: bytes) -> None:
        feeder, current = self.feeder, self.current
        feeder.unacked.append((feeder.sent_s, chunk))
        feeder.sent_s += len(chunk) / RATE
        if current.stream is not None:
            current.stream.send(chunk)
        if feeder.sent_s - feeder.stream_start_s >= self.gcfg.streaming_limit_s \
                and current.scope is not None:
            current.scope.cancel()  # Google ends streams at ~305 s: restart before it does

    async def on_event(self, item: VadEvent, nursery: trio.Nursery) -> None:
        state, words = self.state, self.words
        if isinstance(item, SpeechStarted):
            self.quiet_frames = None
            words.turn_start_s = max(0.0, self.feeder.sent_s - self.preroll_s)
            words.interim = ""
            state.gen, state.ended, state.emitted = item.gen, False, None
            state.onset, state.first_partial, state.quiet = item.t, False, False
        elif isinstance(item, EarlyPause | SpeechPaused):
            state.gen, state.t_end, state.quiet = item.gen, item.t_end, True
            await self.emit()
        elif isinstance(item, SpeechResumed):
            state.gen, state.emitted, state.quiet = item.gen, None, False
        elif isinstance(item, SpeechEnded):
            self.quiet_frames = 0
            state.gen, state.ended, state.t_end = item.gen, True, item.t_end
            log.info("call %s [ΔSTT] final text %s at the endpoint", self.call_id,
                     "ready" if words.text() else "not yet")
            await self.emit()
            if state.emitted is None:
                nursery.start_soon(self.no_words_watch, item.gen)
        elif isinstance(item, SpeechDiscarded):
            self.quiet_frames = 0
            state.gen, state.ended = None, False

    async def run_streams(self) -> None:
        from ..engines.google import GoogleStream

        feeder, current = self.feeder, self.current
        failures = 0
        while True:
            current.id += 1
            stream = GoogleStream(self.speech.client, self.gcfg, self.languages, current.id)
            feeder.stream_start_s = feeder.unacked[0][0] if feeder.unacked else feeder.sent_s
            for _, chunk in feeder.unacked:
                stream.send(chunk)
            current.stream = stream
            with trio.CancelScope() as scope:
                current.scope = scope
                try:
                    await stream.run(self.resp_tx, self.speech.limiter)
                    failures = 0
                except EngineError as exc:
                    failures += 1
                    log.warning("call %s: %s; restarting the stream", self.call_id, exc)
                    await trio.sleep(min(2.0, 0.1 * 2**failures))
            if scope.cancelled_caught:
                log.info("call %s: Google STT stream restarted after %.0fs of audio, replaying "
                         "%.2fs", self.call_id, feeder.sent_s - feeder.stream_start_s,
                         sum(len(c) for _, c in feeder.unacked) / RATE)

    async def emit(self) -> None:
        text = self.words.text()
        state = self.state
        gen = state.gen
        if gen is None or not text or text == state.emitted:
            return
        state.emitted = text
        await self.tx.send(Transcript(text=text, language=state.language, gen=gen,
                                      t_end=state.t_end, t_ready=trio.current_time(),
                                      compute_s=0.0, speculative=not state.ended))

    async def no_words_watch(self, gen: int) -> None:
        state = self.state
        await trio.sleep(self.gcfg.final_timeout_ms / 1000)
        if state.gen == gen and state.emitted is None:
            log.warning("call %s: no words from Google STT %.1fs after the endpoint", self.call_id,
                        self.gcfg.final_timeout_ms / 1000)
            state.emitted = ""
            await self.tx.send(Transcript(
                text="", language=state.language, gen=gen, t_end=state.t_end,
                t_ready=trio.current_time(), compute_s=0.0, speculative=False,
                error="no result from the recognizer", fault=FaultKind.TIMEOUT))

    async def results(self) -> None:
        async for stream_id, response in self.resp_rx:
            if stream_id != self.current.id:
                continue  # a straggler from a stream we restarted
            for result in response.results:
                if result.alternatives:
                    await self.result(result)
                    break  # the first result is the one that matters; the rest are less stable

    async def result(self, result: Any) -> None:
        state, words = self.state, self.words
        text = result.alternatives[0].transcript
        if result.language_code and from_google(result.language_code) in self.languages:
            state.language = from_google(result.language_code)
        if result.is_final:
            end_s = self.feeder.stream_start_s + result.result_end_time.total_seconds()
            words.finals.append((end_s, text))
            words.interim = ""
            self.feeder.acked(end_s)
        else:
            words.interim = text
            await self.partial()
        # While the caller is quiet every result is a moment to prepare the reply: interim
        # words trail the audio (~300 ms) and catch up with the last word in the pause, before
        # the final does (~400 ms, later at its tail); a final that changes them prepares it
        # again. While they still speak it is not: each such reply was dropped at the next
        # word (14 LLM requests a turn with the realistic recogniser, docs/BENCHMARKS.md); the
        # VAD's early pause sends the words then.
        if state.quiet or state.ended:
            await self.emit()

    async def partial(self) -> None:
        """Interim words for the log and the dialogue's view, debounced."""
        state = self.state
        now = trio.current_time()
        if not state.first_partial and state.gen is not None:
            state.first_partial = True
            log.info("call %s [ΔSTT] first partial %.0fms after speech onset", self.call_id,
                     1000 * (now - state.onset))
        if now - state.last_partial >= self.gcfg.partial_debounce_ms / 1000:
            state.last_partial = now
            await self.tx.send(Partial(self.words.text(), state.gen or 0, now))
