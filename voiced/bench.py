"""``voiced bench``: measurements on the real clock, printed as percentiles and one JSON line.

Benchmarks are commands, not tests: tests check behaviour on a virtual clock, these measure
what this machine actually does. ``e2e`` runs sequential emulated Twilio calls of real
recorded speech against a daemon in this process on the embedded engines.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
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


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def machine_ticks() -> tuple[int, int] | None:
    """(busy, total) CPU ticks of the whole machine since boot, from Linux's /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def machine_cpu_pct(before: tuple[int, int] | None) -> float | None:
    """The whole machine's CPU since ``before``, in % of one core (200 = two cores busy):
    the daemon, the emulated callers and the sim engines together."""
    after = machine_ticks()
    if before is None or after is None or after[1] == before[1]:
        return None
    return round(100 * (os.cpu_count() or 1) * (after[0] - before[0]) / (after[1] - before[1]), 1)


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
async def sim_engines(cfg: Config, language: str, corpus: Path,
                      concurrency: int = 1) -> AsyncIterator[Config]:
    """Local servers that speak Google's gRPC and OpenAI's SSE protocols with the default sim
    latency profile, in a process of their own (:mod:`voiced.testing.sim_servers`); yields
    ``cfg`` pointed at them. Recognition is an oracle over the ``corpus`` recordings (see
    :mod:`voiced.testing.oracle`)."""
    command = [sys.executable, "-m", "voiced.testing.sim_servers", "--corpus", str(corpus),
               "--lang", language, "--max-workers", str(2 * concurrency + 8)]
    async with trio.open_nursery() as nursery:
        proc: trio.Process = await nursery.start(partial(
            trio.run_process, command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            check=False))
        assert proc.stdin is not None and proc.stdout is not None
        line = b""
        while not line.endswith(b"\n"):
            chunk = await proc.stdout.receive_some()
            if not chunk:
                raise RuntimeError("the sim engine servers exited before they were ready")
            line += chunk
        at = json.loads(line)
        try:
            yield dataclasses.replace(
                cfg,
                stt=dataclasses.replace(cfg.stt, engine="google", google=dataclasses.replace(
                    cfg.stt.google, endpoint=at["google"], insecure=True)),
                tts=dataclasses.replace(cfg.tts, engine="google", google=dataclasses.replace(
                    cfg.tts.google, endpoint=at["google"], insecure=True)),
                brain=dataclasses.replace(cfg.brain, engine="openai", openai=dataclasses.replace(
                    cfg.brain.openai, base_url=at["llm"])),
                call=dataclasses.replace(cfg.call, languages=(language,)),
            )
        finally:
            await proc.stdin.aclose()  # the servers' signal to stop


def merge(stats: list[CallStats]) -> CallStats:
    out = CallStats()
    for s in stats:
        out.latencies += s.latencies
        out.barge_in_stops += s.barge_in_stops
        out.turns += s.turns
        out.cut_offs += s.cut_offs
        out.errors += s.errors
        out.max_gap_ms = max(out.max_gap_ms, s.max_gap_ms)
    return out


async def caller_processes(url: str, opts: DialOptions, corpus: Path, language: str, *,
                           calls: int, first: int, concurrency: int, turns: int,
                           procs: int = 1) -> CallStats:
    """``calls`` emulated calls, ``concurrency`` at a time, from ``procs`` processes of
    :mod:`voiced.loadgen`, so that the callers' CPU is not charged to the daemon."""
    procs = max(1, min(procs, concurrency, calls))
    env = dict(os.environ)
    if opts.auth_token:
        from .loadgen import TOKEN_ENV

        env[TOKEN_ENV] = opts.auth_token
    results: list[CallStats] = []
    with tempfile.TemporaryDirectory(prefix="voiced-loadgen-") as tmp:

        async def one(i: int, n_calls: int, start: int, at_once: int) -> None:
            out = Path(tmp) / f"{i}.json"
            command = [sys.executable, "-m", "voiced.loadgen", "--url", url,
                       "--signed-url", opts.signed_url, "--signed-voice-url", opts.signed_voice_url,
                       "--voice-path", opts.voice_path, "--corpus", str(corpus),
                       "--lang", language, "--calls", str(n_calls), "--first", str(start),
                       "--concurrency", str(at_once), "--turns", str(turns), "--out", str(out)]
            if opts.barge_in_after_ms is not None:
                command += ["--barge-in-after-ms", str(opts.barge_in_after_ms)]
            await trio.run_process(command, env=env)
            results.append(CallStats(**json.loads(out.read_text(encoding="utf-8"))))

        async with trio.open_nursery() as nursery:
            start = first
            for i in range(procs):
                n_calls = calls // procs + (i < calls % procs)
                at_once = concurrency // procs + (i < concurrency % procs)
                nursery.start_soon(one, i, n_calls, start, at_once)
                start += n_calls
    return merge(results)


