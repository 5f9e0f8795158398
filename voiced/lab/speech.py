"""``voiced bench tts-roundtrip`` and ``voiced bench stt``: the embedded engines' speech quality.

``tts-roundtrip`` speaks the receptionist sentences of ``voiced/data`` through the embedded
TTS, sends them down the phone line (8 kHz mu-law) and transcribes them with the embedded
STT: if Whisper cannot recover the words, a caller will struggle too. ``stt`` transcribes
the real recordings of the shared corpus, also at 8 kHz. Both score the character error
rate on normalised text (no punctuation, points or final letter forms).
"""

from __future__ import annotations

import argparse
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import trio

from ..audio import ulaw_decode, ulaw_encode
from ..build import vocabulary
from ..config import Config
from ..hebrew import speakable
from ..text import normalize
from .corpus import corpus_files
from .stats import machine, percentile


def edit_distance(a: list[str] | str, b: list[str] | str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


class ErrorRate:
    """Character and word error rates over a set, summed as the standard measures are."""

    def __init__(self) -> None:
        self.chars = self.char_errors = self.words = self.word_errors = 0

    def add(self, reference: str, hypothesis: str) -> float:
        ref, hyp = normalize(reference), normalize(hypothesis)
        errors = edit_distance(ref, hyp)
        self.chars += len(ref)
        self.char_errors += errors
        self.words += len(ref.split())
        self.word_errors += edit_distance(ref.split(), hyp.split())
        return errors / max(1, len(ref))

    @property
    def cer(self) -> float:
        return self.char_errors / max(1, self.chars)

    @property
    def wer(self) -> float:
        return self.word_errors / max(1, self.words)


def receptionist_sentences(language: str) -> list[str]:
    text = resources.files("voiced").joinpath("data", f"{language}_receptionist.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def phone_line(pcm: np.ndarray) -> bytes:
    """What reaches the recogniser after a trip through a phone line: 8 kHz mu-law."""
    return ulaw_decode(ulaw_encode(pcm)).tobytes()


async def tts_roundtrip(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    from ..engines import whisper
    from ..engines.espeak import EspeakTTS, hebrew_voice
    from ..engines.spoken import SpokenForm

    sentences = receptionist_sentences(args.lang)
    voice = hebrew_voice(cfg.tts.espeak.voice_he) if args.lang == "he" else cfg.tts.espeak.voice_en
    print(f"# voiced bench tts-roundtrip: {len(sentences)} {args.lang} receptionist sentences, "
          f"espeak-ng voice {voice}, Whisper beam {cfg.stt.whisper.describe_beam(args.lang)}; {machine()}")
    tts = SpokenForm(EspeakTTS(cfg.tts.espeak))
    stt = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper, vocabulary(cfg))
    await synthesize(tts, "שלום" if args.lang == "he" else "hello", args.lang)  # load the models
    score, firsts, decodes = ErrorRate(), [], []
    for sentence in sentences:
        first, audio = await synthesize(tts, sentence, args.lang)
        firsts.append(first)
        heard = await stt.transcribe(phone_line(audio), [args.lang])
        decodes.append(heard.compute_s)
        cer = score.add(speakable(sentence, args.lang), heard.text)
        print(f"CER {cer:.2f}  first audio {1000 * first:5.1f} ms  {sentence}\n"
              f"          heard: {heard.text}")
    summary = {
        "bench": "tts-roundtrip", "lang": args.lang, "voice": voice, "sentences": len(sentences),
        "cer": round(score.cer, 3), "wer": round(score.wer, 3),
        "p50_first_audio_ms": round(1000 * percentile(firsts, 50), 1),
        "p95_first_audio_ms": round(1000 * percentile(firsts, 95), 1),
        "median_decode_s": round(percentile(decodes, 50), 3), "errors": 0, "machine": machine(),
    }
    print(f"CER {summary['cer']}  WER {summary['wer']}  first audio p50 "
          f"{summary['p50_first_audio_ms']} ms  p95 {summary['p95_first_audio_ms']} ms")
    return summary


async def synthesize(tts: Any, text: str, language: str) -> tuple[float, np.ndarray]:
    """Seconds to the first chunk of audio, and all of it as 8 kHz PCM."""
    tx, rx = trio.open_memory_channel[bytes](64)
    chunks: list[bytes] = []
    t0 = time.perf_counter()
    first = 0.0
    async with trio.open_nursery() as nursery:
        async def speak() -> None:
            with tx:
                await tts.synthesize(text, language, tx)
        nursery.start_soon(speak)
        async for chunk in rx:
            if not chunks:
                first = time.perf_counter() - t0
            chunks.append(chunk)
    return first, ulaw_decode(b"".join(chunks))


async def stt_corpus(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    from ..audio import read_wav
    from ..engines import whisper

    files = corpus_files(Path(args.corpus), args.lang, args.files)
    print(f"# voiced bench stt: {len(files)} {args.lang} recordings at 8 kHz mu-law, Whisper beam "
          f"{cfg.stt.whisper.describe_beam(args.lang)}, language fixed; {machine()}")
    stt = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper, vocabulary(cfg))
    score, decodes = ErrorRate(), []
    for path, transcript in files:
        heard = await stt.transcribe(phone_line(read_wav(path)), [args.lang])
        decodes.append(heard.compute_s)
        cer = score.add(transcript, heard.text)
        print(f"CER {cer:.2f}  {heard.compute_s:.2f}s  {path.name}: {heard.text}")
    summary = {
        "bench": "stt", "lang": args.lang, "files": args.files, "recordings": len(files),
        "cer": round(score.cer, 3),
        "wer": round(score.wer, 3), "median_decode_s": round(percentile(decodes, 50), 3),
        "p95_decode_s": round(percentile(decodes, 95), 3), "errors": 0, "machine": machine(),
    }
    print(f"CER {summary['cer']}  WER {summary['wer']}  decode median {summary['median_decode_s']} s")
    return summary
