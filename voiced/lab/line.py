"""What a real phone line does to the caller's side of a call: the agent's own voice coming
back from a speakerphone (late, quieter, coloured by the room), steady noise, mains hum.

Used by the Twilio emulators (``voiced dial --echo-db G --echo-ms D --noise-dbfs N`` and the
test peer) so anyone can reproduce a speakerphone caller. No kinder than a real line: the
echo is not a clean delayed copy but passes a room (a decaying, seeded random reverberation
tail of 60 ms after the direct sound) and mu-law both ways, as the line's does.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np

from ..audio import FRAME_SAMPLES, RATE, ulaw_decode, ulaw_encode

ROOM_MS = 60  # the reverberant tail after the direct echo


def _room(seed: int) -> np.ndarray:
    """A room's impulse response: the direct sound, then a tail decaying ~30 dB over 60 ms."""
    rng = np.random.default_rng(seed)
    n = ROOM_MS * RATE // 1000
    tail = rng.standard_normal(n) * np.exp(-np.arange(n) / (n / 3.5)) * 0.5
    h = np.concatenate([[1.0], tail])
    out: np.ndarray = h / np.sqrt(np.sum(h**2))  # unit energy: the gain alone sets the level
    return out


@dataclass(frozen=True)
class Line:
    """A line's conditions, as ``voiced dial`` and ``voiced bench`` take them; each call gets
    its own :class:`LineEffects` (its own delay line and noise)."""

    echo_db: float | None = None
    echo_ms: int = 200
    noise_dbfs: float | None = None
    hum_dbfs: float | None = None

    def effects(self, seed: int = 7) -> LineEffects:
        return LineEffects(self.echo_db, self.echo_ms, self.noise_dbfs, self.hum_dbfs, seed)

    def __str__(self) -> str:
        parts = [f"echo {self.echo_db:g} dB / {self.echo_ms} ms" if self.echo_db is not None else "",
                 f"noise {self.noise_dbfs:g} dBFS" if self.noise_dbfs is not None else "",
                 f"hum {self.hum_dbfs:g} dBFS" if self.hum_dbfs is not None else ""]
        return ", ".join(p for p in parts if p) or "clean line"


@dataclass
class LineEffects:
    """Applied every 20 ms: ``mix(caller_ulaw, played_ulaw)`` is what Twilio receives, given
    what the caller said and what the caller's phone played in that same 20 ms."""

    echo_db: float | None = None  # echo level against the agent's audio (-20: 20 dB down)
    echo_ms: int = 200  # the echo's delay
    noise_dbfs: float | None = None  # white noise, RMS
    hum_dbfs: float | None = None  # 50 Hz hum, RMS
    seed: int = 7
    _delay: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _tail: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _n: int = 0
    _rng: np.random.Generator = field(default_factory=np.random.default_rng)

    def __post_init__(self) -> None:
        self._delay = np.zeros(self.echo_ms * RATE // 1000)
        self._room = _room(self.seed)
        self._tail = np.zeros(self._room.size - 1)
        self._rng = np.random.default_rng(self.seed)

    def set_delay(self, echo_ms: int) -> None:
        """The echo path changes mid-call (the caller moves, the network re-routes)."""
        want = echo_ms * RATE // 1000
        if want > self._delay.size:
            self._delay = np.concatenate([np.zeros(want - self._delay.size), self._delay])
        else:
            self._delay = self._delay[self._delay.size - want :]
        self.echo_ms = echo_ms

    def mix(self, caller: bytes, played: bytes) -> bytes:
        x = ulaw_decode(caller).astype(np.float64)
        if self.echo_db is not None:
            x += self._echo(ulaw_decode(played).astype(np.float64)) * 10 ** (self.echo_db / 20)
        t = (self._n + np.arange(FRAME_SAMPLES)) / RATE
        self._n += FRAME_SAMPLES
        if self.noise_dbfs is not None:
            x += self._rng.standard_normal(FRAME_SAMPLES) * 32768 * 10 ** (self.noise_dbfs / 20)
        if self.hum_dbfs is not None:
            x += np.sqrt(2) * 32768 * 10 ** (self.hum_dbfs / 20) * np.sin(2 * np.pi * 50 * t)
        return ulaw_encode(np.clip(np.round(x), -32768, 32767).astype(np.int16))

    def _echo(self, played: np.ndarray) -> np.ndarray:
        line = np.concatenate([self._delay, played])
        out, self._delay = line[:FRAME_SAMPLES], line[FRAME_SAMPLES:]
        wet = np.convolve(out, self._room)  # FRAME_SAMPLES + tail
        wet[: self._tail.size] += self._tail
        self._tail = wet[FRAME_SAMPLES:].copy()
        return wet[:FRAME_SAMPLES]


def add_line_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--echo-db", type=float, help="a speakerphone: the agent's voice back "
                        "this many dB against what it played (e.g. -20)")
    parser.add_argument("--echo-ms", type=int, default=200, help="... this many ms late")
    parser.add_argument("--noise-dbfs", type=float, help="white line noise at this RMS level")
    parser.add_argument("--hum-dbfs", type=float, help="50 Hz hum at this RMS level")


def line_from(args: argparse.Namespace) -> Line | None:
    line = Line(args.echo_db, args.echo_ms, args.noise_dbfs, args.hum_dbfs)
    return None if line == Line(echo_ms=line.echo_ms) else line


def line_arguments(line: Line | None) -> list[str]:
    """The options that give ``line`` to another process (:mod:`voiced.lab.loadgen`)."""
    if line is None:
        return []
    out = ["--echo-ms", str(line.echo_ms)]
    for flag, value in (("--echo-db", line.echo_db), ("--noise-dbfs", line.noise_dbfs),
                        ("--hum-dbfs", line.hum_dbfs)):
        if value is not None:
            out += [flag, str(value)]
    return out
