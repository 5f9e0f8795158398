"""The by-task CPU instrument of ``voiced bench e2e --cpu-by-task`` counts every step of every
task under its name, the same name for the same stage in every call."""

from __future__ import annotations

import trio

from voiced.lab.taskcpu import TaskCpu


class Stage:
    def __init__(self, work: int) -> None:
        self.work = work

    async def __call__(self) -> None:
        for _ in range(5):
            sum(range(self.work))
            await trio.lowlevel.checkpoint()


async def test_each_tasks_steps_and_cpu_are_summed_under_its_name() -> None:
    cpu = TaskCpu()
    cpu.start()
    async with trio.open_nursery() as nursery:
        for _ in range(3):  # three calls' worth of the same two stages
            nursery.start_soon(Stage(200_000))
            nursery.start_soon(Stage(10))
    cpu.stop()
    # An instance's repr (with its address) is not part of the name: all three add up.
    (stage,) = [name for name in cpu.steps if "Stage" in name]
    assert cpu.steps[stage] >= 2 * 3 * 5
    summary = cpu.summary()
    assert stage in summary["tasks"] and summary["loop_thread_pct"] > 0
    assert cpu.ns[stage] > 0
    assert not any("0x" in name for name in cpu.ns)
