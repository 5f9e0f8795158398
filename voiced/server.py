"""Runs the app on hypercorn inside our own Trio run, so the engines, the HTTP client and
every call share one nursery tree and one shutdown."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import httpx
import trio
from hypercorn.config import Config as HyperConfig

from .admission import Registry
from .app import create_app
from .config import Config, secret
from .engines.base import Engines
from .errors import ConfigError
from .events import EndReason
from .listener import CappedListener, serve
from .loopwatch import LoopWatch, settle_heap
from .metrics import Metrics
from .records import CallRecords
from .slots import CallSlots
from .systemd import notify, watchdog
from .twilio.rest import TwilioRest

log = logging.getLogger("voiced.server")


def hypercorn_config(cfg: Config, port: int | None = None) -> HyperConfig:
    hc = HyperConfig()
    hc.bind = [f"{cfg.server.host}:{cfg.server.port if port is None else port}"]
    hc.websocket_max_message_size = cfg.server.max_message_bytes
    # A connection whose request headers are not in by then is closed (hypercorn counts a
    # connection with no request in progress as idle), as is one silent for read_timeout_s.
    hc.keep_alive_timeout = cfg.server.header_timeout_s
    hc.read_timeout = int(cfg.server.read_timeout_s)
    hc.h11_max_incomplete_size = 16 * 1024  # request line and headers: hypercorn's default, pinned
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.graceful_timeout = 5.0
    return hc


async def serve_app(
    cfg: Config,
    engines: Engines,
    shutdown: trio.Event,
    *,
    port: int | None = None,
    rest: TwilioRest | None = None,
    auth_token: str | None = None,
    registry: Registry | None = None,
    records: CallRecords | None = None,
    metrics: Metrics | None = None,
    listeners: list[CappedListener] | None = None,
    loop: LoopWatch | None = None,
    sockets: list[socket.socket] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until ``shutdown`` is set, watching the event loop's lateness meanwhile (into
    ``loop`` when given, else one of its own on the app's metrics); on ``sockets`` when
    given (a worker's, bound by its supervisor), else on sockets of its own."""
    metrics = metrics or Metrics()
    app = create_app(cfg, engines, rest, auth_token, registry, metrics, records)
    loop = loop or LoopWatch()
    loop.histogram = loop.histogram or metrics.loop_lag
    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop.run)
        await serve(app, hypercorn_config(cfg, port), max_connections=cfg.server.max_connections,
                    shutdown_trigger=shutdown.wait, task_status=task_status,
                    listeners_out=listeners, sockets=sockets)
        nursery.cancel_scope.cancel()


@dataclass(frozen=True)
class Worker:
    """One of ``server.workers`` processes (:mod:`voiced.workers`): the listening sockets its
    supervisor bound, the machine's call slots, its index, how it says it is ready, and (for
    tests and benchmarks) what builds its engines instead of the config."""

    index: int
    sockets: list[socket.socket]
    slots_path: str
    ready: Callable[[], None]
    engines: Callable[[Config, httpx.AsyncClient], Engines] | None = None
    # Called every HEARTBEAT_S from the event loop: a worker whose beats stop has a stalled
    # loop, and its supervisor replaces it (systemd's watchdog, per worker).
    beat: Callable[[], None] | None = None


HEARTBEAT_S = 1.0


async def heartbeat(beat: Callable[[], None]) -> None:
    while True:
        beat()
        await trio.sleep(HEARTBEAT_S)


async def run_daemon(cfg: Config, worker: Worker | None = None) -> None:
    """``voiced serve``: build the engines once, serve until SIGTERM or SIGINT, then drain:
    no new calls, the active ones get ``shutdown.grace_s`` to finish, the rest a goodbye.
    As a ``worker``, serve on the supervisor's sockets and tell it when ready; it alone
    speaks to systemd."""
    auth_token = secret(cfg.twilio.auth_token_env)
    if not cfg.twilio.validate_signatures:
        log.warning("Twilio signature validation is OFF (--insecure-dev): anyone who can reach "
                    "this port can place calls; never run it like this on the internet")
    elif not auth_token:
        raise ConfigError("twilio.validate_signatures",
                          f"set ${cfg.twilio.auth_token_env} or a systemd credential of that name "
                          "(LoadCredential=), or run with --insecure-dev for local development")
    slots = CallSlots.for_calls(cfg.server.max_calls, worker.slots_path) if worker else None
    registry = Registry.for_config(cfg, auth_token, slots=slots,
                                   worker=worker.index if worker else 0)
    # Written from a thread of their own: an fsync never holds up the calls.
    records = CallRecords(cfg.server.records_dir(), background=True)
    log.info("call records: %s", records.path)
    try:
        await _serve_until_stopped(cfg, worker, registry, records, auth_token)
    finally:
        records.close()
    log.info("voiced stopped")


async def _serve_until_stopped(cfg: Config, worker: Worker | None, registry: Registry,
                               records: CallRecords, auth_token: str | None) -> None:
    """Engines built and warm, the app served, until a signal; then the drain."""
    from .build import build_engines, warm_engines

    shutdown = trio.Event()
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0)) as http:
        engines = (worker.engines if worker and worker.engines else build_engines)(cfg, http)
        await warm_engines(engines, cfg)
        settle_heap()
        async with trio.open_nursery() as nursery:
            rest = TwilioRest(cfg.twilio, http, admitted=registry.admitted)
            if not rest.available():
                log.warning("%s not set: calls end by closing the stream, not via the REST API",
                            cfg.twilio.auth_token_env)
            binds = await nursery.start(partial(
                serve_app, cfg, engines, shutdown, rest=rest, auth_token=auth_token,
                registry=registry, records=records, sockets=worker.sockets if worker else None))
            log.info("voiced listening on %s", ", ".join(binds))
            if worker:
                if worker.beat is not None:
                    nursery.start_soon(heartbeat, worker.beat)
                worker.ready()
            else:
                notify("READY=1", f"STATUS=listening on {', '.join(binds)}")
                nursery.start_soon(watchdog)
            # Kept open while draining: a second SIGTERM (systemd's and the supervisor's) or a
            # Ctrl-C is not the default action, which would drop every call.
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    log.info("%s received: draining", signal.Signals(signum).name)
                    break
                await drain(registry, cfg)
            shutdown.set()
            nursery.cancel_scope.cancel()


async def drain(registry: Registry, cfg: Config) -> None:
    """Stop taking calls; let the active ones finish, then end the rest politely."""
    registry.draining = True
    notify("STOPPING=1", f"STATUS=draining {registry.active} calls")
    if not await registry.wait_idle(cfg.shutdown.grace_s):
        log.info("%d calls still active after %.0fs: saying goodbye", registry.active,
                 cfg.shutdown.grace_s)
        registry.say_goodbye(EndReason.SHUTDOWN)
        if not await registry.wait_idle(cfg.shutdown.goodbye_s):
            log.warning("%d calls did not end after their goodbye; closing them", registry.active)
