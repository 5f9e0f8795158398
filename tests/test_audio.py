from __future__ import annotations

import io
import warnings
import wave

import numpy as np
import pytest

from voiced import audio


def test_ulaw_encode_is_bit_exact_with_the_reference_coder_for_every_sample() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    pcm = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)
    assert audio.ulaw_encode(pcm) == audioop.lin2ulaw(pcm.tobytes(), 2)
    every_code = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(every_code, 2), dtype=np.int16)
    assert np.array_equal(audio.ulaw_decode(every_code), expected)


def test_ulaw_silence_is_0xff_and_round_trip_is_close() -> None:
    assert audio.ulaw_encode(np.zeros(3, np.int16)) == b"\xff\xff\xff"
    x = (np.sin(np.arange(800) / 10) * 10000).astype(np.int16)
    y = audio.ulaw_decode(audio.ulaw_encode(x))
    assert np.max(np.abs(y.astype(int) - x)) <= 10000 * 0.04


def _wav(pcm: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def test_parse_wav_accepts_the_unknown_size_a_streaming_writer_puts_in_the_header() -> None:
    pcm = np.arange(100, dtype=np.int16)
    data = bytearray(_wav(pcm, 22050))
    data[40:44] = (0x7FFFF000).to_bytes(4, "little")  # what espeak-ng --stdout writes
    out, rate = audio.parse_wav(bytes(data))
    assert rate == 22050 and np.array_equal(out, pcm)


def test_parse_wav_rejects_what_is_not_a_wav() -> None:
    with pytest.raises(ValueError):
        audio.parse_wav(b"OggS" + b"\0" * 40)


def test_trim_silence_starts_at_the_sound_and_keeps_20ms_after_it() -> None:
    pcm = np.concatenate([np.zeros(800, np.int16), np.full(800, 5000, np.int16),
                          np.zeros(800, np.int16)])
    out = audio.trim_silence(pcm, 8000)
    assert out.size == 800 + 160 and out[0] == 5000


def test_frames_pad_the_last_frame_with_silence() -> None:
    chunks = audio.frames(np.ones(170, np.int16))
    assert [c.size for c in chunks] == [160, 160]
    assert chunks[1][10:].sum() == 0


def test_resample_keeps_duration() -> None:
    x = np.zeros(22050, np.float32)
    assert audio.resample(x, 22050, 8000).size == 8000
