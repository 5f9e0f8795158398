"""Embedded STT: Whisper base on CTranslate2 (faster-whisper), on the CPU, in a worker thread.

We drive the CTranslate2 model ourselves instead of ``WhisperModel.transcribe`` for one
reason: ``transcribe`` pads every input to Whisper's 30 s window, and on two cores the encoder
then costs ~1.1 s whatever the turn's length. A phone turn is a few seconds; encoding the audio
padded to ``min_context_s`` (6 s by default) costs a fraction with the same transcript, which
is what lets a speculative transcription finish inside the endpoint wait.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import trio

from ..audio import RATE, resample, to_float
from ..config import WhisperConfig
from ..errors import EngineError
from ..events import Recognition
from ..lang import WHISPER
from ..sizing import decodes_at_once
from ..threads import WorkCancelled, one_blas_thread, run_cancellable

log = logging.getLogger("voiced.stt.whisper")

WHISPER_RATE = 16000
FRAMES_PER_S = 100  # mel frames
MAX_FRAMES = 3000


class WhisperSTT:
    def __init__(self, model_dir: Path, cfg: WhisperConfig,
                 vocabulary: Mapping[str, str] | None = None) -> None:
        """``vocabulary``: per language, the business's words, the decoder's previous text
        unless ``cfg.initial_prompt`` names one for every language."""
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self._cfg = cfg
        one_blas_thread()  # the features' product would spin beside CTranslate2 (threads.py)
        t0 = time.perf_counter()
        # CTranslate2 runs one decode at a time per worker and queues the rest, whatever our
        # limiter lets through: as many workers as decodes may run at once (they share the
        # weights; measured, the same resident memory).
        decodes = decodes_at_once(cfg)
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type=cfg.compute_type,
            cpu_threads=cfg.cpu_threads, num_workers=decodes,
        )
        self._tokenizers = {
            lang: Tokenizer(self._model.hf_tokenizer, True, task="transcribe", language=code)
            for lang, code in WHISPER.items()
        }
        any_tok = self._tokenizers["en"]
        self._suppress = get_suppressed_tokens(any_tok, [-1])
        prompts = {lang: cfg.initial_prompt for lang in WHISPER} if cfg.initial_prompt.strip() \
            else dict(vocabulary or {})
        self._prompt_tokens = {lang: any_tok.encode(" " + text.strip())[-200:]
                               for lang, text in prompts.items() if text.strip()}
        # One limiter for the process: that many decodes, each on cfg.cpu_threads cores.
        self._limiter = trio.CapacityLimiter(decodes)
        # CTranslate2's first inference allocates and tunes; pay that at start-up, not on the
        # first caller's first turn.
        self._run(bytes(RATE * 2), ("en",), threading.Event())
        log.info("Whisper base loaded and warmed in %.2fs (%s)", time.perf_counter() - t0,
                 cfg.compute_type)

    @property
    def limiter(self) -> trio.CapacityLimiter:
        return self._limiter

    async def transcribe(self, pcm: bytes, languages: Sequence[str],
                         context: str = "") -> Recognition:
        work = partial(self._run, pcm, tuple(languages), context=context)
        return await run_cancellable(work, limiter=self._limiter, name="voiced-whisper")

    def _run(self, pcm: bytes, languages: tuple[str, ...], cancelled: threading.Event,
             context: str = "") -> Recognition:
        import ctranslate2

        t0 = time.perf_counter()
        audio = resample(to_float(np.frombuffer(pcm, dtype="<i2")), RATE, WHISPER_RATE)
        seconds = audio.size / WHISPER_RATE
        frames = min(
            MAX_FRAMES,
            max(int(self._cfg.min_context_s * FRAMES_PER_S), math.ceil(seconds + 2.0) * FRAMES_PER_S),
        )
        keep = frames * WHISPER_RATE // FRAMES_PER_S
        audio = audio[-keep:]  # a turn longer than 30 s keeps its end, where the question is
        audio = np.pad(audio, (0, keep - audio.size))
        features = self._model.feature_extractor(audio)[:, :frames]
        if cancelled.is_set():
            raise WorkCancelled
        encoded = self._model.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], np.float32)),
            to_cpu=False,
        )
        if cancelled.is_set():
            raise WorkCancelled
        language = languages[0]
        guessed = len(languages) > 1 and seconds < self._cfg.language_switch_min_s
        if len(languages) > 1 and not guessed:
            probs = dict(self._model.model.detect_language(encoded)[0])
            odds = {lang: probs.get(f"<|{WHISPER[lang]}|>", 0.0) for lang in languages}
            best = max(languages, key=lambda lang: odds[lang])
            if odds[best] > self._cfg.language_switch_odds * odds[language]:
                language = best
        tok = self._tokenizers[language]
        # The business's words, then the caller's own just before this audio: the decoder's
        # previous text, its most recent 200 tokens.
        before = self._prompt_tokens.get(language, []) + \
            (tok.encode(" " + context.strip()) if context.strip() else [])
        prompt: list[int] = [tok.sot_prev, *before[-200:]] if before else []
        prompt += [*tok.sot_sequence, tok.no_timestamps]
        budget = min(self._cfg.max_new_tokens, 16 + int(seconds * 14))
        result: Any = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self._cfg.beam_for(language, seconds),
            max_length=len(prompt) + budget,
            no_repeat_ngram_size=self._cfg.no_repeat_ngram_size,
            repetition_penalty=self._cfg.repetition_penalty,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_no_speech_prob=True,
            return_scores=True,
        )[0]
        ids = [t for t in result.sequences_ids[0] if t < tok.eot]
        text = tok.decode(ids).strip()
        # CTranslate2 scores are length-normalised log-probabilities.
        logprob = result.scores[0] * len(ids) / (len(ids) + 1) if result.scores else 0.0
        if result.no_speech_prob > self._cfg.no_speech_threshold and logprob < -1.0:
            text = ""
        return Recognition(text=text, language=language, compute_s=time.perf_counter() - t0,
                           guessed=guessed)


def load(model_dir: str, cfg: WhisperConfig,
         vocabulary: Mapping[str, str] | None = None) -> WhisperSTT:
    from .. import models

    path = Path(model_dir) if model_dir else models.whisper_base()
    if not (path / "model.bin").is_file():
        raise EngineError(f"no Whisper model at {path}")
    return WhisperSTT(path, cfg, vocabulary)
