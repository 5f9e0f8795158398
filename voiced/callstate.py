"""What one call knows about itself, shared by its stages: who called, what was said, how it
ended, and the cancel scope that hangs it up."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import trio

from .conversation import Conversation
from .errors import Engine, FaultKind
from .events import EndReason
from .farend import FarEnd
from .twilio.wire import Start

log = logging.getLogger("voiced.call")


@dataclass
class RecvStats:
    frames: int = 0
    dropped: int = 0
    bad_messages: int = 0
    decode_s: float = 0.0
    decode_n: int = 0
    stop_seen: bool = False
    marks_assumed: int = 0  # marks never echoed, taken as played (dialogue's watchdog)
    echo_frames: int = 0  # inbound frames silenced as the agent's own echo

    def take_decode_ms(self) -> float:
        """Mean message decode time since the last call, for the per-turn latency line."""
        mean = 1000 * self.decode_s / self.decode_n if self.decode_n else 0.0
        self.decode_s, self.decode_n = 0.0, 0
        return mean


class CallObserver(Protocol):
    """Who watches calls from outside: metrics and call records (:mod:`voiced.observe`)."""

    def started(self, call: Call) -> None: ...
    def fault(self, call: Call, engine: Engine, kind: FaultKind) -> None: ...
    def turn(self, call: Call, record: dict[str, Any]) -> None: ...
    def action(self, call: Call, record: Mapping[str, Any]) -> None: ...
    def frame_lag(self, seconds: float) -> None: ...
    def ended(self, call: Call) -> None: ...


@dataclass
class Faults:
    """Engine errors, hangs and timeouts in this call, by ``engine.kind``; and the policy for
    a call whose engines keep failing."""

    counts: dict[str, int] = field(default_factory=dict)
    on_fault: Callable[[Engine, FaultKind], None] | None = None
    _at_last_turn: int = 0
    _faulty_turns: int = 0  # answered turns in a row that met a fault

    def add(self, engine: Engine, kind: FaultKind) -> None:
        key = f"{engine}.{kind}"
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.on_fault is not None:
            self.on_fault(engine, kind)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def turn_answered(self, max_faulty_turns: int) -> bool:
        """Count an answered turn; True when ``max_faulty_turns`` in a row met a fault, and it
        is time to apologise and hang up rather than keep failing at the caller."""
        faulty = self.total > self._at_last_turn
        self._at_last_turn = self.total
        self._faulty_turns = self._faulty_turns + 1 if faulty else 0
        if self._faulty_turns < max_faulty_turns:
            return False
        self._faulty_turns = 0
        return True


@dataclass(eq=False)  # a call is itself: hashable by identity, kept in the live-call set
class Call:
    start: Start
    stats: RecvStats = field(default_factory=RecvStats)
    conversation: Conversation = field(default_factory=Conversation)
    end: EndReason | None = None
    end_detail: str = ""  # more for the log: the error, the intent, where it was transferred
    started_at: float = field(default_factory=time.time)
    scope: trio.CancelScope | None = None
    barge_ins: int = 0
    cut_offs: int = 0  # replies the smart endpoint released before the caller had finished
    faults: Faults = field(default_factory=Faults)
    observer: CallObserver | None = None
    # Set when the daemon wants the call over (shutdown): the agent says goodbye and hangs up.
    goodbye: trio.Event = field(default_factory=trio.Event)
    # What the agent played and when: the reference its echo is told apart by.
    far_end: FarEnd = field(default_factory=FarEnd)
    # The call's own id in records: a CallSid seen twice (a replay, a test) is two calls.
    uid: str = field(default_factory=lambda: secrets.token_hex(8))

    def __post_init__(self) -> None:
        self.faults.on_fault = self._on_fault

    def _on_fault(self, engine: Engine, kind: FaultKind) -> None:
        if self.observer is not None:
            self.observer.fault(self, engine, kind)

    def record_turn(self, record: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer.turn(self, record)

    def record_action(self, record: Mapping[str, Any]) -> None:
        """Something a tool did for the caller (a booking, a message): recorded at once."""
        if self.observer is not None:
            self.observer.action(self, record)

    @property
    def id(self) -> str:
        return self.start.call_sid or self.start.stream_sid

    @property
    def caller(self) -> str:
        return self.start.custom_parameters.get("caller", "")

    @property
    def ended_by(self) -> str:
        """The end as the log and the record say it: the reason, and its detail if any."""
        if self.end is None:
            return ""
        return f"{self.end}: {self.end_detail}" if self.end_detail else str(self.end)

    def ending(self, reason: EndReason, detail: str = "") -> None:
        """Say how the call ends; the first reason given stands."""
        if self.end is None:
            self.end, self.end_detail = reason, detail

    def say_goodbye(self, reason: EndReason) -> None:
        self.ending(reason)
        self.goodbye.set()

    def hangup(self, reason: EndReason, detail: str = "") -> None:
        self.ending(reason, detail)
        if self.scope is not None:
            self.scope.cancel()
