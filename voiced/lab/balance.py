"""``voiced bench balance``: how evenly the kernel spreads calls over worker processes, one
listening socket shared by all (what :mod:`voiced.workers` does, and hypercorn's own workers)
against a socket per worker with ``SO_REUSEPORT`` (what systemd socket activation of several
instances would need).

Each worker accepts connections and holds each like a call: it answers with its index, then
burns ``cpu_ms_per_s`` of CPU each second for every call it holds (17 by default, a light
call: a voiced call on the sim engines costs 18-26 ms a second, docs/CAPACITY.md), until the
caller hangs up. Callers arrive evenly over ``arrive_s`` and stay ``hold_s``. Reported: calls
per worker, per round.
"""

from __future__ import annotations

import argparse
import multiprocessing
import socket
import time
from typing import Any

import trio

from .stats import machine


def _listener(port: int, reuseport: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    return sock


def _worker(index: int, shared: socket.socket | None, port: int, cpu_ms_per_s: float) -> None:
    sock = shared if shared is not None else _listener(port, reuseport=True)
    calls = 0

    async def burn() -> None:
        while True:  # the calls' CPU, in 20 ms slices, as a call's frames come
            end = time.perf_counter() + calls * cpu_ms_per_s / 1000 / 50
            while time.perf_counter() < end:
                pass
            await trio.sleep(0.02)

    async def call(stream: trio.SocketStream) -> None:
        nonlocal calls
        calls += 1
        try:
            await stream.send_all(bytes([index]))
            await stream.receive_some(1)  # the caller hangs up
        finally:
            calls -= 1
            await stream.aclose()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(burn)
            await trio.serve_listeners(call, [trio.SocketListener(
                trio.socket.from_stdlib_socket(sock))], handler_nursery=nursery)

    trio.run(main)


async def _callers(port: int, calls: int, arrive_s: float, hold_s: float) -> list[int]:
    served: list[int] = []

    async def one() -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        served.append((await stream.receive_some(1))[0])
        await trio.sleep(hold_s)
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        for _ in range(calls):
            nursery.start_soon(one)
            await trio.sleep(arrive_s / calls)
    return served


def one_round(mode: str, workers: int, calls: int, arrive_s: float, hold_s: float,
              cpu_ms_per_s: float) -> list[int]:
    ctx = multiprocessing.get_context("spawn")
    probe = _listener(0, reuseport=True)
    port = probe.getsockname()[1]
    shared = None
    if mode == "shared":
        shared = probe
    else:
        probe.close()
    procs = [ctx.Process(target=_worker, args=(i, shared, port, cpu_ms_per_s), daemon=True)
             for i in range(workers)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # every worker listening
    served = trio.run(_callers, port, calls, arrive_s, hold_s)
    for p in procs:
        p.kill()
        p.join()
    if shared is not None:
        shared.close()
    return [served.count(i) for i in range(workers)]


def run(args: argparse.Namespace) -> dict[str, Any]:
    print(f"# voiced bench balance: {args.calls} calls over {args.arrive_s}s, held {args.hold_s}s, "
          f"{args.cpu_ms_per_s} ms of CPU a second each, {args.workers} workers, {args.rounds} "
          f"rounds per mode; {machine()}")
    out: dict[str, Any] = {"bench": "balance", "machine": machine()}
    for mode in ("shared", "reuseport"):
        rounds = [one_round(mode, args.workers, args.calls, args.arrive_s, args.hold_s,
                            args.cpu_ms_per_s) for _ in range(args.rounds)]
        worst = max(max(r) / max(1, min(r)) for r in rounds)
        print(f"{mode:10s} calls per worker: {rounds}; most/least worst round {worst:.2f}")
        out[mode] = {"rounds": rounds, "worst_ratio": round(worst, 2)}
    return out