async def run_bench(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    files = corpus_files(Path(args.corpus), args.lang)
    if not files:
        raise SystemExit(f"no {args.lang} utterances in {args.corpus}")
    sim = args.engines == "sim"
    calls = max(args.calls, args.concurrency)
    t0 = time.perf_counter()
    if sim:
        print(f"# voiced bench e2e --engines sim: {calls} calls x {args.turns} turns, "
              f"{args.concurrency} at a time from {args.caller_procs} caller process(es); engines "
              f"and callers in processes of their own; {args.lang} corpus, "
              f"vad.silence_ms={cfg.vad.silence_ms}; {machine()}")
    else:
        print(f"# voiced bench e2e --engines {args.engines}: {args.calls} sequential calls x "
              f"{args.turns} turns, {args.lang} corpus, vad.silence_ms={cfg.vad.silence_ms}; "
              f"{machine()}")
    async with AsyncExitStack() as stack:
        if sim:
            cfg = await stack.enter_async_context(
                sim_engines(cfg, args.lang, Path(args.corpus), args.concurrency))
        collector = stack.enter_context(TurnCollector())
        token = secrets.token_urlsafe(24)  # the daemon checks signatures as in production
        metrics = Metrics()
        url = await stack.enter_async_context(local_daemon(cfg, auth_token=token, metrics=metrics))
        opts = signed_options(cfg, DialOptions(barge_in_after_ms=args.barge_in_after_ms), token)
        t_calls = time.perf_counter()
        cpu_calls = resource.getrusage(resource.RUSAGE_SELF)
        ticks_calls = machine_ticks()
        if sim:
            stats = await caller_processes(url, opts, Path(args.corpus), args.lang, calls=calls,
                                           first=0, concurrency=args.concurrency,
                                           turns=args.turns, procs=args.caller_procs)
        else:
            utterances = [Utterance.from_wav(f) for f, _ in files]
            stats = await sequential_calls(url, utterances, args.calls, args.turns, opts)
        daemon_cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - cpu_seconds(cpu_calls)
        all_cpu = machine_cpu_pct(ticks_calls)
        calls_wall = time.perf_counter() - t_calls
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
        "calls": calls if sim else args.calls,
        "turns": len(heard),
        "errors": stats.errors,
        "p50_reply_s": round(percentile(heard, 50), 3),
        "p95_reply_s": round(percentile(heard, 95), 3),
        "max_reply_s": round(max(heard), 3) if heard else None,
        "silence_ms": cfg.vad.silence_ms,
        "cut_offs": stats.cut_offs,
        "concurrency": args.concurrency,
        # The daemon's process (Whisper included for the embedded engines) while calls ran.
        "daemon_cpu_pct": round(100 * daemon_cpu / calls_wall, 1),
        "machine_cpu_pct": all_cpu,
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
    print(f"daemon process CPU while calls ran: {summary['daemon_cpu_pct']} % of one core; "
          f"whole machine (callers and sim engines too): {all_cpu} % of one core, of "
          f"{100 * (os.cpu_count() or 1)} %")
    print(f"inbound frame lag p99 <= {summary['frame_lag_p99_ms']} ms; dropped frames "
          f"{summary['dropped_frames']}; longest mid-sentence gap at the caller's ear "
          f"{stats.max_gap_ms} ms")
    print(f"reply latency (caller's ear): p50 {summary['p50_reply_s']}s  "
          f"p95 {summary['p95_reply_s']}s  max {summary['max_reply_s']}s over {len(heard)} turns, "
          f"{stats.errors} errors")
    return summary
