"""The one thing a call needs from its transport: text messages in, text messages out.

quart-trio's websocket (the daemon), trio-websocket (the dial emulator) and in-memory pairs
(the tests) all fit behind :class:`MessageSocket`; a closed peer raises :class:`CallClosed`.
"""

from __future__ import annotations

from typing import Any, Protocol

import trio

from .errors import CallClosed


class MessageSocket(Protocol):
    async def receive(self) -> str | bytes: ...

    async def send(self, text: str) -> None: ...


class QuartSocket:
    """quart's websocket proxy. quart-trio cancels the handler when the peer disconnects."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws

    async def receive(self) -> str | bytes:
        data: str | bytes | None = await self._ws.receive()
        # quart hands an empty binary frame over as None (`bytes or text`): still a message,
        # and a bad one, for the parser to refuse.
        return b"" if data is None else data

    async def send(self, text: str) -> None:
        await self._ws.send(text)


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
