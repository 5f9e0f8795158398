"""``voiced bench soak``: many calls through one daemon, watching for leaks.

A daemon that runs for weeks must give back what each call took: its tasks, threads (the
gRPC bridge), sockets and memory. This runs ``--calls`` calls (``--concurrency`` at a time,
each one corpus utterance and its answer) against the sim engines and samples the daemon's
threads, open file descriptors and resident memory after a warm-up and at the end. The
engines and the callers run in processes of their own, so the samples are the daemon's alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import trio

from ..config import Config
from ..metrics import Metrics
from .callers import CallStats, caller_processes, merge
from .dial import DialOptions
from .runner import local_daemon, signed_options
from .sim.servers import sim_engines
from .stats import machine

# Trio keeps an idle worker thread for 10 s in case another call wants it; a sample taken
# sooner would count threads that are about to go.
IDLE_THREAD_S = 11.0


def resources() -> dict[str, float]:
    gc.collect()
    rss_kb = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    return {"threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")),
            "rss_mb": round(rss_kb / 1024, 1)}


async def run_soak(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    corpus = Path(args.corpus)
    warmup = min(args.warmup, args.calls)
    print(f"# voiced bench soak: {args.calls} calls, {args.concurrency} at a time, sim engines "
          f"and callers in processes of their own, samples the daemon's process after {warmup} "
          f"calls and at the end; {machine()}")
    results: list[CallStats] = []
    samples: list[dict[str, float]] = []
    t0 = time.perf_counter()
    async with sim_engines(cfg, args.lang, corpus, args.concurrency, args.recognizer) as sim_cfg:
        token = secrets.token_urlsafe(24)
        async with local_daemon(sim_cfg, auth_token=token, metrics=Metrics()) as url:
            opts = signed_options(sim_cfg, DialOptions(), token)
            # Samples are taken between the phases, with no call in progress.
            for first_call, last_call in ((0, warmup), (warmup, args.calls)):
                results.append(await caller_processes(
                    url, opts, corpus, args.lang, calls=last_call - first_call,
                    first=first_call, concurrency=args.concurrency, turns=1,
                    procs=args.caller_procs))
                await trio.sleep(IDLE_THREAD_S)  # the calls' worker threads wind down
                samples.append(resources())
                print(f"after {last_call} calls: {samples[-1]}", flush=True)
    stats = merge(results)
    first, last = samples[0], samples[-1]
    summary = {
        "bench": "soak", "calls": args.calls, "concurrency": args.concurrency,
        "turns": stats.turns, "errors": stats.errors, "after_warmup": first, "at_end": last,
        "thread_growth": last["threads"] - first["threads"], "fd_growth": last["fds"] - first["fds"],
        "rss_growth_pct": round(100 * (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"], 1),
        "wall_s": round(time.perf_counter() - t0, 1), "machine": machine(),
    }
    print(f"after warm-up {first}; at the end {last}: threads {summary['thread_growth']:+d}, "
          f"fds {summary['fd_growth']:+d}, RSS {summary['rss_growth_pct']:+.1f} %")
    return summary
