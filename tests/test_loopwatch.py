"""The event-loop watch sees a stall of the daemon's thread, and only that."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from voiced.loopwatch import LoopWatch
from voiced.metrics import Metrics


async def test_punctual_loop_reads_zero(autojump_clock: trio.testing.MockClock) -> None:
    watch = LoopWatch(Metrics().loop_lag)
    with trio.move_on_after(1.0):
        await watch.run()
    assert watch.worst == 0.0 and watch.late == 0


async def test_a_held_thread_is_seen_with_its_length(
        autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture) -> None:
    clock = autojump_clock
    metrics = Metrics()
    watch = LoopWatch(metrics.loop_lag, every=0.05, warn_s=0.1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch.run)
        await trio.sleep(0.12)  # the watch asleep until 0.15
        clock.jump(0.25)  # this task holds the thread 0.25 s without a checkpoint
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    assert watch.worst == pytest.approx(0.22)  # due at 0.15, woke at 0.37
    assert watch.late == 1
    assert "event loop 220 ms late" in caplog.text
    # Every wake-up counted, exactly one of them later than 100 ms.
    sample = metrics.registry.get_sample_value
    count = sample("voiced_event_loop_lag_seconds_count")
    assert count is not None and count > 3
    assert sample("voiced_event_loop_lag_seconds_bucket", {"le": "0.1"}) == count - 1
    watch.reset()
    assert (watch.worst, watch.late) == (0.0, 0)


@pytest.fixture(autouse=True)
def _warnings(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "voiced.loop")
