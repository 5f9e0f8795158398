"""Where the daemon's thread spends its CPU, by task: a trio instrument that sums the thread
CPU of every task step under the task's name (a call's stages are named alike in every call,
so the sums are per stage across calls).

py-spy's samples of a loaded Trio process miss or truncate coroutine stacks; this counts
every step, and costs 3.5 us a step here (trio's hook calls and two thread-clock reads: at
20 calls, ~8000 steps a second, about 3 % of a core more on ``voiced bench e2e
--cpu-by-task``'s daemon CPU). What is not in any step is the loop itself: the scheduler,
epoll, and the I/O it does between steps.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import trio

_ADDRESS = re.compile(r"\(.*\)| object at 0x[0-9a-f]+")


class TaskCpu(trio.abc.Instrument):
    def __init__(self) -> None:
        self.ns: Counter[str] = Counter()
        self._names: dict[str, str] = {}  # a task's name without its instance's address
        self.steps: Counter[str] = Counter()
        self._started = 0
        self._thread0 = 0
        self._wall0 = 0.0
        self.thread_s = 0.0
        self.wall_s = 0.0

    def start(self) -> None:
        """From now on; called in a task step, whose rest counts from here."""
        self._thread0, self._wall0 = time.thread_time_ns(), time.perf_counter()
        self._started = self._thread0
        trio.lowlevel.add_instrument(self)

    def stop(self) -> None:
        trio.lowlevel.remove_instrument(self)
        self.thread_s = (time.thread_time_ns() - self._thread0) / 1e9
        self.wall_s = time.perf_counter() - self._wall0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.thread_time_ns()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        name = self._names.get(task.name)
        if name is None:
            name = self._names[task.name] = _ADDRESS.sub("", task.name)
        self.ns[name] += time.thread_time_ns() - self._started
        self.steps[name] += 1

    def summary(self, top: int = 12) -> dict[str, Any]:
        """Each of the ``top`` costliest tasks: % of one core, steps a second, us a step;
        and the loop's thread in all, and outside any step."""
        wall = max(self.wall_s, 1e-9)
        in_steps = sum(self.ns.values()) / 1e9
        tasks = {name: {"core_pct": round(100 * ns / 1e9 / wall, 2),
                        "steps_per_s": round(self.steps[name] / wall),
                        "us_per_step": round(ns / 1000 / max(1, self.steps[name]), 1)}
                 for name, ns in self.ns.most_common(top)}
        return {"loop_thread_pct": round(100 * self.thread_s / wall, 1),
                "outside_steps_pct": round(100 * (self.thread_s - in_steps) / wall, 1),
                "tasks": tasks}
