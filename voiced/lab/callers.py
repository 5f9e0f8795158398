"""Emulated callers and what they measured: calls in this process, or in :mod:`voiced.lab.loadgen`
processes so that their CPU is not charged to the daemon."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trio

from .dial import DialOptions, Utterance
from .line import line_arguments
from .procs import module_command, niced
from .runner import dial_url

# The auth token the handshakes are signed with: from the environment, not the command line
# (which any user of the machine can read).
TOKEN_ENV = "VOICED_LOADGEN_TOKEN"

@dataclass
class CallStats:
    latencies: list[float] = field(default_factory=list)
    barge_in_stops: list[float] = field(default_factory=list)
    turns: int = 0
    cut_offs: int = 0
    cut_ins: int = 0  # agent starts over the caller, a cut-off utterance's every one
    errors: int = 0
    max_gap_ms: int = 0
    self_interruptions: int = 0


async def sequential_calls(
    url: str, utterances: list[Utterance], calls: int, turns: int, opts: DialOptions
) -> CallStats:
    """``calls`` calls one after the other, each saying the next ``turns`` utterances.
    A cut-off turn (the agent spoke before the caller finished) counts as such, not as a
    latency."""
    stats = CallStats()
    for call in range(calls):
        await one_call(url, utterances, call, turns, opts, stats)
    return stats


async def one_call(url: str, utterances: list[Utterance], call: int, turns: int,
                   opts: DialOptions, stats: CallStats) -> None:
    k = call * turns
    says = [utterances[(k + j) % len(utterances)] for j in range(turns)]
    result = await dial_url(url, says, opts)
    stats.max_gap_ms = max(stats.max_gap_ms, result.max_gap_ms)
    stats.self_interruptions += result.self_interruptions
    stats.errors += result.protocol_errors + len(says) - len(result.turns)
    for turn in result.turns:
        stats.turns += 1
        line = f"call {call + 1}: {turn.name}:"
        if turn.barge_in_stop_s is not None:
            stats.barge_in_stops.append(turn.barge_in_stop_s)
            line += f" barge-in stop {turn.barge_in_stop_s:.3f}s,"
        elif opts.barge_in_after_ms is not None and turn is not result.turns[0]:
            stats.errors += 1
            line += " BARGE-IN IGNORED,"
        if turn.cut_off:
            stats.cut_offs += 1
            stats.cut_ins += turn.cut_ins
            times = f", {turn.cut_ins} times" if turn.cut_ins > 1 else ""
            print(f"{line} CUT OFF (the agent spoke before the caller finished{times})")
        elif turn.latency_s is None:
            stats.errors += 1
            print(f"{line} NO REPLY")
        else:
            stats.latencies.append(turn.latency_s)
            print(f"{line} reply latency {turn.latency_s:.3f}s")


def merge(stats: list[CallStats]) -> CallStats:
    out = CallStats()
    for s in stats:
        out.latencies += s.latencies
        out.barge_in_stops += s.barge_in_stops
        out.turns += s.turns
        out.cut_offs += s.cut_offs
        out.cut_ins += s.cut_ins
        out.errors += s.errors
        out.max_gap_ms = max(out.max_gap_ms, s.max_gap_ms)
        out.self_interruptions += s.self_interruptions
    return out


async def caller_processes(url: str, opts: DialOptions, corpus: Path, language: str, *,
                           calls: int, first: int, concurrency: int, turns: int,
                           procs: int = 1, files: str = ":", nice: int = 0) -> CallStats:
    """``calls`` emulated calls, ``concurrency`` at a time, from ``procs`` processes of
    :mod:`voiced.lab.loadgen`, so that the callers' CPU is not charged to the daemon; they
    say the ``files`` span of the language's recordings (:func:`~voiced.lab.corpus.corpus_files`).
    ``nice``: the callers' processes at that niceness (:func:`voiced.lab.procs.niced`)."""
    procs = max(1, min(procs, concurrency, calls))
    env = dict(os.environ)
    if opts.auth_token:
        env[TOKEN_ENV] = opts.auth_token
    results: list[CallStats] = []
    with tempfile.TemporaryDirectory(prefix="voiced-loadgen-") as tmp:

        async def one(i: int, n_calls: int, start: int, at_once: int) -> None:
            out = Path(tmp) / f"{i}.json"
            command = [*module_command("voiced.lab.loadgen"), "--url", url,
                       "--signed-url", opts.signed_url, "--signed-voice-url", opts.signed_voice_url,
                       "--voice-path", opts.voice_path, "--corpus", str(corpus),
                       "--lang", language, "--calls", str(n_calls), "--first", str(start),
                       "--concurrency", str(at_once), "--turns", str(turns), "--files", files,
                       "--out", str(out)]
            if opts.barge_in_after_ms is not None:
                command += ["--barge-in-after-ms", str(opts.barge_in_after_ms)]
            command += line_arguments(opts.line)
            await trio.run_process(command, env=env, **niced(nice))
            results.append(CallStats(**json.loads(out.read_text(encoding="utf-8"))))

        async with trio.open_nursery() as nursery:
            start = first
            for i in range(procs):
                n_calls = calls // procs + (i < calls % procs)
                at_once = concurrency // procs + (i < concurrency % procs)
                nursery.start_soon(one, i, n_calls, start, at_once)
                start += n_calls
    return merge(results)
