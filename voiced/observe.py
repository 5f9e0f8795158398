"""Calls seen from outside: each call's events become Prometheus metrics and call records."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .callstate import Call
from .errors import Engine, FaultKind
from .events import EndReason
from .metrics import Metrics
from .records import CallRecords


class Observer:
    def __init__(self, metrics: Metrics | None = None, records: CallRecords | None = None,
                 worker: int = 0) -> None:
        self.metrics = metrics
        self.records = records
        self.worker = worker  # which of server.workers served the call

    def started(self, call: Call) -> None:
        if self.records is not None:
            self.records.write({"type": "start", "id": call.uid, "call": call.id,
                                "stream": call.start.stream_sid,
                                "caller": call.caller, "t": round(call.started_at, 3),
                                "worker": self.worker})

    def fault(self, call: Call, engine: Engine, kind: FaultKind) -> None:
        if self.metrics is not None:
            self.metrics.engine_faults.labels(engine, kind).inc()

    def turn(self, call: Call, record: dict[str, Any]) -> None:
        if self.metrics is not None:
            self.metrics.observe_turn({k: v / 1000 for k, v in record.get("ms", {}).items()})
            if record.get("barge_in"):
                self.metrics.barge_ins.inc()
        if self.records is not None:
            self.records.write({"type": "turn", "id": call.uid, "call": call.id, **record})

    def action(self, call: Call, record: Mapping[str, Any]) -> None:
        if self.records is not None:
            self.records.write({"type": "action", "id": call.uid, "call": call.id,
                                "t": round(time.time(), 3), **record})

    def frame_lag(self, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.frame_lag.observe(seconds)

    def ended(self, call: Call) -> None:
        if self.metrics is not None:
            self.metrics.calls.labels(call.end or EndReason.CLOSED).inc()
            self.metrics.dropped_frames.inc(call.stats.dropped)
            self.metrics.cut_offs.inc(call.cut_offs)
        if self.records is not None:
            self.records.write({
                "type": "end", "id": call.uid, "call": call.id, "t": round(time.time(), 3),
                "reason": call.end or EndReason.CLOSED, "ended_by": call.ended_by,
                "duration_s": round(time.time() - call.started_at, 2),
                "frames": call.stats.frames, "dropped": call.stats.dropped,
                "bad_messages": call.stats.bad_messages, "barge_ins": call.barge_ins,
                "cut_offs": call.cut_offs,
                "marks_assumed": call.stats.marks_assumed,
                "faults": call.faults.counts,
            })
