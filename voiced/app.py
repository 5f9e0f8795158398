"""The HTTP surface Twilio talks to: the voice webhook (TwiML), the stream status webhook,
the Media Streams WebSocket, and a health check. quart-trio, served by hypercorn."""

from __future__ import annotations

import logging
from typing import Any

from quart import request, websocket
from quart_trio import QuartTrio
from twilio.twiml.voice_response import Connect, VoiceResponse

from .call import run_call
from .config import Config
from .engines.base import Engines
from .errors import ConfigError
from .signature import HEADER, Signatures
from .socket import QuartSocket
from .twilio_rest import TwilioRest

log = logging.getLogger("voiced.app")


class Registry:
    """Live calls, for /healthz now and for limits later."""

    def __init__(self) -> None:
        self.active = 0
        self.total = 0


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
               auth_token: str | None = None) -> QuartTrio:
    """The app; ``auth_token`` checks Twilio's signatures, and is required unless
    ``twilio.validate_signatures`` is off."""
    app = QuartTrio("voiced")
    registry = Registry()
    app.config["VOICED_REGISTRY"] = registry
    signatures: Signatures | None = None
    if cfg.twilio.validate_signatures:
        if not auth_token:
            raise ConfigError("twilio.validate_signatures",
                              f"needs the auth token in ${cfg.twilio.auth_token_env} (or a systemd "
                              "credential of that name); for local development use --insecure-dev")
        signatures = Signatures(auth_token, cfg.server.public_host)

    def forged(scheme: str, path: str, query: bytes, params: dict[str, str],
               signature: str | None) -> bool:
        if signatures is None:
            return False
        url = signatures.url(scheme, path + (f"?{query.decode('latin-1')}" if query else ""))
        if signatures.valid(url, params, signature):
            return False
        # Who asked and for what, never the signature or the token.
        log.warning("refused %s %s from %s: %s X-Twilio-Signature", scheme, path,
                    request.remote_addr if scheme == "https" else websocket.remote_addr,
                    "invalid" if signature else "no")
        return True

    @app.post(cfg.server.voice_path)
    async def voice() -> tuple[str, int, dict[str, str]]:
        form = await request.form
        if forged("https", request.path, request.query_string, form.to_dict(),
                  request.headers.get(HEADER)):
            return "", 403, {}
        caller = form.get("From", "")
        log.info("incoming call %s", form.get("CallSid", "?"))
        return twiml(cfg, caller), 200, {"Content-Type": "text/xml"}

    @app.post(cfg.server.status_path)
    async def stream_status() -> tuple[str, int]:
        form = await request.form
        if forged("https", request.path, request.query_string, form.to_dict(),
                  request.headers.get(HEADER)):
            return "", 403
        log.info("stream %s: %s", form.get("StreamSid", "?"), form.get("StreamEvent", "?"))
        return "", 204

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "active_calls": registry.active, "calls_total": registry.total}

    @app.websocket(cfg.server.media_path)
    async def media() -> tuple[str, int] | None:
        if forged("wss", websocket.path, websocket.query_string, {},
                  websocket.headers.get(HEADER)):
            return "", 403  # before accepting: the handshake is answered 403
        registry.active += 1
        registry.total += 1
        try:
            await run_call(QuartSocket(websocket), engines, cfg, rest)
        except Exception:
            # One call's bug must not take the daemon down; it is logged with its traceback.
            log.exception("call failed")
        finally:
            registry.active -= 1
        return None

    return app
