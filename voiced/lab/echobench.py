"""``voiced bench echo``: the echo stage alone on recorded speech, frame by frame: what it costs
a call in CPU, how much echo it takes out, what it lets through, how much of a caller talking
over the agent it keeps, and how soon the VAD behind it hears a barge-in.

The agent's voice is the corpus's recordings of ``--lang`` (real speech, at its recorded
level), one per reply with 1.5 s between replies; the speakerphone line of
:mod:`voiced.lab.line` sends it back (``--echo-db``/``--echo-ms``, default -10 dB/350 ms, with
``--noise-dbfs``/``--hum-dbfs``). Each reply reaches the caller up to a packet (+-10 ms) off
what the daemon's reference says, as Twilio's own tick makes it. What the caller does:

- every odd reply, a **barge-in**: another recording, its speech starting 1 s into the reply,
  at its own level. The cleaned frames go through the daemon's VAD and endpointer; once they
  confirm ``bargein.min_speech_ms`` of speech the agent stops (a ``clear``: the reference is
  flushed, nothing more plays), as the daemon's would;
- every reply after a multiple of four, a caller who **goes on**: the agent answered in a
  pause (a cut-off), the caller is already talking again when the reply starts, and the agent
  stops 0.6 s into it. The canceller, learning the reply's new timing, must not learn the
  caller as echo (in an e2e run it did, and was useless for the rest of the call);
- otherwise silent.

No daemon, no engines: the frames go straight through ``voiced.stages.echo.clean``.
"""

from __future__ import annotations

import argparse
import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..audio import FRAME_SAMPLES, RATE, SILENT_FRAME_ULAW, Pcm, frames, read_wav, ulaw_encode
from ..callstate import RecvStats
from ..canceller import EchoCanceller
from ..config import Config
from ..echo import EchoPath
from ..engines.vad import call_classifier
from ..events import Frame, SpeechConfirmed
from ..farend import FRAME_S, FarEnd, energy, mean_square
from ..stages.echo import clean
from ..stages.vad import Endpointer
from .corpus import corpus_files
from .dial import speech_frames
from .line import Line, LineEffects
from .stats import machine, percentile

GAP_S = 1.5  # between replies
BARGE_S = 1.0  # into a barged-in reply, the caller's speech starts
GOES_ON_S = 0.3  # before a reply, a caller who goes on started talking again
CUT_OFF_S = 0.6  # into that reply, the agent stops
AUDIBLE = (32768 * 10 ** (-50 / 20)) ** 2  # -50 dBFS: what a VAD could take for speech
_SILENCE = np.zeros(FRAME_SAMPLES, np.int16)


class Caller(enum.Enum):
    SILENT = "silent"
    BARGES_IN = "barges in"
    GOES_ON = "goes on"


@dataclass(frozen=True)
class Reply:
    voice: list[Pcm]  # the agent's frames
    caller: Caller
    over: list[Pcm]  # the caller's frames, its speech from the first
    slip: float  # how far off the reference the far end plays it, s

    @property
    def starts(self) -> int:
        """The caller's first frame, relative to the reply's."""
        return round((BARGE_S if self.caller is Caller.BARGES_IN else -GOES_ON_S) / FRAME_S)


def _replies(voices: list[Pcm], n: int, rng: np.random.Generator) -> list[Reply]:
    out = []
    for r in range(n):
        kind = Caller.BARGES_IN if r % 2 else Caller.GOES_ON if r and r % 4 == 0 \
            else Caller.SILENT
        over: list[Pcm] = []
        if kind is not Caller.SILENT:
            pcm = voices[(r + n) % len(voices)]
            over = frames(pcm)[speech_frames(pcm)[0] :]
        out.append(Reply(frames(voices[r % len(voices)]), kind, over,
                         float(rng.uniform(-0.010, 0.010))))
    return out


