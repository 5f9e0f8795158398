"""``voiced bench transport``: the floor under every call, measured alone.

Twilio sends each caller's audio as a JSON WebSocket message every 20 ms, whether the caller
speaks or not. Before any VAD, recognition or reply, the daemon has to read, unframe and parse
those messages, and the callers' side has to write them. This benchmark does only that:
hypercorn, configured as the daemon configures it, serves a socket that parses every message
as the recv stage does, while emulated callers in a process of their own send ``start``,
silence every 20 ms, and ``stop``. The CPU it takes bounds how many calls a machine can carry
whatever the pipeline costs: the e2e benchmark's numbers sit on top of it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import trio
from hypercorn.trio import serve

from ..audio import SILENT_FRAME_ULAW, ulaw_decode
from ..config import Config
from ..errors import ProtocolError
from ..server import hypercorn_config
from ..twilio.wire import Media, Start, Stop, inbound, parse_inbound
from .procs import module_command
from .stats import cpu_seconds, machine, percentile

FRAME_S = 0.02


class Receiver:
    """The daemon's per-message work without the pipeline: an ASGI app that parses each
    message and decodes its audio, noting how late every frame is against a 20 ms clock."""

    def __init__(self) -> None:
        self.frames = 0
        self.bad = 0
        self.lags: list[float] = []
        # (wall, CPU) at the first frame and at the latest hang-up: the window measured.
        self.first: tuple[float, float] | None = None
        self.last: tuple[float, float] = (0.0, 0.0)

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.monotonic(), cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "websocket":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        first: float | None = None
        k = 0
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                self.last = self._now()
                return
            try:
                msg = parse_inbound(message.get("text") or message.get("bytes") or b"")
            except ProtocolError:
                self.bad += 1
                continue
            if isinstance(msg, Media):
                ulaw_decode(msg.payload)
                now = trio.current_time()
                if first is None:
                    first = now
                    self.first = self.first or self._now()
                # Against the clock the caller keeps: frame k is due k * 20 ms after the first.
                self.lags.append(max(0.0, now - first - k * FRAME_S))
                self.frames += 1
                k += 1


async def _caller(url: str, n: int, seconds: float, late: list[float]) -> None:
    from trio_websocket import open_websocket_url

    sid = f"MZ{n:032d}"
    async with open_websocket_url(url) as ws:
        await ws.send_message(inbound(sid, Start(stream_sid=sid, call_sid=f"CA{n:032d}")))
        t0 = trio.current_time()
        for k in range(round(seconds / FRAME_S)):
            await trio.sleep_until(t0 + k * FRAME_S)
            late.append(trio.current_time() - t0 - k * FRAME_S)
            await ws.send_message(inbound(sid, Media(SILENT_FRAME_ULAW, chunk=k + 1,
                                                     timestamp_ms=k * 20), seq=k + 2))
        await ws.send_message(inbound(sid, Stop(), seq=round(seconds / FRAME_S) + 2))


async def run_callers(url: str, calls: int, seconds: float) -> dict[str, float]:
    """The callers' process: ``calls`` sockets at once, spread over the first 20 ms."""
    late: list[float] = []
    t0, cpu0 = time.monotonic(), cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))
    async with trio.open_nursery() as nursery:
        for n in range(calls):
            nursery.start_soon(_caller, url, n, seconds, late)
            await trio.sleep(FRAME_S / calls)
    wall = time.monotonic() - t0
    cpu = cpu_seconds(resource.getrusage(resource.RUSAGE_SELF)) - cpu0
    return {"cpu_pct": 100 * cpu / wall, "send_late_p99_ms": 1000 * percentile(late, 99),
            "frames_sent": len(late)}


async def bench_transport(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    calls, seconds = max(args.calls, args.concurrency), args.seconds
    receiver = Receiver()
    shutdown = trio.Event()
    hc = hypercorn_config(cfg, 0)
    hc.bind = ["127.0.0.1:0"]  # whatever the config says, a benchmark stays on loopback
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, receiver, hc, shutdown_trigger=shutdown.wait))
        url = binds[0].replace("http://", "ws://") + cfg.server.media_path
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            await trio.run_process([*module_command("voiced.lab.transport"), "--url", url,
                                    "--calls", str(calls), "--seconds", str(seconds),
                                    "--out", out.name], stdin=subprocess.DEVNULL)
            callers = json.loads(await trio.Path(out.name).read_text(encoding="utf-8"))
        shutdown.set()
    (t0, cpu0), (t1, cpu1) = receiver.first or receiver.last, receiver.last
    wall, server_cpu = max(t1 - t0, 1e-9), cpu1 - cpu0
    summary: dict[str, Any] = {
        "bench": "transport", "calls": calls, "seconds": seconds, "machine": machine(),
        "frames_sent": callers["frames_sent"], "frames_parsed": receiver.frames,
        "frames_per_s": round(receiver.frames / wall),
        "server_cpu_pct": round(100 * server_cpu / wall, 1),
        "callers_cpu_pct": round(callers["cpu_pct"], 1),
        "arrival_lag_p99_ms": round(1000 * percentile(receiver.lags, 99), 1),
        "callers_send_late_p99_ms": round(callers["send_late_p99_ms"], 1),
        "errors": receiver.bad + callers["frames_sent"] - receiver.frames,
    }
    print(f"{calls} callers x {seconds:.0f} s: {summary['frames_per_s']} frames/s parsed; "
          f"server {summary['server_cpu_pct']} % of one core, callers "
          f"{summary['callers_cpu_pct']} %; arrival lag p99 {summary['arrival_lag_p99_ms']} ms "
          f"(callers' own lateness p99 {summary['callers_send_late_p99_ms']} ms)")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voiced.lab.transport")
    parser.add_argument("--url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    result = trio.run(run_callers, args.url, args.calls, args.seconds)
    args.out.write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
