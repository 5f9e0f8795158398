"""``GET /metrics``: what an operator graphs and alerts on, in Prometheus' text format.

One registry per app (not the library's global one), so two apps in one process (tests,
benchmarks) count separately. With ``server.workers`` processes, prometheus-client's
multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``, set by :mod:`voiced.workers` before any
worker starts): each worker writes its samples to files there, and a scrape of any worker
reads them all, so one target covers the machine.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Reply latencies live between 0.1 s and a few seconds; frame lag in milliseconds.
_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0)
_LAG_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)

# TurnLog.stages() key -> the stage label operators see.
STAGES = {
    "endpoint": "vad_endpoint",
    "stt_after_endpoint": "stt",
    "llm_first_token": "llm_first_token",
    "tts_first_audio": "tts_first_audio",
    "total_server": "reply_total",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # Summed over the live workers; a dead worker's calls leave with it.
        self.active_calls = Gauge("voiced_active_calls", "Calls in progress", registry=r,
                                  multiprocess_mode="livesum")
        self.calls = Counter("voiced_calls", "Calls ended, by outcome", ["outcome"], registry=r)
        self.stage_seconds = Histogram(
            "voiced_stage_latency_seconds",
            "Per-turn latency by stage, from the end of the caller's speech",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=r)
        self.barge_ins = Counter("voiced_barge_ins", "Replies cut off by the caller", registry=r)
        self.cut_offs = Counter("voiced_cut_offs",
                                "Callers answered before they had finished (they went on)",
                                registry=r)
        self.dropped_frames = Counter("voiced_dropped_frames",
                                      "Inbound audio frames dropped (buffer full)", registry=r)
        self.engine_faults = Counter("voiced_engine_faults", "Engine errors, hangs and timeouts",
                                     ["engine", "kind"], registry=r)
        self.frame_lag = Histogram("voiced_inbound_frame_lag_seconds",
                                   "Time an inbound frame waited before the VAD read it",
                                   buckets=_LAG_BUCKETS, registry=r)
        self.loop_lag = Histogram("voiced_event_loop_lag_seconds",
                                  "How late the daemon's event loop woke a sleeping task "
                                  "(every 50 ms): anything that held its one thread",
                                  buckets=_LAG_BUCKETS, registry=r)
        self.refused = Counter("voiced_refused_requests",
                               "Requests and streams refused: no or invalid Twilio signature, "
                               "stream token or SID, or over a bound",
                               registry=r)

    def observe_turn(self, stages: dict[str, float]) -> None:
        for key, label in STAGES.items():
            if key in stages:
                self.stage_seconds.labels(label).observe(max(0.0, stages[key]))

    def render(self) -> bytes:
        shared = os.environ.get(MULTIPROC_ENV)
        if not shared:
            return bytes(generate_latest(self.registry))
        machine = CollectorRegistry()
        MultiProcessCollector(machine, shared)  # type: ignore[no-untyped-call]
        return bytes(generate_latest(machine))
