"""``voiced bench attack``: a legitimate caller's reply latency while each attack of the
security issue runs against the same daemon, and /healthz's worst answer time meanwhile.

The daemon runs in this process with the sim engines in theirs (as ``bench e2e --engines
sim``); the legitimate calls come from a :mod:`voiced.lab.loadgen` process, each attack from a
process of its own and the /healthz prober from another (``python -m voiced.lab.attack
--role``), so neither the attacker's CPU is charged to the daemon nor its event loop to the
prober: a prober sharing the attacker's loop waited behind the attacker's own forty
WebSocket handshakes and measured those. Every legitimate call must be in the records with
its start, its turns and its end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, HandshakeError, open_websocket_url

from ..config import Config
from ..loopwatch import LoopWatch
from ..records import CallRecords, read_calls
from ..twilio.signature import HEADER, sign
from ..twilio.wire import Connected, Dtmf, Media, Start, inbound
from .callers import caller_processes
from .dial import DialOptions, new_call_sid
from .procs import module_command
from .runner import http_base_for, local_daemon, place_call, signed_options, voice_url_for
from .sim.servers import sim_engines
from .stats import machine, percentile

TOKEN_ENV = "VOICED_ATTACK_TOKEN"
ATTACKER = "+15550666"
# An attack runs while its legitimate calls do; this only bounds an attacker left behind.
ATTACK_BOUND_S = 3600.0
ATTACKS = ("none", "big-body", "slow-body", "idle-sockets", "replayed-handshake", "path-in-callsid",
           "dtmf-flood", "media-flood", "connection-flood")


# -- the attacker's process --------------------------------------------------------------


async def _attack(kind: str, media_url: str, opts: DialOptions, out: dict[str, Any]) -> None:
    """Run one attack until cancelled, counting its attempts in ``out["attempts"]``."""
    http_base = http_base_for(media_url)
    voice = voice_url_for(media_url, opts.voice_path)
    host, port = media_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    headers = [(HEADER.encode(), sign(opts.auth_token or "", opts.signed_url).encode())]
    out["attempts"] = 0

    async def stream(start: Start | None, messages: list[str], hold_s: float) -> None:
        out["attempts"] += 1
        try:
            async with open_websocket_url(media_url, extra_headers=headers) as ws:
                await ws.send_message(inbound("MZ" + "0" * 32, Connected()))
                if start is not None:
                    await ws.send_message(inbound(start.stream_sid, start))
                for message in messages:
                    await ws.send_message(message)
                with trio.move_on_after(hold_s):
                    while True:
                        await ws.get_message()
        except (ConnectionClosed, ConnectionRejected, HandshakeError, OSError):
            pass

    async with trio.open_nursery() as nursery:
        if kind == "none":  # the baseline: the same processes and prober, no attack
            await trio.sleep_forever()
        elif kind in ("big-body", "slow-body"):
            async with httpx.AsyncClient(base_url=http_base, timeout=30) as http:
                while True:
                    out["attempts"] += 1
                    if kind == "big-body":
                        body = b"a=" + b"x" * 16_000_000
                        await http.post(opts.voice_path, content=body, headers={
                            "Content-Type": "application/x-www-form-urlencoded"})
                    else:
                        async def trickle() -> Any:
                            for _ in range(100):
                                yield b"a"
                                await trio.sleep(1.0)
                        with contextlib.suppress(httpx.HTTPError):
                            await http.post(opts.voice_path, content=trickle(), headers={
                                HEADER: "forged", "Content-Length": "100"})
        elif kind == "idle-sockets":
            while True:
                for _ in range(40):
                    nursery.start_soon(stream, None, [], 60.0)
                await trio.sleep(5.0)
        elif kind in ("replayed-handshake", "path-in-callsid"):
            while True:
                for n in range(40):
                    sid = new_call_sid() if kind == "replayed-handshake" else \
                        "CA1/../../../../IncomingPhoneNumbers/PN123"
                    start = Start(f"MZ{n:032x}", sid, "AC" + "0" * 32,
                                  custom_parameters={"caller": ATTACKER})
                    nursery.start_soon(stream, start, [], 5.0)
                await trio.sleep(1.0)
        elif kind in ("dtmf-flood", "media-flood"):
            # A stream admitted through the signed webhook that then floods: the worst case.
            while True:
                call = await place_call(voice, opts)
                start = Start("MZ" + secrets.token_hex(16), call.call_sid, call.account_sid,
                              custom_parameters=dict(call.parameters))
                one = inbound(start.stream_sid, Dtmf("5") if kind == "dtmf-flood"
                              else Media(b"\xff" * 160))
                await stream(start, [one] * 20000, 1.0)
        elif kind == "connection-flood":
            socks = []
            while True:
                for _ in range(50):
                    out["attempts"] += 1
                    with contextlib.suppress(OSError):
                        socks.append(await trio.open_tcp_stream(host, int(port)))
                await trio.sleep(0.5)


async def _probe_health(media_url: str, out: dict[str, Any]) -> None:
    """/healthz every 50 ms until cancelled, each on a fresh connection (no keep-alive, so
    every probe also goes through the listener's accept); the slowest answer and the failures
    go into ``out`` as they come. Only the request is timed: building an httpx client (an SSL
    context) costs this process tens of ms."""
    base = http_base_for(media_url)
    out.update(healthz_max_ms=0.0, healthz_failures=0, healthz_n=0)
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=5.0, limits=fresh) as http:
        while True:
            t0 = time.perf_counter()
            try:
                ok = (await http.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            out["healthz_failures"] += not ok
            out["healthz_n"] += 1
            out["healthz_max_ms"] = max(out["healthz_max_ms"],
                                        round(1000 * (time.perf_counter() - t0), 1))
            await trio.sleep(0.05)


async def attacker(args: argparse.Namespace) -> dict[str, Any]:
    """Attack, or probe, until stdin closes (the benchmark's legitimate calls are done) or
    ``--seconds`` pass, whichever is first."""
    # Its own caller number: the records check tells legitimate calls by theirs.
    opts = DialOptions(caller=ATTACKER, auth_token=os.environ.get(TOKEN_ENV),
                       signed_url=args.signed_url, signed_voice_url=args.signed_voice_url)
    out: dict[str, Any] = {"attack": args.kind}
    with trio.move_on_after(args.seconds):
        async with trio.open_nursery() as nursery:
            if args.role == "probe":
                nursery.start_soon(_probe_health, args.url, out)
            else:
                nursery.start_soon(_attack, args.kind, args.url, opts, out)
            stdin = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
            async with stdin:
                while await stdin.receive_some():
                    pass
            nursery.cancel_scope.cancel()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voiced.lab.attack")
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", required=True, choices=ATTACKS)
    parser.add_argument("--role", choices=("attack", "probe"), default="attack")
    parser.add_argument("--signed-url", required=True)
    parser.add_argument("--signed-voice-url", required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    args.out.write_text(json.dumps(trio.run(attacker, args)), encoding="utf-8")


# -- the benchmark -----------------------------------------------------------------------


async def bench_attack(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    """Each attack in turn beside ``args.calls`` legitimate calls, between two baseline runs
    ("none": the same attacker process and /healthz prober, attacking nothing). Every run
    places the same calls with the same recordings: reply latency depends on what is said
    (0.32-0.82 s over one baseline run's 24 turns), so runs over different recordings would
    compare the recordings, not the attacks. The p95 of an attack is compared with the p95 of
    both baseline runs pooled, so a slow drift of the machine over the run is not charged to
    whichever attack happened to run last."""
    attacks = [k for k in (args.attacks.split(",") if args.attacks else ATTACKS) if k != "none"]
    kinds = ["none", *attacks, "none"]
    print(f"# voiced bench attack: {args.calls} legitimate calls x {args.turns} turns per run, "
          f"sim engines, {args.lang} corpus; runs {', '.join(kinds)}; {machine()}")
    rows: list[dict[str, Any]] = []
    samples: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="voiced-attack-") as state:
        async with AsyncExitStack() as stack:
            cfg = await stack.enter_async_context(sim_engines(cfg, args.lang, Path(args.corpus),
                                                                   recognizer=args.recognizer))
            token = secrets.token_urlsafe(24)
            records = CallRecords(state)
            loop = LoopWatch()
            url = await stack.enter_async_context(local_daemon(cfg, auth_token=token,
                                                               records=records, loop=loop))
            opts = signed_options(cfg, DialOptions(), token)
            env = dict(os.environ, **{TOKEN_ENV: token})
            for i, kind in enumerate(kinds):
                outs = {role: Path(state) / f"{i}-{kind}-{role}.json"
                        for role in ("attack", "probe")}
                async with trio.open_nursery() as nursery:
                    procs: list[trio.Process] = []
                    for role, out in outs.items():
                        command = [*module_command("voiced.lab.attack"), "--url", url,
                                   "--kind", kind, "--role", role,
                                   "--signed-url", opts.signed_url, "--signed-voice-url",
                                   opts.signed_voice_url, "--seconds", str(ATTACK_BOUND_S),
                                   "--out", str(out)]
                        procs.append(await nursery.start(partial(
                            trio.run_process, command, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL)))
                    await trio.sleep(2.0)  # the attack in full swing first
                    loop.reset()
                    stats = await caller_processes(url, opts, Path(args.corpus), args.lang,
                                                   calls=args.calls, first=0,
                                                   concurrency=1, turns=args.turns)
                    # The attack lasts as long as the legitimate calls: they are done, stop it.
                    for proc in procs:
                        assert proc.stdin is not None
                        await proc.stdin.aclose()
                if stats.errors:
                    print(f"  {kind}: {stats.errors} errors in the legitimate calls")
                samples[i] = stats.latencies
                result: dict[str, Any] = {}
                for out in outs.values():
                    result.update(json.loads(out.read_text(encoding="utf-8")))
                # How late the daemon's own loop ran: a slow /healthz with a punctual loop
                # waited outside the daemon (for a CPU, on this machine shared with the attack).
                result.update(loop_worst_ms=round(1000 * loop.worst, 1), loop_late=loop.late)
                rows.append({**result, "turns": len(stats.latencies),
                             **_summary(stats.latencies)})
        views = read_calls(records.path)
    legit_views = [v for v in views if v.caller == DialOptions().caller]
    complete = sum(1 for v in legit_views if v.end is not None and v.start and v.turns)
    expected = args.calls * len(kinds)
    base = samples[0] + samples[len(kinds) - 1]
    base_p95 = percentile(base, 95)
    print(f"{'run':20s} {'attempts':>9s} {'p50 s':>7s} {'p95 s':>7s} {'vs none':>8s} "
          f"{'/healthz max':>12s} {'loop late max':>13s}")
    worst_ratio, worst_health = 0.0, 0.0
    for row in rows:
        ratio = row["p95_reply_s"] / base_p95 if base_p95 else float("inf")
        row["p95_vs_none"] = round(ratio, 3)
        if row["attack"] != "none":
            worst_ratio = max(worst_ratio, ratio)
        worst_health = max(worst_health, row.get("healthz_max_ms", 0.0))
        print(f"{row['attack']:20s} {row.get('attempts', '-')!s:>9s} {row['p50_reply_s']!s:>7s} "
              f"{row['p95_reply_s']!s:>7s} {ratio:8.3f} {row.get('healthz_max_ms', '-')!s:>9s} ms "
              f"{row['loop_worst_ms']:>10.1f} ms")
    print(f"baseline (both none runs, {len(base)} replies): p95 {base_p95:.3f} s")
    print(f"records: {complete} of {expected} legitimate calls complete (start, turns, end); "
          f"{len(views)} calls in all")
    errors = (worst_ratio > 1.10) + (worst_health > 100.0) + (complete != expected) + \
        sum(r.get("healthz_failures", 0) for r in rows)
    return {"bench": "attack", "rows": rows, "baseline_p95_s": round(base_p95, 3),
            "records_complete": complete, "records_expected": expected,
            "worst_p95_vs_none": round(worst_ratio, 3), "worst_healthz_ms": worst_health,
            "errors": errors, "machine": machine()}


def _summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_reply_s": float("inf"), "p95_reply_s": float("inf")}
    return {"p50_reply_s": round(percentile(latencies, 50), 3),
            "p95_reply_s": round(percentile(latencies, 95), 3)}


if __name__ == "__main__":
    main()
