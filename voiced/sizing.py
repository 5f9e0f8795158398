"""What one machine takes on when the configuration leaves it to voiced (a 0).

``server.workers``, ``server.max_calls`` and ``stt.whisper.concurrency`` are 0 in the shipped
config.toml: each is sized here from the cores this process may run on and the engine set, by
what docs/CAPACITY.md measured, so the same file on a 2-core and a 16-core VM neither admits
calls the machine cannot answer at the load targets (a caller over them hears that the line is
busy, which beats a slow line for everyone) nor leaves cores idle. A number in the file wins.

Two engine sets cost a machine very differently. With cloud engines a call is Twilio's
messages and the event loop's bookkeeping: ~2-3 % of a core, so the loop's one core is the
limit, and a worker process a core lifts it. With the embedded Whisper a call is its decodes,
each a core for a few hundred milliseconds at every pause: one process already decodes on
every core (``stt.whisper.concurrency`` decodes at once, one thread each), and a second
worker would only hold the model again (~370 MB).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from .config import Config, WhisperConfig

# Calls a core holds at the load targets (frame lag p99 <= 20 ms, no outbound gap over 40 ms,
# no drops, reply p95 within 10 % of a single call's), docs/CAPACITY.md.
CLOUD_CALLS_PER_CORE = 20
EMBEDDED_CALLS_PER_CORE = 2


def cores() -> int:
    """The cores this process may run on: its affinity (systemd's ``CPUAffinity=``, a cpuset),
    and no more than its cgroup's CPU quota allows (a container's ``--cpus``, systemd's
    ``CPUQuota=``), rounded up."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)
    quota = quota_cores(Path("/proc/self/cgroup"), Path("/sys/fs/cgroup"))
    return max(1, min(n, quota)) if quota else n


def quota_cores(own: Path, root: Path) -> int | None:
    """The CPU quota of the cgroup named in ``own`` (``/proc/self/cgroup``) under ``root``, in
    cores rounded up; None if it has none or it cannot be read. cgroup v2: the smallest
    ``cpu.max`` of the cgroup and those above it (a slice's quota binds its services); v1: the
    cpu controller's ``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``."""
    try:
        lines = own.read_text().splitlines()
    except OSError:
        return None
    quotas: list[int] = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = Path(path.lstrip("/"))
        if controllers == "":  # v2: the cgroup and every one above it
            for where in (root / rel, *(root / up for up in rel.parents)):
                quotas += _quota(where / "cpu.max", None)
        elif "cpu" in controllers.split(","):
            where = root / controllers / rel
            quotas += _quota(where / "cpu.cfs_quota_us", where / "cpu.cfs_period_us")
    return min(quotas) if quotas else None


def _quota(limit_file: Path, period_file: Path | None) -> list[int]:
    """[cores, rounded up] if the file(s) hold a quota, else []."""
    try:
        if period_file is None:
            limit, period = limit_file.read_text().split()
        else:
            limit, period = limit_file.read_text().strip(), period_file.read_text().strip()
        if limit in ("max", "-1") or int(period) <= 0:
            return []
        return [-(-int(limit) // int(period))]
    except (OSError, ValueError):
        return []


def decodes_at_once(whisper: WhisperConfig, n_cores: int | None = None) -> int:
    """``stt.whisper.concurrency``, or as many decodes as the cores hold at ``cpu_threads``
    each: one thread a decode is the fastest here, so two cores decode two turns at once."""
    return whisper.concurrency or max(1, (n_cores or cores()) // whisper.cpu_threads)


def embedded_stt(cfg: Config) -> bool:
    """Whether the calls' transcription runs on this machine's cores (the embedded Whisper)."""
    return cfg.stt.engine == "whisper"


@dataclass(frozen=True)
class Sizing:
    """What this machine runs: daemon processes, calls at once (all of them together),
    Whisper decodes at once in each process."""

    cores: int
    workers: int
    max_calls: int
    decodes: int

    def describe(self, cfg: Config) -> str:
        """One line for the start-up log and ``voiced check-config``."""
        whisper = embedded_stt(cfg)
        sizes = [("server.workers", cfg.server.workers), ("server.max_calls", cfg.server.max_calls)]
        sizes += [("stt.whisper.concurrency", cfg.stt.whisper.concurrency)] if whisper else []
        chosen = ", ".join(name for name, value in sizes if not value)
        return (f"{self.cores} cores, {'embedded Whisper' if whisper else 'cloud STT'}: "
                f"{self.workers} worker(s), at most {self.max_calls} calls"
                + (f", {self.decodes} decodes at once" if whisper else "")
                + (f" ({chosen} sized by voiced)" if chosen else ""))

    def applied(self, cfg: Config) -> Config:
        """``cfg`` with these numbers in place of its 0s (the others are these already)."""
        server = dataclasses.replace(cfg.server, workers=self.workers, max_calls=self.max_calls)
        whisper = dataclasses.replace(cfg.stt.whisper, concurrency=self.decodes)
        return dataclasses.replace(cfg, server=server,
                                   stt=dataclasses.replace(cfg.stt, whisper=whisper))


def for_machine(cfg: Config, n_cores: int | None = None) -> Sizing:
    n = n_cores or cores()
    cpu_bound = embedded_stt(cfg)
    workers = cfg.server.workers or (1 if cpu_bound else n)
    per_core = EMBEDDED_CALLS_PER_CORE if cpu_bound else CLOUD_CALLS_PER_CORE
    return Sizing(cores=n, workers=workers, max_calls=cfg.server.max_calls or per_core * n,
                  decodes=decodes_at_once(cfg.stt.whisper, n))


def resolved(cfg: Config, n_cores: int | None = None) -> Config:
    """``cfg`` with every 0 above replaced by what :func:`for_machine` chose."""
    return for_machine(cfg, n_cores).applied(cfg)
