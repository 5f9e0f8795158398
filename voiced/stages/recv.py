"""recv: Twilio's messages in; caller audio to VAD, marks and DTMF to the dialogue.

Every frame is handled the moment it arrives. If VAD falls behind, the oldest frame is
dropped (and counted, one log line a second): late audio is worth less than current audio on
a live call. Each kind of message has a rate limit (``[flood]``): Twilio sends 50 media
messages a second, and a peer that sends far more, or floods marks or DTMF, is closed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import trio

from ..audio import FRAME_BYTES_ULAW
from ..callstate import RecvStats
from ..config import CallConfig, FloodConfig
from ..errors import CallClosed, FloodError, ProtocolError
from ..events import DialogueEvent, Frame
from ..limits import SummaryLog, TokenBucket
from ..twilio.socket import MessageSocket
from ..twilio.wire import Dtmf, Mark, Media, Start, Stop, parse_inbound

log = logging.getLogger("voiced.recv")


@dataclass
class _Reframer:
    """Twilio sends 160-byte frames, but nothing forces a peer to: re-cut into 20 ms."""

    buf: bytearray = field(default_factory=bytearray)

    def push(self, ulaw: bytes) -> list[bytes]:
        self.buf += ulaw
        out = []
        while len(self.buf) >= FRAME_BYTES_ULAW:
            out.append(bytes(self.buf[:FRAME_BYTES_ULAW]))
            del self.buf[:FRAME_BYTES_ULAW]
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
    flood: FloodConfig | None = None,
) -> None:
    """Returns when the caller hangs up (``stop`` or a closed socket); raises
    :class:`FloodError` (a :class:`ProtocolError`) when a peer goes over a rate limit."""
    flood = flood or FloodConfig()
    limits = {Media: TokenBucket(flood.media_per_s, flood.media_burst),
              Mark: TokenBucket(flood.marks_per_s, flood.marks_burst),
              Dtmf: TokenBucket(flood.dtmf_per_s, flood.dtmf_burst)}
    summary = SummaryLog(log)
    with audio_tx, ctrl_tx, audio_drop:
        try:
            await _receive(ws, audio_tx, ctrl_tx, audio_drop, stats, cfg, call_id, limits, summary)
        finally:
            summary.flush(trio.current_time())


async def _receive(ws: MessageSocket, audio_tx: trio.MemorySendChannel[Frame],
                   ctrl_tx: trio.MemorySendChannel[DialogueEvent],
                   audio_drop: trio.MemoryReceiveChannel[Frame], stats: RecvStats,
                   cfg: CallConfig, call_id: str, limits: dict[type, TokenBucket],
                   summary: SummaryLog) -> None:
    reframer = _Reframer()
    seq = 0
    while True:
        try:
            data = await ws.receive()
        except CallClosed:
            log.info("call %s: socket closed by peer", call_id)
            return
        t0 = time.perf_counter()
        now = trio.current_time()
        try:
            msg = parse_inbound(data)
        except ProtocolError as exc:
            stats.bad_messages += 1
            summary.event(now, "bad", f"call {call_id}: skipped bad message: {exc}")
            if stats.bad_messages > cfg.max_bad_messages:
                raise ProtocolError(f"more than {cfg.max_bad_messages} bad messages") from None
            continue
        bucket = limits.get(type(msg))
        if bucket is not None and not bucket.take(now):
            kind = type(msg).__name__.lower()
            raise FloodError(f"{kind} flood: over {bucket.rate:g} a second (burst {bucket.burst:g})")
        if isinstance(msg, Media):
            for ulaw in reframer.push(msg.payload):
                stats.frames += 1
                dropped = push_latest(audio_tx, audio_drop, Frame.decode(ulaw, now, seq))
                seq += 1
                if dropped:
                    stats.dropped += dropped
                    summary.event(now, "dropped", f"call {call_id}: VAD behind, dropped "
                                  f"{dropped} frame(s), {stats.dropped} in this call", dropped)
            stats.decode_s += time.perf_counter() - t0
            stats.decode_n += 1
        elif isinstance(msg, Mark | Dtmf):
            await ctrl_tx.send(msg)
        elif isinstance(msg, Stop):
            stats.stop_seen = True
            log.info("call %s: stop received", call_id)
            return
        elif isinstance(msg, Start):
            summary.event(now, "start", f"call {call_id}: skipped a second start message")
        # `connected` after start carries nothing we need.
