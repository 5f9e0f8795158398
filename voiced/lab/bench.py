"""``voiced bench``: measurements on the real clock, printed as percentiles and one JSON line.

Benchmarks are commands, not tests: tests check behaviour on a virtual clock, these measure
what this machine actually does. ``e2e`` runs sequential emulated Twilio calls of real
recorded speech against a daemon in this process on the embedded engines.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import secrets
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

from .. import sizing
from ..config import Config
from ..metrics import Metrics
from ..records import CallRecords, CallView, read_calls
from ..text import normalize
from ..workers import Supervisor
from .callers import caller_processes, sequential_calls
from .corpus import corpus_files
from .dial import DialOptions, Utterance
from .line import Line, line_from
from .runner import http_base_for, local_daemon, local_workers, signed_options
from .sim.servers import sim_engines
from .speech import ErrorRate
from .stats import (
    cpu_seconds,
    frame_lag_p99_ms,
    frame_lag_within_pct,
    machine,
    machine_cpu_pct,
    machine_ticks,
    percentile,
    process_cpu_seconds,
    sample_value,
    scrape,
    speed_probe,
)
from .taskcpu import TaskCpu


def _print_by_task(by_task: dict[str, Any], daemon_pct: float) -> None:
    print(f"the daemon's CPU ({daemon_pct} % of one core): its loop's thread "
          f"{by_task['loop_thread_pct']} %, of which {by_task['outside_steps_pct']} % outside "
          "any task step (scheduler, epoll); other threads (engine clients) the rest. By task:")
    for name, t in by_task["tasks"].items():
        print(f"  {t['core_pct']:6.2f} %  {t['steps_per_s']:6d} steps/s  "
              f"{t['us_per_step']:7.1f} us/step  {name}")


def daemon_cpu_seconds(pids: list[int]) -> float:
    """CPU the daemon has used: its worker processes', or this process's when it runs here."""
    if pids:
        return sum(process_cpu_seconds(pid) for pid in pids)
    return cpu_seconds(resource.getrusage(resource.RUSAGE_SELF))


async def scrape_metrics(media_url: str) -> str:
    """The daemon's /metrics page (any worker's: each reports them all)."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        return (await http.get(http_base_for(media_url) + "/metrics")).text


def calls_per_worker(views: list[CallView]) -> dict[str, int]:
    """How the calls spread over the daemon's worker processes (the kernel's choice)."""
    out: dict[str, int] = {}
    for view in views:
        key = str(view.start.get("worker", 0))
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def stage_percentiles(views: list[CallView]) -> dict[str, dict[str, float]]:
    """p50 and p95 of each daemon-side stage over every answered turn, from the call records
    (the daemon's :class:`~voiced.callstate.CallObserver` writes each turn's timings there)."""
    turns = [t["ms"] for v in views for t in v.turns if t.get("kind") == "turn" and t.get("ms")]
    out = {}
    for key in sorted({k for ms in turns for k in ms}):
        values = [ms[key] / 1000 for ms in turns if key in ms]
        out[key] = {"p50_ms": round(1000 * percentile(values, 50), 1),
                    "p95_ms": round(1000 * percentile(values, 95), 1)}
    return out


def speculation(views: list[CallView]) -> dict[str, Any]:
    """Brain requests per answered turn and the fragments (an LLM's tokens) streamed by the
    ones dropped unheard, p50 and p95, and the totals: what speculation costs a billed LLM."""
    turns = [t["brain"] for v in views for t in v.turns
             if t.get("kind") == "turn" and t.get("brain")]
    if not turns:
        return {}
    requests = [float(t["requests"]) for t in turns]
    wasted = [float(t["wasted_fragments"]) for t in turns]
    return {"turns": len(turns),
            "requests_p50": round(percentile(requests, 50), 2),
            "requests_p95": round(percentile(requests, 95), 2),
            "wasted_requests": sum(t["wasted_requests"] for t in turns),
            "wasted_tokens_p50": round(percentile(wasted, 50), 1),
            "wasted_tokens_p95": round(percentile(wasted, 95), 1),
            "wasted_tokens": int(sum(wasted))}


