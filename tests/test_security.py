"""The attacks of issue 12, each as a test: the exact attack, the answer it gets (403, 413,
408, a close, busy) and, where it could hurt others, that a well-behaved call on the same app
keeps its reply timing to the exact virtual millisecond."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing
from quart.testing.connections import WebsocketDisconnectError, WebsocketResponseError
from quart_trio import QuartTrio

from voiced.admission import Refusal, Registry, StreamTokens
from voiced.app import create_app
from voiced.config import Config, from_dict
from voiced.errors import EngineError
from voiced.events import EndReason, UserTurn
from voiced.guard import Guard
from voiced.lab.testing.appcall import tone_turn
from voiced.lab.testing.fakes import FakeBrain, FakeSTT, FakeTTS, fake_engines, tone
from voiced.lab.testing.harness import CallHarness
from voiced.lab.testing.peer import ACCOUNT_SID, CALL_SID, STREAM_SID, voice_form, webhook_start
from voiced.limits import SummaryLog, TokenBucket
from voiced.metrics import Metrics
from voiced.observe import Observer
from voiced.records import CallRecords, read_calls
from voiced.twilio.rest import TwilioRest
from voiced.twilio.signature import sign
from voiced.twilio.wire import Connected, Dtmf, Mark, Media, Start, Stop, inbound

TOKEN = "12345678901234567890123456789012"
CFG = from_dict({"server": {"public_host": "agent.example.com"}})
MEDIA_URL = "wss://agent.example.com/ws/twilio-media"
REPLY_AFTER_S = 0.8  # a tone turn: the reply is released at the 800 ms endpoint


def new_app(cfg: Config = CFG, **kw: Any) -> QuartTrio:
    return create_app(cfg, fake_engines(cfg, FakeSTT(delay=0.1), FakeTTS(delay=0.03)),
                      auth_token=TOKEN, **kw)


def handshake() -> dict[str, str]:
    return {"X-Twilio-Signature": sign(TOKEN, MEDIA_URL)}


async def good_call(app: QuartTrio, call_sid: str = CALL_SID) -> float:
    """A well-behaved call through the app: the webhook, then a turn of speech. Returns how
    long after the end of speech the reply's first audio came."""
    client = app.test_client()
    start = await webhook_start(client, CFG, TOKEN, call_sid=call_sid)
    return (await tone_turn(client, start, handshake())).reply_after_s()


async def alongside(app: QuartTrio, attack: Callable[[], Awaitable[None]]) -> float:
    """The good call's reply time while ``attack`` runs against the same app."""
    result = 0.0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(attack)
        result = await good_call(app, "CA" + "b" * 32)
        nursery.cancel_scope.cancel()
    return result


# -- 1. bounded HTTP ---------------------------------------------------------------------


class Asgi:
    """A bare ASGI peer for the guard: what the app got, what the client was answered."""

    def __init__(self, body_parts: list[bytes], gap_s: float = 0.0) -> None:
        self.parts = body_parts
        self.gap = gap_s
        self.reads = 0
        self.status: int | None = None
        self.app_body: bytes | None = None

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.gap:
            await trio.sleep(self.gap)
        if not self.parts:
            await trio.sleep_forever()
        part = self.parts.pop(0)
        return {"type": "http.request", "body": part, "more_body": bool(self.parts)}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.app_body = (await receive())["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})


def scope(headers: dict[bytes, bytes], path: str = "/twilio/voice") -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "client": ("203.0.113.9", 1),
            "headers": list(headers.items())}


def guard(peer: Asgi) -> Guard:
    return Guard(peer.app, max_body=8192, body_timeout_s=5.0, signed_paths={"/twilio/voice"},
                 signature_header="X-Twilio-Signature")


async def test_an_unsigned_webhook_is_refused_before_its_body_is_read() -> None:
    peer = Asgi([b"a=" + b"x" * 16_000_000])
    await guard(peer)(scope({b"content-length": b"16000002"}), peer.receive, peer.send)
    assert peer.status == 403 and peer.reads == 0 and peer.app_body is None


