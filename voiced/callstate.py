"""What one call knows about itself, shared by its stages: who called, what was said, how it
ended, and the cancel scope that hangs it up."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import trio

from .conversation import Conversation
from .stages.recv import RecvStats
from .wire import Start

log = logging.getLogger("voiced.call")


@dataclass
class Call:
    start: Start
    stats: RecvStats = field(default_factory=RecvStats)
    conversation: Conversation = field(default_factory=Conversation)
    ended_by: str = ""
    started_at: float = field(default_factory=time.time)
    scope: trio.CancelScope | None = None
    barge_ins: int = 0

    @property
    def id(self) -> str:
        return self.start.call_sid or self.start.stream_sid

    @property
    def caller(self) -> str:
        return self.start.custom_parameters.get("caller", "")

    def hangup(self, reason: str) -> None:
        if not self.ended_by:
            self.ended_by = reason
        if self.scope is not None:
            self.scope.cancel()
