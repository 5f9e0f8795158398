"""stt (streaming): one Google Speech-to-Text stream per call, fed every frame, silence too.

Google wants audio at real-time rate for the whole call and ends a stream at ~305 s, so the
stream is restarted once ``streaming_limit_s`` of audio went through it. Audio after the end of
the last *final* result has not been acknowledged; it is kept and replayed into the new stream,
and the old stream is cancelled rather than drained so none of its words arrive twice (Google's
"endless streaming" sample does the same).

Our VAD still owns the turn: at each final result, and as soon as the caller has been quiet
for ``turn.early_speculate_ms``, the words
so far (finals plus the latest interim) go downstream as a speculative transcript; a later one
that changes them replaces it until the reply is released.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import trio

from ..audio import FRAME_MS, RATE, ulaw_encode
from ..config import SttConfig, VadConfig
from ..errors import EngineError
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

log = logging.getLogger("voiced.stt.google")


class GoogleSpeech:
    """The process-wide client and the limiter its stream threads share."""

    def __init__(self, client: Any, max_streams: int) -> None:
        self.client = client
        self.limiter = trio.CapacityLimiter(max_streams)


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


async def stream_stt(
    rx: trio.MemoryReceiveChannel[Frame | VadEvent],
    tx: trio.MemorySendChannel[DialogueEvent],
    engine: GoogleSpeech,
    cfg: SttConfig,
    vad_cfg: VadConfig,
    languages: Sequence[str],
    call_id: str,
) -> None:
    from ..engines.google import GoogleStream

    gcfg = cfg.google
    batch_frames = max(1, gcfg.batch_ms // FRAME_MS)
    feeder = _Feeder()
    words = _Words()
    resp_tx, resp_rx = trio.open_memory_channel[tuple[int, Any]](64)
    current = _Stream()
    state = _Turn(language=languages[0])

    async def run_streams() -> None:
        failures = 0
        while True:
            current.id += 1
            stream = GoogleStream(engine.client, gcfg, languages, current.id)
            feeder.stream_start_s = feeder.unacked[0][0] if feeder.unacked else feeder.sent_s
            for _, chunk in feeder.unacked:
                stream.send(chunk)
            current.stream = stream
            with trio.CancelScope() as scope:
                current.scope = scope
                try:
                    await stream.run(resp_tx, engine.limiter)
                    failures = 0
                except EngineError as exc:
                    failures += 1
                    log.warning("call %s: %s; restarting the stream", call_id, exc)
                    await trio.sleep(min(2.0, 0.1 * 2**failures))
            if scope.cancelled_caught:
                log.info("call %s: Google STT stream restarted after %.0fs of audio, replaying "
                         "%.2fs", call_id, feeder.sent_s - feeder.stream_start_s,
                         sum(len(c) for _, c in feeder.unacked) / RATE)

    async def emit() -> None:
        text = words.text()
        gen = state.gen
        if gen is None or not text or text == state.emitted:
            return
        state.emitted = text
        await tx.send(Transcript(text=text, language=state.language, gen=gen, t_end=state.t_end,
                                 t_ready=trio.current_time(), compute_s=0.0,
                                 speculative=not state.ended))

    async def no_words_watch(gen: int) -> None:
        await trio.sleep(gcfg.final_timeout_ms / 1000)
        if state.gen == gen and state.emitted is None:
            log.warning("call %s: no words from Google STT %.1fs after the endpoint", call_id,
                        gcfg.final_timeout_ms / 1000)
            state.emitted = ""
            await tx.send(Transcript(text="", language=state.language, gen=gen, t_end=state.t_end,
                                     t_ready=trio.current_time(), compute_s=0.0, speculative=False,
                                     error="no result from the recognizer"))

    async def results() -> None:
        async for stream_id, response in resp_rx:
            if stream_id != current.id:
                continue  # a straggler from a stream we restarted
            for result in response.results:
                if not result.alternatives:
                    continue
                text = result.alternatives[0].transcript
                if result.language_code and from_google(result.language_code) in languages:
                    state.language = from_google(result.language_code)
                if result.is_final:
                    end_s = feeder.stream_start_s + result.result_end_time.total_seconds()
                    words.finals.append((end_s, text))
                    words.interim = ""
                    feeder.acked(end_s)
                    # A final is Google's own guess that a phrase ended: a good moment to
                    # prepare the reply, often before our VAD's pause. A revision replaces it.
                    await emit()
                else:
                    words.interim = text
                    now = trio.current_time()
                    if not state.first_partial and state.gen is not None:
                        state.first_partial = True
                        log.info("call %s [ΔSTT] first partial %.0fms after speech onset", call_id,
                                 1000 * (now - state.onset))
                    if now - state.last_partial >= gcfg.partial_debounce_ms / 1000:
                        state.last_partial = now
                        await tx.send(Partial(words.text(), state.gen or 0, now))
                break  # the first result is the one that matters; the rest are less stable

    with rx, tx:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_streams)
            nursery.start_soon(results)
            batch: list[np.ndarray] = []
            async for item in rx:
                if isinstance(item, Frame):
                    batch.append(np.frombuffer(item.pcm, dtype="<i2"))
                    if len(batch) >= batch_frames:
                        chunk = ulaw_encode(np.concatenate(batch))
                        batch.clear()
                        feeder.unacked.append((feeder.sent_s, chunk))
                        feeder.sent_s += len(chunk) / RATE
                        if current.stream is not None:
                            current.stream.send(chunk)
                        if feeder.sent_s - feeder.stream_start_s >= gcfg.streaming_limit_s \
                                and current.scope is not None:
                            current.scope.cancel()
                    continue
                if isinstance(item, SpeechStarted):
                    words.turn_start_s = max(0.0, feeder.sent_s - vad_cfg.preroll_ms / 1000)
                    words.interim = ""
                    state.gen = item.gen
                    state.ended = False
                    state.emitted = None
                    state.onset = item.t
                    state.first_partial = False
                elif isinstance(item, EarlyPause | SpeechPaused):
                    state.gen = item.gen
                    state.t_end = item.t_end
                    await emit()
                elif isinstance(item, SpeechResumed):
                    state.gen = item.gen
                    state.emitted = None
                elif isinstance(item, SpeechEnded):
                    state.gen = item.gen
                    state.ended = True
                    state.t_end = item.t_end
                    log.info("call %s [ΔSTT] final text %s at the endpoint", call_id,
                             "ready" if words.text() else "not yet")
                    await emit()
                    if state.emitted is None:
                        nursery.start_soon(no_words_watch, item.gen)
                elif isinstance(item, SpeechDiscarded):
                    state.gen = None
                    state.ended = False
                await tx.send(item)
            nursery.cancel_scope.cancel()
