"""The HTTP surface through quart's test client, and a call over its WebSocket."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import trio
import trio.testing
from quart.testing.connections import WebsocketDisconnectError

from voiced.app import create_app
from voiced.audio import frames as split
from voiced.audio import ulaw_encode
from voiced.config import Config, from_dict
from voiced.testing.fakes import FakeSTT, FakeTTS, fake_engines, tone
from voiced.testing.peer import CALL_SID, STREAM_SID
from voiced.wire import Connected, Media, Start, Stop, inbound, parse_outbound

CFG = from_dict({"server": {"public_host": "agent.example.com"}})


async def test_voice_webhook_answers_connect_stream_twiml() -> None:
    app = create_app(CFG, fake_engines(CFG))
    client = app.test_client()
    resp = await client.post("/twilio/voice", form={"From": "+972501234567", "CallSid": "CA1"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(await resp.get_data(as_text=True))
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://agent.example.com/ws/twilio-media"
    assert stream.get("statusCallback") == "https://agent.example.com/webhook/stream_status"
    param = stream.find("Parameter")
    assert param is not None and param.attrib == {"name": "caller", "value": "+972501234567"}


async def test_status_webhook_and_health() -> None:
    app = create_app(CFG, fake_engines(CFG))
    client = app.test_client()
    resp = await client.post("/webhook/stream_status", form={"StreamSid": "MZ1",
                                                            "StreamEvent": "stream-started"})
    assert resp.status_code == 204
    health = await client.get("/healthz")
    assert json.loads(await health.get_data(as_text=True)) == {
        "status": "ok", "active_calls": 0, "calls_total": 0}


async def test_a_call_over_the_apps_websocket(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    app = create_app(cfg, fake_engines(cfg, FakeSTT(delay=0.1), FakeTTS(delay=0.03)))
    client = app.test_client()
    received: list[tuple[float, str]] = []
    async with client.websocket("/ws/twilio-media") as ws:

        async def collect() -> None:
            while True:
                try:
                    data = await ws.receive()
                except WebsocketDisconnectError:  # the daemon closes after `stop`
                    return
                received.append((trio.current_time(), parse_outbound(data)[1].__class__.__name__))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(collect)
            await ws.send(inbound(STREAM_SID, Connected()))
            await ws.send(inbound(STREAM_SID, Start(STREAM_SID, CALL_SID)))
            await ws.send("garbage that is skipped")
            silence = [b"\xff" * 160]
            frames = silence * 50 + [ulaw_encode(f) for f in split(tone(1000))] + silence * 60
            t_end = 0.0
            for i, payload in enumerate(frames):
                await ws.send(inbound(STREAM_SID, Media(payload)))
                if i == 99:
                    t_end = trio.current_time()
                await trio.sleep(0.02)
            await ws.send(inbound(STREAM_SID, Stop()))
    media_after = [t for t, kind in received if kind == "Media" and t > t_end]
    # speech ends at frame 99; the reply was prepared at the pause and is released at the
    # endpoint, 800 ms later
    assert media_after and abs(media_after[0] - (t_end + 0.8)) < 1e-6
    assert received[-1][1] == "Mark"