def heard_cer(views: list[CallView], transcripts: list[str],
              turns: int) -> tuple[float, list[float]] | None:
    """Character error rate of what the daemon heard in each call (its turns' words joined)
    against what that call's caller said (the corpus transcripts, in the order
    :func:`~voiced.lab.callers.one_call` says them); joined per call, so a turn cut in two
    still lines up. Over all calls, and each call's own (to find the call that moved it)."""
    score = ErrorRate()
    by_call = []
    for k, view in enumerate(views):
        said = " ".join(str(t.get("said", "")) for t in view.turns if t.get("kind") == "turn")
        by_call.append(round(score.add(
            " ".join(transcripts[(k * turns + j) % len(transcripts)] for j in range(turns)),
            said), 3))
    return (round(score.cer, 3), by_call) if views else None


def own_words_answered(views: list[CallView], said: list[str]) -> int:
    """Turns whose words are mostly the agent's own in that call and not the callers': its
    echo heard as a caller turn and answered. Counted by words, not by turns beyond the
    caller's, which a cut-off caller (answered in a pause, then again) inflates too."""
    callers = {w for text in said for w in normalize(text).split()}
    count = 0
    for view in views:
        agent = {w for t in view.turns for w in normalize(str(t.get("reply", ""))).split()}
        for turn in view.turns:
            words = normalize(str(turn.get("said", ""))).split()
            if turn.get("kind") != "turn" or not words:
                continue
            mine = sum(w in agent for w in words) / len(words)
            theirs = sum(w in callers for w in words) / len(words)
            count += mine >= 0.6 and theirs < 0.6
    return count


