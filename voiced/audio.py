"""Telephone audio: G.711 mu-law, 20 ms frames, resampling and WAV files.

Twilio speaks 8 kHz mu-law in both directions; the VAD and Whisper want 16-bit PCM, Google
takes the mu-law as it came. G.711 is the C codec of ``audioop``: the standard library's up to
Python 3.12, the ``audioop-lts`` package's (the same module, kept) from 3.13. The recv stage
makes a frame (mu-law bytes and PCM) in 0.8 us against 2.3 us with the numpy table it replaced
(docs/BENCHMARKS.md, "The house").
"""

from __future__ import annotations

import io
import warnings
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soxr

with warnings.catch_warnings():
    # 3.11 and 3.12 warn that audioop leaves the standard library; audioop-lts takes it over.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 160
FRAME_BYTES_ULAW = FRAME_SAMPLES  # one byte a sample
FRAME_BYTES_PCM = FRAME_SAMPLES * 2
ULAW_SILENCE = 0xFF
SILENT_FRAME_ULAW = bytes([ULAW_SILENCE]) * FRAME_BYTES_ULAW  # 20 ms of digital silence

Pcm = npt.NDArray[np.int16]



def ulaw_decode(data: bytes) -> Pcm:
    """G.711 mu-law to 16-bit PCM."""
    return np.frombuffer(audioop.ulaw2lin(data, 2), dtype="<i2")


def ulaw_to_pcm_bytes(data: bytes) -> bytes:
    """G.711 mu-law to 16-bit PCM bytes: the recv stage's per-frame path, no array made."""
    return audioop.ulaw2lin(data, 2)


def ulaw_encode(pcm: Pcm) -> bytes:
    """16-bit PCM to G.711 mu-law."""
    return audioop.lin2ulaw(np.asarray(pcm, dtype="<i2").tobytes(), 2)


def to_float(pcm: Pcm) -> npt.NDArray[np.float32]:
    return pcm.astype(np.float32) / 32768.0


def to_pcm(x: npt.NDArray[np.floating]) -> Pcm:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def resample(x: npt.NDArray[np.float32], rate_in: int, rate_out: int) -> npt.NDArray[np.float32]:
    if rate_in == rate_out:
        return x
    out: npt.NDArray[np.float32] = soxr.resample(x, rate_in, rate_out, quality="HQ")
    return out


def rms_dbfs(pcm: Pcm) -> float:
    if pcm.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(pcm.astype(np.float64)))))
    return 20.0 * float(np.log10(max(rms, 1e-3) / 32768.0))


def trim_silence(pcm: Pcm, rate: int, threshold_dbfs: float = -45.0, keep_ms: int = 20) -> Pcm:
    """Cut leading silence entirely and trailing silence down to ``keep_ms``, so that the
    first frame we send is sound the caller hears rather than dead air counted as latency."""
    win = max(1, rate // 100)  # 10 ms windows
    n = pcm.size // win
    if n == 0:
        return pcm
    frames = pcm[: n * win].astype(np.float64).reshape(n, win)
    level = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.nonzero(level > 32768.0 * 10 ** (threshold_dbfs / 20))[0]
    if loud.size == 0:
        return pcm[:0]
    keep = keep_ms * rate // 1000
    start = int(loud[0]) * win
    end = min(pcm.size, (int(loud[-1]) + 1) * win + keep)
    return pcm[start:end]


def parse_wav(data: bytes) -> tuple[Pcm, int]:
    """Mono 16-bit PCM and its rate from WAV bytes (the standard library's reader; it also
    takes the unknown sizes a streaming writer, espeak-ng --stdout, puts in its header)."""
    try:
        with wave.open(io.BytesIO(data)) as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a WAV file we can read: {exc}") from None
    if width != 2:
        raise ValueError(f"unsupported WAV sample width: {8 * width} bits")
    raw = raw[: len(raw) - len(raw) % (2 * channels)]
    pcm = np.frombuffer(raw, dtype="<i2").astype(np.int16)
    if channels > 1:
        pcm = pcm.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return pcm, rate


def wav_payload(data: bytes) -> bytes:
    """The samples of a WAV file whatever their format, or ``data`` itself if it is not one.

    For Google's ``MULAW`` output, a WAV file (format 7) that the standard library's reader
    refuses ("unknown format: 7") while Twilio wants the bare samples."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return data
    pos = 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if data[pos : pos + 4] == b"data":
            return data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    return b""


def read_wav(path: str | Path, rate: int = RATE) -> Pcm:
    """A WAV file as mono 16-bit PCM at ``rate``."""
    pcm, file_rate = parse_wav(Path(path).read_bytes())
    if file_rate != rate:
        pcm = to_pcm(resample(to_float(pcm), file_rate, rate))
    return pcm


def write_wav(path: str | Path, channels: list[Pcm], rate: int = RATE) -> None:
    n = max((c.size for c in channels), default=0)
    padded = [np.pad(c, (0, n - c.size)) for c in channels]
    interleaved = np.stack(padded, axis=1).astype("<i2") if padded else np.zeros(0, "<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(len(channels))
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(interleaved.tobytes())
    Path(path).write_bytes(buf.getvalue())


def silence_padded(pcm: Pcm, ms: int, rate: int = RATE) -> Pcm:
    """``pcm`` with ``ms`` of silence before and after: a recording, not a clipped sound."""
    pad = np.zeros(rate * ms // 1000, dtype=np.int16)
    return np.concatenate([pad, pcm.astype(np.int16), pad])


def frames(pcm: Pcm, frame_samples: int = FRAME_SAMPLES) -> list[Pcm]:
    """Split into whole frames, padding the last with silence."""
    pad = (-pcm.size) % frame_samples
    if pad:
        pcm = np.concatenate([pcm, np.zeros(pad, np.int16)])
    return [pcm[i : i + frame_samples] for i in range(0, pcm.size, frame_samples)]
