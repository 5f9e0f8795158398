"""Silence on the line: when neither side has spoken for ``idle.reprompt_s`` the agent asks
whether the caller is still there; after ``idle.hangup_s`` it says goodbye.

The line is *quiet* when the agent has nothing left to play, the caller is not speaking and
no answer is owed; any activity ends the quiet and restarts the count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from ..config import IdleConfig


class IdleTimer:
    def __init__(self, cfg: IdleConfig) -> None:
        self._cfg = cfg
        self.quiet = False
        self.quiet_since = 0.0
        self._changed = trio.Event()  # set (and replaced) whenever ``quiet`` changes
        self._scope: trio.CancelScope | None = None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def activity(self) -> None:
        """Someone spoke: the count starts again at the next quiet."""
        if self._scope is not None:
            self._scope.cancel()
        if self.quiet:
            self.quiet = False
            self._notify()

    def quiet_now(self) -> None:
        """The line went quiet (if it was not already): the count starts."""
        if not self.quiet:
            self.quiet = True
            self.quiet_since = trio.current_time()
            self._notify()

    async def run(self, reprompt: Callable[[], Awaitable[object]],
                  goodbye: Callable[[], Awaitable[object]]) -> None:
        """Until the goodbye: wait for a quiet, then reprompt and hang up on time unless
        :meth:`activity` comes first."""
        while True:
            while not self.quiet:
                await self._changed.wait()
            since = self.quiet_since
            with trio.CancelScope() as self._scope:
                await trio.sleep_until(since + self._cfg.reprompt_s)
                await reprompt()
                await trio.sleep_until(since + self._cfg.hangup_s)
                await goodbye()
                return
