"""The sim engines as a process of their own: ``python -m voiced.testing.sim_servers``.

In production Google and the LLM run on other machines; a load benchmark that served their
stand-ins from the daemon's own process would charge the daemon for their CPU and make every
gRPC stream fight the daemon for the GIL. Here they get a process: it prints one JSON line
with its endpoints, serves until its stdin closes (the benchmark ends, or dies), and keeps no
per-request log, so a soak measures the daemon's memory and not this one's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import trio

# The default sim latency profile (docs/BENCHMARKS.md): STT final 150 ms after the end of
# speech, TTS first audio 120 ms, LLM first token 350 ms then 15 ms a token.
STT_FINAL_S = 0.15
TTS_FIRST_AUDIO_S = 0.12
LLM_TTFT_S = 0.35
LLM_PER_TOKEN_S = 0.015


async def serve(corpus: Path, language: str, max_workers: int) -> None:
    from ..bench import corpus_files
    from ..dial import Utterance
    from .google_server import FakeGoogle
    from .llm_server import FakeLLM
    from .oracle import CorpusOracle

    known = [(Utterance.from_wav(f), text) for f, text in corpus_files(corpus, language)]
    google = FakeGoogle(words_for=CorpusOracle(known), final_delay_s=STT_FINAL_S,
                        tts_delay_s=TTS_FIRST_AUDIO_S, keep_log=False, max_workers=max_workers)
    google.start()
    try:
        llm = FakeLLM(ttft_s=LLM_TTFT_S, per_token_s=LLM_PER_TOKEN_S, keep_log=False)
        async with llm.running() as llm_url:
            print(json.dumps({"google": google.endpoint, "llm": llm_url}), flush=True)
            stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
            while await stdin.receive_some():
                pass
    finally:
        google.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m voiced.testing.sim_servers")
    parser.add_argument("--corpus", required=True, type=Path)
    parser.add_argument("--lang", default="en")
    parser.add_argument("--max-workers", type=int, default=64,
                        help="gRPC RPCs at once: two per concurrent call (STT and TTS streams)")
    args = parser.parse_args()
    trio.run(serve, args.corpus, args.lang, args.max_workers)


if __name__ == "__main__":
    main()