async def test_a_signed_but_oversized_webhook_is_refused_unread_or_as_it_grows() -> None:
    peer = Asgi([b"x" * 16_000_000])
    headers = {b"x-twilio-signature": b"anything", b"content-length": b"16000000"}
    await guard(peer)(scope(headers), peer.receive, peer.send)
    assert peer.status == 413 and peer.reads == 0
    # No Content-Length (chunked): read until the cap, then refused.
    peer = Asgi([b"x" * 4096] * 4000)
    await guard(peer)(scope({b"x-twilio-signature": b"anything"}), peer.receive, peer.send)
    assert peer.status == 413 and peer.reads == 3 and peer.app_body is None


async def test_a_slow_body_is_answered_408_at_the_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    peer = Asgi([b"a"] * 100, gap_s=1.0)  # a byte a second
    t0 = trio.current_time()
    await guard(peer)(scope({b"x-twilio-signature": b"s", b"content-length": b"100"}),
                      peer.receive, peer.send)
    assert peer.status == 408 and trio.current_time() - t0 == pytest.approx(5.0)


async def test_a_body_within_bounds_reaches_the_app_whole() -> None:
    peer = Asgi([b"From=%2B1&", b"CallSid=CA1"])
    await guard(peer)(scope({b"x-twilio-signature": b"s"}), peer.receive, peer.send)
    assert peer.status == 200 and peer.app_body == b"From=%2B1&CallSid=CA1"


async def test_webhook_floods_do_not_move_a_live_calls_reply(
    autojump_clock: trio.testing.MockClock,
) -> None:
    baseline = await good_call(new_app())
    app = new_app()

    async def flood() -> None:
        client = app.test_client()
        big = {"Body": "x" * 100_000}
        while True:
            assert (await client.post("/twilio/voice", form=big)).status_code == 403
            signed = {"X-Twilio-Signature": "forged"}
            assert (await client.post("/twilio/voice", form=big, headers=signed)).status_code == 413
            await trio.sleep(0.01)

    assert baseline == pytest.approx(REPLY_AFTER_S)
    assert await alongside(app, flood) == pytest.approx(baseline, abs=1e-9)


# -- 2. streams bound to calls -----------------------------------------------------------


async def open_stream(app: QuartTrio, start: Start | None, *, after_s: float = 0.0) -> str:
    """Open the media socket with a valid handshake signature, send ``start`` (or nothing);
    how it ended: 'refused <status>', 'closed' or 'serving'."""
    client = app.test_client()
    outcome = "open"
    try:
        async with client.websocket("/ws/twilio-media", headers=handshake()) as ws:
            await ws.send(inbound(STREAM_SID, Connected()))
            if start is not None:
                await trio.sleep(after_s)
                await ws.send(inbound(STREAM_SID, start))
            with trio.move_on_after(20):
                while True:
                    data = await ws.receive()
                    if '"media"' in str(data):
                        await ws.send(inbound(STREAM_SID, Stop()))
                        outcome = "serving"
                        break
    except* WebsocketDisconnectError:
        outcome = "closed" if outcome == "open" else outcome
    except* WebsocketResponseError as group:
        first = group.exceptions[0]
        assert isinstance(first, WebsocketResponseError)
        outcome = f"refused {first.response.status_code}"
    return outcome