async def run_bench(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    files = corpus_files(Path(args.corpus), args.lang, args.files)
    if not files:
        raise SystemExit(f"no {args.lang} utterances in {args.corpus} ({args.files})")
    sim = args.engines == "sim"
    if sim and args.files != ":":
        raise SystemExit("--files: the sim callers say every recording (the embedded e2e, "
                         "stt, pauses and echo benchmarks take a span)")
    calls = max(args.calls, args.concurrency)
    t0 = time.perf_counter()
    if sim:
        print(f"# voiced bench e2e --engines sim: {calls} calls x {args.turns} turns, "
              f"{args.concurrency} at a time from {args.caller_procs} caller process(es), {args.workers} "
              f"daemon worker process(es); engines "
              f"and callers in processes of their own; {args.recognizer} recogniser "
              f"(seed {args.sim_seed}); callers and engines at nice {args.others_nice}; "
              f"the sim LLM's first token at {args.llm_ttft_ms} ms; "
              f"{args.lang} corpus, vad.silence_ms={cfg.vad.silence_ms}; {machine()}")
    else:
        llm = f", brain: the sim LLM ({args.llm_ttft_ms} ms to its first token)" \
            if args.llm == "sim" else ""
        print(f"# voiced bench e2e --engines {args.engines}{llm}: {args.calls} sequential calls x "
              f"{args.turns} turns, {args.lang} corpus, vad.silence_ms={cfg.vad.silence_ms}; "
              f"{machine()}")
    async with AsyncExitStack() as stack:
        if sim or args.llm == "sim":
            cfg = await stack.enter_async_context(sim_engines(
                cfg, args.lang, Path(args.corpus), args.concurrency, args.recognizer,
                llm_only=not sim, llm_tools=args.llm_tools, llm_ttft_s=args.llm_ttft_ms / 1000,
                seed=args.sim_seed, nice=args.others_nice))
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="voiced-bench-"))
        # The daemon's state (the appointment book) in the run's own directory too; room for
        # every concurrent caller (this measures load, not the busy answer).
        cfg = dataclasses.replace(cfg, server=dataclasses.replace(
            cfg.server, state_dir=state,
            max_calls=max(sizing.for_machine(cfg).max_calls, args.concurrency)))
        records = CallRecords(state)
        token = secrets.token_urlsafe(24)  # the daemon checks signatures as in production
        metrics = Metrics()
        sup: Supervisor | None = None
        if args.workers > 1:
            url, sup = await stack.enter_async_context(local_workers(cfg, args.workers, token))
        else:
            url = await stack.enter_async_context(local_daemon(
                cfg, auth_token=token, metrics=metrics, records=records))
        pids = [p.pid for p in sup.procs.values() if p.pid] if sup else []
        line = line_from(args)
        opts = signed_options(cfg, DialOptions(barge_in_after_ms=args.barge_in_after_ms,
                                               line=line), token)
        probe_before = speed_probe()
        by_task = TaskCpu() if args.cpu_by_task and sup is None else None
        if by_task is not None:
            by_task.start()
        t_calls = time.perf_counter()
        cpu_calls = daemon_cpu_seconds(pids)
        ticks_calls = machine_ticks()
        if sim or args.callers_apart:
            stats = await caller_processes(url, opts, Path(args.corpus), args.lang, calls=calls,
                                           first=0, concurrency=args.concurrency,
                                           turns=args.turns, procs=args.caller_procs,
                                           files=args.files, nice=args.others_nice)
        else:
            utterances = [Utterance.from_wav(f) for f, _ in files]
            stats = await sequential_calls(url, utterances, args.calls, args.turns, opts)
        daemon_cpu = daemon_cpu_seconds(pids) - cpu_calls
        if by_task is not None:
            by_task.stop()
        probe_after = speed_probe()
        all_cpu = machine_cpu_pct(ticks_calls)
        calls_wall = time.perf_counter() - t_calls
        families = scrape(await scrape_metrics(url)) if sup else None
        views = read_calls(records.path)
    stages = stage_percentiles(views)
    # Turns beyond the ``args.turns`` things each caller said: a cut-off caller's utterance
    # answered in its pause and then again, or the agent's own voice heard and answered.
    extra_turns = sum(max(0, sum(t.get("kind") == "turn" for t in v.turns) - args.turns)
                      for v in views)
    self_replies = own_words_answered(views, [text for _, text in files])
    print("daemon-side stages (ms):")
    for key, value in stages.items():
        print(f"  {key:20s} p50 {value['p50_ms']:8.1f}  p95 {value['p95_ms']:8.1f}")
    heard = stats.latencies
    cer = None if sim or args.callers_apart else \
        heard_cer(views, [text for _, text in files], args.turns)
    summary = {
        "bench": "e2e",
        "engines": args.engines,
        "files": args.files,
        "llm": args.llm,
        "llm_tools": args.llm_tools,
        "llm_ttft_ms": args.llm_ttft_ms if sim or args.llm == "sim" else None,
        "recognizer": args.recognizer if sim else "embedded",
        "sim_seed": args.sim_seed if sim else None,
        "others_nice": args.others_nice,
        "p95_overhead_ms": stages.get("overhead", {}).get("p95_ms"),
        "lang": args.lang,
        "calls": calls if sim else args.calls,
        "turns": len(heard),
        "errors": stats.errors,
        "p50_reply_s": round(percentile(heard, 50), 3),
        "p95_reply_s": round(percentile(heard, 95), 3),
        "max_reply_s": round(max(heard), 3) if heard else None,
        "silence_ms": cfg.vad.silence_ms,
        "cut_offs": stats.cut_offs,
        "cut_ins": stats.cut_ins,
        "line": str(line or Line()),
        "self_interruptions": stats.self_interruptions,
        "self_replies": self_replies,
        "extra_turns": extra_turns,
        "concurrency": args.concurrency,
        # The daemon's process (Whisper included for the embedded engines) while calls ran.
        "daemon_cpu_pct": round(100 * daemon_cpu / calls_wall, 1),
        "machine_cpu_pct": all_cpu,
        "workers": args.workers,
        "calls_per_worker": calls_per_worker(views),
        "dropped_frames": int(sample_value(families, "voiced_dropped_frames_total")
                              if families is not None else
                              metrics.registry.get_sample_value("voiced_dropped_frames_total") or 0),
        "frame_lag_p99_ms": frame_lag_p99_ms(families if families is not None else metrics),
        "frame_lag_within_20ms_pct": frame_lag_within_pct(
            families if families is not None else metrics, 0.020),
        "max_outbound_gap_ms": stats.max_gap_ms,
        "cut_off_rate": round(stats.cut_offs / stats.turns, 3) if stats.turns else None,
        "stages_ms": stages,
        "speculation": speculation(views),
        "heard_cer": cer[0] if cer else None,
        "heard_cer_by_call": cer[1] if cer else None,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": machine(),
        "speed_probe_ms": {"before": probe_before, "after": probe_after},
    }
    if by_task is not None:
        summary["cpu_by_task"] = by_task.summary()
        _print_by_task(summary["cpu_by_task"], summary["daemon_cpu_pct"])
    if stats.barge_in_stops:
        stops = stats.barge_in_stops
        summary |= {"barge_ins": len(stops),
                    "p50_barge_in_stop_s": round(percentile(stops, 50), 3),
                    "p95_barge_in_stop_s": round(percentile(stops, 95), 3)}
        print(f"barge-in stop (caller onset to agent silent): p50 {summary['p50_barge_in_stop_s']}s"
              f"  p95 {summary['p95_barge_in_stop_s']}s over {len(stops)} barge-ins")
    print(f"cut-offs: {stats.cut_offs} of {stats.turns} turns (the agent started over them "
          f"{stats.cut_ins} times); on a {line or Line()}: "
          f"{stats.self_interruptions} self-interruptions (a clear while the caller was "
          f"silent), {self_replies} self-replies (turns made of the agent's own words), "
          f"{extra_turns} turns beyond the caller's (cut-offs answered twice, self-replies)")
    if summary["speculation"]:
        sp = summary["speculation"]
        print(f"brain requests per answered turn: p50 {sp['requests_p50']}  p95 "
              f"{sp['requests_p95']}; {sp['wasted_requests']} dropped unheard, their streamed "
              f"fragments (an LLM's tokens) per turn p50 {sp['wasted_tokens_p50']}  p95 "
              f"{sp['wasted_tokens_p95']}, {sp['wasted_tokens']} in all")
    print(f"daemon process CPU while calls ran: {summary['daemon_cpu_pct']} % of one core; "
          f"whole machine (callers and sim engines too): {all_cpu} % of one core, of "
          f"{100 * (os.cpu_count() or 1)} %")
    print(f"machine speed probe (CPU ms for a fixed workload, lower is faster): {probe_before} "
          f"before the calls, {probe_after} after")
    print(f"inbound frame lag p99 <= {summary['frame_lag_p99_ms']} ms "
          f"({summary['frame_lag_within_20ms_pct']} % of frames within 20 ms); dropped frames "
          f"{summary['dropped_frames']}; longest mid-sentence gap at the caller's ear "
          f"{stats.max_gap_ms} ms")
    if summary["heard_cer"] is not None:
        print(f"what the daemon heard against what the callers said: CER {summary['heard_cer']}"
              f" (by call: {', '.join(map(str, summary['heard_cer_by_call']))})")
    print(f"reply latency (caller's ear): p50 {summary['p50_reply_s']}s  "
          f"p95 {summary['p95_reply_s']}s  max {summary['max_reply_s']}s over {len(heard)} turns, "
          f"{stats.errors} errors")
    return summary
