"""Bounds on what a client may send: a token bucket per message kind, and log lines that
summarise a flood instead of echoing it.

Both are pure: the caller passes the time (``trio.current_time()`` in the daemon, so tests on
a virtual clock see exact behaviour), and nothing here sleeps or schedules.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field


@dataclass
class TokenBucket:
    """``rate`` events a second on average, ``burst`` at once. :meth:`take` is O(1)."""

    rate: float
    burst: float
    tokens: float = -1.0  # full on first use
    at: float | None = None

    def take(self, now: float) -> bool:
        """One event at ``now``: True if it is within the limit."""
        if self.at is None:
            self.tokens = self.burst
        else:
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class SummaryLog:
    """One line for the first event of a kind, then at most one line a ``period`` saying how
    many more there were: a flood of bad requests or dropped frames costs a few log lines a
    second, not one each (4.3 MB of log in 25 s, before this)."""

    logger: logging.Logger
    level: int = logging.WARNING
    period: float = 1.0
    _since: dict[str, float] = field(default_factory=dict)
    _count: dict[str, int] = field(default_factory=dict)
    _last: dict[str, str] = field(default_factory=dict)

    def event(self, now: float, key: str, message: str, count: int = 1) -> None:
        since = self._since.get(key)
        if since is None or now - since >= self.period:
            self.flush(now, key)
            self._since[key] = now
            self.logger.log(self.level, "%s", message)
            return
        self._count[key] = self._count.get(key, 0) + count
        self._last[key] = message

    def flush(self, now: float, key: str | None = None) -> None:
        """Say what was held back (for one key, or all): at the end of a call, or when the
        next period opens."""
        for k in [key] if key is not None else list(self._count):
            n = self._count.pop(k, 0)
            if n:
                since = self._since.get(k, now)
                self.logger.log(self.level, "%d more in %.1fs like: %s", n, max(now - since, 0.0),
                                self._last.pop(k, ""))
