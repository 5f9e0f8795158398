"""The transport benchmark's receiver: what it counts and how it clocks lateness."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from voiced.lab.transport import Receiver
from voiced.twilio.wire import Media, Start, Stop, inbound

SID = "MZ" + "0" * 32


async def test_frames_are_parsed_and_their_lateness_measured_against_a_20ms_clock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Frames arrive at 0, 20, 45 and 60 ms; the third is 5 ms late, the fourth on time.
    arrivals = [(0.0, inbound(SID, Start(stream_sid=SID, call_sid="CA1")))]
    arrivals += [(t, inbound(SID, Media(b"\xff" * 160, chunk=k), seq=k))
                 for k, t in enumerate([0.0, 0.020, 0.045, 0.060], start=1)]
    arrivals += [(0.060, "not json"), (0.070, inbound(SID, Stop()))]
    sent: list[dict[str, Any]] = []
    t0 = trio.current_time()

    async def receive() -> dict[str, Any]:
        if not sent:  # first call: the handshake
            return {"type": "websocket.connect"}
        if not arrivals:
            return {"type": "websocket.disconnect", "code": 1000}
        t, text = arrivals.pop(0)
        await trio.sleep_until(t0 + t)
        return {"type": "websocket.receive", "text": text}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    receiver = Receiver()
    await receiver({"type": "websocket"}, receive, send)
    assert sent == [{"type": "websocket.accept"}]
    assert receiver.frames == 4
    assert receiver.bad == 1
    assert [round(1000 * lag, 6) for lag in receiver.lags] == [0.0, 0.0, 5.0, 0.0]
    assert receiver.first is not None and receiver.last[0] >= receiver.first[0]
