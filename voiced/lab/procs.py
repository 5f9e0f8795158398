"""The benchmarks' own processes (emulated callers, sim engines, attackers): how they start.

Each runs ``python -m voiced.lab...`` beside the daemon under test, and must run the same
code as the benchmark that started it.
"""

from __future__ import annotations

import os
import sys
from functools import partial
from typing import Any


def module_command(module: str) -> list[str]:
    """``python -P -m module``: the module from the benchmark's own ``sys.path``.

    Without ``-P`` a ``-m`` child puts its working directory first on its path, so a
    benchmark run from a snapshot of the tree (``PYTHONPATH=/tmp/snap``) from the checkout
    would start the checkout's callers and sim engines beside the snapshot's daemon.
    """
    return [sys.executable, "-P", "-m", module]


def niced(nice: int) -> dict[str, Any]:
    """``run_process`` options that start a harness process at niceness ``nice`` (0: as is).

    The emulated callers and the sim engines stand for Twilio's and Google's machines, which
    take no CPU from the daemon's VM; on one benchmark machine they share its cores. At a
    higher niceness they yield a core the daemon wants, as the other services of a VM yield to
    the unit's ``CPUWeight=`` (systemd/voiced.service), while still using every core the daemon
    leaves idle; their own timing (the callers' 20 ms clock, the engines' answers) can only
    get later, which the reply latency measured at the callers' ear counts against the daemon.
    """
    return {"preexec_fn": partial(os.nice, nice)} if nice else {}
