"""Blocking engine work on worker threads that still obeys Trio cancellation.

A thread cannot be killed, and ``abandon_on_cancel=True`` would leave it running after the
call ended. So the work gets a ``threading.Event`` it polls between its steps; a watcher task
sets it the moment the caller's scope is cancelled, and we wait for the thread to notice. A
call that hangs up mid-transcription therefore costs at most one step of work, never a
leaked thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import outcome
import trio

T = TypeVar("T")


class WorkCancelled(Exception):
    """Raised inside a worker when it saw its cancel flag; never escapes :func:`run_cancellable`."""


async def run_cancellable(
    fn: Callable[[threading.Event], T], *, limiter: trio.CapacityLimiter, name: str
) -> T:
    cancelled = threading.Event()

    async def watch() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    # The worker's outcome travels out of the nursery in a box, so that an engine's error
    # reaches the caller as itself rather than wrapped in an ExceptionGroup.
    box: list[outcome.Outcome[T]] = []

    def work() -> None:
        try:
            box.append(outcome.Value(fn(cancelled)))
        except WorkCancelled:
            pass
        except Exception as exc:
            box.append(outcome.Error(exc))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await trio.to_thread.run_sync(work, limiter=limiter, thread_name=name)
        nursery.cancel_scope.cancel()
    if not box:
        # The worker stopped early, which it does only once our scope was cancelled: this
        # checkpoint delivers that Cancelled.
        await trio.lowlevel.checkpoint()
        raise RuntimeError(f"{name} stopped without a result")  # pragma: no cover
    return box[0].unwrap()


def one_blas_thread() -> None:
    """Keep numpy's BLAS (OpenBLAS, in numpy's wheels) to the calling thread, process-wide.

    The embedded engines' features are small matrix products (Whisper's and the end-of-turn
    model's log-mel: 80 filters by a few hundred frames); OpenBLAS splits each over every core
    and its threads then spin, waiting for the next, for milliseconds after it returns. Measured
    on the benchmark machine (2 cores): an end-of-turn judgement cost 117 ms of CPU for 57 ms of
    wall time, the spin on the other core, and 57 ms with one thread; a Whisper pass spun beside
    CTranslate2's own threads and took a tenth longer. Idempotent; a no-op where numpy's BLAS is
    not one threadpoolctl knows.
    """
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    threadpool_limits(limits=1, user_api="blas")