async def test_a_replayed_handshake_without_a_fresh_token_gets_nothing(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    registry = Registry.for_config(CFG, TOKEN)
    app = new_app(registry=registry)
    client = app.test_client()
    good = await webhook_start(client, CFG, TOKEN)
    token = good.custom_parameters["token"]
    other_sid = "CA" + "c" * 32
    cases = {
        "no token": Start(STREAM_SID, CALL_SID, ACCOUNT_SID, custom_parameters={"caller": "+1"}),
        "forged token": Start(STREAM_SID, CALL_SID, ACCOUNT_SID,
                              custom_parameters={"token": token[:-4] + "0000"}),
        "another call's token": Start(STREAM_SID, other_sid, ACCOUNT_SID,
                                      custom_parameters={"token": token}),
        "another account": Start(STREAM_SID, CALL_SID, "AC" + "d" * 32,
                                 custom_parameters={"token": token}),
        "path in the CallSid": Start(STREAM_SID, "CA1/../../IncomingPhoneNumbers/PN123",
                                     ACCOUNT_SID, custom_parameters={"token": token}),
    }
    for name, start in cases.items():
        assert await open_stream(app, start) == "closed", name
    assert await open_stream(app, good) == "serving"
    assert await open_stream(app, good) == "closed"  # the same token again: spent
    assert registry.total == 1 and registry.active == 0
    assert not any(token in r.getMessage() for r in caplog.records)


async def test_forty_streams_on_one_captured_signature_run_only_with_tokens(
    autojump_clock: trio.testing.MockClock,
) -> None:
    registry = Registry.for_config(CFG, TOKEN)
    app = new_app(registry=registry)
    outcomes: list[str] = []

    async def replay(n: int) -> None:
        outcomes.append(await open_stream(app, Start(
            f"MZ{n:032x}", f"CA{n:032x}", ACCOUNT_SID, custom_parameters={"caller": "+1"})))

    async with trio.open_nursery() as nursery:
        for n in range(40):
            nursery.start_soon(replay, n)
    # Each was closed at its start (or, past max_pending_streams, refused at the handshake).
    assert len(outcomes) == 40 and set(outcomes) <= {"closed", "refused 503"}
    assert outcomes.count("closed") >= 8 and registry.total == 0 and registry.pending == 0


async def test_an_expired_token_is_refused_and_a_token_is_good_once() -> None:
    now = [1000.0]
    registry = Registry(tokens=StreamTokens(b"k" * 32, ttl_s=30.0, clock=lambda: now[0]))
    token = registry.issue(CALL_SID, ACCOUNT_SID)
    assert token is not None and registry.outstanding() == 1
    now[0] += 32.0
    assert registry.admit(CALL_SID, ACCOUNT_SID, token) is Refusal.EXPIRED
    assert registry.outstanding() == 0
    token = registry.issue(CALL_SID, ACCOUNT_SID)
    assert token is not None
    assert registry.admit(CALL_SID, ACCOUNT_SID, token) is None
    assert registry.admit(CALL_SID, ACCOUNT_SID, token) is Refusal.REUSED
    registry.release(CALL_SID)
    assert registry.admit(CALL_SID, ACCOUNT_SID, token) is Refusal.REUSED  # spent, not freed
    now[0] += 32.0
    assert registry.admit(CALL_SID, ACCOUNT_SID, token) is Refusal.EXPIRED


async def test_sockets_that_never_start_neither_make_the_line_busy_nor_stay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = from_dict({"server": {"public_host": "agent.example.com", "max_calls": 2,
                                "max_pending_streams": 3}})
    registry = Registry.for_config(cfg, TOKEN)
    app = new_app(cfg, registry=registry)
    outcomes: list[tuple[float, str]] = []

    async def idle_socket() -> None:
        outcome = await open_stream(app, None)
        outcomes.append((trio.current_time(), outcome))

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(idle_socket)
        await trio.sleep(1.0)
        assert registry.pending == 3 and registry.active == 0
        # Meanwhile real callers still get a stream, not busy.
        await webhook_start(app.test_client(), cfg, TOKEN)
    # The two oldest made room for newer ones at once; the three left were closed at
    # call.start_timeout_s.
    assert [o for _, o in outcomes] == ["closed"] * 5
    assert sorted(t for t, _ in outcomes) == pytest.approx([0.0] * 2 + [5.0] * 3)
    assert registry.pending == 0


async def test_the_webhook_promises_no_more_calls_than_fit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = from_dict({"server": {"public_host": "agent.example.com", "max_calls": 2}})
    app = new_app(cfg, registry=Registry.for_config(cfg, TOKEN, clock=trio.current_time))
    client = app.test_client()
    await webhook_start(client, cfg, TOKEN, call_sid="CA" + "1" * 32)
    await webhook_start(client, cfg, TOKEN, call_sid="CA" + "2" * 32)
    form = voice_form("CA" + "3" * 32)
    headers = {"X-Twilio-Signature": sign(TOKEN, "https://agent.example.com/twilio/voice", form)}
    busy = await client.post("/twilio/voice", form=form, headers=headers)
    assert "<Hangup" in await busy.get_data(as_text=True)
    await trio.sleep(31.0)  # the two callers never connected: their tokens lapse
    ok = await client.post("/twilio/voice", form=form, headers=headers)
    assert "<Stream" in await ok.get_data(as_text=True)


# -- 3. marks that never come back --------------------------------------------------------


async def test_a_peer_that_never_echoes_marks_still_gets_the_idle_hangup(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0)))
    h.peer.echo_marks = False
    async with h.running():
        await h.done.wait()
    call = h.call
    assert call is not None and call.end is EndReason.IDLE
    assert call.stats.marks_assumed >= 3  # greeting, reprompt, goodbye
    # The greeting's audio plus mark_slack_s, then idle.hangup_s of silence, then the
    # goodbye, whose end mark is itself taken as played: not call.max_duration_s (1800 s).
    assert h.ended_at is not None
    assert cfg.idle.hangup_s + cfg.call.mark_slack_s < h.ended_at < cfg.idle.hangup_s + 15