@dataclass
class Tally:
    talking_us: list[float] = field(default_factory=list)
    silent_us: list[float] = field(default_factory=list)
    raw_echo: float = 0.0
    left_echo: float = 0.0  # what the canceller's output kept of it
    passed_echo: float = 0.0  # ... where the stage used that output (else the frame as it came)
    leaks: int = 0
    caller_frames: int = 0
    caller_lost: int = 0
    heard_s: list[float] = field(default_factory=list)  # caller onset to barge-in confirmed
    missed: int = 0  # barge-ins the agent talked through to the end
    false: int = 0  # speech confirmed while the caller was silent: the echo heard as a caller


class Bench:
    """One call's echo stage, fed frame by frame, with the VAD and endpointer behind it."""

    def __init__(self, cfg: Config, line: LineEffects, delay: int) -> None:
        e = cfg.echo
        self.far = FarEnd()
        self.path = EchoPath(self.far, max_delay_ms=e.max_delay_ms, window_s=e.window_s)
        self.canceller, self.stats = EchoCanceller(self.far), RecvStats()
        self.vad = call_classifier(cfg.vad)
        self.endpointer = Endpointer(cfg.vad, cfg.turn, cfg.bargein)
        self.line, self.delay = line, delay
        self.confirm_ms = cfg.bargein.min_speech_ms
        self.k = 0
        self.echo_of: list[tuple[int, int]] = []  # per frame: (reply, frame in its voice) or (-1, 0)
        self.tally = Tally()

    def frame(self, agent: Pcm | None, at: tuple[int, int], t_ref: float | None,
              voice: Pcm | None) -> bool:
        """One 20 ms: ``agent`` played (``t_ref``: where the reference says it started),
        ``voice`` said by the caller. Whether the endpointer confirmed speech in it."""
        k, t, tally = self.k, self.k * FRAME_S, self.tally
        self.k += 1
        if agent is not None and t_ref is not None:
            self.far.play(agent.tobytes(), t_ref)
        self.echo_of.append(at if agent is not None else (-1, 0))
        said = ulaw_encode(voice) if voice is not None else SILENT_FRAME_ULAW
        played = ulaw_encode(agent if agent is not None else _SILENCE)
        inbound = Frame.decode(self.line.mix(said, played), t, k)
        before = self.stats.echo_frames
        t0 = time.perf_counter_ns()
        out = clean(inbound, t, self.path, self.canceller, self.stats)
        spent = (time.perf_counter_ns() - t0) / 1000
        talking = self.far.loudest(k - 30, k) > 0  # the agent, within reach of an echo
        (tally.talking_us if talking else tally.silent_us).append(spent)
        silenced = self.stats.echo_frames > before
        echo_of, n = self.echo_of[k - self.delay] if k >= self.delay else (-1, 0)
        if voice is not None and talking and energy(voice.tobytes()) > AUDIBLE:
            tally.caller_frames += 1
            tally.caller_lost += silenced
        elif echo_of >= 0 and voice is None:
            tally.leaks += not silenced and energy(out.pcm) > AUDIBLE
            residual = self.canceller.residual
            if n >= 15 and residual is not None:  # from 300 ms into the reply's echo
                came, left = energy(inbound.pcm), mean_square(residual)
                tally.raw_echo += came
                tally.left_echo += left
                tally.passed_echo += min(came, left)
        events = self.endpointer.push(self.vad.is_speech(out.pcm), t)
        return any(isinstance(ev, SpeechConfirmed) for ev in events)

    def clear(self) -> None:
        """The agent stopped: Twilio flushed what had not played."""
        self.far.clear(self.k * FRAME_S)

    def reply(self, r: int, reply: Reply) -> None:
        """The reply, what the caller does over it, and the gap after it."""
        start = self.k - min(0, reply.starts)
        voiced = next((i for i, f in enumerate(reply.voice) if energy(f.tobytes()) > AUDIBLE), 0)
        stop = len(reply.voice) if reply.caller is not Caller.GOES_ON \
            else round(CUT_OFF_S / FRAME_S)
        i, heard = min(0, reply.starts), False
        while i < len(reply.voice) + round(GAP_S / FRAME_S) or i - reply.starts < len(reply.over):
            j = i - reply.starts
            voice = reply.over[j] if 0 <= j < len(reply.over) else None
            playing = 0 <= i < stop
            t_ref = (start + i) * FRAME_S - reply.slip
            confirmed = self.frame(reply.voice[i] if playing else None, (r, i - voiced),
                                   t_ref, voice)
            self.tally.false += confirmed and voice is None
            if playing and i == stop - 1 and stop < len(reply.voice):
                self.clear()
            if reply.caller is Caller.BARGES_IN and confirmed and j >= 0 and not heard:
                heard = True
                self.tally.heard_s.append((j + 1) * FRAME_S)
                if playing:
                    stop = i + 1
                    self.clear()
            i += 1
        if reply.caller is Caller.BARGES_IN and not heard:
            self.tally.missed += 1


