"""recv: Twilio's messages in; caller audio to VAD, marks and DTMF to the dialogue.

Every frame is handled the moment it arrives. If VAD falls behind, the oldest frame is
dropped (and counted): late audio is worth less than current audio on a live call.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import trio

from ..audio import FRAME_BYTES_PCM, ulaw_decode
from ..config import CallConfig
from ..errors import CallClosed, ProtocolError
from ..events import DialogueEvent, Frame
from ..socket import MessageSocket
from ..wire import Dtmf, Mark, Media, Start, Stop, parse_inbound

log = logging.getLogger("voiced.recv")


@dataclass
class RecvStats:
    frames: int = 0
    dropped: int = 0
    bad_messages: int = 0
    decode_s: float = 0.0
    decode_n: int = 0
    stop_seen: bool = False

    def take_decode_ms(self) -> float:
        """Mean message decode time since the last call, for the per-turn latency line."""
        mean = 1000 * self.decode_s / self.decode_n if self.decode_n else 0.0
        self.decode_s, self.decode_n = 0.0, 0
        return mean


@dataclass
class _Reframer:
    """Twilio sends 160-byte frames, but nothing forces a peer to: re-cut into 20 ms."""

    buf: bytearray = field(default_factory=bytearray)

    def push(self, pcm: bytes) -> list[bytes]:
        self.buf += pcm
        out = []
        while len(self.buf) >= FRAME_BYTES_PCM:
            out.append(bytes(self.buf[:FRAME_BYTES_PCM]))
            del self.buf[:FRAME_BYTES_PCM]
        return out


def push_latest(
    tx: trio.MemorySendChannel[Frame], drop: trio.MemoryReceiveChannel[Frame], item: Frame
) -> int:
    """Send without waiting; when the buffer is full drop the oldest. Returns frames dropped."""
    dropped = 0
    while True:
        try:
            tx.send_nowait(item)
            return dropped
        except trio.WouldBlock:
            drop.receive_nowait()
            dropped += 1


async def recv(
    ws: MessageSocket,
    audio_tx: trio.MemorySendChannel[Frame],
    ctrl_tx: trio.MemorySendChannel[DialogueEvent],
    audio_drop: trio.MemoryReceiveChannel[Frame],
    stats: RecvStats,
    cfg: CallConfig,
    call_id: str,
) -> None:
    """Returns when the caller hangs up (``stop`` or a closed socket)."""
    with audio_tx, ctrl_tx, audio_drop:
        reframer = _Reframer()
        seq = 0
        while True:
            try:
                data = await ws.receive()
            except CallClosed:
                log.info("call %s: socket closed by peer", call_id)
                return
            t0 = time.perf_counter()
            try:
                msg = parse_inbound(data)
            except ProtocolError as exc:
                stats.bad_messages += 1
                log.warning("call %s: skipped bad message: %s", call_id, exc)
                if stats.bad_messages > cfg.max_bad_messages:
                    raise ProtocolError(f"more than {cfg.max_bad_messages} bad messages") from None
                continue
            if isinstance(msg, Media):
                now = trio.current_time()
                for pcm in reframer.push(ulaw_decode(msg.payload).tobytes()):
                    stats.frames += 1
                    dropped = push_latest(audio_tx, audio_drop, Frame(pcm, now, seq))
                    seq += 1
                    if dropped:
                        stats.dropped += dropped
                        log.warning("call %s: VAD behind, dropped %d frame(s)", call_id, dropped)
                stats.decode_s += time.perf_counter() - t0
                stats.decode_n += 1
            elif isinstance(msg, Mark | Dtmf):
                await ctrl_tx.send(msg)
            elif isinstance(msg, Stop):
                stats.stop_seen = True
                log.info("call %s: stop received", call_id)
                return
            elif isinstance(msg, Start):
                log.warning("call %s: skipped a second start message", call_id)
            # `connected` after start carries nothing we need.
