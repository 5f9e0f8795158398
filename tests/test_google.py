"""The real google-cloud-speech and -texttospeech clients against a local gRPC server that
speaks their protocol (voiced.lab.sim.google). Real clock: gRPC runs on threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import trio

from voiced.audio import ulaw_encode
from voiced.config import GoogleSttConfig, GoogleTtsConfig, SttConfig, VadConfig
from voiced.engines.google import GoogleSpeech, GoogleTTS, speech_client
from voiced.events import (
    DialogueEvent,
    EarlyPause,
    Frame,
    Partial,
    SpeechEnded,
    SpeechStarted,
    Transcript,
    VadEvent,
)
from voiced.lab.sim.google import FakeGoogle, Recognition, word_tone
from voiced.stages.stt_stream import StreamingRecognizer

pytest.importorskip("google.cloud.speech_v1")


@pytest.fixture
def google() -> object:
    server = FakeGoogle()
    server.start()
    yield server
    server.stop()


def stt_config(server: FakeGoogle, **kw: object) -> SttConfig:
    return SttConfig(engine="google", google=GoogleSttConfig(endpoint=server.endpoint, insecure=True,
                                                              **kw))  # type: ignore[arg-type]


def call_audio(words: int, gap_ms: int) -> list[bytes]:
    """Frames (16-bit PCM) of ``words`` tone-words, each followed by ``gap_ms`` of silence."""
    parts = []
    for i in range(words):
        parts += [word_tone(i, 300), np.zeros(8 * gap_ms, np.int16)]
    pcm = np.concatenate(parts)
    return [pcm[i : i + 160].tobytes() for i in range(0, pcm.size - 159, 160)]


async def run_stage(server: FakeGoogle, cfg: SttConfig, frames: list[bytes], *, words: int,
                    languages: tuple[str, ...] = ("en",), pace: float = 0.0) -> list[DialogueEvent]:
    """Feed ``frames`` to the stage as one turn, end it, and return what the stage sent once
    the endpoint has passed through and a transcript holds all ``words`` (0: the empty one of a
    recogniser that said nothing). gRPC runs on its own threads, so this is the real clock:
    wait for the result itself, not for a time it is likely to have come by."""
    engine = GoogleSpeech(speech_client(cfg.google), 10)
    in_tx, in_rx = trio.open_memory_channel[Frame | VadEvent](100)
    out_tx, out_rx = trio.open_memory_channel[DialogueEvent](10000)
    out: list[DialogueEvent] = []
    done = trio.Event()

    async def collect() -> None:
        ended = False
        async for event in out_rx:
            out.append(event)
            ended = ended or isinstance(event, SpeechEnded)
            if ended and any(isinstance(e, Transcript) and len(e.text.split()) == words
                             for e in out):
                done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(StreamingRecognizer(engine), in_rx, out_tx, cfg, VadConfig(), languages,
                           "test")
        nursery.start_soon(collect)
        with in_tx:
            await in_tx.send(SpeechStarted(trio.current_time(), 0))
            for i, pcm in enumerate(frames):
                ulaw = ulaw_encode(np.frombuffer(pcm, "<i2"))
                await in_tx.send(Frame.decode(ulaw, trio.current_time(), i))
                if pace:
                    await trio.sleep(pace)
                elif i % 6 == 0:
                    await trio.sleep(0.0005)  # let the gRPC thread keep up
            await in_tx.send(SpeechEnded(trio.current_time(), trio.current_time(), 0, 1000))
            with trio.fail_after(20):  # a bound on a hang, not a guess at the timing
                await done.wait()
    return out


async def test_a_six_minute_call_crosses_the_restart_and_every_word_arrives_once(
    google: FakeGoogle,
) -> None:
    cfg = stt_config(google)
    frames = call_audio(words=150, gap_ms=2100)  # 150 words over 6 minutes
    assert len(frames) * 0.02 == pytest.approx(360, abs=1)
    out = await run_stage(google, cfg, frames, words=150)
    finals = [t for t in out if isinstance(t, Transcript)]
    assert [w for w in finals[-1].text.split()] == [f"w{i}" for i in range(150)]
    # Google would have killed one stream at 305 s; we restarted before 240 s instead.
    assert len(google.streams) == 2
    assert not any(s.aborted for s in google.streams)
    assert google.streams[0].audio_s <= 240.2
    assert {s.language_code for s in google.streams} == {"en-US"}
    assert {s.model for s in google.streams} == {"telephony"}


async def test_without_restarts_google_kills_the_stream_at_305s(google: FakeGoogle) -> None:
    cfg = stt_config(google, streaming_limit_s=300.0)
    google.limit_s = 30.0  # a strict server: the stream dies before our restart
    out = await run_stage(google, cfg, call_audio(words=20, gap_ms=2100), words=20)
    assert google.streams[0].aborted
    # The stage restarted, replaying what Google had not acknowledged: no word lost.
    finals = [t for t in out if isinstance(t, Transcript)]
    assert finals[-1].text.split() == [f"w{i}" for i in range(20)]


async def test_hebrew_is_iw_il_on_the_wire(google: FakeGoogle) -> None:
    await run_stage(google, stt_config(google), call_audio(words=2, gap_ms=500), words=2,
                    languages=("he",))
    assert google.streams[0].language_code == "iw-IL"
    assert google.streams[0].alternative_language_codes == ()


async def test_a_bilingual_line_follows_the_language_google_hears(google: FakeGoogle) -> None:
    google.heard_language = "en-us"
    out = await run_stage(google, stt_config(google), call_audio(words=2, gap_ms=500), words=2,
                          languages=("he", "en"))
    assert google.streams[0].language_code == "iw-IL"
    assert google.streams[0].alternative_language_codes == ("en-US",)
    transcripts = [t for t in out if isinstance(t, Transcript)]
    assert transcripts and {t.language for t in transcripts} == {"en"}


async def test_interim_results_are_debounced(google: FakeGoogle) -> None:
    google.interim_every_s = 0.02  # an interim for every frame of a word
    frames = call_audio(words=3, gap_ms=200) * 2
    out = await run_stage(google, stt_config(google), frames, words=6, pace=0.02)  # real time
    partials = [p for p in out if isinstance(p, Partial)]
    assert len(partials) >= 3
    gaps = np.diff([p.t for p in partials])
    assert gaps.min() >= 0.16 - 1e-3


async def test_a_final_while_the_caller_speaks_prepares_no_reply(google: FakeGoogle) -> None:
    """Google finalises phrases at short gaps inside a turn; a reply prepared on each would be
    dropped at the caller's next word (and billed). Words go downstream only once the caller
    is quiet: the VAD's early pause, or here (no pause sent) the endpoint."""
    out = await run_stage(google, stt_config(google), call_audio(words=4, gap_ms=250), words=4,
                          pace=0.02)  # real time, so the finals come while the turn goes on
    assert len(google.streams[0].finals) >= 3
    transcripts = [e for e in out if isinstance(e, Transcript)]
    assert transcripts and not any(t.speculative for t in transcripts)  # all at the endpoint
    assert transcripts[-1].text == "w0 w1 w2 w3"


