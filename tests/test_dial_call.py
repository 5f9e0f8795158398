"""The dial emulator against a real call pipeline (fake engines), on the virtual clock."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import trio
import trio.testing

from voiced.audio import frames, ulaw_encode
from voiced.call import run_call
from voiced.config import Config
from voiced.lab.dial import DialOptions, DialResult, Utterance, dial
from voiced.lab.testing.fakes import FakeBrain, FakeSTT, FakeTTS, fake_engines, tone
from voiced.twilio.socket import memory_socket_pair


def utterance(name: str, *parts: np.ndarray) -> Utterance:
    """Speech parts, 300 ms of silence before and after."""
    pcm = np.concatenate([np.zeros(2400, np.int16), *parts, np.zeros(2400, np.int16)])
    chunks = [ulaw_encode(c) for c in frames(pcm)]
    loud = [i for i, c in enumerate(frames(pcm)) if np.abs(c).max() > 1000]
    return Utterance(name, chunks, loud[-1], loud[0])


async def call(cfg: Config, engines_kw: dict[str, object], utts: list[Utterance],
               opts: DialOptions) -> DialResult:
    server, peer = memory_socket_pair()
    engines = fake_engines(cfg, **engines_kw)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:

        async def serve() -> None:
            await run_call(server, engines, cfg)
            server.close()

        nursery.start_soon(serve)
        result = await dial(peer, utts, opts)
    return result


async def test_dial_measures_reply_latency_at_the_callers_ear(
    autojump_clock: trio.testing.MockClock,
) -> None:
    utts = [utterance("a", tone(1000)), utterance("b", tone(700))]
    result = await call(Config(), {"tts": FakeTTS(delay=0.0)}, utts, DialOptions())
    assert [t.name for t in result.turns] == ["a", "b"]
    # Released at the endpoint (end + 800 ms), played on Twilio's next 20 ms tick.
    assert [t.latency_s for t in result.turns] == [pytest.approx(0.82), pytest.approx(0.82)]
    assert not any(t.cut_off for t in result.turns)
    assert result.protocol_errors == 0 and result.clears == 0


async def test_dial_barges_in_and_times_the_stop(autojump_clock: trio.testing.MockClock) -> None:
    brain = FakeBrain(tokens=["A long answer that goes on and on for several seconds. "] * 4,
                      first_delay=0.0, token_delay=0.0)
    utts = [utterance("q1", tone(800)), utterance("q2", tone(800))]
    opts = DialOptions(barge_in_after_ms=500)
    result = await call(Config(), {"tts": FakeTTS(delay=0.0), "brain": brain}, utts, opts)
    assert result.clears == 1
    # 300 ms of caller speech (the 15th frame), `clear` in that instant, and the buffer is
    # heard empty on the next tick.
    assert result.turns[1].barge_in_stop_s == pytest.approx(0.30)


async def test_dial_detects_a_cut_off(autojump_clock: trio.testing.MockClock) -> None:
    # "Looks complete" transcript + a 700 ms pause mid-utterance: the smart endpoint answers
    # after turn.min_silence_ms (600 ms) of it, while the caller is not done.
    stt = FakeSTT(text="I need an appointment.", delay=0.05)
    utts = [utterance("halves", tone(800), np.zeros(5600, np.int16), tone(800))]
    result = await call(Config(), {"stt": stt, "tts": FakeTTS(delay=0.0)}, utts, DialOptions())
    assert result.turns[0].cut_off


@pytest.mark.parametrize(("patient", "cut_ins"), [(True, 1), (False, 2)])
async def test_a_caller_cut_off_once_is_not_cut_off_again_at_the_next_pause(
    autojump_clock: trio.testing.MockClock, patient: bool, cut_ins: int,
) -> None:
    """Three clauses that each read finished, 700 ms apart: the smart endpoint answers in the
    first pause; the caller goes on, and (patient) the agent then waits for the full silence,
    not answering in the second pause too."""
    stt = FakeSTT(text="I need an appointment.", delay=0.05)
    pause = np.zeros(5600, np.int16)
    utts = [utterance("thirds", tone(800), pause, tone(800), pause, tone(800))]
    cfg = Config()
    cfg = dataclasses.replace(cfg, turn=dataclasses.replace(cfg.turn,
                                                           patient_after_cut_off=patient))
    result = await call(cfg, {"stt": stt, "tts": FakeTTS(delay=0.0)}, utts, DialOptions())
    assert result.turns[0].cut_off
    assert result.turns[0].cut_ins == cut_ins
