"""A local gRPC server that speaks Google's Speech and Text-to-Speech protocols.

It serves ``google.cloud.speech.v1.Speech/StreamingRecognize`` and
``google.cloud.texttospeech.v1.TextToSpeech/SynthesizeSpeech`` with the real request and
response messages from the google packages (grpc generic handlers with their serializers),
so the real client libraries talk to it unchanged through their endpoint options.

Recognition is scripted, not learned: the caller's audio is cut into words at 100 ms of
silence, and each word's text comes from ``words_for``: by default the word is named by the
pitch of the tone that carries it (``w<index>``, index = (Hz - 300) / 20), which lets a test
check that every word of a long call arrives exactly once, across stream restarts. Times are
audio times (the client streams in real time): interim results as a word goes on, the final
result ``final_delay_s`` of silence after it. A stream that has received more than
``limit_s`` seconds of audio is aborted with Google's own error.

:class:`Recognition` says how real the recognition behaves. :data:`ORACLE` is the best case
(interims as the audio arrives, never wrong, the final a fixed time after the speech);
:data:`REALISTIC` is what a streaming recogniser on a phone line does: interim words trail
the audio by 300 ms (and, after the speech, catch up with it: whole 300 ms after the last
sound), the last interim word is wrong 30 % of the time and revised later, the final comes
400 ms (median, log-normal jitter) after the end of speech, and one stretch in ten that ends
at a pause comes back with a full stop it should not have. Each stretch of speech draws these
errors from its own first sound (and :attr:`Recognition.seed`): the same audio is misheard the
same way in every stream, however many run at once.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
import numpy as np
from google.cloud import speech_v1 as speech
from google.cloud import texttospeech_v1 as tts
from google.protobuf import duration_pb2

from ...audio import RATE, ulaw_decode, ulaw_encode

log = logging.getLogger("voiced.lab.sim.google")

SILENCE_SPLIT_S = 0.1
VOICED_RMS = 300.0


def tone_word(pcm: np.ndarray) -> str:
    """``w<i>`` for a tone of 300 + 20*i Hz."""
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(pcm.size)))
    hz = float(np.argmax(spectrum)) * RATE / pcm.size
    return f"w{round((hz - 300) / 20)}"


def word_tone(index: int, ms: int = 300) -> np.ndarray:
    t = np.arange(RATE * ms // 1000) / RATE
    return (6000 * np.sin(2 * np.pi * (300 + 20 * index) * t)).astype(np.int16)


@dataclass
class StreamLog:
    """What one StreamingRecognize call saw: for assertions."""

    language_code: str = ""
    alternative_language_codes: tuple[str, ...] = ()
    model: str = ""
    audio_s: float = 0.0
    finals: list[str] = field(default_factory=list)
    aborted: bool = False
    request_bytes: list[int] = field(default_factory=list)  # the audio of each request


@dataclass(frozen=True)
class Recognition:
    """How the fake recogniser's results trail, miss and revise what was said."""

    final_delay_s: float = 0.15  # median, after the end of the speech
    final_jitter: float = 0.0  # sigma of the log-normal spread around that median
    interim_lag_s: float = 0.0  # interim words cover the audio up to this long ago
    wrong_last: float = 0.0  # share of interim results whose last word is wrong
    stray_stop: float = 0.0  # share of finals at a mid-sentence pause given a full stop
    seed: int = 1  # with each stretch's first sound: the same speech, the same errors


ORACLE = Recognition()
REALISTIC = Recognition(final_delay_s=0.4, final_jitter=0.35, interim_lag_s=0.3, wrong_last=0.3,
                        stray_stop=0.1)