async def test_interim_words_caught_up_in_a_pause_prepare_the_reply_before_the_final() -> None:
    """A recogniser's interim words trail the audio; in the caller's pause they catch up with
    the last word, and those words go downstream then (a speculative transcript), not only
    when the final comes, 400 ms or more after the speech on a real line (here: never)."""
    def blocks(pcm: np.ndarray) -> str:  # a word per 100 ms of audio heard
        return " ".join(f"w{i}" for i in range(1, pcm.size // 800 + 1))

    server = FakeGoogle(words_for=blocks, recognition=Recognition(final_delay_s=30.0,
                                                                  interim_lag_s=0.3))
    server.start()
    try:
        cfg = stt_config(server)
        engine = GoogleSpeech(speech_client(cfg.google), 10)
        in_tx, in_rx = trio.open_memory_channel[Frame | VadEvent](100)
        out_tx, out_rx = trio.open_memory_channel[DialogueEvent](10000)
        pcm = np.concatenate([word_tone(5, 1000), np.zeros(8 * 1200, np.int16)])
        frames = [pcm[i : i + 160] for i in range(0, pcm.size, 160)]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(StreamingRecognizer(engine), in_rx, out_tx, cfg, VadConfig(),
                               ("en",), "test")
            with in_tx:
                await in_tx.send(SpeechStarted(trio.current_time(), 0))
                for i, frame in enumerate(frames):
                    if i == 50 + 10:  # 200 ms into the pause
                        await in_tx.send(EarlyPause(trio.current_time(), 0))
                    await in_tx.send(Frame.decode(ulaw_encode(frame), trio.current_time(), i))
                    await trio.sleep(0.02)  # real time: the gRPC threads answer as they hear
                await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    finally:
        server.stop()
    out_tx.close()
    transcripts = [e async for e in out_rx if isinstance(e, Transcript)]
    assert server.streams[0].finals == []  # no final came: these are the interim words
    assert all(t.speculative for t in transcripts)
    assert transcripts[-1].text == " ".join(f"w{i}" for i in range(1, 11))


async def test_cancelling_the_stage_ends_the_grpc_thread(google: FakeGoogle) -> None:
    cfg = stt_config(google)
    engine = GoogleSpeech(speech_client(cfg.google), 10)
    in_tx, in_rx = trio.open_memory_channel[Frame | VadEvent](100)
    out_tx, _ = trio.open_memory_channel[DialogueEvent](10000)
    with in_tx, trio.move_on_after(0.5):
        await StreamingRecognizer(engine)(in_rx, out_tx, cfg, VadConfig(), ("en",), "test")
    # No grace period: trio renames a worker thread back before it hands over the result, so
    # a stage that returned has no stream thread left, or the cancellation leaked one.
    assert engine.limiter.borrowed_tokens == 0
    assert [t for t in threading.enumerate() if t.name == "voiced-google-stt"] == []


async def test_google_tts_sends_mulaw_without_the_wav_header(google: FakeGoogle) -> None:
    tts = GoogleTTS(GoogleTtsConfig(endpoint=google.endpoint, insecure=True))
    tx, rx = trio.open_memory_channel[bytes](10)
    t0 = trio.current_time()
    async with tx:
        await tts.synthesize("שלום לכם", "he", tx)
    audio = b"".join([c async for c in rx])
    assert trio.current_time() - t0 >= google.tts_delay_s
    assert not audio.startswith(b"RIFF")
    assert len(audio) == 8000 * 60 * len("שלום לכם") // 1000
    (req,) = google.tts_requests
    assert req.voice.language_code == "he-IL" and req.voice.name == "he-IL-Wavenet-A"
    assert req.audio_config.sample_rate_hertz == 8000
    assert req.audio_config.speaking_rate == pytest.approx(1.05)


async def test_streaming_synthesis_for_chirp_voices_sends_audio_as_it_comes(
    google: FakeGoogle,
) -> None:
    cfg = GoogleTtsConfig(endpoint=google.endpoint, insecure=True, voice_en="en-US-Chirp3-HD-Aoede")
    tts = GoogleTTS(cfg)
    assert tts.streams("en") and not tts.streams("he")
    tx, rx = trio.open_memory_channel[bytes](100)
    arrivals: list[tuple[float, int]] = []
    t0 = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def consume() -> None:
            async for chunk in rx:
                arrivals.append((trio.current_time() - t0, len(chunk)))

        nursery.start_soon(consume)
        async with tx:
            await tts.synthesize("We are open until six today.", "en", tx)
    total = 8000 * 60 * len("We are open until six today.") // 1000
    assert sum(n for _, n in arrivals) == total and len(arrivals) == -(-total // 800)
    # The first chunk came after the first-audio delay, long before the last one.
    assert arrivals[0][0] == pytest.approx(google.tts_delay_s, abs=0.1)
    assert arrivals[-1][0] - arrivals[0][0] >= 0.05 * (len(arrivals) - 1) * 0.8
    (req,) = google.tts_requests
    cfg_ = req.streaming_config
    assert cfg_.voice.name == "en-US-Chirp3-HD-Aoede"
    assert cfg_.streaming_audio_config.sample_rate_hertz == 8000


async def test_a_hung_recognizer_yields_a_fallback_transcript(google: FakeGoogle) -> None:
    google.hang_stt = True
    cfg = stt_config(google, final_timeout_ms=100)
    out = await run_stage(google, cfg, call_audio(words=2, gap_ms=300), words=0)
    (t,) = [x for x in out if isinstance(x, Transcript)]
    assert t.text == "" and t.error == "no result from the recognizer"


async def test_requests_are_small_while_the_callers_words_are_awaited_and_large_otherwise(
    google: FakeGoogle,
) -> None:
    """120 ms requests while the caller speaks and until their words are in (final_timeout_ms
    after the turn), 480 ms while nothing of theirs is awaited; the caller's first words go
    at once, whatever the batch held."""
    cfg = stt_config(google, final_timeout_ms=400)
    engine = GoogleSpeech(speech_client(cfg.google), 10)
    in_tx, in_rx = trio.open_memory_channel[Frame | VadEvent](100)
    out_tx, out_rx = trio.open_memory_channel[DialogueEvent](10000)
    silence = ulaw_encode(np.zeros(160, np.int16))
    seq = 0

    async def frames(n: int) -> None:
        nonlocal seq
        for _ in range(n):
            await in_tx.send(Frame.decode(silence, trio.current_time(), seq))
            seq += 1
            if seq % 6 == 0:
                await trio.sleep(0.0005)  # let the gRPC thread keep up

    small, large = 6 * 160, 24 * 160
    expected = [small] * 3 + [large] + [18 * 160] + [small] * 5 + [small] * 3 + [large]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(StreamingRecognizer(engine), in_rx, out_tx, cfg, VadConfig(), ("en",),
                           "test")
        nursery.start_soon(_drain, out_rx)
        await frames(60)  # the greeting: the call's first 400 ms small, then large
        await in_tx.send(SpeechStarted(trio.current_time(), 0))  # 18 frames held: sent now
        await frames(30)  # the caller's turn
        await in_tx.send(SpeechEnded(trio.current_time(), trio.current_time(), 0, 600))
        await frames(60)  # their words awaited for 400 ms, then large again
        # The server's own threads log the requests: nothing to wait on but the log itself,
        # for at most 10 s (a bound on a hang, not a guess at the timing).
        for _ in range(1000):
            if google.streams and sum(google.streams[0].request_bytes) >= sum(expected):
                break
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert google.streams[0].request_bytes == expected


async def _drain(rx: trio.MemoryReceiveChannel[DialogueEvent]) -> None:
    async for _ in rx:
        pass
