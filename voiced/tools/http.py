"""The business's own tools, and the message webhook: a signed POST to the business's server.

The body is JSON: ``{"tool": name, "arguments": {...}, "call_sid": ..., "caller": ...}``
(for the webhook, the message). Two headers let the business check it came from its agent,
as Twilio's and Stripe's signatures do: ``X-Voiced-Timestamp`` (Unix seconds) and
``X-Voiced-Signature`` (hex HMAC-SHA256 of ``<timestamp>.<body>`` with the shared secret), so a
captured request cannot be replayed later with another timestamp. The answer must be a JSON
object of at most ``MAX_ANSWER`` bytes; anything else is an error the brain is told of.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx

from ..config import HttpToolConfig
from ..errors import ConfigError
from .base import CallContext, Json, Outcome, ToolSpec

SIGNATURE = "X-Voiced-Signature"
TIMESTAMP = "X-Voiced-Timestamp"
MAX_ANSWER = 16 * 1024


def signed(body: bytes, secret: str, now: float | None = None) -> dict[str, str]:
    """The headers that sign ``body``."""
    stamp = str(int(time.time() if now is None else now))
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {TIMESTAMP: stamp, SIGNATURE: mac, "Content-Type": "application/json"}


def verify(body: bytes, headers: Mapping[str, str], secret: str, *, max_age_s: float = 300.0,
           now: float | None = None) -> bool:
    """What the business's server does with a request (documented, and used by the tests)."""
    stamp = headers.get(TIMESTAMP, "")
    if not stamp.isdigit() or abs((time.time() if now is None else now) - int(stamp)) > max_age_s:
        return False
    want = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, headers.get(SIGNATURE, ""))


async def post(client: httpx.AsyncClient, url: str, payload: Json, secret: str) -> Any:
    body = json.dumps(payload, ensure_ascii=False).encode()
    async with client.stream("POST", url, content=body, headers=signed(body, secret)) as resp:
        data = b""
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) > MAX_ANSWER:
                raise ValueError("answer too long")
        resp.raise_for_status()
    return json.loads(data) if data.strip() else {}


class HttpTool:
    def __init__(self, cfg: HttpToolConfig, client: httpx.AsyncClient, secret: str) -> None:
        try:
            parameters = json.loads(cfg.parameters)
        except ValueError:
            raise ConfigError(f"tools.http.{cfg.name}.parameters", "is not JSON") from None
        if not isinstance(parameters, dict) or parameters.get("type") != "object":
            raise ConfigError(f"tools.http.{cfg.name}.parameters", "must be an object schema")
        self.spec = ToolSpec(cfg.name, cfg.description, parameters,
                             side_effects=cfg.side_effects, deadline_s=cfg.deadline_s)
        self._url = cfg.url
        self._client = client
        self._secret = secret

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        payload = {"tool": self.spec.name, "arguments": dict(args), "call_sid": ctx.call_sid,
                   "caller": ctx.caller}
        try:
            answer = await post(self._client, self._url, payload, self._secret)
        except (httpx.HTTPError, ValueError) as exc:
            return Outcome({"error": f"{self.spec.name} is not answering ({type(exc).__name__})"})
        if not isinstance(answer, dict):
            return Outcome({"error": f"{self.spec.name} answered something other than an object"})
        return Outcome(answer)


class Webhook:
    """Where messages callers leave are sent."""

    def __init__(self, url: str, client: httpx.AsyncClient, secret: str) -> None:
        self._url = url
        self._client = client
        self._secret = secret

    async def __call__(self, message: Mapping[str, Any]) -> None:
        await post(self._client, self._url, {"message": dict(message)}, self._secret)
