"""Drive ``run_call`` from a test, and look for tasks it may have left behind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from voiced.call import run_call
from voiced.callstate import Call, CallObserver
from voiced.config import Config
from voiced.engines.base import Engines
from voiced.lab.testing.peer import CALL_SID, TwilioPeer
from voiced.twilio.rest import TwilioRest
from voiced.twilio.socket import memory_socket_pair


def voiced_tasks() -> list[str]:
    """Names of every live task running voiced code, anywhere in the task tree."""
    found: list[str] = []

    def walk(task: trio.lowlevel.Task) -> None:
        if task.name.startswith("voiced."):
            found.append(task.name)
        for nursery in task.child_nurseries:
            for child in nursery.child_tasks:
                walk(child)

    root = trio.lowlevel.current_root_task()
    assert root is not None, "call from inside trio.run"
    walk(root)
    return found


class CallHarness:
    """Runs ``run_call`` against a :class:`TwilioPeer` and records when it returned."""

    def __init__(self, cfg: Config, engines: Engines, rest: TwilioRest | None = None,
                 observer: CallObserver | None = None,
                 on_start: Callable[[Call], None] | None = None) -> None:
        self.cfg = cfg
        self.engines = engines
        self.rest = rest
        self.observer = observer
        self.on_start = on_start
        self.peer_call_sid = CALL_SID
        server_sock, peer_sock = memory_socket_pair()
        self.server_sock = server_sock
        self.peer = TwilioPeer(peer_sock)
        self.call: Call | None = None
        self.ended_at: float | None = None
        self.done = trio.Event()

    @asynccontextmanager
    async def running(self, *, start: bool = True) -> AsyncIterator[CallHarness]:
        """The call and the peer's collector run in the background; the block plays the
        caller. Leaving the block waits for the call to end."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.peer.collect)
            nursery.start_soon(self.run)
            if start:
                await self.peer.start()
                nursery.start_soon(self.peer.line)
            yield self

    async def run(self) -> None:
        self.call = await run_call(self.server_sock, self.engines, self.cfg, self.rest,
                                   self.observer, self.on_start)
        self.ended_at = trio.current_time()
        self.server_sock.close()
        self.done.set()
