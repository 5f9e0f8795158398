"""A scripted Twilio peer over an in-memory socket, for tests on the virtual clock."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import trio

from ...audio import FRAME_SAMPLES, SILENT_FRAME_ULAW, frames, ulaw_encode
from ...config import Config
from ...errors import CallClosed
from ...twilio.socket import MemorySocket
from ...twilio.wire import Clear, Connected, Inbound, Mark, Media, Start, Stop, inbound, parse_outbound
from ..dial import Playback
from ..dial import voice_form as dial_voice_form
from ..line import LineEffects

STREAM_SID = "MZ00000000000000000000000000000001"
CALL_SID = "CA00000000000000000000000000000001"
ACCOUNT_SID = "AC00000000000000000000000000000001"
SILENCE = SILENT_FRAME_ULAW


class TwilioPeer:
    """Plays Twilio. Once started, a line task sends one 20 ms media frame every 20 ms of
    virtual time (the test's audio when it plays some, silence otherwise) and plays the agent's
    audio into a playback buffer at the same pace, echoing marks as Twilio does, until the
    call ends. Everything the agent sends is recorded with the virtual time it arrived."""

    def __init__(self, sock: MemorySocket) -> None:
        self.sock = sock
        self.received: list[tuple[float, object]] = []
        self.echoed: list[tuple[float, str]] = []
        self.heard: list[float] = []  # when each 20 ms of the agent's audio played
        self.playback = Playback()
        self.seq = 0
        self.closed = False
        self.stopped = False
        self.line_ended = False
        # Off: a peer that never echoes marks (an attacker holding the agent "talking").
        self.echo_marks = True
        # A speakerphone, noise, hum: what the line adds to the caller's audio.
        self.effects: LineEffects | None = None
        self._queue: deque[tuple[bytes, trio.Event | None]] = deque()

    async def send(self, item: Inbound) -> None:
        self.seq += 1
        if isinstance(item, Stop):
            self.stopped = True
        await self.sock.send(inbound(STREAM_SID, item, self.seq))

    async def send_raw(self, text: str) -> None:
        await self.sock.send(text)

    async def start(self, caller: str = "+972500000000") -> None:
        await self.send(Connected())
        await self.send(Start(STREAM_SID, CALL_SID, ACCOUNT_SID, custom_parameters={"caller": caller}))

    async def line(self) -> None:
        """Run in the background after :meth:`start`."""
        try:
            await self._line()
        finally:
            # The call is over: whoever waits for audio to be played stops waiting.
            for _, done in self._queue:
                if done is not None:
                    done.set()
            self._queue.clear()
            self.line_ended = True

    async def _line(self) -> None:
        t = trio.current_time()
        while not (self.closed or self.stopped):
            buffered = self.playback.buffered
            played, reached = self.playback.tick()
            if self.playback.buffered < buffered:
                self.heard.append(trio.current_time())
            await self._echo(reached)
            payload, done = self._queue.popleft() if self._queue else (SILENCE, None)
            if self.effects is not None:
                payload = self.effects.mix(payload, played)
            try:
                await self.send(Media(payload))
            except CallClosed:
                return
            if done is not None:
                done.set()
            t += FRAME_SAMPLES / 8000
            await trio.sleep_until(t)

    async def _echo(self, names: list[str]) -> None:
        if not self.echo_marks:
            return
        for name in names:
            self.echoed.append((trio.current_time(), name))
            try:
                await self.send(Mark(name))
            except CallClosed:
                return

    async def play(self, pcm: np.ndarray) -> None:
        """Queue ``pcm`` on the line; returns right after its last frame was sent (or at once,
        if the call is over)."""
        chunks = frames(pcm)
        if self.line_ended or not chunks:
            return  # nothing to wait for (no frame would ever set ``done``)
        done = trio.Event()
        for i, chunk in enumerate(chunks):
            self._queue.append((ulaw_encode(chunk), done if i == len(chunks) - 1 else None))
        await done.wait()

    async def silence(self, ms: int) -> None:
        await self.play(np.zeros(8 * ms, np.int16))

    async def collect(self) -> None:
        """Run in the background: record every message the agent sends, until it closes."""
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


def voice_form(call_sid: str = CALL_SID, account_sid: str = ACCOUNT_SID,
               caller: str = "+972500000000") -> dict[str, str]:
    """:func:`voiced.lab.dial.voice_form` for this peer's call."""
    return dial_voice_form(call_sid, account_sid, caller)


async def webhook_start(client: Any, cfg: Config, auth_token: str | None = None,
                        call_sid: str = CALL_SID, account_sid: str = ACCOUNT_SID,
                        caller: str = "+972500000000") -> Start:
    """Twilio's first step through quart's test client: POST the voice webhook (signed when
    ``auth_token`` is given) and build the ``start`` its ``<Stream>`` leads to, stream token
    included. Fails the test if the webhook answers anything but a stream."""
    from ...twilio.signature import HEADER, sign
    from ..dial import stream_parameters

    form = voice_form(call_sid, account_sid, caller)
    headers = {}
    if auth_token:
        url = f"https://{cfg.server.public_host}{cfg.server.voice_path}"
        headers[HEADER] = sign(auth_token, url, form)
    resp = await client.post(cfg.server.voice_path, form=form, headers=headers)
    params = stream_parameters(await resp.get_data(as_text=True))
    assert resp.status_code == 200 and params is not None, resp.status_code
    return Start(STREAM_SID, call_sid, account_sid, custom_parameters=params)
