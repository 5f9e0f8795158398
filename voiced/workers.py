"""``server.workers``: one listening socket, several daemon processes, a supervisor.

One process runs every call on one Trio thread, so it uses one core. Calls are independent,
so the kernel can spread them: the supervisor binds the port once and starts ``workers``
processes (``multiprocessing``'s spawn, a fresh interpreter each: no Trio state forked) that
all accept on that socket, each with its own event loop and engines. What must agree across
them is shared properly: the machine's call slots (``max_calls``, stream tokens:
:mod:`voiced.slots`), the Prometheus samples (multiprocess mode: one scrape sees every
worker), and the call records (appends under ``flock``, :mod:`voiced.records`).

The supervisor does nothing on the calls' path. It speaks to systemd (READY once every worker
listens, the watchdog while it runs), replaces a worker that dies (its calls are gone; the
slots it held are freed; the other workers' calls never notice) or whose event loop stalls
(its heartbeats stop for ``server.worker_stall_s``: killed, then replaced), and on SIGTERM or
SIGINT asks every worker to drain (the single-process drain, in each) and waits for them.

Measured against ``SO_REUSEPORT`` (a socket per worker, the kernel hashing connections over
them): docs/CAPACITY.md.
"""

from __future__ import annotations

import contextlib
import copyreg
import logging
import multiprocessing
import os
import queue
import signal
import socket
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Any

import httpx
import trio

from . import sizing
from .config import Config
from .engines.base import Engines
from .errors import EngineError
from .listener import bind
from .metrics import MULTIPROC_ENV
from .server import Worker, hypercorn_config, run_daemon
from .slots import CallSlots
from .systemd import notify, watchdog_interval

log = logging.getLogger("voiced.workers")

