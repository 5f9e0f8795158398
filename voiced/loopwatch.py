"""How late the event loop runs: the one number that says whether anything blocked it.

Every call, the webhooks and /healthz share one Trio thread; a task that holds it (a parse,
a log storm, a blocking call that slipped in) delays all of them at once. A task that sleeps
``every`` seconds and measures how late it woke sees every such stall, whatever caused it,
and tells an outside delay (the kernel, the machine's other processes) from ours: if the
loop was on time, a slow answer was not the daemon's doing. Stalls past ``warn_s`` get one
log line a second.
"""

from __future__ import annotations

import gc
import logging

import trio
from prometheus_client import Histogram

from .limits import SummaryLog

log = logging.getLogger("voiced.loop")


def settle_heap() -> None:
    """Take what startup built (modules, engines, models: everything alive when the daemon
    is ready to serve) out of the cycle collector's sight.

    A full collection walks every tracked object; with gRPC, protobuf, numpy and quart
    loaded that is a few hundred thousand, and each full collection held the event loop
    74-112 ms (measured under the connection-flood attack: two a minute, every call and
    /healthz waiting). None of it will ever be cyclic garbage, so it is collected once and
    frozen (:func:`gc.freeze`); full collections then walk only what calls create.
    """
    gc.collect()
    gc.freeze()


class LoopWatch:
    """The loop's lateness: a histogram for operators and the worst since :meth:`reset`."""

    def __init__(self, histogram: Histogram | None = None, *, every: float = 0.05,
                 warn_s: float = 0.1) -> None:
        self.histogram = histogram
        self.every = every
        self.warn_s = warn_s
        self.worst = 0.0
        self.late = 0  # wake-ups later than warn_s since reset
        self._summary = SummaryLog(log)

    def reset(self) -> None:
        self.worst, self.late = 0.0, 0

    def observe(self, lag: float, now: float) -> None:
        self.worst = max(self.worst, lag)
        if self.histogram is not None:
            self.histogram.observe(lag)
        if lag > self.warn_s:
            self.late += 1
            self._summary.event(now, "late", f"event loop {1000 * lag:.0f} ms late: something "
                                "held the daemon's thread, or the machine is short of CPU")

    async def run(self) -> None:
        """Until cancelled."""
        while True:
            due = trio.current_time() + self.every
            await trio.sleep_until(due)
            now = trio.current_time()
            self.observe(max(0.0, now - due), now)
