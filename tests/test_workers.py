"""``server.workers``: processes on one port. A call survives the death of another worker,
which is replaced; every worker's samples are in one scrape. Real processes and sockets,
real clock (a few seconds)."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import trio

from voiced.audio import frames, ulaw_encode
from voiced.config import Config, from_dict
from voiced.lab.dial import DialOptions, DialResult, Utterance
from voiced.lab.runner import dial_url, signed_options
from voiced.lab.testing.fakes import fake_engines_for, tone
from voiced.records import CallRecords, read_calls
from voiced.workers import Supervisor

TOKEN = "workers-test-token"


def config(tmp_path: Path) -> Config:
    return from_dict({"server": {"host": "127.0.0.1", "port": 0, "public_host": "agent.example.com",
                                 "max_calls": 4, "state_dir": str(tmp_path / "state"),
                                 "worker_stall_s": 2.0},
                      "shutdown": {"grace_s": 5.0, "goodbye_s": 2.0}})


@pytest.fixture
def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Supervisor]:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    sup = Supervisor(config(tmp_path), 2, engines=fake_engines_for, run_dir=str(tmp_path))
    sup.start(timeout_s=120)
    watcher = threading.Thread(target=sup.run)
    watcher.start()
    try:
        yield sup
    finally:
        sup.stop()
        watcher.join(timeout=60)
    assert not watcher.is_alive()
    assert not any(p.is_alive() for p in sup.procs.values())


def utterance(ms: int) -> Utterance:
    pcm = np.concatenate([np.zeros(2400, np.int16), tone(ms), np.zeros(2400, np.int16)])
    chunks = [ulaw_encode(c) for c in frames(pcm)]
    return Utterance("tone", chunks, end_frame=len(chunks) - 16, start_frame=15)


async def health(base: str) -> list[dict[str, int]]:
    """/healthz over fresh connections until both workers have answered."""
    seen: dict[int, dict[str, int]] = {}
    for _ in range(200):
        async with httpx.AsyncClient(timeout=5.0) as fresh:  # a new connection each time
            body = (await fresh.get(f"{base}/healthz")).json()
        seen[body["worker"]] = body
        if len(seen) == 2:
            break
    return list(seen.values())


def test_a_call_outlives_another_workers_death_and_is_seen_by_every_scrape(
    supervisor: Supervisor,
) -> None:
    base = f"http://127.0.0.1:{supervisor.port}"
    url = f"ws://127.0.0.1:{supervisor.port}{supervisor.cfg.server.media_path}"
    opts = signed_options(supervisor.cfg, DialOptions(), TOKEN)
    first_pids = {p.pid for p in supervisor.procs.values()}

    async def main() -> tuple[DialResult, int, list[dict[str, int]]]:
        result: DialResult | None = None
        killed = 0

        async def caller() -> None:
            nonlocal result
            result = await dial_url(url, [utterance(600), utterance(600)], opts)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller)
            await trio.sleep(1.0)  # the greeting is playing
            workers = await health(base)
            assert sum(w["active_calls"] for w in workers) == 1
            assert all(w["machine_calls"] == 1 for w in workers)
            idle = next(w for w in workers if w["active_calls"] == 0)
            killed = idle["pid"]
            os.kill(killed, signal.SIGKILL)
        assert result is not None
        with trio.fail_after(60):
            while True:
                after = await health(base)
                if killed not in {w["pid"] for w in after}:
                    break
                await trio.sleep(0.2)
        return result, killed, after

    result, killed, after = trio.run(main)
    assert killed in first_pids and supervisor.restarts == 1
    assert {w["pid"] for w in after} - first_pids  # the replacement answers
    # The call on the surviving worker went on: both turns answered, nothing lost.
    assert [t.latency_s is not None for t in result.turns] == [True, True]
    assert result.protocol_errors == 0
    scrapes = set()
    for _ in range(20):  # whichever worker answers, it reports the machine
        with httpx.Client(timeout=5.0) as http:
            text = http.get(f"{base}/metrics").text
        line = next(ln for ln in text.splitlines()
                    if ln.startswith('voiced_stage_latency_seconds_count{stage="reply_total"}'))
        scrapes.add(float(line.split()[-1]))
    assert scrapes == {2.0}


def _append(state_dir: str, worker: int, n: int) -> None:
    records = CallRecords(state_dir)
    for i in range(n):
        records.write({"type": "turn", "id": f"w{worker}", "call": f"w{worker}", "n": i,
                       "said": "x" * 3000})  # lines longer than a pipe's atomic write


def test_a_worker_whose_event_loop_stalls_is_replaced(supervisor: Supervisor) -> None:
    base = f"http://127.0.0.1:{supervisor.port}"
    stuck = next(iter(supervisor.procs.values())).pid
    assert stuck is not None
    os.kill(stuck, signal.SIGSTOP)  # its loop runs no more, as if a call blocked it

    async def replaced() -> set[int]:
        with trio.fail_after(60):
            while True:
                pids = {w["pid"] for w in await health(base)}
                if stuck not in pids and len(pids) == 2:
                    return pids
                await trio.sleep(0.2)

    pids = trio.run(replaced)
    assert supervisor.stalls == 1 and supervisor.restarts == 1
    assert stuck not in pids


def test_workers_append_call_records_without_interleaving(tmp_path: Path) -> None:
    import multiprocessing

    state = tmp_path / "state"
    state.mkdir()
    (state / "calls.jsonl").write_bytes(b'{"type":"turn","id":"dead","n"')  # a worker died here
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(state), w, 200)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    calls = {c.call: [t["n"] for t in c.turns] for c in read_calls(state / "calls.jsonl")}
    assert calls == {f"w{w}": list(range(200)) for w in range(3)}
    lines = (state / "calls.jsonl").read_bytes().split(b"\n")
    assert lines[0] == b'{"type":"turn","id":"dead","n"'  # closed once, by whoever came first
    assert sum(1 for ln in lines if not ln) == 1  # the final newline only


def test_a_slow_disk_does_not_hold_up_the_event_loop(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    def slow_fsync(fd: int) -> None:
        time.sleep(0.05)  # a networked cloud disk on a bad day

    monkeypatch.setattr(os, "fsync", slow_fsync)
    records = CallRecords(tmp_path, background=True)
    t0 = time.perf_counter()
    for i in range(20):
        records.write({"type": "turn", "id": "a", "call": "a", "n": i})
    assert time.perf_counter() - t0 < 0.05  # queued, not written, before write() returns
    records.close()  # what was queued is on disk
    assert [t["n"] for t in read_calls(tmp_path / "calls.jsonl")[0].turns] == list(range(20))
    assert records.dropped == 0
    full = CallRecords(tmp_path / "full", background=True, queue_lines=2)
    for i in range(50):
        full.write({"type": "turn", "id": "b", "call": "b", "n": i})
    full.close()
    kept = len(read_calls(tmp_path / "full" / "calls.jsonl")[0].turns)
    assert full.dropped == 50 - kept and full.dropped > 0  # bounded: dropped and counted


def test_a_worker_that_cannot_start_stops_the_start_up_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from voiced.errors import EngineError
    from voiced.lab.testing.fakes import broken_engines_for

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    sup = Supervisor(config(tmp_path), 2, engines=broken_engines_for, run_dir=str(tmp_path))
    t0 = time.monotonic()
    with pytest.raises(EngineError, match="exited with 1 before it listened"):
        sup.start(timeout_s=120)
    assert time.monotonic() - t0 < 60  # at its first exit, not at the timeout
    assert not any(p.is_alive() for p in sup.procs.values())
    assert not any(tmp_path.glob("voiced-*"))  # its slots and metrics files removed


def test_a_sigterm_while_the_workers_start_drains_them_without_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # systemd stopping the service while it starts: it was reported as "could not start:
    # worker 0 exited with 0 before it listened", after the supervisor waited on.
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    sup = Supervisor(config(tmp_path), 2, engines=fake_engines_for, run_dir=str(tmp_path))
    sup.stop()  # the signal handler's call, here before the workers are even spawned
    assert sup.start(timeout_s=120) == []  # no READY sent, no error
    sup.run()  # drains the workers it spawned, and returns
    assert sup.procs and not any(p.is_alive() for p in sup.procs.values())
    assert not any(tmp_path.glob("voiced-*"))
