"""Whatever bytes reach the media socket, the daemon goes on: hypothesis generates thousands of
message sequences (bad JSON, unknown and out-of-order events, media before ``start``, broken
base64, odd payload sizes, floods) and throws them at the real app over its WebSocket; after
each, no call is left running, and at the end an ordinary call is still answered."""

from __future__ import annotations

import base64
import json
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart.testing.connections import WebsocketDisconnectError
from quart_trio import QuartTrio

from voiced.admission import Registry
from voiced.app import create_app
from voiced.config import from_dict
from voiced.lab.testing.appcall import tone_turn
from voiced.lab.testing.fakes import FakeSTT, FakeTTS, fake_engines
from voiced.lab.testing.peer import ACCOUNT_SID, CALL_SID, STREAM_SID, voice_form, webhook_start

TOKEN_SLOT = "<the stream token>"
CFG = from_dict({"twilio": {"validate_signatures": False}, "call": {"max_bad_messages": 20}})


def new_app() -> tuple[QuartTrio, Registry]:
    """An app for one Trio run (hypothesis runs each example in its own)."""
    registry = Registry()
    app = create_app(CFG, fake_engines(CFG, FakeSTT(delay=0.1), FakeTTS(delay=0.03)),
                     registry=registry)
    return app, registry

EVENTS = ("connected", "start", "media", "mark", "dtmf", "stop", "clear", "", "bogus")
junk_values = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                        st.text(max_size=20), st.lists(st.integers(), max_size=3))
payloads = st.one_of(
    st.binary(min_size=0, max_size=400).map(lambda b: base64.b64encode(b).decode()),  # any size
    st.just(base64.b64encode(b"\xff" * 160).decode()),  # a proper 20 ms frame
    st.text(max_size=40),  # not base64 at all
    junk_values,
)


@st.composite
def event_messages(draw: st.DrawFn) -> str:
    event = draw(st.sampled_from(EVENTS))
    msg: dict[str, Any] = {"event": event, "streamSid": draw(st.sampled_from([STREAM_SID, "", "MZx"]))}
    if draw(st.booleans()):
        msg["sequenceNumber"] = draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))
    if event == "start":
        msg["start"] = draw(st.one_of(junk_values, st.fixed_dictionaries({
            "streamSid": st.sampled_from([STREAM_SID, ""]),
            "callSid": st.sampled_from([CALL_SID, "", "CA"]),
            "accountSid": st.sampled_from([ACCOUNT_SID, "", "AC1"]),
            "tracks": st.one_of(st.just(["inbound"]), junk_values),
            "mediaFormat": st.one_of(st.just({"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                              "channels": 1}), junk_values,
                                     st.just({"encoding": "audio/l16", "sampleRate": 16000})),
            # The stream token the voice webhook gave this run's call, or none, or junk.
            "customParameters": st.one_of(st.just({"caller": "+1", "token": TOKEN_SLOT}),
                                          st.just({"caller": "+1"}), junk_values),
        })))
    elif event == "media":
        msg["media"] = draw(st.one_of(junk_values, st.fixed_dictionaries(
            {"payload": payloads, "track": st.sampled_from(["inbound", "outbound", ""])},
            optional={"chunk": junk_values, "timestamp": junk_values})))
    elif event in ("mark", "dtmf"):
        msg[event] = draw(st.one_of(junk_values, st.fixed_dictionaries(
            {"name": junk_values, "digit": junk_values})))
    return json.dumps(msg)


messages = st.one_of(
    event_messages(),
    st.text(max_size=100),  # not JSON
    # Not text. (Not empty either: quart's test client cannot send an empty binary frame,
    # KeyError inside quart; over hypercorn the daemon gets one and refuses it as not JSON.)
    st.binary(min_size=1, max_size=100),
    st.just("{}"), st.just("[]"), st.just("null"), st.just('{"event": {"nested": 1}}'),
    st.just(json.dumps({"event": "media", "media": {"payload": "A" * 20000}})),  # oversized frame
)


async def run_session(app: QuartTrio, sequence: list[str | bytes]) -> None:
    client = app.test_client()
    token = (await webhook_start(client, CFG)).custom_parameters["token"]
    sequence = [m.replace(TOKEN_SLOT, token) if isinstance(m, str) else m for m in sequence]
    async with client.websocket("/ws/twilio-media") as ws:
        closed = trio.Event()

        async def drain_replies() -> None:
            try:
                while True:
                    await ws.receive()
            except WebsocketDisconnectError:
                closed.set()  # the daemon closed this call: an allowed answer

        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain_replies)
            for message in sequence:
                # (Sending into a call the daemon has closed blocks quart's test client for
                # good, uncancellably; a real socket would just be closed.)
                if closed.is_set():
                    break
                await ws.send(message)
                await trio.sleep(0.02)
            await trio.sleep(30)  # virtual: whatever timers the call had have fired
            nursery.cancel_scope.cancel()


@settings(max_examples=2000, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(messages, max_size=25))
async def test_any_message_sequence_leaves_the_daemon_serving(
    autojump_clock: trio.testing.MockClock, sequence: list[str | bytes],
) -> None:
    app, registry = new_app()
    await run_session(app, sequence)
    assert registry.active == 0 and registry.total <= 1
    # ...and the app still answers: the webhook and health check work after any of it.
    resp = await app.test_client().post("/twilio/voice", form=voice_form(call_sid="CA" + "e" * 32))
    assert resp.status_code == 200


async def test_after_all_that_an_ordinary_call_is_answered(
    autojump_clock: trio.testing.MockClock,
) -> None:
    app, registry = new_app()
    garbage: list[str | bytes] = [b"\x00" * 10, "{}", "null"]
    for sequence in (garbage * 10, ['{"event": "media"}'] * 30):
        await run_session(app, list(sequence))  # hostile calls first, on the same app
    client = app.test_client()
    start = await webhook_start(client, CFG, call_sid="CA" + "f" * 32)
    kinds = (await tone_turn(client, start, silence_after=100)).kinds()
    assert kinds.count("Mark") >= 2 and "Media" in kinds  # the greeting and an answer
    assert registry.active == 0 and registry.total == 1  # sockets that never started are no calls