# A Config holds read-only mappings (MappingProxyType), which pickle does not know; a worker
# gets its config as a plain dict wrapped again on arrival.
def _proxy(items: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(items)


copyreg.pickle(types.MappingProxyType, lambda m: (_proxy, (dict(m),)))

# A worker that dies sooner than this after it started is restarted with a growing delay, so
# a crash at start-up (a bad model file) does not spin.
STABLE_S = 30.0
MAX_BACKOFF_S = 30.0

EnginesFactory = Callable[[Config, httpx.AsyncClient], Engines]


@dataclass(frozen=True)
class _Spec:
    cfg: Config
    index: int
    sockets: list[socket.socket]
    slots_path: str
    engines: EnginesFactory | None
    beats: Any  # a shared array of doubles: each worker's last heartbeat (monotonic clock)


def _worker_main(spec: _Spec, ready: Any) -> None:
    """A worker process: the single-process daemon on the supervisor's sockets."""
    from .logs import setup

    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        os.environ.pop(name, None)  # the supervisor alone speaks to systemd
    setup(spec.cfg.log.level, worker=spec.index)
    # A Ctrl-C reaches the whole process group; the supervisor turns it into one SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def beat() -> None:
        spec.beats[spec.index] = time.monotonic()  # CLOCK_MONOTONIC: one clock for the machine

    worker = Worker(spec.index, spec.sockets, spec.slots_path,
                    lambda: ready.put((spec.index, os.getpid())), spec.engines, beat)
    trio.run(run_daemon, spec.cfg, worker)


class Supervisor:
    """Starts, watches and stops the workers. Blocking and single-threaded: it is not on any
    call's path, it waits for a worker to exit, a signal, or the watchdog's next ping."""

    def __init__(self, cfg: Config, workers: int, *, port: int | None = None,
                 engines: EnginesFactory | None = None, run_dir: str | None = None) -> None:
        self.cfg = cfg = sizing.resolved(cfg)  # every worker gets the same numbers
        self.n = workers
        self._ctx = multiprocessing.get_context("spawn")
        self._dir = Path(tempfile.mkdtemp(prefix="voiced-", dir=run_dir or
                                          os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
                                          or None))
        # Bound once, here: every worker accepts on these (multiprocessing hands each a copy).
        self.sockets = bind(hypercorn_config(cfg, port))
        self.slots = CallSlots.for_calls(cfg.server.max_calls, self._dir / "slots")
        metrics_dir = self._dir / "metrics"
        metrics_dir.mkdir()
        self._env = {MULTIPROC_ENV: str(metrics_dir)}
        self._engines = engines
        self._ready = self._ctx.Queue()
        self._beats = self._ctx.RawArray("d", workers)
        self.stalls = 0
        self.procs: dict[int, SpawnProcess] = {}
        self._started: dict[int, float] = {}
        self._failures: dict[int, int] = {}
        self.restarts = 0
        self._due: dict[int, float] = {}  # workers to start again, and when
        self._saved_env: dict[str, str | None] = {}
        self.stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    def _spawn(self, index: int) -> None:
        spec = _Spec(self.cfg, index, self.sockets, str(self.slots.path), self._engines,
                     self._beats)
        self._beats[index] = 0.0  # starting: no beats until it listens
        proc = self._ctx.Process(target=_worker_main, args=(spec, self._ready),
                                 name=f"voiced-worker-{index}", daemon=False)
        proc.start()
        self.procs[index] = proc
        self._started[index] = time.monotonic()

    def start(self, timeout_s: float = 300.0) -> list[int]:
        """Start every worker and wait until each listens; their pids. A SIGTERM meanwhile
        (:meth:`stop`: systemd stopping the service while it starts) ends the wait with the
        pids so far, and :meth:`run` drains what started."""
        # Spawned workers inherit this environment, and prometheus-client picks its
        # multiprocess mode when it is first imported: in a worker that is while its target
        # is unpickled, before any of the worker's own code runs. Restored by :meth:`close`.
        self._saved_env = {name: os.environ.get(name) for name in self._env}
        os.environ.update(self._env)
        for i in range(self.n):
            self._spawn(i)
        pids: list[int] = []
        deadline = time.monotonic() + timeout_s
        while len(pids) < self.n:
            if self.stopping:
                # Not "could not start": a worker that took the SIGTERM too exits with 0.
                log.info("stopped while starting: %d of %d workers listening", len(pids), self.n)
                return pids
            try:
                index, pid = self._ready.get(timeout=0.5)
            except queue.Empty:
                dead = [i for i, p in self.procs.items() if p.exitcode is not None]
                if dead or time.monotonic() > deadline:
                    self._abort()
                    why = f"worker {dead[0]} exited with {self.procs[dead[0]].exitcode} " \
                        "before it listened (its log says why)" if dead else \
                        f"the workers did not listen within {timeout_s:.0f}s"
                    raise EngineError(f"voiced could not start: {why}") from None
                continue
            pids.append(pid)
            log.info("worker %d (pid %d) listening", index, pid)
        notify("READY=1", f"STATUS={self.n} workers listening on port {self.port}")
        return pids

    def _abort(self) -> None:
        """Start-up failed: stop the workers that did start, release everything."""
        self.stopping = True
        for proc in self.procs.values():
            if proc.is_alive():
                proc.kill()
        for proc in self.procs.values():
            proc.join()
        self.close()

    def stop(self) -> None:
        """From a signal handler or another thread: drain and stop."""
        self.stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _reap(self, index: int) -> None:
        """A worker exited: free what it held and schedule its replacement (at once, or after
        a growing delay if it keeps dying young; never by sleeping here, which would stop the
        watchdog's pings and the other workers' care)."""
        proc = self.procs.pop(index)
        proc.join()
        freed = self.slots.drop_worker(index)
        _mark_dead(self._env[MULTIPROC_ENV], proc.pid)
        if self.stopping:
            return
        lived = time.monotonic() - self._started[index]
        self._failures[index] = 0 if lived >= STABLE_S else self._failures.get(index, 0) + 1
        delay = min(MAX_BACKOFF_S, 0.5 * 2 ** self._failures[index]) if self._failures[index] \
            else 0.0
        log.error("worker %d (pid %s) exited with %s after %.0fs, %d calls with it; "
                  "replacing it%s", index, proc.pid, proc.exitcode, lived, freed,
                  f" in {delay:.1f}s" if delay else "")
        self._due[index] = time.monotonic() + delay

    def _respawn(self) -> None:
        now = time.monotonic()
        for index, due in list(self._due.items()):
            if due <= now:
                del self._due[index]
                self.restarts += 1
                self._spawn(index)

    def _replaced(self) -> None:
        """Log the replacements that have come up since."""
        while True:
            try:
                index, pid = self._ready.get_nowait()
            except queue.Empty:
                return
            log.info("worker %d (pid %d) listening", index, pid)

    def _kill_stalled(self) -> None:
        """A worker whose heartbeats stopped is killed; :meth:`_reap` replaces it."""
        now = time.monotonic()
        for index, proc in self.procs.items():
            last = self._beats[index]
            if last and now - last > self.cfg.server.worker_stall_s and proc.is_alive() \
                    and proc.pid:
                log.error("worker %d (pid %d): its event loop has not run for %.0fs; killing it",
                          index, proc.pid, now - last)
                self.stalls += 1
                self._beats[index] = 0.0
                os.kill(proc.pid, signal.SIGKILL)

    def run(self) -> None:
        """Watch the workers until :meth:`stop`; then SIGTERM each and wait for them."""
        interval = watchdog_interval()
        tick = min(interval or 1.0, 1.0)
        next_ping = time.monotonic()
        while not self.stopping:
            sentinels = {p.sentinel: i for i, p in self.procs.items()}
            ready = wait([*sentinels, self._wake_r], timeout=tick)
            if interval is not None and time.monotonic() >= next_ping:
                notify("WATCHDOG=1")
                next_ping = time.monotonic() + interval
            self._kill_stalled()
            for obj in ready:
                if obj in sentinels:
                    self._reap(sentinels[obj])
            self._respawn()
            self._replaced()
        self._drain()

    def _drain(self) -> None:
        notify("STOPPING=1", "STATUS=draining")
        log.info("draining %d workers", len(self.procs))
        for proc in self.procs.values():
            if proc.is_alive() and proc.pid:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            proc.join()
        self.close()

    def close(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._ready.close()
        self._ready.join_thread()
        for sock in self.sockets:
            sock.close()
        self.slots.close()
        self._wake_r.close()
        self._wake_w.close()
        for path in sorted(self._dir.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        self._dir.rmdir()


def _mark_dead(metrics_dir: str, pid: int | None) -> None:
    from prometheus_client import multiprocess

    if pid is not None:
        multiprocess.mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]


def serve_workers(cfg: Config, workers: int) -> None:
    """``voiced serve`` with ``server.workers`` > 1."""
    sup = Supervisor(cfg, workers)

    def on_signal(signum: int, _frame: Any) -> None:
        log.info("%s received: draining every worker", signal.Signals(signum).name)
        signal.signal(signum, signal.SIG_IGN)
        sup.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sup.start()
    if not sup.stopping:
        log.info("voiced: %d workers on %s", workers, ", ".join(
            f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in sup.sockets))
    sup.run()
    log.info("voiced stopped")
