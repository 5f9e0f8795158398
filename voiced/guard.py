"""Bounded HTTP: what a client may make the daemon hold, before any route runs.

ASGI middleware in front of quart. A request's body is read here, with a size cap
(``server.max_body_bytes``, 413 unread when Content-Length says more) and a deadline
(``server.body_timeout_s``, 408), and handed on in one piece; a webhook without
``X-Twilio-Signature`` is refused (403) before a byte of its body is read, so no unsigned
client can make the daemon buffer or parse anything. Header deadlines, silent connections
and the number of open connections are the listener's (:mod:`voiced.listener`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import trio

from .limits import SummaryLog

log = logging.getLogger("voiced.guard")

Asgi = Callable[[Any, Any, Any], Awaitable[None]]


class BodyTooLarge(Exception):
    pass


async def respond(send: Any, status: int) -> None:
    """A bodiless answer that also closes the connection: a client refused for its body may
    still be sending one."""
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", b"0"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b""})


class Guard:
    def __init__(self, app: Asgi, *, max_body: int, body_timeout_s: float,
                 signed_paths: Collection[str], signature_header: str | None,
                 refused: Callable[[], None] | None = None) -> None:
        self._app = app
        self._max = max_body
        self._timeout = body_timeout_s
        self._signed = frozenset(signed_paths)
        self._header = signature_header.lower().encode() if signature_header else None
        self._refused = refused
        self._summary = SummaryLog(log)

    def _refuse(self, scope: Any, status: int, why: str) -> None:
        client = (scope.get("client") or ("<local>",))[0]
        # Keyed by status: the reason's text varies (a body's length) and must not make
        # each refusal a line of its own.
        self._summary.event(trio.current_time(), str(status),
                            f"refused {scope.get('method')} {scope.get('path', '')[:80]!r} "
                            f"from {client}: {why} ({status})")
        if self._refused is not None:
            self._refused()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        if self._header is not None and scope.get("path") in self._signed \
                and not headers.get(self._header):
            self._refuse(scope, 403, "no signature")
            await respond(send, 403)
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or len(length) > 12:
                self._refuse(scope, 400, "bad Content-Length")
                await respond(send, 400)
                return
            if int(length) > self._max:
                self._refuse(scope, 413, f"body of {int(length)} bytes")
                await respond(send, 413)
                return
        try:
            body = await self._read(receive)
        except BodyTooLarge:
            self._refuse(scope, 413, f"body over {self._max} bytes")
            await respond(send, 413)
            return
        except trio.TooSlowError:
            self._refuse(scope, 408, f"body not in {self._timeout:g}s")
            await respond(send, 408)
            return
        if body is None:
            return  # the client left
        await self._app(scope, _replay(body, receive), send)

    async def _read(self, receive: Any) -> bytes | None:
        body = bytearray()
        with trio.fail_after(self._timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                body += message.get("body", b"")
                if len(body) > self._max:
                    raise BodyTooLarge
                if not message.get("more_body"):
                    return bytes(body)


def _replay(body: bytes, receive: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The body again, in one message, for the app; then whatever the server says next."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replay
