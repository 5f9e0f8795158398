"""``voiced bench``: measurements on the real clock, printed as percentiles and one JSON line.

Benchmarks are commands, not tests: tests check behaviour on a virtual clock, these measure
what this machine actually does. ``e2e`` runs sequential emulated Twilio calls of real
recorded speech against a daemon in this process on the embedded engines.
"""

from __future__ import annotations

import argparse
import csv
import logging
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .dial import DialOptions, Utterance
from .runner import dial_url, local_daemon

log = logging.getLogger("voiced.bench")


def corpus_files(corpus: Path, lang: str) -> list[Path]:
    """The transcribed utterances of one language, in manifest order."""
    manifest = corpus / "MANIFEST.tsv"
    with manifest.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [corpus / r["file"] for r in rows if r["language"] == lang and r["transcript"].strip()]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def machine() -> str:
    import os

    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


async def run_bench(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    files = corpus_files(Path(args.corpus), args.lang)
    if not files:
        raise SystemExit(f"no {args.lang} utterances in {args.corpus}")
    utterances = [Utterance.from_wav(f) for f in files]
    latencies: list[float] = []
    errors = 0
    t0 = time.perf_counter()
    print(f"# voiced bench e2e: {args.calls} sequential calls x {args.turns} turns, "
          f"{args.lang} corpus, vad.silence_ms={cfg.vad.silence_ms}; {machine()}")
    async with local_daemon(cfg) as url:
        k = 0
        for call in range(args.calls):
            says = [utterances[(k + j) % len(utterances)] for j in range(args.turns)]
            k += args.turns
            result = await dial_url(url, says, DialOptions())
            errors += result.protocol_errors
            for turn in result.turns:
                if turn.latency_s is None:
                    errors += 1
                    print(f"call {call + 1}: {turn.name}: NO REPLY")
                else:
                    latencies.append(turn.latency_s)
                    print(f"call {call + 1}: {turn.name}: reply latency {turn.latency_s:.3f}s")
            errors += len(says) - len(result.turns)
    summary = {
        "bench": "e2e",
        "calls": args.calls,
        "turns": len(latencies),
        "errors": errors,
        "p50_reply_s": round(percentile(latencies, 50), 3),
        "p95_reply_s": round(percentile(latencies, 95), 3),
        "max_reply_s": round(max(latencies), 3) if latencies else None,
        "silence_ms": cfg.vad.silence_ms,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }
    print(f"reply latency: p50 {summary['p50_reply_s']}s  p95 {summary['p95_reply_s']}s  "
          f"max {summary['max_reply_s']}s over {len(latencies)} turns, {errors} errors")
    return summary
