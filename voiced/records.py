"""Call records: one JSON object a line in ``<state dir>/calls.jsonl``, appended and synced as
each turn completes, so a crash loses at most the turn in flight.

Three kinds of line, all carrying the call's record id (``id``, unique per call even if a
CallSid comes twice) and its CallSid (``call``): ``start`` (caller, time), ``turn`` (what the
caller said, the reply, what of it the caller heard, per-stage timings in milliseconds,
faults) and ``end`` (how it ended, frames, drops, faults). ``voiced calls`` reads them back.

Records hold callers' numbers and words: the file is 0600 in a 0700 directory whatever the
umask. A line cut short by a crash or a full disk is closed with a newline before the next
append, so it costs only itself. Worker processes (``server.workers``) share the file: each
append (the torn-line check and the write) holds an ``flock``, so their lines never
interleave and a torn line is closed once.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("voiced.records")


class CallRecords:
    """The JSONL file; appends from any thread or task, one line at a time.

    ``background``: lines go to a writer thread through a bounded queue, so the event loop
    never waits for the disk (each line is fsynced: ~0.3 ms on the benchmark machine, tens of
    ms on a networked cloud disk, every turn of every call). If the disk stalls until
    ``queue_lines`` are waiting, new lines are dropped and counted (``dropped``), not queued
    without bound. :meth:`close` writes what is queued. Without it, :meth:`write` appends
    before it returns (tests, tools that read the file back at once)."""

    def __init__(self, state_dir: str | Path, *, background: bool = False,
                 queue_lines: int = 10000) -> None:
        self.path = Path(state_dir) / "calls.jsonl"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        self._lock = threading.Lock()
        self._failed = False
        self.dropped = 0
        self._queue: queue.Queue[bytes | None] | None = None
        self._writer: threading.Thread | None = None
        if background:
            self._queue = queue.Queue(maxsize=queue_lines)
            self._writer = threading.Thread(target=self._drain, name="voiced-records",
                                            daemon=True)
            self._writer.start()

    def _drain(self) -> None:
        assert self._queue is not None
        while (line := self._queue.get()) is not None:
            self._append(line)

    def close(self) -> None:
        """Write what is queued and stop the writer thread."""
        if self._queue is not None and self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._queue = self._writer = None

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.fchmod(fd, 0o600)
        return fd

    def _torn(self) -> bool:
        """Whether the file ends in the middle of a line."""
        try:
            with self.path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return False
                f.seek(-1, os.SEEK_END)
                return f.read(1) != b"\n"
        except FileNotFoundError:
            return False

    def write(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        if self._queue is None:
            self._append(line)
            return
        try:
            self._queue.put_nowait(line)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("call records: the disk is not keeping up; %d lines dropped",
                          self.dropped)

    def _append(self, line: bytes) -> None:
        with self._lock:
            try:
                fd = self._open()
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    if self._torn():  # another process may have died mid-line
                        line = b"\n" + line
                        log.warning("call records: %s ended mid-line; closed it", self.path)
                    os.write(fd, line)
                    os.fsync(fd)
                finally:
                    os.close(fd)  # and the lock with it
                self._failed = False
            except OSError as exc:  # a full disk must not end calls
                if not self._failed:
                    log.error("cannot write call records to %s: %s", self.path, exc)
                self._failed = True


@dataclass
class CallView:
    """One call as read back from the file."""

    call: str  # the CallSid
    start: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    actions: list[dict[str, Any]] = field(default_factory=list)  # bookings, messages taken

    @property
    def caller(self) -> str:
        return str(self.start.get("caller", ""))


def read_calls(path: str | Path) -> list[CallView]:
    """Every call in the file, oldest first; lines a crash cut short are skipped."""
    calls: dict[str, CallView] = {}
    for event in _events(Path(path)):
        call_id = str(event.get("call", ""))
        view = calls.setdefault(str(event.get("id") or call_id), CallView(call_id))
        kind = event.get("type")
        if kind == "start":
            view.start = event
        elif kind == "turn":
            view.turns.append(event)
        elif kind == "end":
            view.end = event
        elif kind == "action":
            view.actions.append(event)
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
