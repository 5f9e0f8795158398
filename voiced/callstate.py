"""What one call knows about itself, shared by its stages: who called, what was said, how it
ended, and the cancel scope that hangs it up."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from .conversation import Conversation
from .stages.recv import RecvStats
from .wire import Start

log = logging.getLogger("voiced.call")


class CallObserver(Protocol):
    """Who watches calls from outside: metrics and call records (:mod:`voiced.observe`)."""

    def started(self, call: Call) -> None: ...
    def fault(self, call: Call, engine: str, kind: str) -> None: ...
    def turn(self, call: Call, record: dict[str, Any]) -> None: ...
    def frame_lag(self, seconds: float) -> None: ...
    def ended(self, call: Call) -> None: ...


@dataclass
class Faults:
    """Engine errors, hangs and timeouts in this call, by ``engine.kind``."""

    counts: dict[str, int] = field(default_factory=dict)
    on_fault: Callable[[str, str], None] | None = None

    def add(self, engine: str, kind: str) -> None:
        key = f"{engine}.{kind}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.on_fault is not None:
            self.on_fault(engine, kind)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(eq=False)  # a call is itself: hashable by identity, kept in the live-call set
class Call:
    start: Start
    stats: RecvStats = field(default_factory=RecvStats)
    conversation: Conversation = field(default_factory=Conversation)
    ended_by: str = ""
    started_at: float = field(default_factory=time.time)
    scope: trio.CancelScope | None = None
    barge_ins: int = 0
    faults: Faults = field(default_factory=Faults)
    observer: CallObserver | None = None
    # Set when the daemon wants the call over (shutdown): the agent says goodbye and hangs up.
    goodbye: trio.Event = field(default_factory=trio.Event)
    # The call's own id in records: a CallSid seen twice (a replay, a test) is two calls.
    uid: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.faults.on_fault = self._on_fault

    def _on_fault(self, engine: str, kind: str) -> None:
        if self.observer is not None:
            self.observer.fault(self, engine, kind)

    def record_turn(self, record: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer.turn(self, record)

    @property
    def id(self) -> str:
        return self.start.call_sid or self.start.stream_sid

    @property
    def caller(self) -> str:
        return self.start.custom_parameters.get("caller", "")

    def say_goodbye(self, reason: str) -> None:
        if not self.ended_by:
            self.ended_by = reason
        self.goodbye.set()

    def hangup(self, reason: str) -> None:
        if not self.ended_by:
            self.ended_by = reason
        if self.scope is not None:
            self.scope.cancel()
