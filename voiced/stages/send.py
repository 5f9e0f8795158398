"""send: the only writer to the socket. Agent audio, marks and clears out to Twilio."""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..errors import CallClosed
from ..events import Audio, EndReason
from ..twilio.socket import MessageSocket
from ..twilio.wire import Clear, Mark, Media, outbound

log = logging.getLogger("voiced.send")


async def send(
    rx: trio.MemoryReceiveChannel[Audio | Mark | Clear],
    ws: MessageSocket,
    stream_sid: str,
    hangup: Callable[[EndReason, str], None],
) -> None:
    with rx:
        async for item in rx:
            if isinstance(item, Audio):
                if item.turn is not None:
                    item.turn.first_audio()
                text = outbound(stream_sid, Media(item.payload))
            else:
                text = outbound(stream_sid, item)
            try:
                await ws.send(text)
            except CallClosed:
                hangup(EndReason.DROPPED, "socket closed while sending")
                return
