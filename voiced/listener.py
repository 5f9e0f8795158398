"""hypercorn on a listener of our own that caps open connections.

hypercorn has per-connection deadlines (``keep_alive_timeout`` closes a connection whose
headers are not in, ``read_timeout`` one that goes silent) but no bound on how many
connections are open. :class:`CappedListener` holds at most ``server.max_connections``. When
full it closes the oldest connection whose request headers have not all arrived (idle, or
trickling them): a real request's headers come in its first packet, so sockets held open
to fill the cap cannot crowd out Twilio's. Only when every connection is a request or a
stream in progress is the new one closed instead. One summary log line a second. This is
:func:`hypercorn.trio.run.worker_serve` for plain TCP (no TLS: a proxy in front does it, see
the README's threat model), with that listener.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import repr_socket_addr, wrap_app

from .limits import SummaryLog

log = logging.getLogger("voiced.listener")


class _Slot(trio.abc.HalfCloseableStream):
    """A connection holding one of the listener's slots until it is closed, watching its
    first bytes for the end of the request headers."""

    def __init__(self, stream: trio.SocketStream, release: Callable[[_Slot], None]) -> None:
        self._stream = stream
        self._release: Callable[[_Slot], None] | None = release
        self.socket = stream.socket  # hypercorn reads the peer's address from it
        self.headers_in = False
        self._tail = b""  # the last bytes seen, for an end of headers split across reads

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self._stream.send_all(data)
        except trio.BusyResourceError:
            # hypercorn closes (send_eof) outside its send lock; a send racing the close
            # finds the connection going away, which hypercorn handles as broken.
            raise trio.BrokenResourceError("connection closing") from None

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self._stream.receive_some(max_bytes)
        if not self.headers_in:
            seen = self._tail + data
            self.headers_in = b"\r\n\r\n" in seen
            self._tail = bytes(seen[-3:])
        return data

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        if self._release is not None:
            self._release(self)
            self._release = None
        await self._stream.aclose()

    def evict(self) -> None:
        """Close from outside: hypercorn's reader gets ClosedResourceError and lets go."""
        if self._release is not None:
            self._release(self)
            self._release = None
        self._stream.socket.close()


class CappedListener(trio.abc.Listener[_Slot]):
    def __init__(self, inner: trio.SocketListener, max_connections: int) -> None:
        self._inner = inner
        self.max = max_connections
        self._slots: dict[_Slot, None] = {}  # open connections, oldest first
        self.evicted = 0
        self.refused = 0
        self._summary = SummaryLog(log)

    @property
    def open(self) -> int:
        return len(self._slots)

    def _release(self, slot: _Slot) -> None:
        self._slots.pop(slot, None)

    async def accept(self) -> _Slot:
        while True:
            stream = await self._inner.accept()
            if self.open >= self.max:
                stale = next((s for s in self._slots if not s.headers_in), None)
                if stale is None:
                    self.refused += 1
                    self._summary.event(trio.current_time(), "full",
                                        f"{self.open} connections open, all busy "
                                        "(server.max_connections): closed a new one")
                    await trio.aclose_forcefully(stream)
                    continue
                stale.evict()
                self.evicted += 1
                self._summary.event(trio.current_time(), "evicted",
                                    f"{self.max} connections open (server.max_connections): "
                                    "closed the oldest without a complete request")
            slot = _Slot(stream, self._release)
            self._slots[slot] = None
            return slot

    async def aclose(self) -> None:
        await self._inner.aclose()


def bind(config: HyperConfig) -> list[socket.socket]:
    """Listening sockets on ``config.bind`` (plain TCP)."""
    sockets = list(config.create_sockets().insecure_sockets)
    for sock in sockets:
        sock.listen(config.backlog)
    return sockets


async def serve(
    app: Any,
    config: HyperConfig,
    *,
    max_connections: int,
    shutdown_trigger: Callable[[], Awaitable[Any]],
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
    listeners_out: list[CappedListener] | None = None,
    sockets: list[socket.socket] | None = None,
) -> None:
    """Serve ``app`` until ``shutdown_trigger`` returns; ``task_status`` gets the bound URLs.
    ``sockets``: listening already (a worker's, shared with its siblings), instead of
    binding ``config.bind``."""
    wrapped = wrap_app(app, config.wsgi_max_body_size, "asgi")
    lifespan_state: dict[str, Any] = {}
    lifespan = Lifespan(wrapped, config, lifespan_state)
    context = WorkerContext(None)
    async with trio.open_nursery() as lifespan_nursery:
        await lifespan_nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        async with trio.open_nursery() as server_nursery:
            if sockets is None:
                sockets = bind(config)
            listeners, binds = [], []
            for sock in sockets:
                listeners.append(CappedListener(
                    trio.SocketListener(trio.socket.from_stdlib_socket(sock)), max_connections))
                binds.append(f"http://{repr_socket_addr(sock.family, sock.getsockname())}")
            if listeners_out is not None:
                listeners_out.extend(listeners)
            task_status.started(binds)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(
                    trio.serve_listeners,
                    partial(TCPServer, wrapped, config, context,
                            ConnectionState(lifespan_state.copy())),
                    listeners, handler_nursery=server_nursery))
                await shutdown_trigger()
                nursery.cancel_scope.cancel()
            await context.terminated.set()
            server_nursery.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
        await lifespan.wait_for_shutdown()
