"""The HTTP surface through quart's test client and a call over its WebSocket; the media socket
also through hypercorn itself."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import pytest
import trio
import trio.testing
from quart.testing.connections import WebsocketResponseError

from voiced import sizing
from voiced.app import create_app
from voiced.config import Config, from_dict
from voiced.errors import ConfigError
from voiced.lab.testing.appcall import tone_turn
from voiced.lab.testing.fakes import FakeSTT, FakeTTS, fake_engines
from voiced.lab.testing.peer import STREAM_SID, voice_form, webhook_start
from voiced.twilio.signature import sign
from voiced.twilio.wire import Connected, Media, Start, Stop, inbound, parse_outbound

TOKEN = "12345678901234567890123456789012"
CFG = from_dict({"server": {"public_host": "agent.example.com"}})
INSECURE = from_dict({"twilio": {"validate_signatures": False}})


def signed(url: str, form: dict[str, str] | None = None) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(TOKEN, url, form)}


async def test_voice_webhook_answers_connect_stream_twiml() -> None:
    app = create_app(CFG, fake_engines(CFG), auth_token=TOKEN)
    client = app.test_client()
    form = voice_form(caller="+972501234567")
    resp = await client.post("/twilio/voice", form=form,
                             headers=signed("https://agent.example.com/twilio/voice", form))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(await resp.get_data(as_text=True))
    stream = root.find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://agent.example.com/ws/twilio-media"
    assert stream.get("statusCallback") == "https://agent.example.com/webhook/stream_status"
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["caller"] == "+972501234567"
    assert len(params["token"] or "") > 40  # the stream token (voiced.admission)


async def test_status_webhook_and_health() -> None:
    app = create_app(CFG, fake_engines(CFG), auth_token=TOKEN)
    client = app.test_client()
    form = {"StreamSid": "MZ1", "StreamEvent": "stream-started"}
    resp = await client.post("/webhook/stream_status", form=form, headers=signed(
        "https://agent.example.com/webhook/stream_status", form))
    assert resp.status_code == 204
    health = await client.get("/healthz")
    assert json.loads(await health.get_data(as_text=True)) == {
        "status": "ok", "active_calls": 0, "calls_total": 0, "worker": 0, "pid": os.getpid(),
        "machine_calls": 0, "max_calls": sizing.for_machine(CFG).max_calls}


async def test_a_call_over_the_apps_websocket(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    app = create_app(cfg, fake_engines(cfg, FakeSTT(delay=0.1), FakeTTS(delay=0.03)),
                     auth_token=TOKEN)
    client = app.test_client()
    start = await webhook_start(client, cfg, TOKEN)
    call = await tone_turn(client, start, signed("wss://localhost:8080/ws/twilio-media"),
                           before=["garbage that is skipped"])
    # speech ends at frame 99; the reply was prepared at the pause and is released at the
    # endpoint, 800 ms later
    assert abs(call.reply_after_s() - 0.8) < 1e-6
    assert call.kinds()[-1] == "Mark"


async def test_unsigned_forged_and_replayed_requests_get_403(caplog: pytest.LogCaptureFixture) -> None:
    from voiced.metrics import Metrics

    metrics = Metrics()
    app = create_app(CFG, fake_engines(CFG), auth_token=TOKEN, metrics=metrics)
    client = app.test_client()
    form = voice_form(caller="+972501234567")
    voice_url = "https://agent.example.com/twilio/voice"
    cases = {
        "unsigned": {},
        "forged": {"X-Twilio-Signature": sign("not-the-token-at-all-000000000000", voice_url, form)},
        # Signed for the status webhook, replayed to the voice webhook.
        "replayed": signed("https://agent.example.com/webhook/stream_status", form),
        # Signed for this URL but with other parameters (a different caller).
        "tampered": signed(voice_url, {**form, "From": "+15550100"}),
    }
    for name, headers in cases.items():
        resp = await client.post("/twilio/voice", form=form, headers=headers)
        assert resp.status_code == 403, name
    resp = await client.post("/webhook/stream_status", form={"StreamSid": "MZ1"})
    assert resp.status_code == 403
    assert metrics.registry.get_sample_value("voiced_refused_requests_total") == 5
    # Logged, at most a line a second per kind of refusal, without the signature or token.
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused == ["refused POST '/twilio/voice' from <local>: no signature (403)",
                       "refused https '/twilio/voice' from <local>: invalid X-Twilio-Signature"]
    assert not any(TOKEN in m or "X-Twilio-Signature:" in m for m in refused)


async def test_the_media_socket_handshake_needs_a_signature_for_its_own_url() -> None:
    app = create_app(CFG, fake_engines(CFG), auth_token=TOKEN)
    client = app.test_client()
    for headers in ({}, signed("wss://agent.example.com/ws/other"),
                    signed("https://agent.example.com/twilio/voice")):
        refused: list[WebsocketResponseError] = []
        try:
            async with client.websocket("/ws/twilio-media", headers=headers) as ws:
                await ws.receive()
        except* WebsocketResponseError as group:  # raised inside quart-trio's nursery
            refused = [e for e in group.exceptions if isinstance(e, WebsocketResponseError)]
        assert [e.response.status_code for e in refused] == [403]
    health = await client.get("/healthz")
    assert json.loads(await health.get_data(as_text=True))["calls_total"] == 0


async def test_behind_a_load_balancer_the_stream_goes_to_this_vm_and_is_signed_for_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = from_dict({"server": {"public_host": "voice.example.com",
                                "stream_host": "vm1.voice.example.com"}})
    app = create_app(cfg, fake_engines(cfg), auth_token=TOKEN)
    client = app.test_client()
    form = voice_form()
    resp = await client.post("/twilio/voice", form=form,
                             headers=signed("https://voice.example.com/twilio/voice", form))
    stream = ET.fromstring(await resp.get_data(as_text=True)).find("./Connect/Stream")
    assert stream is not None
    assert stream.get("url") == "wss://vm1.voice.example.com/ws/twilio-media"
    assert stream.get("statusCallback") == "https://voice.example.com/webhook/stream_status"
    # Twilio signs the media handshake for the URL it opened: this VM's, not the balancer's.
    statuses = {}
    for host in ("voice.example.com", "vm1.voice.example.com"):
        refused: list[WebsocketResponseError] = []
        try:
            async with client.websocket("/ws/twilio-media",
                                        headers=signed(f"wss://{host}/ws/twilio-media")) as ws:
                await ws.receive()  # accepted: closed when no start comes
        except* WebsocketResponseError as group:
            refused = [e for e in group.exceptions if isinstance(e, WebsocketResponseError)]
        except* Exception:  # the close of an accepted socket, however it shows
            pass
        statuses[host] = [e.response.status_code for e in refused]
    assert statuses == {"voice.example.com": [403], "vm1.voice.example.com": []}


async def test_validation_off_only_by_explicit_choice() -> None:
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        create_app(CFG, fake_engines(CFG))  # no token, validation on: refuse to start
    app = create_app(INSECURE, fake_engines(INSECURE))
    resp = await app.test_client().post("/twilio/voice", form=voice_form())
    assert resp.status_code == 200


async def test_over_hypercorn_the_media_socket_refuses_an_unsigned_handshake_and_serves_a_signed_one(
) -> None:
    """The media socket bypasses quart: the same checks through the real server, on loopback."""
    from trio_websocket import ConnectionClosed, ConnectionRejected, open_websocket_url

    from voiced.lab.dial import DialOptions
    from voiced.lab.runner import local_daemon, place_call, signed_options, voice_url_for

    async with local_daemon(CFG, fake_engines(CFG), auth_token=TOKEN) as url:
        opts = await place_call(voice_url_for(url), signed_options(CFG, DialOptions(), TOKEN))
        with pytest.raises(ConnectionRejected) as refused:
            async with open_websocket_url(url):
                pass  # pragma: no cover
        assert refused.value.status_code == 403
        headers = [(b"X-Twilio-Signature",
                    signed("wss://agent.example.com/ws/twilio-media")["X-Twilio-Signature"].encode())]
        with trio.fail_after(10):
            async with open_websocket_url(url, extra_headers=headers) as ws:
                await ws.send_message(inbound(STREAM_SID, Connected()))
                await ws.send_message(inbound(STREAM_SID, Start(
                    STREAM_SID, opts.call_sid, opts.account_sid, custom_parameters=opts.parameters)))
                first = parse_outbound(await ws.get_message())  # the greeting's audio
                await ws.send_message(inbound(STREAM_SID, Stop()))
                with pytest.raises(ConnectionClosed):  # the daemon closes after `stop`
                    while True:
                        await ws.get_message()
        assert isinstance(first[1], Media)
        assert ws.closed is not None and ws.closed.code == 1000


async def test_while_draining_a_new_media_socket_and_the_health_check_are_answered_503() -> None:
    from voiced.admission import Registry

    registry = Registry()
    registry.draining = True
    client = create_app(CFG, fake_engines(CFG), auth_token=TOKEN, registry=registry).test_client()
    refused: list[WebsocketResponseError] = []
    try:
        async with client.websocket("/ws/twilio-media",
                                    headers=signed("wss://agent.example.com/ws/twilio-media")) as ws:
            await ws.receive()
    except* WebsocketResponseError as group:
        refused = [e for e in group.exceptions if isinstance(e, WebsocketResponseError)]
    assert [e.response.status_code for e in refused] == [503]
    assert registry.total == 0
    health = await client.get("/healthz")  # a load balancer takes the VM out of its pool
    assert health.status_code == 503
    assert json.loads(await health.get_data(as_text=True))["status"] == "draining"