async def bench_echo(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    line = Line(args.echo_db if args.echo_db is not None else -10.0,
                args.echo_ms if args.echo_db is not None else 350, args.noise_dbfs, args.hum_dbfs)
    files = corpus_files(Path(args.corpus), args.lang, args.files)
    voices = [read_wav(path, RATE) for path, _ in files]
    replies = _replies(voices, max(2, args.calls), np.random.default_rng(11))
    bench = Bench(cfg, line.effects(), round(line.echo_ms / 1000 / FRAME_S))
    for r, reply in enumerate(replies):
        bench.reply(r, reply)
    return _summary(args, line, bench, len(replies))


def _summary(args: argparse.Namespace, line: Line, bench: Bench, replies: int) -> dict[str, Any]:
    tally, canceller = bench.tally, bench.canceller
    passed = 10 * np.log10(tally.raw_echo / tally.passed_echo) if tally.passed_echo > 0 \
        else float("nan")
    erle = 10 * np.log10(tally.raw_echo / tally.left_echo) if tally.left_echo > 0 \
        else float("nan")
    mean_us = float(np.mean(tally.talking_us + tally.silent_us))
    heard = tally.heard_s
    summary: dict[str, Any] = {
        "bench": "echo", "machine": machine(), "lang": args.lang, "files": args.files,
        "line": str(line),
        "replies": replies, "seconds": round(bench.k * FRAME_S, 1),
        "us_per_frame_talking_p50": round(percentile(tally.talking_us, 50), 1),
        "us_per_frame_talking_p95": round(percentile(tally.talking_us, 95), 1),
        "us_per_frame_silent_p50": round(percentile(tally.silent_us, 50), 1),
        "core_pct_per_call": round(100 * mean_us / (FRAME_S * 1e6), 2),
        "erle_db": round(erle, 1), "erle_passed_db": round(passed, 1),
        "resyncs": canceller.resyncs,
        "echo_frames_heard": tally.leaks, "caller_frames": tally.caller_frames,
        "caller_frames_silenced": tally.caller_lost,
        "false_barge_ins": tally.false,
        "barge_ins": len(heard) + tally.missed, "barge_ins_missed": tally.missed,
        "barge_in_heard_p50_s": round(percentile(heard, 50), 3) if heard else None,
        "barge_in_heard_max_s": round(max(heard), 3) if heard else None,
        "errors": int(not np.isfinite(erle)),
    }
    print(f"echo stage, {args.lang} corpus voices, {replies} replies over {line}: "
          f"{summary['us_per_frame_talking_p50']} us a frame while the agent talks (p95 "
          f"{summary['us_per_frame_talking_p95']}), {summary['us_per_frame_silent_p50']} us "
          f"silent: {summary['core_pct_per_call']} % of a core per call")
    print(f"echo taken out (from 300 ms into the echo of each reply's voice, caller silent): "
          f"{summary['erle_db']} dB by the canceller's output, {summary['erle_passed_db']} dB as "
          f"the stage uses it (a frame it made louder goes on as it came), "
          f"{canceller.resyncs} realignments; echo frames left "
          f"audible: {tally.leaks}; caller frames over the echo silenced: {tally.caller_lost} "
          f"of {tally.caller_frames}")
    print(f"barge-ins heard (caller's first word to {bench.confirm_ms} ms of speech "
          f"confirmed): {', '.join(f'{s:.2f}' for s in heard)} s; missed {tally.missed}; "
          f"speech confirmed while the caller was silent: {tally.false}")
    return summary
