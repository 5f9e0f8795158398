"""The HTTP surface Twilio talks to: the voice webhook (TwiML), the stream status webhook,
the Media Streams WebSocket, and a health check. quart-trio, served by hypercorn; the media
socket alone is plain ASGI (see :class:`MediaRoute`), and everything passes the bounds of
:class:`voiced.guard.Guard` first.

A call is admitted in two steps (:mod:`voiced.admission`): the signed voice webhook gives it
a single-use stream token, and the media socket's ``start`` must bring that token back with
the same CallSid before the socket counts as a call."""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from quart import request
from quart_trio import QuartTrio

from .admission import Refusal, Registry
from .call import handshake, serve_call
from .callstate import Call
from .config import Config
from .engines.base import Engines
from .errors import ConfigError
from .guard import Guard
from .limits import SummaryLog
from .metrics import Metrics
from .observe import Observer
from .records import CallRecords
from .sids import mask_number, shown
from .twilio.rest import TwilioRest
from .twilio.signature import HEADER, Signatures
from .twilio.socket import AsgiSocket
from .twilio.twiml import busy_twiml, twiml
from .twilio.wire import Start

log = logging.getLogger("voiced.app")

__all__ = ["MediaRoute", "create_app"]

# WebSocket close codes: policy violation (refused start), try again later (full).
CLOSE_REFUSED = 1008
CLOSE_FULL = 1013


Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class MediaRoute:
    """ASGI middleware: the Media Streams socket goes straight to its handler, everything else
    to quart. Every call sends a message every 20 ms; quart would add a task hop and a signal to
    each (a tenth of the daemon's CPU at 20 calls, docs/BENCHMARKS.md), for routing that one
    path comparison does."""

    def __init__(self, app: Asgi, path: str, handler: Asgi) -> None:
        self._app = app
        self._path = path
        self._handler = handler

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope.get("path") == self._path:
            await self._handler(scope, receive, send)
        else:
            await self._app(scope, receive, send)


