"""Call records: one JSON object a line in ``<state dir>/calls.jsonl``, appended and synced as
each turn completes, so a crash loses at most the turn in flight.

Three kinds of line, all carrying the call's id: ``start`` (caller, time), ``turn`` (what the
caller said, the reply, what of it the caller heard, per-stage timings in milliseconds,
faults) and ``end`` (how it ended, frames, drops, faults). ``voiced calls`` reads them back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("voiced.records")


class CallRecords:
    """The JSONL file; appends from any thread or task, one line at a time."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / "calls.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._failed = False

    def write(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(line)
                    f.flush()
                    os.fsync(f.fileno())
                self._failed = False
            except OSError as exc:  # a full disk must not end calls
                if not self._failed:
                    log.error("cannot write call records to %s: %s", self.path, exc)
                self._failed = True


@dataclass
class CallView:
    """One call as read back from the file."""

    call: str
    start: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None

    @property
    def caller(self) -> str:
        return str(self.start.get("caller", ""))


def read_calls(path: str | Path) -> list[CallView]:
    """Every call in the file, oldest first; lines a crash cut short are skipped."""
    calls: dict[str, CallView] = {}
    for event in _events(Path(path)):
        call_id = str(event.get("call", ""))
        view = calls.setdefault(call_id, CallView(call_id))
        kind = event.get("type")
        if kind == "start":
            view.start = event
        elif kind == "turn":
            view.turns.append(event)
        elif kind == "end":
            view.end = event
    return list(calls.values())


def _events(path: Path) -> Iterator[dict[str, Any]]:
    try:
        f = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # the turn in flight when the process died
            if isinstance(event, dict):
                yield event