def _misheard(text: str) -> str:
    """The last word as a recogniser gets it before it has heard all of it: cut short."""
    words = text.split()
    if not words:
        return text
    last = words[-1].rstrip(".?!,")
    words[-1] = last[: max(1, len(last) * 2 // 3)] if len(last) > 2 else last + last
    return " ".join(words)


@dataclass
class FakeGoogle:
    words_for: Callable[[np.ndarray], str] = tone_word
    final_delay_s: float = 0.15
    # None: the oracle's behaviour with final_delay_s; else this profile (its own final delay).
    recognition: Recognition | None = None
    interim_every_s: float = 0.1
    limit_s: float = 305.0
    tts_delay_s: float = 0.12
    tts_ms_per_char: int = 60
    tts_chunk_s: float = 0.05  # streaming synthesis: between 100 ms chunks
    # The language the recogniser says it heard (result.language_code); "": the primary one.
    heard_language: str = ""
    fail_stt: bool = False
    hang_stt: bool = False  # read the audio, never answer
    streams: list[StreamLog] = field(default_factory=list)
    tts_requests: list[Any] = field(default_factory=list)
    # Keep ``streams`` and ``tts_requests`` (tests read them; a long benchmark must not).
    keep_log: bool = True
    # RPCs served at once: each open recognition stream holds a worker for the whole call.
    max_workers: int = 64
    _server: Any = None
    port: int = 0

    # -- Speech ------------------------------------------------------------------------

    def _recognize(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        first = next(requests)
        cfg = first.streaming_config.config
        log_ = StreamLog(language_code=cfg.language_code, model=cfg.model,
                         alternative_language_codes=tuple(cfg.alternative_language_codes))
        heard = (self.heard_language or cfg.language_code).lower()
        if self.keep_log:
            self.streams.append(log_)
        if self.fail_stt:
            context.abort(grpc.StatusCode.UNAVAILABLE, "The service is currently unavailable.")
        if self.hang_stt:
            for req in requests:
                log_.audio_s += len(req.audio_content) / RATE
            return
        rec = self.recognition or Recognition(final_delay_s=self.final_delay_s)
        rng = np.random.default_rng(rec.seed)  # replaced at each stretch's first sound
        lag = int(rec.interim_lag_s * RATE)
        received = 0  # samples
        word: list[np.ndarray] = []
        word_end = 0
        silent = 0
        since_interim = 0
        pending_final: tuple[int, str] | None = None  # (emit at sample, text)
        # The stretch just closed, while its interim words still catch up with it: after the
        # speech the recogniser goes on hearing what it lagged behind, an interim every
        # ``interim_every_s``, whole ``interim_lag_s`` after the last sound.
        tail: np.ndarray | None = None
        tail_end = tail_next = 0
        step = int(self.interim_every_s * RATE)

        def interim(heard_so_far: np.ndarray) -> str:
            """The words of the audio heard so far, the last one often wrong."""
            text = self.words_for(heard_so_far) if heard_so_far.size else ""
            return _misheard(text) if text and rng.random() < rec.wrong_last else text

        for req in requests:
            pcm = ulaw_decode(req.audio_content)
            received += pcm.size
            if self.keep_log:
                log_.request_bytes.append(len(req.audio_content))
            log_.audio_s = received / RATE
            if received / RATE > self.limit_s:
                log_.aborted = True
                context.abort(grpc.StatusCode.OUT_OF_RANGE,
                              "Exceeded maximum allowed stream duration of 305 seconds.")
            for start in range(0, pcm.size, 160):
                frame = pcm[start : start + 160]
                pos = received - pcm.size + start + frame.size
                voiced = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > VOICED_RMS
                if voiced:
                    tail = None  # a new stretch: its interims take over
                    if not word:
                        # A stretch draws its errors from its own first sound: the same audio
                        # is misheard the same way whichever stream carries it and whenever
                        # that stream opened, so forty calls at once draw what the same calls
                        # draw one at a time (a counter of streams drew by arrival order,
                        # which concurrent calls race for).
                        rng = np.random.default_rng([rec.seed, zlib.crc32(frame.tobytes())])
                    word.append(frame)
                    silent = 0
                    word_end = pos
                    since_interim += frame.size
                    if since_interim >= self.interim_every_s * RATE:
                        since_interim = 0
                        heard_so_far = np.concatenate(word)
                        if lag:
                            heard_so_far = heard_so_far[: max(0, heard_so_far.size - lag)]
                        text = interim(heard_so_far)
                        if text:
                            yield _response(text, False, pos, heard)
                elif word:
                    silent += frame.size
                    if silent >= SILENCE_SPLIT_S * RATE:
                        closed = np.concatenate(word)
                        text = self.words_for(closed)
                        if text and text[-1] not in ".?!" and rng.random() < rec.stray_stop:
                            text += "."  # a pause taken for the end of a sentence
                        word, since_interim = [], 0
                        delay = rec.final_delay_s * float(np.exp(rng.normal(0, rec.final_jitter))) \
                            if rec.final_jitter else rec.final_delay_s
                        pending_final = (word_end + int(delay * RATE), text)
                        end_of_word = word_end
                        if lag:
                            tail, tail_end = closed, word_end
                            tail_next = word_end + step
                if tail is not None and pos >= tail_next:
                    behind = max(0, lag - (pos - tail_end))
                    text = interim(tail[: max(0, tail.size - behind)])
                    if text:
                        yield _response(text, False, pos, heard)
                    tail = None if behind == 0 else tail
                    tail_next += step
                if pending_final is not None and pos >= pending_final[0]:
                    log_.finals.append(pending_final[1])
                    yield _response(pending_final[1], True, end_of_word, heard)
                    pending_final, tail = None, None

    # -- Text-to-Speech ------------------------------------------------------------------

    def _synthesize(self, request: Any, context: grpc.ServicerContext) -> Any:
        if self.keep_log:
            self.tts_requests.append(request)
        time.sleep(self.tts_delay_s)
        n = RATE * self.tts_ms_per_char * max(1, len(request.input.text)) // 1000
        t = np.arange(n) / RATE
        audio = ulaw_encode((5000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16))
        return tts.SynthesizeSpeechResponse(audio_content=_wav_header(len(audio)) + audio)

    def _synthesize_streaming(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Iterator[Any]:
        first = next(requests)
        if self.keep_log:
            self.tts_requests.append(first)
        for req in requests:
            text = req.input.text
            n = RATE * self.tts_ms_per_char * max(1, len(text)) // 1000
            t = np.arange(n) / RATE
            audio = ulaw_encode((5000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16))
            time.sleep(self.tts_delay_s)  # first audio
            for i in range(0, len(audio), 800):  # 100 ms chunks, raw MULAW
                if i:
                    time.sleep(self.tts_chunk_s)
                yield tts.StreamingSynthesizeResponse(audio_content=audio[i : i + 800])

    # -- server --------------------------------------------------------------------------

    def start(self) -> int:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=self.max_workers))
        server.add_generic_rpc_handlers((
            grpc.method_handlers_generic_handler("google.cloud.speech.v1.Speech", {
                "StreamingRecognize": grpc.stream_stream_rpc_method_handler(
                    self._recognize,
                    request_deserializer=speech.StreamingRecognizeRequest.deserialize,
                    response_serializer=speech.StreamingRecognizeResponse.serialize,
                ),
            }),
            grpc.method_handlers_generic_handler("google.cloud.texttospeech.v1.TextToSpeech", {
                "SynthesizeSpeech": grpc.unary_unary_rpc_method_handler(
                    self._synthesize,
                    request_deserializer=tts.SynthesizeSpeechRequest.deserialize,
                    response_serializer=tts.SynthesizeSpeechResponse.serialize,
                ),
                "StreamingSynthesize": grpc.stream_stream_rpc_method_handler(
                    self._synthesize_streaming,
                    request_deserializer=tts.StreamingSynthesizeRequest.deserialize,
                    response_serializer=tts.StreamingSynthesizeResponse.serialize,
                ),
            }),
        ))
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"


def _response(text: str, final: bool, end_sample: int, language: str) -> Any:
    end = duration_pb2.Duration()
    end.FromNanoseconds(int(end_sample * 1e9 / RATE))
    return speech.StreamingRecognizeResponse(results=[speech.StreamingRecognitionResult(
        alternatives=[speech.SpeechRecognitionAlternative(transcript=text, confidence=0.9)],
        is_final=final, stability=0.9 if final else 0.5, result_end_time=end,
        language_code=language,  # Google reports it lower-cased
    )])


def _wav_header(n: int) -> bytes:
    """The 44-byte header Google puts before MULAW audio."""
    import struct

    return (b"RIFF" + struct.pack("<I", 36 + n) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 7, 1, RATE,
            RATE, 1, 8) + b"data" + struct.pack("<I", n))