async def refuse(scope: Any, send: Any, status: int) -> None:
    """Answer a WebSocket handshake with an HTTP status instead of accepting it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-length", b"0")]})
        await send({"type": "websocket.http.response.body", "body": b""})
    else:
        await send({"type": "websocket.close", "code": 1008})  # servers answer it with 403


def create_app(cfg: Config, engines: Engines, rest: TwilioRest | None = None,
               auth_token: str | None = None, registry: Registry | None = None,
               metrics: Metrics | None = None, records: CallRecords | None = None) -> QuartTrio:
    """The app; ``auth_token`` checks Twilio's signatures, and is required unless
    ``twilio.validate_signatures`` is off."""
    app = QuartTrio("voiced")
    # quart's own bounds too, behind the guard's.
    app.config["MAX_CONTENT_LENGTH"] = cfg.server.max_body_bytes
    app.config["BODY_TIMEOUT"] = cfg.server.body_timeout_s
    signatures: Signatures | None = None
    if cfg.twilio.validate_signatures:
        if not auth_token:
            raise ConfigError("twilio.validate_signatures",
                              f"needs the auth token in ${cfg.twilio.auth_token_env} (or a systemd "
                              "credential of that name); for local development use --insecure-dev")
        signatures = Signatures(auth_token, cfg.server.public_host, cfg.server.media_host)
    metrics = metrics or Metrics()
    registry = registry or Registry.for_config(cfg, auth_token)
    ep = Endpoints(cfg, engines, rest, registry, metrics,
                   Observer(metrics, records, registry.worker), signatures)
    app.config["VOICED_REGISTRY"] = ep.registry
    app.post(cfg.server.voice_path)(ep.voice)
    app.post(cfg.server.status_path)(ep.stream_status)
    app.get("/healthz")(ep.healthz)
    app.get("/metrics")(ep.prometheus)
    routed = MediaRoute(app.asgi_app, cfg.server.media_path, ep.media)
    app.asgi_app = Guard(  # type: ignore[method-assign]
        routed, max_body=cfg.server.max_body_bytes, body_timeout_s=cfg.server.body_timeout_s,
        signed_paths=(cfg.server.voice_path, cfg.server.status_path),
        signature_header=HEADER if signatures is not None else None,
        refused=ep.metrics.refused.inc)
    return app


class Endpoints:
    """What each path does. The webhooks are quart routes; the media socket is plain ASGI."""

    def __init__(self, cfg: Config, engines: Engines, rest: TwilioRest | None, registry: Registry,
                 metrics: Metrics, observer: Observer, signatures: Signatures | None) -> None:
        self.cfg = cfg
        self.engines = engines
        self.rest = rest
        self.registry = registry
        self.metrics = metrics
        self.observer = observer
        self.signatures = signatures
        self.summary = SummaryLog(log)

    def forged(self, scheme: str, path: str, query: bytes, params: dict[str, str],
               signature: str | None, client: str | None) -> bool:
        if self.signatures is None:
            return False
        url = self.signatures.url(scheme, path + (f"?{query.decode('latin-1')}" if query else ""))
        if self.signatures.valid(url, params, signature):
            return False
        # Who asked and for what, never the signature or the token.
        self.summary.event(trio.current_time(), "forged",
                           f"refused {scheme} {path[:80]!r} from {client}: "
                           f"{'invalid' if signature else 'no'} X-Twilio-Signature")
        self.metrics.refused.inc()
        return True

    async def voice(self) -> tuple[str, int, dict[str, str]]:
        form = await request.form
        if self.forged("https", request.path, request.query_string, form.to_dict(),
                       request.headers.get(HEADER), request.remote_addr):
            return "", 403, {}
        caller = form.get("From", "")
        call_sid, account_sid = form.get("CallSid", ""), form.get("AccountSid", "")
        registry = self.registry
        refusal = registry.check_sids(call_sid, account_sid)
        if refusal is not None:
            self.summary.event(trio.current_time(), refusal.name,
                               f"voice webhook for call {shown(call_sid)}: {refusal.value}")
            self.metrics.refused.inc()
            return "", 403, {}
        token = registry.issue(call_sid, account_sid)
        if token is None:
            registry.busy += 1
            self.metrics.calls.labels("busy").inc()
            log.warning("call %s: line busy (%d calls on this machine, %d on their way%s)",
                        call_sid, registry.machine_calls(), registry.outstanding(),
                        ", shutting down" if registry.draining else "")
            return busy_twiml(self.cfg), 200, {"Content-Type": "text/xml"}
        log.info("incoming call %s from %s", call_sid, mask_number(caller) if caller else "unknown")
        return twiml(self.cfg, caller, token), 200, {"Content-Type": "text/xml"}

    async def stream_status(self) -> tuple[str, int]:
        form = await request.form
        if self.forged("https", request.path, request.query_string, form.to_dict(),
                       request.headers.get(HEADER), request.remote_addr):
            return "", 403
        log.info("stream %s: %s", shown(form.get("StreamSid", "?")),
                 shown(form.get("StreamEvent", "?")))
        return "", 204

    async def healthz(self) -> tuple[dict[str, Any], int]:
        """200 while taking calls, 503 while draining: a load balancer's health check takes a
        VM that is shutting down out of the pool."""
        registry = self.registry
        return {"status": "draining" if registry.draining else "ok",
                "active_calls": registry.active, "calls_total": registry.total,
                "worker": registry.worker, "pid": os.getpid(),
                "machine_calls": registry.machine_calls(),
                "max_calls": registry.max_calls}, 503 if registry.draining else 200

    async def prometheus(self) -> tuple[bytes, int, dict[str, str]]:
        return self.metrics.render(), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    async def media(self, scope: Any, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        client = (scope.get("client") or ("<local>",))[0]
        if self.forged("wss", scope["path"], scope.get("query_string", b""), {},
                       headers.get(HEADER.lower()), client):
            await refuse(scope, send, 403)  # before accepting: the handshake is answered 403
            return
        if self.registry.draining:
            await refuse(scope, send, 503)
            return
        ws = AsgiSocket(receive, send)
        start = await self._start(ws, send)
        if start is None:
            await ws.close(CLOSE_REFUSED)
            return
        refusal = self.registry.admit(start.call_sid, start.account_sid,
                                      start.custom_parameters.get("token", ""))
        if refusal is not None:
            # Only what the client sent that is safe to show; never the token itself.
            self.summary.event(trio.current_time(), refusal.name,
                               f"refused stream for call {shown(start.call_sid)} from {client}: "
                               f"{refusal.value}")
            self.metrics.refused.inc()
            await ws.close(CLOSE_FULL if refusal in (Refusal.FULL, Refusal.DRAINING)
                           else CLOSE_REFUSED)
            return
        await self._serve(ws, start)
        await ws.close()

    async def _start(self, ws: AsgiSocket, send: Any) -> Start | None:
        """Accept the socket and read up to its ``start``. Over ``max_pending_streams`` the
        *oldest* socket still waiting goes: a real stream sends start within a round trip, so
        sockets held open on a replayed handshake cannot crowd Twilio out (refusing the newest
        would let them)."""
        registry = self.registry
        waiting = trio.CancelScope()
        registry.waiting.append(waiting)
        if len(registry.waiting) > registry.max_pending:
            registry.waiting.popleft().cancel()
            self.summary.event(trio.current_time(), "pending",
                               f"{registry.max_pending} media sockets waiting for their start "
                               "(server.max_pending_streams): closed the oldest")
        start = None
        try:
            with waiting:
                await send({"type": "websocket.accept"})
                start = await handshake(ws, self.cfg)
        finally:
            if waiting in registry.waiting:
                registry.waiting.remove(waiting)
        return start

    async def _serve(self, ws: AsgiSocket, start: Start) -> None:
        """An admitted call, counted as live until it ends however it ends."""
        self.metrics.active_calls.inc()
        live: list[Call] = []

        def started(call: Call) -> None:
            live.append(call)
            self.registry.calls.add(call)

        try:
            await serve_call(ws, start, self.engines, self.cfg, self.rest, self.observer, started)
        except Exception:
            # One call's bug must not take the daemon down; it is logged with its traceback.
            log.exception("call failed")
        finally:
            self.registry.calls.difference_update(live)
            self.registry.release(start.call_sid)
            self.metrics.active_calls.dec()
