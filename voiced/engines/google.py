"""Google Cloud Speech-to-Text (streaming) and Text-to-Speech, through Google's own clients.

Their sync calls block, the streaming one from its first ``next()``, so each runs on a
worker thread under a limiter of its own (never the default one that every ``to_thread`` call
shares). The clients are process-wide: a channel per call would cost a TLS handshake each.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any

import trio

from ..audio import RATE, wav_payload
from ..config import GoogleConfig, GoogleSttConfig, GoogleTtsConfig
from ..errors import EngineError
from ..lang import GOOGLE_STT, GOOGLE_TTS
from ..threads import WorkCancelled, run_cancellable

log = logging.getLogger("voiced.google")



def _channel_kwargs(cfg: GoogleConfig) -> dict[str, Any]:
    if cfg.insecure:
        import grpc

        return {"channel": grpc.insecure_channel(cfg.endpoint)}
    return {"host": cfg.endpoint} if cfg.endpoint else {}


def speech_client(cfg: GoogleSttConfig) -> Any:
    from google.cloud import speech_v1
    from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

    kwargs = _channel_kwargs(cfg)
    if not kwargs:
        return speech_v1.SpeechClient()
    return speech_v1.SpeechClient(transport=SpeechGrpcTransport(**kwargs))


def tts_client(cfg: GoogleTtsConfig) -> Any:
    from google.cloud import texttospeech_v1
    from google.cloud.texttospeech_v1.services.text_to_speech.transports import (
        TextToSpeechGrpcTransport,
    )

    kwargs = _channel_kwargs(cfg)
    if not kwargs:
        return texttospeech_v1.TextToSpeechClient()
    return texttospeech_v1.TextToSpeechClient(transport=TextToSpeechGrpcTransport(**kwargs))


STREAMING_VOICES = ("Chirp3-HD", "Chirp-HD")


class GoogleTTS:
    """``MULAW`` at 8 kHz straight from Google: only the 44-byte WAV header to strip, no
    transcoding. One request per sentence; the brain hands us the first sentence as soon as
    it is complete. Voices that support it (Chirp 3: HD) use streaming synthesis, so the
    first audio of a sentence comes before the whole sentence is synthesised."""

    def __init__(self, cfg: GoogleTtsConfig, client: Any | None = None, concurrency: int = 64) -> None:
        from google.cloud import texttospeech_v1 as tts

        self._tts = tts
        self._cfg = cfg
        self._client = client or tts_client(cfg)
        self._limiter = trio.CapacityLimiter(concurrency)

    def _request(self, text: str, language: str) -> dict[str, Any]:
        tts, cfg = self._tts, self._cfg
        return {
            "input": tts.SynthesisInput(text=text),
            "voice": tts.VoiceSelectionParams(
                language_code=GOOGLE_TTS[language],
                name=cfg.voice_he if language == "he" else cfg.voice_en,
            ),
            "audio_config": tts.AudioConfig(
                audio_encoding=tts.AudioEncoding.MULAW, sample_rate_hertz=RATE,
                speaking_rate=cfg.speaking_rate,
            ),
        }

    def _call(self, request: dict[str, Any], cancelled: threading.Event) -> bytes:
        try:
            response = self._client.synthesize_speech(**request, timeout=30.0)
        except Exception as exc:  # google.api_core raises a zoo; all mean "no audio"
            raise EngineError(f"Google TTS failed: {type(exc).__name__}: {str(exc)[:120]}") from None
        audio: bytes = response.audio_content
        return wav_payload(audio)

    def streams(self, language: str) -> bool:
        if self._cfg.streaming != "auto":
            return self._cfg.streaming == "on"
        voice = self._cfg.voice_he if language == "he" else self._cfg.voice_en
        return any(v in voice for v in STREAMING_VOICES)

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        if self.streams(language):
            await self._synthesize_streaming(text, language, tx)
            return
        work = partial(self._call, self._request(text, language))
        audio = await run_cancellable(work, limiter=self._limiter, name="voiced-google-tts")
        if audio:
            await tx.send(audio)

    def _stream_call(self, text: str, language: str, deliver: Callable[[bytes], None],
                     cancelled: threading.Event) -> None:
        tts, cfg = self._tts, self._cfg
        request = self._request(text, language)
        requests = [
            tts.StreamingSynthesizeRequest(streaming_config=tts.StreamingSynthesizeConfig(
                voice=request["voice"],
                streaming_audio_config=tts.StreamingAudioConfig(
                    audio_encoding=tts.AudioEncoding.MULAW, sample_rate_hertz=RATE,
                    speaking_rate=cfg.speaking_rate),
            )),
            tts.StreamingSynthesizeRequest(input=tts.StreamingSynthesisInput(text=text)),
        ]
        try:
            responses = self._client.streaming_synthesize(iter(requests), timeout=30.0)
            for response in responses:
                if cancelled.is_set():
                    responses.cancel()
                    raise WorkCancelled
                if response.audio_content:
                    deliver(wav_payload(response.audio_content))
        except WorkCancelled:
            raise
        except Exception as exc:
            if cancelled.is_set():
                raise WorkCancelled from None
            raise EngineError(
                f"Google streaming TTS failed: {type(exc).__name__}: {str(exc)[:120]}") from None

    async def _synthesize_streaming(self, text: str, language: str,
                                    tx: trio.MemorySendChannel[bytes]) -> None:
        def deliver(chunk: bytes) -> None:
            try:
                trio.from_thread.run(tx.send, chunk)
            except (trio.Cancelled, trio.RunFinishedError, trio.BrokenResourceError,
                    trio.ClosedResourceError):
                raise WorkCancelled from None

        work = partial(self._stream_call, text, language, deliver)
        await run_cancellable(work, limiter=self._limiter, name="voiced-google-tts")


class GoogleSpeech:
    """The process-wide Speech-to-Text client and the limiter its stream threads share. Its
    stage is :class:`voiced.stages.stt_stream.StreamingRecognizer`."""

    def __init__(self, client: Any, max_streams: int) -> None:
        self.client = client
        self.limiter = trio.CapacityLimiter(max_streams)


_END = object()


class GoogleStream:
    """One StreamingRecognize call on a worker thread.

    Requests go in through a thread-safe queue (gRPC reads the request iterator on its own
    thread); responses come back to Trio with ``from_thread.run``, which also gives
    backpressure. ``stop()`` ends the request stream so Google finishes; cancellation cancels
    the gRPC call so the thread returns at once.
    """

    def __init__(self, client: Any, cfg: GoogleSttConfig, languages: Sequence[str],
                 stream_id: int = 0) -> None:
        from google.cloud import speech_v1 as speech

        self.id = stream_id
        self._speech = speech
        self._client = client
        self._cfg = cfg
        self._languages = tuple(languages)
        self._q: queue.Queue[bytes | object] = queue.Queue(maxsize=1000)
        self._call: Any = None

    def config(self) -> Any:
        speech = self._speech
        return speech.StreamingRecognitionConfig(
            config=speech.RecognitionConfig(
                encoding=speech.RecognitionConfig.AudioEncoding.MULAW,
                sample_rate_hertz=RATE,
                language_code=GOOGLE_STT[self._languages[0]],
                # The caller may answer in the line's other language: Google picks per result
                # and says which in result.language_code.
                alternative_language_codes=[GOOGLE_STT[lang] for lang in self._languages[1:]],
                model=self._cfg.model,
                enable_automatic_punctuation=True,
            ),
            interim_results=True,
        )

    def send(self, audio: bytes) -> None:
        try:
            self._q.put_nowait(audio)
        except queue.Full:
            log.warning("Google STT request queue full; dropping %d bytes", len(audio))

    def stop(self) -> None:
        self._q.put(_END)

    def _requests(self) -> Iterator[Any]:
        while True:
            item = self._q.get()
            if item is _END:
                return
            assert isinstance(item, bytes)
            yield self._speech.StreamingRecognizeRequest(audio_content=item)

    def _run(self, deliver: Callable[[Any], None], cancelled: threading.Event) -> None:
        try:
            self._call = self._client.streaming_recognize(self.config(), self._requests())
            for response in self._call:
                if cancelled.is_set():
                    raise WorkCancelled
                deliver(response)
        except WorkCancelled:
            raise
        except Exception as exc:
            if cancelled.is_set():
                raise WorkCancelled from None
            raise EngineError(f"Google STT stream failed: {str(exc)[:160]}") from None

    async def run(
        self, tx: trio.MemorySendChannel[tuple[int, Any]], limiter: trio.CapacityLimiter
    ) -> None:
        """Until the request stream ends (after :meth:`stop`) or the caller is cancelled.
        Responses arrive tagged with this stream's id, so a restarted stream's stragglers
        can be told apart."""

        def deliver(response: Any) -> None:
            try:
                trio.from_thread.run(tx.send, (self.id, response))
            except (trio.Cancelled, trio.RunFinishedError, trio.BrokenResourceError,
                    trio.ClosedResourceError):
                raise WorkCancelled from None

        async def watch() -> None:
            try:
                await trio.sleep_forever()
            finally:
                self._q.put(_END)
                if self._call is not None:
                    self._call.cancel()

        t0 = time.perf_counter()
        error: EngineError | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            try:
                await run_cancellable(partial(self._run, deliver), limiter=limiter,
                                      name="voiced-google-stt")
            except EngineError as exc:
                error = exc  # raised below, outside the nursery, as itself
            nursery.cancel_scope.cancel()
        if error is not None:
            raise error
        log.debug("Google STT stream closed after %.1fs", time.perf_counter() - t0)
