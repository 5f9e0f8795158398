from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from voiced import audio


def test_ulaw_matches_g711_code_points() -> None:
    """Values from the G.711 tables: full scale, the segment ends, zero."""
    decoded = audio.ulaw_decode(bytes([0x00, 0x80, 0xFF, 0x7F, 0x8F, 0x0F]))
    assert decoded.tolist() == [-32124, 32124, 0, 0, 16764, -16764]
    pcm = np.array([32767, -32768, 0, 16764, -16764, 1], dtype=np.int16)
    assert audio.ulaw_encode(pcm) == bytes([0x80, 0x00, 0xFF, 0x8F, 0x0F, 0xFF])


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


def test_wav_payload_finds_the_mulaw_samples_after_any_chunks_before_them() -> None:
    import struct

    samples = bytes(range(200))
    fmt = struct.pack("<HHIIHH", 7, 1, 8000, 8000, 1, 8)  # format 7: mu-law
    extra = b"LIST" + struct.pack("<I", 5) + b"INFO!" + b"\0"  # odd size: padded
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra + b"data" + \
        struct.pack("<I", len(samples)) + samples
    data = b"RIFF" + struct.pack("<I", len(body)) + body
    assert audio.wav_payload(data) == samples
    assert audio.wav_payload(samples) == samples  # bare samples pass through
