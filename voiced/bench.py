"""``voiced bench``: measurements on the real clock, printed as percentiles and one JSON line.

Benchmarks are commands, not tests: tests check behaviour on a virtual clock, these measure
what this machine actually does. ``e2e`` runs sequential emulated Twilio calls of real
recorded speech against a daemon in this process on the embedded engines.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import logging
import platform
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trio

from .config import Config
from .dial import DialOptions, Utterance
from .latency import TurnLog
from .metrics import Metrics
from .runner import dial_url, local_daemon, signed_options

log = logging.getLogger("voiced.bench")


def corpus_files(corpus: Path, lang: str) -> list[tuple[Path, str]]:
    """The transcribed utterances of one language with their transcripts, in manifest order."""
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(corpus / r["file"], r["transcript"].strip()) for r in rows
            if r["language"] == lang and r["transcript"].strip()]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def machine() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


class TurnCollector(logging.Handler):
    """Collects the daemon's per-turn latency records (see ``TurnLog.first_audio``)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.turns: list[TurnLog] = []

    def emit(self, record: logging.LogRecord) -> None:
        turn = getattr(record, "turn", None)
        if isinstance(turn, TurnLog):
            self.turns.append(turn)

    def __enter__(self) -> TurnCollector:
        logger = logging.getLogger("voiced.latency")
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("voiced.latency").removeHandler(self)

    def percentiles(self) -> dict[str, dict[str, float]]:
        keys = sorted({k for t in self.turns for k in t.stages()})
        out = {}
        for key in keys:
            values = [t.stages()[key] for t in self.turns if key in t.stages()]
            out[key] = {"p50_ms": round(1000 * percentile(values, 50), 1),
                        "p95_ms": round(1000 * percentile(values, 95), 1)}
        return out


@dataclass
class CallStats:
    latencies: list[float] = field(default_factory=list)
    barge_in_stops: list[float] = field(default_factory=list)
    turns: int = 0
    cut_offs: int = 0
    errors: int = 0
    max_gap_ms: int = 0


async def sequential_calls(
    url: str, utterances: list[Utterance], calls: int, turns: int, opts: DialOptions
) -> CallStats:
    """``calls`` calls one after the other, each saying the next ``turns`` utterances.
    A cut-off turn (the agent spoke before the caller finished) counts as such, not as a
    latency."""
    stats = CallStats()
    for call in range(calls):
        await one_call(url, utterances, call, turns, opts, stats)
    return stats


async def concurrent_calls(url: str, utterances: list[Utterance], concurrency: int, turns: int,
                           opts: DialOptions) -> CallStats:
    """``concurrency`` calls at once, started within one second of each other."""
    stats = CallStats()
    async with trio.open_nursery() as nursery:
        for call in range(concurrency):
            nursery.start_soon(one_call, url, utterances, call, turns, opts, stats)
            await trio.sleep(1.0 / concurrency)
    return stats


async def one_call(url: str, utterances: list[Utterance], call: int, turns: int,
                   opts: DialOptions, stats: CallStats) -> None:
    k = call * turns
    says = [utterances[(k + j) % len(utterances)] for j in range(turns)]
    result = await dial_url(url, says, opts)
    stats.max_gap_ms = max(stats.max_gap_ms, result.max_gap_ms)
    stats.errors += result.protocol_errors + len(says) - len(result.turns)
    for turn in result.turns:
        stats.turns += 1
        line = f"call {call + 1}: {turn.name}:"
        if turn.barge_in_stop_s is not None:
            stats.barge_in_stops.append(turn.barge_in_stop_s)
            line += f" barge-in stop {turn.barge_in_stop_s:.3f}s,"
        elif opts.barge_in_after_ms is not None and turn is not result.turns[0]:
            stats.errors += 1
            line += " BARGE-IN IGNORED,"
        if turn.cut_off:
            stats.cut_offs += 1
            print(f"{line} CUT OFF (the agent spoke before the caller finished)")
        elif turn.latency_s is None:
            stats.errors += 1
            print(f"{line} NO REPLY")
        else:
            stats.latencies.append(turn.latency_s)
            print(f"{line} reply latency {turn.latency_s:.3f}s")


def frame_lag_p99_ms(metrics: Metrics) -> float | None:
    """The histogram bucket bound under which 99 % of inbound frames were processed."""
    buckets = [(float(sample.labels["le"]), sample.value)
               for family in metrics.frame_lag.collect() for sample in family.samples
               if sample.name.endswith("_bucket")]
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    return next(1000 * le for le, count in buckets if count >= 0.99 * total)


