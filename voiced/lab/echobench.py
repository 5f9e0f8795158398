"""``voiced bench echo``: the echo stage alone on recorded speech, frame by frame: what it costs
a call in CPU, how much echo it takes out, what it lets through, and how much of a caller
talking over the agent it keeps.

The agent's voice is the corpus's recordings of ``--lang`` (real speech, at its recorded
level), one per reply with 1.5 s between replies; the speakerphone line of
:mod:`voiced.lab.line` sends it back (``--echo-db``/``--echo-ms``, default -10 dB/350 ms, with
``--noise-dbfs``/``--hum-dbfs``). Each reply reaches the caller up to a packet (+-10 ms) off
what the daemon's reference says, as Twilio's own tick makes it. From the second reply on,
every other one is talked over: another recording, from 1 s into the reply, at its own
level. No daemon, no engines: the frames go straight through ``voiced.stages.echo.clean``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import FRAME_SAMPLES, RATE, SILENT_FRAME_ULAW, frames, read_wav, ulaw_encode
from ..callstate import RecvStats
from ..canceller import EchoCanceller
from ..config import Config
from ..echo import FRAME_S, EchoPath, FarEnd, energy
from ..events import Frame
from ..stages.echo import clean
from .corpus import corpus_files
from .line import Line
from .stats import machine, percentile

GAP_S = 1.5  # between replies
BARGE_S = 1.0  # into a talked-over reply, the caller starts
AUDIBLE = (32768 * 10 ** (-50 / 20)) ** 2  # -50 dBFS: what a VAD could take for speech


Script = tuple[list[np.ndarray], list[int], list[np.ndarray | None]]


def _script(voices: list[np.ndarray], replies: int) -> Script:
    """The agent's frames, the reply each belongs to (-1: silence), and the caller's."""
    agent: list[np.ndarray] = []
    reply: list[int] = []
    caller: list[np.ndarray | None] = []
    silence = np.zeros(FRAME_SAMPLES, np.int16)
    for r in range(replies):
        said = frames(voices[r % len(voices)])
        over = frames(voices[(r + replies) % len(voices)]) if r % 2 else []
        start = round(BARGE_S / FRAME_S)
        for i, frame in enumerate(said):
            agent.append(frame)
            reply.append(r)
            caller.append(over[i - start] if over and 0 <= i - start < len(over) else None)
        for _ in range(round(GAP_S / FRAME_S)):
            agent.append(silence)
            reply.append(-1)
            caller.append(None)
    return agent, reply, caller


async def bench_echo(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    line = Line(args.echo_db if args.echo_db is not None else -10.0,
                args.echo_ms if args.echo_db is not None else 350, args.noise_dbfs, args.hum_dbfs)
    files = corpus_files(Path(args.corpus), args.lang)
    voices = [read_wav(path, RATE) for path, _ in files]
    replies = max(2, args.calls)
    agent, reply, caller = _script(voices, replies)
    rng = np.random.default_rng(11)
    slips = rng.uniform(-0.010, 0.010, replies)
    effects = line.effects()
    far = FarEnd()
    e = cfg.echo
    path = EchoPath(far, max_delay_ms=e.max_delay_ms, window_s=e.window_s)
    canceller, stats = EchoCanceller(far), RecvStats()
    talking_us: list[float] = []
    silent_us: list[float] = []
    raw_echo = left_echo = 0.0
    leaks = caller_frames = caller_lost = 0
    delay = round(line.echo_ms / 1000 / FRAME_S)
    voiced: dict[int, int] = {}  # each reply's first frame with a voice in it
    for k, frame in enumerate(agent):
        if reply[k] >= 0 and reply[k] not in voiced and energy(frame.tobytes()) > AUDIBLE:
            voiced[reply[k]] = k
    for k, frame in enumerate(agent):
        t = k * FRAME_S
        r = reply[k]
        if r >= 0:
            far.play(frame.tobytes(), t - slips[r])  # the reference: off by the reply's slip
        voice = caller[k]
        said = ulaw_encode(voice) if voice is not None else SILENT_FRAME_ULAW
        inbound = Frame.decode(effects.mix(said, ulaw_encode(frame)), t, k)
        before = stats.echo_frames
        t0 = time.perf_counter_ns()
        out = clean(inbound, t, path, canceller, stats)
        spent = (time.perf_counter_ns() - t0) / 1000
        (talking_us if far.loudest(k - 30, k) > 0 else silent_us).append(spent)
        silenced = stats.echo_frames > before
        echo_of = reply[k - delay] if k >= delay else -1
        if voice is not None and energy(voice.tobytes()) > AUDIBLE:
            caller_frames += 1
            caller_lost += silenced
        elif echo_of >= 0 and voice is None:
            leaks += not silenced and energy(out.pcm) > AUDIBLE
            residual = canceller.residual
            # From 300 ms into the echo of the reply's voice (realigned by then).
            if k - delay - voiced.get(echo_of, k) >= 15 and residual is not None:
                raw_echo += energy(inbound.pcm)
                left_echo += float(np.mean(np.square(residual)))
    erle = 10 * np.log10(raw_echo / left_echo) if left_echo > 0 else float("nan")
    mean_us = float(np.mean(talking_us + silent_us))
    summary: dict[str, Any] = {
        "bench": "echo", "machine": machine(), "lang": args.lang, "line": str(line),
        "replies": replies, "seconds": round(len(agent) * FRAME_S, 1),
        "us_per_frame_talking_p50": round(percentile(talking_us, 50), 1),
        "us_per_frame_talking_p95": round(percentile(talking_us, 95), 1),
        "us_per_frame_silent_p50": round(percentile(silent_us, 50), 1),
        "core_pct_per_call": round(100 * mean_us / (FRAME_S * 1e6), 2),
        "erle_db": round(erle, 1), "resyncs": canceller.resyncs,
        "echo_frames_heard": leaks, "caller_frames": caller_frames,
        "caller_frames_silenced": caller_lost,
        "errors": int(not np.isfinite(erle)),
    }
    print(f"echo stage, {args.lang} corpus voices, {replies} replies over {line}: "
          f"{summary['us_per_frame_talking_p50']} us a frame while the agent talks (p95 "
          f"{summary['us_per_frame_talking_p95']}), {summary['us_per_frame_silent_p50']} us "
          f"silent: {summary['core_pct_per_call']} % of a core per call")
    print(f"echo taken out (from 300 ms into the echo of each reply's voice, caller silent): "
          f"{summary['erle_db']} dB, {canceller.resyncs} realignments; echo frames left "
          f"audible: {leaks}; caller frames over the echo silenced: {caller_lost} of "
          f"{caller_frames}")
    return summary
