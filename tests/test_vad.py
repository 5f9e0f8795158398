"""Endpointing, frame by frame, at exact times."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

from voiced.config import BargeInConfig, TurnConfig, VadConfig
from voiced.engines.vad import EnergyClassifier
from voiced.events import (
    EarlyPause,
    Frame,
    LongPause,
    ShortPause,
    SpeechConfirmed,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    SpeechStilled,
    SpeechStirred,
    VadEvent,
)
from voiced.lab.testing.fakes import tone
from voiced.nearend import TurnAudio
from voiced.stages.vad import Endpointer, vad

F = 0.02


def run(pattern: str, vad_cfg: VadConfig | None = None) -> list[tuple[int, VadEvent]]:
    """Feed a pattern of '#' (speech) and '.' (silence) frames; events by frame index. The
    early pause at 60 ms (the default is 200, with the pause Whisper waits for) and the smart
    wait at 300 ms (the default is 600, as long as the unsure wait): each on its own frame, so
    the test tells them apart."""
    ep = Endpointer(vad_cfg or VadConfig(), TurnConfig(early_speculate_ms=60, min_silence_ms=300))
    out = []
    for i, c in enumerate(pattern):
        out += [(i, e) for e in ep.push(c == "#", i * F)]
    return out


def test_onset_pause_and_endpoint_times() -> None:
    events = run("." * 10 + "#" * 50 + "." * 45)
    assert events == [
        (12, SpeechStarted(10 * F, 0)),  # after 60 ms of speech, stamped at its first frame
        (24, SpeechConfirmed(24 * F, 0)),  # 300 ms of speech: enough to barge in
        (62, EarlyPause(59 * F, 0)),  # 60 ms: a streaming recognizer's words are ready
        (69, SpeechPaused(59 * F, 0)),  # 10 silent frames = 200 ms: speculate
        (74, ShortPause(59 * F, 74 * F, 0)),  # 300 ms: the endpoint if the words are complete
        (89, LongPause(59 * F, 89 * F, 0)),  # 600 ms: ... and the end-of-turn model doubts it
        (99, SpeechEnded(59 * F, 99 * F, 0, 1000)),  # 40 silent frames = 800 ms
    ]
    t_end, t_endpoint = 59 * F, 99 * F
    assert t_endpoint - t_end == pytest.approx(0.800)


def test_a_pause_shorter_than_the_endpoint_resumes_the_same_turn() -> None:
    events = run("#" * 20 + "." * 15 + "#" * 20 + "." * 40)
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SpeechConfirmed", "EarlyPause", "SpeechPaused", "ShortPause",
                     "SpeechStirred", "SpeechResumed", "EarlyPause", "SpeechPaused", "ShortPause",
                     "LongPause", "SpeechEnded"]
    # The first voiced frame stirs (no reply starts on it), the second resumes the turn.
    assert events[5:7] == [(35, SpeechStirred(35 * F, 0)), (36, SpeechResumed(36 * F, 1))]
    assert events[-1][1] == SpeechEnded(54 * F, 94 * F, 1, 800)


def test_a_click_in_a_pause_neither_resumes_nor_delays_the_endpoint() -> None:
    events = run("#" * 20 + "." * 20 + "#" + "." * 19 + "....")
    kinds = [type(e).__name__ for _, e in events]
    assert kinds == ["SpeechStarted", "SpeechConfirmed", "EarlyPause", "SpeechPaused", "ShortPause",
                     "SpeechStirred", "SpeechStilled", "LongPause", "SpeechEnded"]
    assert events[5:7] == [(40, SpeechStirred(40 * F, 0)), (41, SpeechStilled(41 * F, 0))]
    assert events[-1] == (59, SpeechEnded(19 * F, 59 * F, 0, 420))


def test_a_voiced_frame_stirs_only_a_pause_long_enough_to_be_answered_in() -> None:
    """Before ``turn.speculate_after_ms`` of silence no reply can start: nothing to hold."""
    kinds = [type(e).__name__ for _, e in run("#" * 20 + "." * 5 + "#" + "." * 3 + "#" * 5)]
    assert "SpeechStirred" not in kinds and "SpeechStilled" not in kinds


def test_a_cough_shorter_than_min_speech_is_discarded() -> None:
    events = run("#" * 5 + "." * 40)
    assert events[-1] == (44, SpeechDiscarded(44 * F, 100))


def test_noise_shorter_than_the_onset_is_not_speech() -> None:
    assert run("##." * 30) == []


async def test_vad_stage_forwards_every_frame_then_its_events(
    autojump_clock: trio.testing.MockClock,
) -> None:
    in_tx, in_rx = trio.open_memory_channel[Frame](100)
    out_tx, out_rx = trio.open_memory_channel[Frame | VadEvent](1000)
    speech = tone(20).tobytes()
    silence = bytes(320)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(vad, in_rx, out_tx, EnergyClassifier(), VadConfig(),
                           TurnConfig(min_silence_ms=300), BargeInConfig())
        with in_tx:
            for i in range(100):
                pcm = speech if 5 <= i < 30 else silence
                await in_tx.send(Frame(b"", pcm, i * F, i))  # the VAD reads only the PCM
    items = [x async for x in out_rx]
    frames = [x for x in items if isinstance(x, Frame)]
    events = [x for x in items if not isinstance(x, Frame)]
    assert len(frames) == 100
    assert events == [SpeechStarted(5 * F, 0), SpeechConfirmed(19 * F, 0), EarlyPause(29 * F, 0),
                      SpeechPaused(29 * F, 0), ShortPause(29 * F, 44 * F, 0),
                      LongPause(29 * F, 59 * F, 0), SpeechEnded(29 * F, 69 * F, 0, 500)]
    # each event follows the frame that caused it
    assert items.index(events[0]) == items.index(frames[7]) + 1


async def test_the_vad_stage_keeps_the_turn_for_the_end_of_turn_model(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """From the turn's preroll on (15 frames up to the onset's), bounded at 8 s; each new
    turn starts it afresh. Silent frames carry their index, to be found again."""
    in_tx, in_rx = trio.open_memory_channel[Frame](1000)
    out_tx, out_rx = trio.open_memory_channel[Frame | VadEvent](5000)
    heard = TurnAudio(preroll_ms=300)
    speech = tone(20).tobytes()

    def quiet(i: int) -> bytes:
        return np.full(160, i, "<i2").tobytes()

    snapshots = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(vad, in_rx, out_tx, EnergyClassifier(), VadConfig(),
                           TurnConfig(min_silence_ms=300), BargeInConfig(), None, heard)
        with in_tx:
            for i in range(1000):
                pcm = speech if 20 <= i < 45 or 100 <= i < 600 else quiet(i)
                await in_tx.send(Frame(b"", pcm, i * F, i))
                await trio.sleep(F)
                if i in (60, 999):
                    snapshots[i] = heard.pcm()
    async for _ in out_rx:
        pass
    # The first turn's onset is frame 22 (60 ms of speech from 20): frames 8 to 60.
    assert len(snapshots[60]) == (60 - 8 + 1) * 320
    assert snapshots[60][:320] == quiet(8)
    # Never more than the last 8 s (400 frames): here the end of a 10 s turn and the
    # silence after it.
    assert len(snapshots[999]) == 400 * 320 and snapshots[999][-320:] == quiet(999)


def test_energy_gate_ends_speech_where_the_words_end() -> None:
    from voiced.engines.vad import EnergyGate

    class Always:
        def is_speech(self, pcm: bytes) -> bool:
            return True  # webrtcvad on a breath

    gate = EnergyGate(Always(), floor_db=35.0)
    loud = tone(20, amplitude=10000).tobytes()
    breath = tone(20, amplitude=50).tobytes()  # ~ -56 dB below the words
    assert gate.is_speech(loud)
    assert not gate.is_speech(breath)
    assert gate.is_speech(tone(20, amplitude=1000).tobytes())  # a soft syllable, -20 dB
