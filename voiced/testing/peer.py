"""A scripted Twilio peer over an in-memory socket, for tests on the virtual clock."""

from __future__ import annotations

import numpy as np
import trio

from ..audio import FRAME_SAMPLES, frames, ulaw_encode
from ..dial import Playback
from ..socket import MemorySocket
from ..wire import Clear, Connected, Inbound, Mark, Media, Start, inbound, parse_outbound

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"


class TwilioPeer:
    """Plays Twilio: sends frames every 20 ms of virtual time, plays the agent's audio into a
    playback buffer at the same pace (echoing marks as Twilio does), and records what the
    agent sent with the virtual time it arrived."""

    def __init__(self, sock: MemorySocket) -> None:
        self.sock = sock
        self.received: list[tuple[float, object]] = []
        self.echoed: list[tuple[float, str]] = []
        self.playback = Playback()
        self.seq = 0
        self.closed = False
        self._next_frame = 0.0

    async def _echo(self, names: list[str]) -> None:
        for name in names:
            self.echoed.append((trio.current_time(), name))
            await self.send(Mark(name))

    async def send(self, item: Inbound) -> None:
        self.seq += 1
        await self.sock.send(inbound(STREAM_SID, item, self.seq))

    async def send_raw(self, text: str) -> None:
        await self.sock.send(text)

    async def start(self, caller: str = "+972500000000") -> None:
        await self.send(Connected())
        await self.send(Start(STREAM_SID, CALL_SID, custom_parameters={"caller": caller}))

    async def play(self, pcm: np.ndarray) -> None:
        """Send ``pcm`` as 20 ms media messages in real (virtual) time. Successive calls keep
        the 20 ms cadence: the first frame goes 20 ms after the previous call's last frame
        (or now, if that is later). Returns right after the last frame was sent."""
        for chunk in frames(pcm):
            now = trio.current_time()
            if self._next_frame > now:
                await trio.sleep_until(self._next_frame)
            self._next_frame = max(now, self._next_frame) + FRAME_SAMPLES / 8000
            _, reached = self.playback.tick()
            await self._echo(reached)
            await self.send(Media(ulaw_encode(chunk)))

    async def silence(self, ms: int) -> None:
        await self.play(np.zeros(8 * ms, np.int16))

    async def collect(self) -> None:
        """Run in the background: record every message the agent sends, until it closes."""
        from ..errors import CallClosed

        while True:
            try:
                data = await self.sock.receive()
            except CallClosed:
                self.closed = True
                return
            _, item = parse_outbound(data)
            self.received.append((trio.current_time(), item))
            if isinstance(item, Media):
                self.playback.add_media(item.payload)
            elif isinstance(item, Mark):
                self.playback.add_mark(item.name)
            elif isinstance(item, Clear):
                await self._echo(self.playback.clear())

    def media_times(self) -> list[float]:
        return [t for t, item in self.received if isinstance(item, Media)]

    def first_media_after(self, t: float) -> float | None:
        return next((x for x in self.media_times() if x > t), None)

    def marks(self) -> list[str]:
        return [item.name for _, item in self.received if isinstance(item, Mark)]

    def clears(self) -> list[float]:
        return [t for t, item in self.received if isinstance(item, Clear)]
