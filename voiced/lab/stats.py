"""Numbers the benchmarks report: percentiles, the machine they ran on, CPU used."""

from __future__ import annotations

import base64
import json
import os
import platform
import resource
import time
from collections.abc import Iterable

import numpy as np
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from ..metrics import Metrics


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def speed_probe(rounds: int = 9) -> float:
    """CPU milliseconds this machine takes, now, for a fixed piece of the daemon's kind of work
    (JSON, base64, small numpy arrays, Python arithmetic; about 10 ms), the least of
    ``rounds``. This benchmark machine's speed drifts by a fifth over hours (the same tree read
    41 to 56 % of a core for 20 calls on one day): figures taken at different times compare
    only beside it."""
    message = json.dumps({"event": "media", "media": {"payload": "/" * 216}})
    x = np.arange(160, dtype=np.float32)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.thread_time()
        total = 0.0
        for i in range(2000):
            total += len(json.loads(message)["media"]["payload"])
            total += len(base64.b64decode(base64.b64encode(bytes(160))))
            total += float(np.square(x).sum()) + sum(range(i % 50))
        best = min(best, time.thread_time() - t0)
    return round(1000 * best, 2)


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


def _lag_buckets(metrics: Metrics | Iterable[Metric]) -> list[tuple[float, float]]:
    families = metrics.frame_lag.collect() if isinstance(metrics, Metrics) else \
        [f for f in metrics if f.name == "voiced_inbound_frame_lag_seconds"]
    return [(float(sample.labels["le"]), sample.value)
            for family in families for sample in family.samples
            if sample.name.endswith("_bucket")]


def frame_lag_p99_ms(metrics: Metrics | Iterable[Metric]) -> float | None:
    """The histogram bucket bound under which 99 % of inbound frames were processed: from an
    app's metrics, or from a scrape's families (worker processes)."""
    buckets = _lag_buckets(metrics)
    total = buckets[-1][1] if buckets else 0
    if not total:
        return None
    return next(1000 * le for le, count in buckets if count >= 0.99 * total)


def frame_lag_within_pct(metrics: Metrics | Iterable[Metric], seconds: float) -> float | None:
    """The share of inbound frames processed within ``seconds`` (a bucket bound), in %: how
    far from a p99 target a run was, where the p99's bucket says only which side."""
    buckets = _lag_buckets(metrics)
    total = buckets[-1][1] if buckets else 0
    within = [count for le, count in buckets if abs(le - seconds) < 1e-9]
    if not total or not within:
        return None
    return round(100 * within[0] / total, 2)


def scrape(text: str) -> list[Metric]:
    """A /metrics page as metric families."""
    return list(text_string_to_metric_families(text))


def sample_value(families: Iterable[Metric], name: str) -> float:
    """The sum of a sample's values over its labels (0 when absent)."""
    return sum(s.value for f in families for s in f.samples if s.name == name)


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU a live process has used, from Linux's /proc (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