# -- 4. SIDs are data, not paths ---------------------------------------------------------


async def test_rest_urls_take_only_sids_of_admitted_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={})

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token")
    live = {CALL_SID}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        rest = TwilioRest(Config().twilio, http, admitted=live.__contains__)
        for account, call in ((ACCOUNT_SID, "CA1/../../../../IncomingPhoneNumbers/PN123"),
                              (ACCOUNT_SID, CALL_SID + "?Status=x"), (ACCOUNT_SID, CALL_SID + "#"),
                              ("AC1/../..", CALL_SID), (ACCOUNT_SID, "CA" + "e" * 32)):
            with pytest.raises(EngineError, match="refusing"):
                await rest.hangup(account, call)
        await rest.hangup(ACCOUNT_SID, CALL_SID)
    (req,) = requests
    assert req.url.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{CALL_SID}.json"


# -- 5. floods ---------------------------------------------------------------------------


async def flood_call(app: QuartTrio, message: str, per_s: float, seconds: float) -> float:
    """Flood from the start; seconds of flooding until the daemon closed the call."""
    client = app.test_client()
    start = await webhook_start(client, CFG, TOKEN, call_sid="CA" + "9" * 32)
    try:
        async with client.websocket("/ws/twilio-media", headers=handshake()) as ws:
            await ws.send(inbound(STREAM_SID, start))
            t0 = trio.current_time()
            closed = trio.Event()

            async def drain() -> None:
                try:
                    while True:
                        await ws.receive()
                except WebsocketDisconnectError:
                    closed.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                for _ in range(int(per_s * seconds)):
                    if closed.is_set():
                        break
                    await ws.send(message)
                    await trio.sleep(1 / per_s)
                await closed.wait()
                nursery.cancel_scope.cancel()
    except WebsocketDisconnectError:
        pass
    return trio.current_time() - t0


