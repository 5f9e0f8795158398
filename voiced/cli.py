"""The ``voiced`` command: serve, dial, check-config, models, bench."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import trio

from . import config as config_mod
from . import sizing
from .errors import ConfigError, VoicedError
from .lab.line import add_line_options

log = logging.getLogger("voiced")

DEFAULT_CONFIGS = ("config.toml", "/etc/voiced/config.toml")


def setup_logging(level: str = "INFO") -> None:
    from .logs import setup

    setup(level)


def load_config(path: str | None) -> config_mod.Config:
    if path is None:
        path = next((p for p in DEFAULT_CONFIGS if Path(p).is_file()), None)
    return config_mod.load(path)


def _apply_overrides(cfg: config_mod.Config, host: str | None, port: int | None) -> config_mod.Config:
    import dataclasses

    server = cfg.server
    if host is not None:
        server = dataclasses.replace(server, host=host)
    if port is not None:
        server = dataclasses.replace(server, port=port)
    return dataclasses.replace(cfg, server=server)


def cmd_serve(args: argparse.Namespace) -> int:
    from .server import run_daemon
    from .workers import serve_workers

    cfg = _apply_overrides(load_config(args.config), args.host, args.port)
    if args.insecure_dev:
        cfg = dataclasses.replace(cfg, twilio=dataclasses.replace(cfg.twilio,
                                                                  validate_signatures=False))
    setup_logging(cfg.log.level)
    size = sizing.for_machine(cfg)
    log.info("sized for this machine: %s", size.describe(cfg))
    cfg = size.applied(cfg)
    workers = cfg.server.workers
    if workers > 1:
        serve_workers(cfg, workers)
    else:
        trio.run(run_daemon, cfg)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load_config(args.path)
    print(config_mod.render(cfg))
    print(f"# on this machine: {sizing.for_machine(cfg).describe(cfg)}")
    print("config OK", file=sys.stderr)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from . import models

    cache = Path(args.cache_dir) if args.cache_dir else None
    print(f"Whisper base ready in {models.whisper_base(cache)}")
    print(f"end-of-turn model ready in {models.smart_turn()}")
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    """Speak a line through the embedded TTS into a WAV: caller turns for `voiced dial`, and a
    way to hear what callers will hear."""
    from .audio import RATE, silence_padded, write_wav
    from .engines.espeak import EspeakTTS
    from .engines.spoken import SpokenForm
    from .lab.speech import synthesize

    cfg = load_config(args.config)
    tts = SpokenForm(EspeakTTS(cfg.tts.espeak))
    _, pcm = trio.run(synthesize, tts, args.text, args.lang)
    write_wav(args.out, [silence_padded(pcm, 300)])
    print(f"{args.out}: {pcm.size / RATE:.2f}s of {args.lang} speech")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    """Scripted conversations against the agent, with what each reply must say and do."""
    from .lab.scenario_files import run_files

    setup_logging("WARNING")
    return trio.run(run_files, load_config(args.config), list(args.scenarios), args.llm,
                    args.audio)


def cmd_calls(args: argparse.Namespace) -> int:
    """Recent calls from the call records, or one of them with its latency waterfall."""
    from .records import read_calls
    from .waterfall import summary_line, svg, text

    cfg = load_config(args.config)
    path = Path(args.records) if args.records else cfg.server.records_dir() / "calls.jsonl"
    calls = read_calls(path)
    if not calls:
        print(f"no call records in {path}")
        return 1
    if not args.call:
        for view in calls[-args.last:]:
            print(summary_line(view))
        return 0
    matches = [v for v in calls if v.call.startswith(args.call) or args.call == "last"]
    if not matches:
        print(f"no call {args.call!r} in {path}")
        return 1
    view = matches[-1]
    print(text(view))
    if args.svg:
        Path(args.svg).write_text(svg(view), encoding="utf-8")
        print(f"waterfall: {args.svg}")
    return 0


def cmd_dial(args: argparse.Namespace) -> int:
    from .lab.dial import DialOptions, Utterance
    from .lab.line import line_from
    from .lab.runner import dial_in_process, dial_url, signed_options

    cfg = load_config(args.config)
    setup_logging("WARNING" if args.quiet else cfg.log.level)
    utterances = [Utterance.from_wav(p) for p in args.say]
    opts = DialOptions(caller=args.caller, barge_in_after_ms=args.barge_in_after_ms,
                       voice_path=cfg.server.voice_path, account_sid=cfg.twilio.account_sid,
                       line=line_from(args))
    if args.url:
        token = config_mod.secret(cfg.twilio.auth_token_env)
        if token:  # sign as Twilio would, for the config's public URL
            opts = signed_options(cfg, opts, token)
        result = trio.run(dial_url, args.url, utterances, opts)
    else:
        result = trio.run(dial_in_process, cfg, utterances, opts)
    for i, turn in enumerate(result.turns, 1):
        latency = "no reply" if turn.latency_s is None else f"{turn.latency_s:.3f} s"
        extra = " (CUT OFF: the agent spoke before the caller finished)" if turn.cut_off else ""
        if turn.barge_in_stop_s is not None:
            extra += f", barge-in: agent stopped {turn.barge_in_stop_s:.3f} s after the caller began"
        print(f"turn {i}: {turn.name}: speech ended at {turn.speech_end:.2f}s, "
              f"reply latency {latency}{extra}")
    print(f"protocol errors: {result.protocol_errors}, marks echoed: {result.marks_echoed}, "
          f"clears: {result.clears} ({result.self_interruptions} while the caller was silent)")
    if args.out:
        result.write_wav(args.out)
        print(f"call audio (caller left, agent right): {args.out}")
    replied = all(t.latency_s is not None for t in result.turns)
    return 0 if replied and result.protocol_errors == 0 and len(result.turns) == len(utterances) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from .lab.attack import bench_attack
    from .lab.bench import run_bench
    from .lab.bookspeech import booking_speech
    from .lab.echobench import bench_echo
    from .lab.pauses import bench_pauses
    from .lab.soak import run_soak
    from .lab.speech import stt_corpus, tts_roundtrip
    from .lab.transport import bench_transport

    cfg = load_config(args.config)
    setup_logging("WARNING")
    if args.kind == "balance":  # processes of its own, each with its own Trio run
        from .lab.balance import run as bench_balance

        print(json.dumps(bench_balance(args), sort_keys=True))
        return 0
    bench = {"e2e": run_bench, "tts-roundtrip": tts_roundtrip, "stt": stt_corpus,
             "soak": run_soak, "transport": bench_transport, "attack": bench_attack,
             "echo": bench_echo, "booking-speech": booking_speech,
             "pauses": bench_pauses}[args.kind]
    summary = trio.run(bench, cfg, args)
    print(json.dumps(summary, sort_keys=True))
    return 0 if summary.get("errors", 1) == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="voiced", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the daemon")
    s.add_argument("--config", help="config.toml (default: ./config.toml, /etc/voiced/config.toml)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--insecure-dev", action="store_true",
                   help="accept requests without Twilio signatures (local development only)")
    s.set_defaults(func=cmd_serve)

    c = sub.add_parser("check-config", help="validate a config file and print effective settings")
    c.add_argument("path", nargs="?")
    c.set_defaults(func=cmd_check_config)

    m = sub.add_parser("models", help="install and verify the embedded weights (Whisper base, "
                                                "the end-of-turn model)")
    m.add_argument("action", choices=["install"])
    m.add_argument("--cache-dir")
    m.set_defaults(func=cmd_models)

    t = sub.add_parser("test", help="run conversation scenarios (scenarios/*.toml) against the "
                                    "agent: replies, tools called, the call ended or transferred")
    t.add_argument("scenarios", nargs="+", type=Path)
    t.add_argument("--config")
    t.add_argument("--llm", action="store_true",
                   help="against the LLM brain, the local LLM server answering as each turn's "
                        "llm list says (scenarios without one are skipped)")
    t.add_argument("--audio", action="store_true",
                   help="as phone calls: each caller line spoken by the embedded voice and "
                        "heard by the whole pipeline (Whisper, turn-taking, espeak-ng)")
    t.set_defaults(func=cmd_test)

    k = sub.add_parser("calls", help="recent calls, or one call's turns and latency waterfall")
    k.add_argument("call", nargs="?", help="a call SID (or its start), or 'last'")
    k.add_argument("--last", type=int, default=20, help="how many calls to list")
    k.add_argument("--svg", help="also write the waterfall to this SVG file")
    k.add_argument("--records", help="calls.jsonl (default: in server.state_dir)")
    k.add_argument("--config")
    k.set_defaults(func=cmd_calls)

    y = sub.add_parser("say", help="speak a line through the embedded TTS into an 8 kHz WAV")
    y.add_argument("text")
    y.add_argument("--lang", default="he", choices=["he", "en"])
    y.add_argument("-o", "--out", required=True)
    y.add_argument("--config")
    y.set_defaults(func=cmd_say)

    d = sub.add_parser("dial", help="call a voiced daemon the way Twilio does")
    d.add_argument("url", nargs="?", help="ws:// URL of the media socket; none: run one in-process")
    d.add_argument("--say", action="append", required=True, metavar="WAV",
                   help="a caller utterance (repeat for several turns)")
    d.add_argument("--config")
    d.add_argument("--caller", default="+15550100")
    d.add_argument("--out", help="write the call (caller left, agent right) to this WAV")
    d.add_argument("--barge-in-after-ms", type=int)
    d.add_argument("--quiet", action="store_true", help="only warnings from the daemon")
    add_line_options(d)
    d.set_defaults(func=cmd_dial)

    _add_bench(sub)
    return p


def _add_bench(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    b = sub.add_parser("bench", help="benchmarks (real clock): e2e, tts-roundtrip, stt, soak, "
                                     "transport, attack, echo")
    b.add_argument("kind", choices=["e2e", "tts-roundtrip", "stt", "soak", "transport", "attack",
                                    "echo", "booking-speech", "balance", "pauses"],
                   help="e2e: emulated calls; tts-roundtrip: embedded TTS heard back by the "
                        "embedded STT; stt: the embedded STT on the corpus; soak: many calls, "
                        "watching threads, fds and memory; transport: only Twilio's messages "
                        "in, parsed, for --concurrency callers (the floor under any pipeline); "
                        "attack: a legitimate caller while each attack of the threat model runs; "
                        "echo: the echo stage alone on corpus speech through a speakerphone line "
                        "(--calls replies): CPU, echo taken out, caller kept; booking-speech: "
                        "2x--calls booking requests by the embedded voice, heard by the embedded "
                        "STT and read by the receptionist's rules (service, day, time, yes/no); "
                        "balance: how the kernel spreads --calls held connections over --workers "
                        "processes, one shared socket against SO_REUSEPORT; pauses: at every "
                        "pause of the corpus, whether the speculative transcript reads as "
                        "finished (the smart endpoint's cut-offs at each wait, in one pass)")
    b.add_argument("--engines", choices=["embedded", "sim"], default="embedded",
                   help="embedded: Whisper, espeak-ng; sim: local Google gRPC and OpenAI SSE servers "
                        "with the default latency profile")
    b.add_argument("--recognizer", choices=["realistic", "oracle"], default="realistic",
                   help="sim engines: how the fake Google recogniser behaves; realistic: interim "
                        "words 300 ms late, the last one often wrong, the final ~400 ms after "
                        "the speech; oracle: the best case (voiced.lab.sim.google)")
    b.add_argument("--sim-seed", type=int, default=1,
                   help="sim engines: the realistic recogniser's draws (a recording is misheard "
                        "the same way in every call of a run; another seed, another sample)")
    b.add_argument("--others-nice", type=int, default=0,
                   help="the emulated callers' and the sim engines' processes at this niceness "
                        "(0: the daemon's own): they stand for Twilio's and Google's machines; "
                        "10 weights them as the unit's CPUWeight=1000 weights a VM's other "
                        "services against voiced (docs/BENCHMARKS.md)")
    b.add_argument("--llm", choices=["engine", "sim"], default="engine",
                   help="embedded e2e: sim puts the sim OpenAI-compatible LLM (350 ms to the "
                        "first token, 15 ms a token) behind the embedded STT and TTS")
    b.add_argument("--llm-ttft-ms", type=int, default=350,
                   help="sim LLM: time to its first token (350: the sim profile; issue 15 "
                        "states its embedded + LLM target at 300)")
    b.add_argument("--llm-tools", action="store_true",
                   help="sim LLM: answer every caller turn with a lookup in the appointment book "
                        "first, then the words (a tool round in every reply)")
    b.add_argument("--config")
    b.add_argument("--corpus", default=os.environ.get("VOICED_CORPUS", "../shared/corpus"))
    b.add_argument("--lang", default="en", choices=["en", "he"])
    b.add_argument("--files", default=":",
                   help="e2e (embedded), stt, pauses, echo: the language's corpus recordings "
                        "to use, A:B in manifest order (hold some out of a tuning loop)")
    b.add_argument("--calls", type=int, default=10)
    b.add_argument("--concurrency", type=int, default=1,
                   help="sim e2e and soak: calls at once (calls = the larger of --calls and this); "
                        "embedded e2e: one at a time unless --callers-apart")
    b.add_argument("--hold-s", type=float, default=20.0, help="balance: how long a call lasts")
    b.add_argument("--arrive-s", type=float, default=1.0,
                   help="balance: the calls arrive evenly over this long")
    b.add_argument("--cpu-ms-per-s", type=float, default=17.0,
                   help="balance: CPU a call costs its worker, ms a second")
    b.add_argument("--rounds", type=int, default=3, help="balance: rounds per mode")
    b.add_argument("--workers", type=int, default=1,
                   help="e2e: daemon worker processes (server.workers) under a supervisor, as "
                        "`voiced serve` runs them; 1: the daemon in this process")
    b.add_argument("--cpu-by-task", action="store_true",
                   help="e2e with one worker: the daemon's thread CPU by task (a trio "
                        "instrument; 3.5 us a task step more, ~3 %% of a core at 20 calls)")
    b.add_argument("--caller-procs", type=int, default=1,
                   help="sim e2e and soak: processes the emulated callers are spread over")
    b.add_argument("--turns", type=int, default=2, help="caller utterances per call")
    b.add_argument("--callers-apart", action="store_true",
                   help="embedded e2e: the emulated callers in a process of their own (as sim "
                        "always does), so a busy daemon cannot delay their playback and echo")
    b.add_argument("--seconds", type=float, default=20.0,
                   help="transport: how long callers send (an attack runs as long as its calls)")
    b.add_argument("--attacks", default="", help="attack: a comma-separated subset (default: all)")
    b.add_argument("--warmup", type=int, default=100, help="soak: calls before the first sample")
    b.add_argument("--barge-in-after-ms", type=int,
                   help="from the second turn on, talk over the agent this long into its reply")
    add_line_options(b)
    b.set_defaults(func=cmd_bench)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"voiced: config error: {exc}", file=sys.stderr)
        return 2
    except VoicedError as exc:
        print(f"voiced: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
