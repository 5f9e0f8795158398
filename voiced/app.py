"""The HTTP surface Twilio talks to: the voice webhook (TwiML), the stream status webhook,
the Media Streams WebSocket, and a health check. quart-trio, served by hypercorn; the media
socket alone is plain ASGI (see :class:`MediaRoute`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from prometheus_client import CONTENT_TYPE_LATEST
from quart import request
from quart_trio import QuartTrio
from twilio.twiml.voice_response import Connect, VoiceResponse

from .call import run_call
from .callstate import Call
from .config import Config
from .engines.base import Engines
from .errors import ConfigError
from .lang import GOOGLE_TTS
from .metrics import Metrics
from .observe import Observer
from .records import CallRecords
from .signature import HEADER, Signatures
from .socket import AsgiSocket
from .twilio_rest import TwilioRest

log = logging.getLogger("voiced.app")


class Registry:
    """Live calls: the ``max_calls`` limit, /healthz, and the shutdown drain."""

    def __init__(self) -> None:
        self.active = 0
        self.total = 0
        self.busy = 0
        self.draining = False
        self.calls: set[Call] = set()
        self.changed = trio.Event()  # set (and replaced) whenever a call ends

    def ended(self) -> None:
        self.changed.set()
        self.changed = trio.Event()

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for every call to end; True if they did."""
        with trio.move_on_after(timeout_s):
            while self.active:
                await self.changed.wait()
        return self.active == 0

    def say_goodbye(self, reason: str) -> None:
        for call in list(self.calls):
            call.say_goodbye(reason)


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


def busy_twiml(cfg: Config) -> str:
    """What a caller over ``max_calls`` (or during shutdown) hears, then the line hangs up."""
    response = VoiceResponse()
    lang = cfg.call.language
    text = cfg.brain.script.busy.get(lang) or next(iter(cfg.brain.script.busy.values()), "")
    if text:
        response.say(text, language=GOOGLE_TTS.get(lang, "en-US"))
    response.hangup()
    return str(response)


def twiml(cfg: Config, caller: str) -> str:
    """``<Connect><Stream>``: with Connect only the inbound track exists, and the stream (and
    the call) lasts until either side hangs up."""
    host = cfg.server.public_host
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(
        url=f"wss://{host}{cfg.server.media_path}",
        status_callback=f"https://{host}{cfg.server.status_path}",
        status_callback_method="POST",
    )
    stream.parameter(name="caller", value=caller)
    response.append(connect)
    return str(response)


def create_app(cfg: Config, engines: Engines, rest: TwilioRest | None = None,
               auth_token: str | None = None, registry: Registry | None = None,
               metrics: Metrics | None = None, records: CallRecords | None = None) -> QuartTrio:
    """The app; ``auth_token`` checks Twilio's signatures, and is required unless
    ``twilio.validate_signatures`` is off."""
    app = QuartTrio("voiced")
    registry = registry or Registry()
    metrics = metrics or Metrics()
    observer = Observer(metrics, records)
    app.config["VOICED_REGISTRY"] = registry
    signatures: Signatures | None = None
    if cfg.twilio.validate_signatures:
        if not auth_token:
            raise ConfigError("twilio.validate_signatures",
                              f"needs the auth token in ${cfg.twilio.auth_token_env} (or a systemd "
                              "credential of that name); for local development use --insecure-dev")
        signatures = Signatures(auth_token, cfg.server.public_host)

    def forged(scheme: str, path: str, query: bytes, params: dict[str, str],
               signature: str | None, client: str | None) -> bool:
        if signatures is None:
            return False
        url = signatures.url(scheme, path + (f"?{query.decode('latin-1')}" if query else ""))
        if signatures.valid(url, params, signature):
            return False
        # Who asked and for what, never the signature or the token.
        log.warning("refused %s %s from %s: %s X-Twilio-Signature", scheme, path, client,
                    "invalid" if signature else "no")
        metrics.refused.inc()
        return True

    @app.post(cfg.server.voice_path)
    async def voice() -> tuple[str, int, dict[str, str]]:
        form = await request.form
        if forged("https", request.path, request.query_string, form.to_dict(),
                  request.headers.get(HEADER), request.remote_addr):
            return "", 403, {}
        caller = form.get("From", "")
        if registry.draining or registry.active >= cfg.server.max_calls:
            registry.busy += 1
            metrics.calls.labels("busy").inc()
            log.warning("call %s: line busy (%d active%s)", form.get("CallSid", "?"),
                        registry.active, ", shutting down" if registry.draining else "")
            return busy_twiml(cfg), 200, {"Content-Type": "text/xml"}
        log.info("incoming call %s", form.get("CallSid", "?"))
        return twiml(cfg, caller), 200, {"Content-Type": "text/xml"}

    @app.post(cfg.server.status_path)
    async def stream_status() -> tuple[str, int]:
        form = await request.form
        if forged("https", request.path, request.query_string, form.to_dict(),
                  request.headers.get(HEADER), request.remote_addr):
            return "", 403
        log.info("stream %s: %s", form.get("StreamSid", "?"), form.get("StreamEvent", "?"))
        return "", 204

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "draining" if registry.draining else "ok",
                "active_calls": registry.active, "calls_total": registry.total}

    @app.get("/metrics")
    async def prometheus() -> tuple[bytes, int, dict[str, str]]:
        return metrics.render(), 200, {"Content-Type": CONTENT_TYPE_LATEST}

    async def media(scope: Any, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        client = (scope.get("client") or ("<local>",))[0]
        if forged("wss", scope["path"], scope.get("query_string", b""), {},
                  headers.get(HEADER.lower()), client):
            await refuse(scope, send, 403)  # before accepting: the handshake is answered 403
            return
        if registry.draining:
            await refuse(scope, send, 503)
            return
        await send({"type": "websocket.accept"})
        ws = AsgiSocket(receive, send)
        registry.active += 1
        registry.total += 1
        metrics.active_calls.inc()
        live: list[Call] = []

        def started(call: Call) -> None:
            live.append(call)
            registry.calls.add(call)

        try:
            await run_call(ws, engines, cfg, rest, observer, started)
        except Exception:
            # One call's bug must not take the daemon down; it is logged with its traceback.
            log.exception("call failed")
        finally:
            registry.calls.difference_update(live)
            registry.active -= 1
            metrics.active_calls.dec()
            registry.ended()
        await ws.close()

    app.asgi_app = MediaRoute(app.asgi_app, cfg.server.media_path, media)  # type: ignore[method-assign]
    return app