@pytest.mark.parametrize(("message", "per_s", "outcome"), [
    (inbound(STREAM_SID, Dtmf("5")), 1000.0, "flood: dtmf flood"),
    (inbound(STREAM_SID, Media(b"\xff" * 160)), 500.0, "flood: media flood"),
    (inbound(STREAM_SID, Mark("1.1")), 1000.0, "flood: mark flood"),
])
async def test_a_flooding_call_is_closed_and_the_other_call_keeps_its_timing(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
    message: str, per_s: float, outcome: str, tmp_path: Path,
) -> None:
    records = CallRecords(tmp_path)
    app = new_app(records=records)
    flooded_for: list[float] = []

    async def attack() -> None:
        flooded_for.append(await flood_call(app, message, per_s, 20.0))

    assert await alongside(app, attack) == pytest.approx(REPLY_AFTER_S, abs=1e-9)
    ends = [v.end for v in read_calls(records.path) if v.call == "CA" + "9" * 32]
    assert ends[0] is not None and ends[0]["ended_by"].startswith(outcome)
    assert flooded_for[0] < 1.0  # closed within the burst allowance, not after 20 s
    assert len(caplog.records) < 60  # a summary a second, not a line a message


async def test_drops_are_logged_once_a_second_not_once_a_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    summary = SummaryLog(logging.getLogger("voiced.test"))
    for i in range(5000):  # 5000 drops over 5 s
        summary.event(i / 1000, "dropped", "dropped a frame")
    summary.flush(5.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) <= 11 and sum(int(m.split()[0]) for m in lines if " more in " in m) + \
        sum(1 for m in lines if " more in " not in m) == 5000


def test_token_bucket_allows_the_rate_and_the_burst_and_no_more() -> None:
    bucket = TokenBucket(rate=50.0, burst=100.0)
    assert all(bucket.take(0.0) for _ in range(100)) and not bucket.take(0.0)
    # Twilio's own pace, 50 a second, forever: always within.
    assert all(bucket.take(1.0 + i / 50) for i in range(1000))


async def test_dtmf_work_is_bounded_by_the_history_cap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = from_dict({"call": {"max_history": 8}})
    brain = FakeBrain(tokens=["Ok."])
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0), brain))
    async with h.running():
        for _ in range(60):
            await h.peer.send(Dtmf("1"))
            await trio.sleep(0.2)  # 5 a second: a person at a keypad
        await h.peer.send(Stop())
    turns: list[UserTurn] = brain.turns
    assert len(turns) >= 50 and max(len(t.history) for t in turns) <= 8


# -- 6. records and logs -----------------------------------------------------------------


def test_records_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        records = CallRecords(tmp_path / "state")
        records.write({"type": "start", "id": "x", "call": CALL_SID})
    finally:
        os.umask(old)
    assert stat.S_IMODE(records.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(records.path.parent.stat().st_mode) == 0o700


def test_a_torn_last_line_costs_only_itself(tmp_path: Path) -> None:
    records = CallRecords(tmp_path)
    records.write({"type": "start", "id": "a", "call": CALL_SID})
    with records.path.open("a") as f:
        f.write('{"type": "turn", "id": "a", "call": "CA')  # the power went mid-line
    again = CallRecords(tmp_path)  # the daemon restarts
    again.write({"type": "start", "id": "b", "call": "CA" + "2" * 32})
    assert [v.call for v in read_calls(records.path)] == [CALL_SID, "CA" + "2" * 32]


async def test_a_reused_callsid_is_a_new_call_and_every_call_has_an_end(
    tmp_path: Path, autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    records = CallRecords(tmp_path)
    observer = Observer(Metrics(), records)
    for _ in range(2):
        h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0)), observer=observer)
        async with h.running():
            await trio.sleep(2.0)
            await h.peer.send(Stop())
    # A third, cancelled from outside as a shutdown past its grace cancels it.
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0)), observer=observer)
    with trio.move_on_after(3.0):
        async with h.running():
            await trio.sleep_forever()
    views = read_calls(records.path)
    assert [v.call for v in views] == [CALL_SID] * 3
    assert all(v.end is not None for v in views)
    assert views[2].end is not None and views[2].end["reason"] == "closed"


