"""The one thing a call needs from its transport: text messages in, text messages out.

The ASGI server's websocket (the daemon), trio-websocket (the dial emulator) and in-memory
pairs (the tests) all fit behind :class:`MessageSocket`; a closed peer raises
:class:`CallClosed`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import trio

from ..errors import CallClosed


class MessageSocket(Protocol):
    async def receive(self) -> str | bytes: ...

    async def send(self, text: str) -> None: ...


class AsgiSocket:
    """An accepted WebSocket as the ASGI server hands it over, with no framework between
    Twilio's messages and the recv stage: quart's per-message task hop and signal cost a tenth of
    the daemon's CPU at 20 calls (docs/BENCHMARKS.md, "Load"). A disconnect from the peer ends
    :meth:`receive` (and every later send) with :class:`CallClosed`."""

    def __init__(self, receive: Callable[[], Awaitable[dict[str, Any]]],
                 send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self._receive = receive
        self._send = send
        self.closed = False

    async def receive(self) -> str | bytes:
        while not self.closed:
            event = await self._receive()
            kind = event.get("type")
            if kind == "websocket.receive":
                text: str | None = event.get("text")
                if text is not None:
                    return text
                data: bytes | None = event.get("bytes")
                # An empty binary frame is still a message, and a bad one, for the parser.
                return b"" if data is None else data
            if kind == "websocket.disconnect":
                self.closed = True
            # websocket.connect, which may come after the accept, carries nothing.
        raise CallClosed("peer closed the socket")

    async def send(self, text: str) -> None:
        if self.closed:
            raise CallClosed("peer closed the socket")
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            await self._send({"type": "websocket.close", "code": code})


class TrioWebSocket:
    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def receive(self) -> str | bytes:
        from trio_websocket import ConnectionClosed

        try:
            data: str | bytes = await self._ws.get_message()
        except ConnectionClosed:
            raise CallClosed("peer closed the socket") from None
        return data

    async def send(self, text: str) -> None:
        from trio_websocket import ConnectionClosed

        try:
            await self._ws.send_message(text)
        except ConnectionClosed:
            raise CallClosed("peer closed the socket") from None


class MemorySocket:
    """One end of an in-memory socket pair (see :func:`memory_socket_pair`)."""

    def __init__(
        self, tx: trio.MemorySendChannel[str | bytes], rx: trio.MemoryReceiveChannel[str | bytes]
    ) -> None:
        self._tx = tx
        self._rx = rx

    async def receive(self) -> str | bytes:
        try:
            return await self._rx.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise CallClosed("peer closed the socket") from None

    async def send(self, text: str) -> None:
        try:
            await self._tx.send(text)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise CallClosed("peer closed the socket") from None

    def close(self) -> None:
        self._tx.close()


def memory_socket_pair(buffer: int = 1000) -> tuple[MemorySocket, MemorySocket]:
    a_tx, b_rx = trio.open_memory_channel[str | bytes](buffer)
    b_tx, a_rx = trio.open_memory_channel[str | bytes](buffer)
    return MemorySocket(a_tx, a_rx), MemorySocket(b_tx, b_rx)
