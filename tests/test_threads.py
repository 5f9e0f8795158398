"""Worker threads obey cancellation and none outlives its call (real clock: autojump cannot
see threads)."""

from __future__ import annotations

import threading
import time

import pytest
import trio

from voiced.threads import WorkCancelled, one_blas_thread, run_cancellable


def busy(cancelled: threading.Event) -> str:
    for _ in range(500):  # 5 s of "work" in 10 ms steps
        if cancelled.is_set():
            raise WorkCancelled
        time.sleep(0.01)
    return "done"


def running_workers() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "voiced-test-worker"]


async def test_cancelling_stops_the_worker_within_one_step() -> None:
    limiter = trio.CapacityLimiter(1)
    t0 = trio.current_time()
    with trio.move_on_after(0.1) as scope:
        await run_cancellable(busy, limiter=limiter, name="voiced-test-worker")
    elapsed = trio.current_time() - t0
    assert scope.cancelled_caught
    assert elapsed < 0.5  # one 10 ms step after the deadline, with slack for a loaded CI
    assert limiter.borrowed_tokens == 0
    assert running_workers() == []


async def test_a_result_comes_back() -> None:
    limiter = trio.CapacityLimiter(1)
    assert await run_cancellable(lambda c: 42, limiter=limiter, name="voiced-test-worker") == 42


def test_numpy_s_blas_is_kept_to_the_calling_thread() -> None:
    """OpenBLAS's own threads spin after every product: the engines keep it to one thread."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numpy  # noqa: F401  (its BLAS must be loaded to be found)

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):  # restored on leaving
        one_blas_thread()
        blas = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
        assert blas and all(info["num_threads"] == 1 for info in blas)
