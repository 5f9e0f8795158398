"""The daemon in production: engine faults, shutdown drain, busy line, metrics, call records,
systemd notifications. Virtual clock throughout, exact times."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import pytest
import trio
import trio.testing

from voiced import waterfall
from voiced.admission import Registry
from voiced.app import create_app
from voiced.callstate import Call
from voiced.cli import main
from voiced.config import Config, ShutdownConfig, from_dict
from voiced.engines.cache import CachedTTS, fixed_lines
from voiced.errors import EngineError
from voiced.events import EndCall, EndReason, Recognition, UserTurn
from voiced.lab.testing.fakes import FakeBrain, FakeSTT, FakeTTS, fake_engines, tone
from voiced.lab.testing.harness import CallHarness
from voiced.lab.testing.peer import CALL_SID, voice_form
from voiced.metrics import Metrics
from voiced.observe import Observer
from voiced.records import CallRecords, read_calls
from voiced.server import drain
from voiced.systemd import notify, watchdog
from voiced.tools.box import ReplyTools
from voiced.twilio.wire import Stop

BRAIN_SAYS = "We are open nine to six. Anything else?"


async def turn(h: CallHarness, speech_ms: int = 1000, after_ms: int = 3000) -> float:
    """The caller speaks after a second of silence; returns the end of its speech."""
    await h.peer.silence(1000)
    await h.peer.play(tone(speech_ms))
    t_end = trio.current_time()
    await h.peer.silence(after_ms)
    return t_end


class BrokenTTS(FakeTTS):
    """Speaks until ``broken``; then every line it has not cached fails."""

    broken = False

    async def synthesize(self, text: str, language: str, tx: trio.MemorySendChannel[bytes]) -> None:
        if self.broken:
            await trio.sleep(0.01)
            raise EngineError("TTS service unavailable")
        await super().synthesize(text, language, tx)


class RaisingBrain:
    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None:
        await trio.sleep(0.05)
        raise EngineError("LLM returned 503")


class HangingSTT(FakeSTT):
    async def transcribe(self, pcm: bytes, languages: Sequence[str],
                         context: str = "") -> Recognition:
        await trio.sleep_forever()
        raise AssertionError


async def broken_tts_engines(cfg: Config) -> tuple[BrokenTTS, CachedTTS]:
    inner = BrokenTTS(delay=0.0)
    cached = CachedTTS(inner)
    await cached.warm(fixed_lines(cfg))  # at start-up, while the engine works
    inner.broken = True
    return inner, cached


async def test_a_failing_tts_plays_the_cached_trouble_line_at_the_endpoint(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    _, cached = await broken_tts_engines(cfg)
    engines = dataclasses.replace(fake_engines(cfg, FakeSTT(), brain=FakeBrain()), tts=cached)
    h = CallHarness(cfg, engines)
    async with h.running():
        t_end = await turn(h)
        await h.peer.send(Stop())
    call = h.call
    assert call is not None
    # Both sentences of the brain's answer failed; the caller heard the trouble line once, at
    # the endpoint, where the answer would have been.
    assert call.faults.counts == {"tts.error": 2}
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8)
    assert call.conversation.messages()[-1].content == cfg.brain.script.trouble["en"]
    assert call.end is EndReason.COMPLETED


async def test_a_raising_llm_hands_the_turn_to_the_scripted_fallback(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0), RaisingBrain()))
    async with h.running():
        t_end = await turn(h)
        await h.peer.send(Stop())
    assert h.call is not None and h.call.faults.counts == {"llm.error": 1}
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8)
    assert h.call.conversation.messages()[-1].content == cfg.brain.script.fallback["en"]


async def test_a_hanging_stt_gives_the_fallback_line_at_its_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = from_dict({"stt": {"timeout_s": 2.0}})
    h = CallHarness(cfg, fake_engines(cfg, HangingSTT(), FakeTTS(delay=0.0)))
    async with h.running():
        t_end = await turn(h, after_ms=4000)
        await h.peer.send(Stop())
    assert h.call is not None and h.call.faults.counts == {"stt.timeout": 1}
    # The job started at the first pause (200 ms) timed out 2 s later: the caller is asked
    # again at once, the endpoint having passed.
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.2 + 2.0)
    # In the line's language: no words, no language to answer in.
    assert h.call.conversation.messages()[-1].content == cfg.brain.script.fallback["he"]


async def test_repeated_faults_end_the_call_politely(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    _, cached = await broken_tts_engines(cfg)
    engines = dataclasses.replace(fake_engines(cfg, FakeSTT(), brain=FakeBrain()), tts=cached)
    h = CallHarness(cfg, engines)
    async with h.running():
        for _ in range(cfg.call.max_faulty_turns):
            await turn(h)
        await h.done.wait()
    call = h.call
    assert call is not None
    assert call.faults.counts == {"tts.error": 2 * cfg.call.max_faulty_turns}
    script = cfg.brain.script
    assert call.conversation.messages()[-1].content == f"{script.trouble['en']} {script.goodbye['en']}"
    assert call.end is EndReason.ENGINE_FAULTS
    assert h.peer.marks()[-1].endswith(".end")


async def test_sigterm_drain_waits_for_calls_then_says_goodbye(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = dataclasses.replace(Config(), shutdown=ShutdownConfig(grace_s=4.0, goodbye_s=8.0))
    registry = Registry()
    tts = FakeTTS(delay=0.0)

    def started(call: Call) -> None:
        registry.active += 1
        registry.calls.add(call)

    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), tts), on_start=started)
    drained_at = 0.0

    async def shut_down() -> None:
        nonlocal drained_at
        await trio.sleep(3.0)  # SIGTERM, three seconds into the call
        await drain(registry, cfg)
        drained_at = trio.current_time()

    async with trio.open_nursery() as nursery, h.running():
        nursery.start_soon(shut_down)
        await h.done.wait()
        registry.release(CALL_SID)
    assert registry.draining
    call = h.call
    assert call is not None and call.end is EndReason.SHUTDOWN
    # Grace ran out at 3 + 4 s: the goodbye went out then, and the call ended when Twilio had
    # played it (its end mark echoed), well within goodbye_s.
    assert tts.spoken[-1] == cfg.brain.script.goodbye["he"]
    assert h.peer.first_media_after(3.5) == pytest.approx(7.0)
    t_end_mark = dict((name, t) for t, name in h.peer.echoed)[h.peer.marks()[-1]]
    assert drained_at == pytest.approx(t_end_mark) and drained_at < 7.0 + 8.0


async def test_drain_returns_as_soon_as_the_last_call_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    registry = Registry()
    registry.active = 1
    registry.live[CALL_SID] = 0

    async def caller_hangs_up() -> None:
        await trio.sleep(5.0)
        registry.release(CALL_SID)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller_hangs_up)
        await drain(registry, cfg)
        assert trio.current_time() == pytest.approx(5.0)


async def test_over_max_calls_the_caller_hears_the_line_is_busy() -> None:
    cfg = from_dict({"server": {"max_calls": 2}, "twilio": {"validate_signatures": False}})
    registry = Registry.for_config(cfg, None)
    metrics = Metrics()
    app = create_app(cfg, fake_engines(cfg), registry=registry, metrics=metrics)
    client = app.test_client()
    for sid in ("CA" + "1" * 32, "CA" + "2" * 32):  # two calls in progress
        token = registry.issue(sid, "AC" + "0" * 32)
        assert token is not None and registry.admit(sid, "AC" + "0" * 32, token) is None
    resp = await client.post("/twilio/voice", form=voice_form("CA" + "9" * 32))
    root = ET.fromstring(await resp.get_data(as_text=True))
    say = root.find("Say")
    assert say is not None and say.text == cfg.brain.script.busy["he"]
    assert say.get("language") == "he-IL"
    assert root.find("Hangup") is not None and root.find("Connect") is None
    registry.release("CA" + "1" * 32)
    resp = await client.post("/twilio/voice", form=voice_form("CA" + "a" * 32))
    assert ET.fromstring(await resp.get_data(as_text=True)).find("Connect") is not None
    text = (await (await client.get("/metrics")).get_data(as_text=True))
    assert 'voiced_calls_total{outcome="busy"} 1.0' in text


async def test_metrics_and_records_of_a_call(tmp_path: Path,
                                             autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    metrics = Metrics()
    records = CallRecords(tmp_path)
    observer = Observer(metrics, records)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.03), FakeBrain()),
                    observer=observer)
    async with h.running():
        await turn(h)
        # Turn one is on disk before the call ends: a crash now would lose nothing of it.
        mid_call = read_calls(records.path)
        await turn(h)
        await h.peer.send(Stop())
    assert [t["kind"] for t in mid_call[0].turns] == ["agent", "turn"]
    assert mid_call[0].end is None
    with records.path.open("a") as f:
        f.write('{"type": "turn", "call": "CA')  # the turn in flight when the power went
    (view,) = read_calls(records.path)
    assert view.caller == "+972500000000" and view.end is not None
    assert view.end["reason"] == "completed"
    answered = [t for t in view.turns if t["kind"] == "turn"]
    assert len(answered) == 2
    first = answered[0]
    assert first["said"] == "what are your opening hours" and first["reply"] == BRAIN_SAYS
    assert first["heard"] == BRAIN_SAYS and not first["barge_in"]
    assert first["ms"]["endpoint"] == pytest.approx(800.0, abs=1)
    assert first["ms"]["total_server"] == pytest.approx(800.0, abs=1)
    shown = waterfall.text(view)
    assert "caller stopped" in shown and "LLM 1st token" in shown and BRAIN_SAYS in shown
    assert ET.fromstring(waterfall.svg(view)).tag.endswith("svg")
    assert main(["calls", "--records", str(records.path)]) == 0
    assert main(["calls", "last", "--records", str(records.path),
                 "--svg", str(tmp_path / "w.svg")]) == 0
    assert (tmp_path / "w.svg").read_text().startswith("<svg")
    text = metrics.render().decode()
    assert 'voiced_calls_total{outcome="completed"} 1.0' in text
    assert 'voiced_stage_latency_seconds_count{stage="reply_total"} 2.0' in text
    assert 'voiced_stage_latency_seconds_count{stage="vad_endpoint"} 2.0' in text
    assert "voiced_inbound_frame_lag_seconds_count" in text
    assert 'voiced_dropped_frames_total 0.0' in text


async def test_systemd_hears_ready_and_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autojump_clock: trio.testing.MockClock,
) -> None:
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.setenv("WATCHDOG_USEC", "2000000")  # WatchdogSec=2
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify("READY=1", "STATUS=listening")
    with trio.move_on_after(3.5):
        await watchdog()  # pings at 0, 1, 2 and 3 s: every half WatchdogSec
    got = []
    while True:
        try:
            got.append(sock.recv(1024).decode())
        except BlockingIOError:
            break
    sock.close()
    assert got == ["READY=1\nSTATUS=listening"] + ["WATCHDOG=1"] * 4



def test_log_lines_for_journald_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from voiced.logs import setup

    for style in ("journal", "json"):
        setup("INFO", style)
        logging.getLogger("voiced.test").warning("two\nlines")
    setup("INFO", "text")
    journal, as_json = capsys.readouterr().err.strip().splitlines()
    assert journal == "<4>WARNING voiced.test: two | lines"
    event = json.loads(as_json)
    assert event["level"] == "WARNING" and event["message"] == "two\nlines"
