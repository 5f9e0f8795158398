"""One caller turn through the real app's media socket (quart's test client), for tests on the
virtual clock: ``start``, a second of tone between silences, ``stop``; everything the daemon
sent comes back with the virtual time it arrived."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio
from quart.testing.connections import WebsocketDisconnectError

from ...audio import frames as split
from ...audio import ulaw_encode
from ...twilio.wire import Connected, Media, Outbound, Start, Stop, inbound, parse_outbound
from .fakes import tone
from .peer import STREAM_SID

SILENCE = b"\xff" * 160
SPEECH_FRAMES = 50  # the tone's 1000 ms; it follows 50 frames of silence


@dataclass
class AppCall:
    received: list[tuple[float, Outbound]] = field(default_factory=list)
    t_end: float = 0.0  # when the frame ending the caller's speech was sent

    def kinds(self) -> list[str]:
        return [type(item).__name__ for _, item in self.received]

    def reply_after_s(self) -> float:
        """From the end of the caller's speech to the first media message after it."""
        return next(t for t, item in self.received if isinstance(item, Media) and t > self.t_end) \
            - self.t_end


async def tone_turn(client: Any, start: Start, headers: Mapping[str, str] | None = None, *,
                    before: Sequence[str | bytes] = (), silence_after: int = 60) -> AppCall:
    """The call: ``before`` goes out right after ``start`` (garbage, say), then 50 frames of
    silence, the tone, ``silence_after`` frames of silence and ``stop``, one frame every 20 ms."""
    call = AppCall()
    async with client.websocket("/ws/twilio-media", headers=dict(headers or {})) as ws:

        async def collect() -> None:
            while True:
                try:
                    data = await ws.receive()
                except WebsocketDisconnectError:  # the daemon closes after `stop`
                    return
                call.received.append((trio.current_time(), parse_outbound(data)[1]))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await ws.send(inbound(STREAM_SID, Connected()))
            await ws.send(inbound(STREAM_SID, start))
            for message in before:
                await ws.send(message)
            speech = [ulaw_encode(f) for f in split(tone(20 * SPEECH_FRAMES))]
            frames = [SILENCE] * 50 + speech + [SILENCE] * silence_after
            for i, payload in enumerate(frames):
                await ws.send(inbound(STREAM_SID, Media(payload)))
                if i == 50 + len(speech) - 1:
                    call.t_end = trio.current_time()
                await trio.sleep(0.02)
            await ws.send(inbound(STREAM_SID, Stop()))
    return call