@asynccontextmanager
async def sim_engines(cfg: Config, language: str,
                      known: list[tuple[Utterance, str]]) -> AsyncIterator[Config]:
    """Local servers that speak Google's gRPC and OpenAI's SSE protocols with the default sim
    latency profile (STT final 150 ms after the end of audio, LLM first token 350 ms then
    15 ms a token, TTS first audio 120 ms); yields ``cfg`` pointed at them. Recognition is an
    oracle over the ``known`` recordings (see :mod:`voiced.testing.oracle`)."""
    from .testing.google_server import FakeGoogle
    from .testing.llm_server import FakeLLM
    from .testing.oracle import CorpusOracle

    google = FakeGoogle(words_for=CorpusOracle(known), final_delay_s=0.15, tts_delay_s=0.12)
    google.start()
    try:
        async with FakeLLM(ttft_s=0.35, per_token_s=0.015).running() as llm_url:
            at = google.endpoint
            yield dataclasses.replace(
                cfg,
                stt=dataclasses.replace(cfg.stt, engine="google", google=dataclasses.replace(
                    cfg.stt.google, endpoint=at, insecure=True)),
                tts=dataclasses.replace(cfg.tts, engine="google", google=dataclasses.replace(
                    cfg.tts.google, endpoint=at, insecure=True)),
                brain=dataclasses.replace(cfg.brain, engine="openai",
                                          openai=dataclasses.replace(cfg.brain.openai, base_url=llm_url)),
                call=dataclasses.replace(cfg.call, languages=(language,)),
            )
    finally:
        google.stop()


async def run_bench(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    files = corpus_files(Path(args.corpus), args.lang)
    if not files:
        raise SystemExit(f"no {args.lang} utterances in {args.corpus}")
    known = [(Utterance.from_wav(f), transcript) for f, transcript in files]
    utterances = [u for u, _ in known]
    t0 = time.perf_counter()
    print(f"# voiced bench e2e --engines {args.engines}: {args.calls} sequential calls x "
          f"{args.turns} turns, {args.lang} corpus, vad.silence_ms={cfg.vad.silence_ms}; {machine()}")
    async with AsyncExitStack() as stack:
        if args.engines == "sim":
            cfg = await stack.enter_async_context(sim_engines(cfg, args.lang, known))
        collector = stack.enter_context(TurnCollector())
        token = secrets.token_urlsafe(24)  # the daemon checks signatures as in production
        metrics = Metrics()
        url = await stack.enter_async_context(local_daemon(cfg, auth_token=token, metrics=metrics))
        opts = signed_options(cfg, DialOptions(barge_in_after_ms=args.barge_in_after_ms), token)
        if args.concurrency > 1:
            stats = await concurrent_calls(url, utterances, args.concurrency, args.turns, opts)
        else:
            stats = await sequential_calls(url, utterances, args.calls, args.turns, opts)
    stages = collector.percentiles()
    overheads = [t.stages()["overhead"] for t in collector.turns if "overhead" in t.stages()]
    print("daemon-side stages (ms):")
    for key, value in stages.items():
        print(f"  {key:20s} p50 {value['p50_ms']:8.1f}  p95 {value['p95_ms']:8.1f}")
    heard = stats.latencies
    summary = {
        "bench": "e2e",
        "engines": args.engines,
        "p95_overhead_ms": round(1000 * percentile(overheads, 95), 1) if overheads else None,
        "lang": args.lang,
        "calls": args.calls,
        "turns": len(heard),
        "errors": stats.errors,
        "p50_reply_s": round(percentile(heard, 50), 3),
        "p95_reply_s": round(percentile(heard, 95), 3),
        "max_reply_s": round(max(heard), 3) if heard else None,
        "silence_ms": cfg.vad.silence_ms,
        "cut_offs": stats.cut_offs,
        "concurrency": args.concurrency,
        "dropped_frames": int(metrics.registry.get_sample_value("voiced_dropped_frames_total") or 0),
        "frame_lag_p99_ms": frame_lag_p99_ms(metrics),
        "max_outbound_gap_ms": stats.max_gap_ms,
        "cut_off_rate": round(stats.cut_offs / stats.turns, 3) if stats.turns else None,
        "stages_ms": stages,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    if stats.barge_in_stops:
        stops = stats.barge_in_stops
        summary |= {"barge_ins": len(stops),
                    "p50_barge_in_stop_s": round(percentile(stops, 50), 3),
                    "p95_barge_in_stop_s": round(percentile(stops, 95), 3)}
        print(f"barge-in stop (caller onset to agent silent): p50 {summary['p50_barge_in_stop_s']}s"
              f"  p95 {summary['p95_barge_in_stop_s']}s over {len(stops)} barge-ins")
    print(f"cut-offs: {stats.cut_offs} of {stats.turns} turns")
    print(f"inbound frame lag p99 <= {summary['frame_lag_p99_ms']} ms; dropped frames "
          f"{summary['dropped_frames']}; longest mid-sentence gap at the caller's ear "
          f"{stats.max_gap_ms} ms")
    print(f"reply latency (caller's ear): p50 {summary['p50_reply_s']}s  "
          f"p95 {summary['p95_reply_s']}s  max {summary['max_reply_s']}s over {len(heard)} turns, "
          f"{stats.errors} errors")
    return summary