async def test_logs_mask_the_caller_and_keep_words_out_unless_asked(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    for transcripts in (False, True):
        caplog.clear()
        cfg = from_dict({"log": {"transcripts": transcripts}})
        stt = FakeSTT(text="my card is 4111 1111")
        h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), FakeBrain(tokens=["Noted."])))
        async with h.running():
            await h.peer.play(tone(800))
            await h.peer.silence(2000)
            await h.peer.send(Dtmf("7"))
            await trio.sleep(1.0)
            await h.peer.send(Stop())
        text = "\n".join(r.getMessage() for r in caplog.records)
        assert "+972500000000" not in text and "caller +97********00" in text
        assert ("4111" in text) is transcripts
        assert ("pressed 7" in text) is transcripts


async def test_over_real_sockets_connections_are_capped_and_slow_headers_dropped() -> None:
    """hypercorn as the daemon runs it, on loopback and the real clock: at
    ``server.max_connections`` a new connection makes the oldest without a complete request
    go, and is itself closed at once only when every connection is busy with a request;
    headers that never finish are dropped at ``server.header_timeout_s``; a 16 MB unsigned
    POST is refused while /healthz stays fast."""
    from voiced.listener import CappedListener
    from voiced.server import serve_app

    cfg = from_dict({"server": {"public_host": "agent.example.com", "max_connections": 4,
                                "header_timeout_s": 1.0, "body_timeout_s": 2.0}})
    listeners: list[CappedListener] = []
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial_serve(serve_app, cfg, shutdown, listeners))
        host, port = binds[0].split("://", 1)[1].rsplit(":", 1)
        idle = [await trio.open_tcp_stream(host, int(port)) for _ in range(3)]
        slow = await trio.open_tcp_stream(host, int(port))
        await slow.send_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\n")  # and no more
        extra = await trio.open_tcp_stream(host, int(port))
        with trio.fail_after(2):
            assert await idle[0].receive_some(100) == b""  # the oldest idle one made room
        assert listeners[0].evicted == 1 and listeners[0].refused == 0
        await extra.send_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        with trio.fail_after(2):
            assert (await extra.receive_some(1000)).startswith(b"HTTP/1.1 200")
        with trio.fail_after(3):
            assert await slow.receive_some(100) == b""  # dropped at the header deadline
        for s in [*idle, extra]:
            await s.aclose()
        # Four requests waiting for their bodies: all busy, so a fifth connection is closed.
        busy = [await trio.open_tcp_stream(host, int(port)) for _ in range(4)]
        for s in busy:
            await s.send_all(b"POST /twilio/voice HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                             b"\r\nX-Twilio-Signature: s\r\n\r\n")
        await trio.sleep(0.2)
        fifth = await trio.open_tcp_stream(host, int(port))
        with trio.fail_after(1):
            assert await fifth.receive_some(100) == b""
        assert listeners[0].refused == 1
        with trio.fail_after(4):  # and the four get 408 at server.body_timeout_s
            answers = [await s.receive_some(100) for s in busy]
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
        for s in [*busy, fifth]:
            await s.aclose()
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as http:
            async with trio.open_nursery() as attack:
                async def big_post() -> None:
                    resp = await http.post("/twilio/voice", content=b"a=" + b"x" * 16_000_000,
                                           headers={"Content-Type":
                                                    "application/x-www-form-urlencoded"})
                    assert resp.status_code == 403
                attack.start_soon(big_post)
                worst = 0.0
                for _ in range(10):
                    t0 = trio.current_time()
                    assert (await http.get("/healthz")).status_code == 200
                    worst = max(worst, trio.current_time() - t0)
                    await trio.sleep(0.02)
            assert worst < 0.1
        shutdown.set()


def partial_serve(serve_app: Any, cfg: Config, shutdown: trio.Event, listeners: list[Any]) -> Any:
    from functools import partial

    return partial(serve_app, cfg, fake_engines(cfg), shutdown, port=0, auth_token=TOKEN,
                   listeners=listeners)
