"""Emulated callers as a process of their own: ``python -m voiced.lab.loadgen``.

Twilio's side of a call costs CPU too (a JSON message every 20 ms each way, a playback buffer
ticking in real time). Under load, callers in the daemon's own process would be charged to
the daemon and would share its one Trio thread, so the benchmarks run them here and the daemon
alone in its process. Per-turn lines go to stdout as calls end; the totals are written as JSON
to ``--out`` for the benchmark to merge.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import trio

from .callers import TOKEN_ENV, CallStats, one_call
from .corpus import corpus_files
from .dial import DialOptions, Utterance
from .line import add_line_options, line_from


async def run_callers(args: argparse.Namespace) -> CallStats:
    utterances = [Utterance.from_wav(f) for f, _ in corpus_files(args.corpus, args.lang, args.files)]
    opts = DialOptions(auth_token=os.environ.get(TOKEN_ENV) or None, signed_url=args.signed_url,
                       signed_voice_url=args.signed_voice_url, voice_path=args.voice_path,
                       barge_in_after_ms=args.barge_in_after_ms, record_audio=False,
                       line=line_from(args))
    stats = CallStats()
    limiter = trio.CapacityLimiter(args.concurrency)

    async def call(n: int) -> None:
        async with limiter:
            await one_call(args.url, utterances, n, args.turns, opts, stats)

    async with trio.open_nursery() as nursery:
        for n in range(args.first, args.first + args.calls):
            nursery.start_soon(call, n)
            # Calls arrive spread over a second, as they would on a busy line, not all in the
            # same 20 ms tick.
            if n - args.first < args.concurrency:
                await trio.sleep(1.0 / args.concurrency)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voiced.lab.loadgen")
    parser.add_argument("--url", required=True, help="the daemon's media WebSocket URL")
    parser.add_argument("--signed-url", default="", help="the wss:// URL Twilio would sign")
    parser.add_argument("--signed-voice-url", default="",
                        help="the https:// voice webhook URL Twilio would sign")
    parser.add_argument("--voice-path", default="/twilio/voice")
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--calls", type=int, default=1)
    parser.add_argument("--first", type=int, default=0, help="number of the first call")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--turns", type=int, default=1)
    parser.add_argument("--files", default=":", help="the span of recordings, A:B")
    parser.add_argument("--barge-in-after-ms", type=int, default=None)
    add_line_options(parser)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    stats = trio.run(run_callers, args)
    args.out.write_text(json.dumps(dataclasses.asdict(stats)), encoding="utf-8")


if __name__ == "__main__":
    main()
