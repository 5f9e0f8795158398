"""``voiced bench pauses``: what the smart endpoint would do at every pause of the corpus.

The e2e benchmark's cut-offs are the smart endpoint answering a pause inside a sentence
(``turn.min_silence_ms`` of silence after words that read as finished); run to run they
depend on how soon the speculative transcript is ready. This takes time out of it: each
recording goes through the daemon's own level gate and endpointer, and at every pause the
endpointer reports, the audio so far is transcribed as the speculative pass would (the
embedded Whisper, with the business's words), and :func:`~voiced.stages.turns.looks_complete`
judges it. A recording is *cut off* at a smart wait W if some pause inside it at least W long
reads as finished; the answer's wait is W where its last words read as finished, else
``vad.silence_ms``. An upper bound on the e2e cut-offs (there a transcript can come too late
to matter), for any W, in one pass.

With the end-of-turn model installed (``turn.model``), each pause is also judged by it, on the
turn's audio up to ``turn.speculate_after_ms`` into the pause (the daemon asks it when words
that read as finished are in: with Whisper 250-600 ms into the pause; judged offline at 200,
300 and 400 ms, the counts moved by a recording or two), and the table says what the smart
endpoint does with both: W where the words read finished and the model hears the turn complete
(``turn.model_complete``), ``turn.unsure_silence_ms`` where the words read finished and it
does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..audio import FRAME_BYTES_PCM, FRAME_MS, RATE, frames, read_wav
from ..build import build_engines
from ..config import Config
from ..engines.turn import SmartTurn
from ..engines.vad import call_classifier
from ..events import SpeechEnded, SpeechPaused, SpeechResumed, SpeechStarted
from ..stages.stt import BatchRecognizer
from ..stages.turns import looks_complete
from ..stages.vad import Endpointer
from .corpus import corpus_files
from .stats import machine

WAITS_MS = (300, 400, 450, 500, 550, 600, 700)


@dataclass(frozen=True)
class Pause:
    file: str
    gap_s: float | None  # None: the end of the recording
    complete: bool  # the speculative transcript reads as finished
    text: str
    turn_complete: float | None = None  # the end-of-turn model's judgement, if installed


def pauses_of(pcm: Any, cfg: Config) -> list[tuple[float, float, float | None]]:
    """(speech start, pause start, pause length or None for the end) per pause, in seconds."""
    gate = call_classifier(cfg.vad)
    ep = Endpointer(cfg.vad, cfg.turn, cfg.bargein)
    silence = [bytes(FRAME_BYTES_PCM)] * (cfg.vad.silence_ms // FRAME_MS + 5)
    out: list[tuple[float, float, float | None]] = []
    start: float | None = None
    paused: float | None = None
    for i, chunk in enumerate([c.tobytes() for c in frames(pcm)] + silence):
        t = (i + 1) * FRAME_MS / 1000
        for ev in ep.push(gate.is_speech(chunk), t):
            if isinstance(ev, SpeechStarted) and start is None:
                start = ev.t
            elif isinstance(ev, SpeechPaused):
                paused = ev.t_end
            elif isinstance(ev, SpeechResumed) and paused is not None and start is not None:
                out.append((start, paused, ev.t - paused))
                paused = None
            elif isinstance(ev, SpeechEnded) and start is not None:
                out.append((start, ev.t_end, None))
                return out
    return out


async def bench_pauses(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    files = corpus_files(Path(args.corpus), args.lang, args.files)
    print(f"# voiced bench pauses: {len(files)} {args.lang} recordings, the speculative "
          f"transcript at each pause; {machine()}")
    async with httpx.AsyncClient() as http:
        engines = build_engines(cfg, http)
        stt = engines.stt
        if not isinstance(stt, BatchRecognizer):
            raise SystemExit("bench pauses transcribes with a batch recogniser (stt.engine = "
                             "\"whisper\")")
        transcribe = stt.engine.transcribe
        model = engines.turn_model
        if isinstance(model, SmartTurn):
            print(f"# the end-of-turn model judges each pause (complete at "
                  f">= {cfg.turn.model_complete}, else {cfg.turn.unsure_silence_ms} ms)"
                  + ("" if args.lang in cfg.turn.model_languages else
                     f"; {args.lang} is not in turn.model_languages: the daemon would not ask"))
        rows = []
        for path, _ in files:
            pcm = read_wav(path)
            for start, at, gap in pauses_of(pcm, cfg):
                lo = max(0, int((start - cfg.vad.preroll_ms / 1000) * RATE))
                hi = int((at + cfg.turn.speculate_after_ms / 1000) * RATE)
                text = (await transcribe(pcm[lo:hi].tobytes(), [args.lang])).text
                judged = round(model.complete(pcm[lo:hi].tobytes()), 3) \
                    if isinstance(model, SmartTurn) else None
                rows.append(Pause(path.name, None if gap is None else round(gap, 2),
                                  looks_complete(text, cfg.turn.min_complete_words), text,
                                  judged))
                print(json.dumps(dataclasses.asdict(rows[-1]), ensure_ascii=False))
    by_file: dict[str, list[Pause]] = {}
    for row in rows:
        by_file.setdefault(row.file, []).append(row)
    table = {}
    for wait in WAITS_MS:
        table[wait] = _at_wait(by_file, wait, cfg, model=False)
        line = f"smart wait {wait} ms: {_said(table[wait])}"
        if isinstance(model, SmartTurn):
            table[wait]["with_model"] = _at_wait(by_file, wait, cfg, model=True)
            line += f"; with the end-of-turn model: {_said(table[wait]['with_model'])}"
        print(line)
    inner = [r for r in rows if r.gap_s is not None]
    ends = [r for r in rows if r.gap_s is None]
    print(f"{len(inner)} pauses inside recordings, {sum(r.complete for r in inner)} of them "
          f"after words that read as finished; {sum(r.complete for r in ends)} of "
          f"{len(ends)} ends read as finished")
    return {"bench": "pauses", "lang": args.lang, "files": args.files, "waits": table, "errors": 0,
            "machine": machine()}


def _wait_ms(row: Pause, wait: int, cfg: Config, model: bool) -> int:
    """How long the smart endpoint waits at this pause before answering."""
    if not row.complete:
        return cfg.vad.silence_ms
    if model and (row.turn_complete is None or row.turn_complete < cfg.turn.model_complete):
        return max(wait, cfg.turn.unsure_silence_ms)
    return wait


def _at_wait(by_file: dict[str, list[Pause]], wait: int, cfg: Config,
             model: bool) -> dict[str, Any]:
    cut = sum(any(r.gap_s is not None and r.gap_s * 1000 >= _wait_ms(r, wait, cfg, model)
                  for r in rs) for rs in by_file.values())
    answered = [_wait_ms(rs[-1], wait, cfg, model) for rs in by_file.values()]
    return {"cut_off": cut, "of": len(by_file),
            "mean_wait_ms": round(sum(answered) / max(1, len(answered)))}


def _said(row: dict[str, Any]) -> str:
    return (f"{row['cut_off']} of {row['of']} recordings cut off; mean wait at the end "
            f"{row['mean_wait_ms']} ms")
