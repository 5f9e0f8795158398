"""The end-of-turn model (voiced.engines.turn): what it is fed, and the real model run as the
daemon runs it. Whether it tells a finished turn from a pause is measured on recordings, not
here (`voiced bench pauses`; espeak-ng's voice, all these tests may generate, has no
prosody worth judging)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import trio

from voiced import audio, models
from voiced.engines.turn import SmartTurn, upsample


def test_a_phone_line_s_audio_is_upsampled_without_loss() -> None:
    """A 1 kHz tone at 8 kHz is the same tone at 16 kHz (a whole number of periods: the FFT's
    view of the signal is exact), scaled to [-1, 1]."""
    n = 8000
    tone = (0.5 * 32767 * np.sin(2 * np.pi * 1000 * np.arange(n) / 8000)).astype("<i2")
    wide = upsample(tone.tobytes())
    expected = 0.5 * 32767 / 32768 * np.sin(2 * np.pi * 1000 * np.arange(2 * n) / 16000)
    assert wide.dtype == np.float32 and wide.size == 2 * n
    assert np.max(np.abs(wide - expected)) < 1e-3
    assert upsample(b"").size == 0


@pytest.fixture(scope="module")
def model() -> SmartTurn:
    pytest.importorskip("onnxruntime")
    path = models.smart_turn_path()
    if not path.is_file():
        pytest.skip("the end-of-turn model is not installed (voiced models install)")
    return SmartTurn(path)


def speech(tmp_path: Path, text: str) -> bytes:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    wav = tmp_path / "s.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True)
    return audio.read_wav(wav).tobytes() + bytes(2 * 1600)  # and 200 ms of the pause


@pytest.mark.engines
def test_the_model_says_how_likely_the_turn_is_complete_the_same_each_time(
    model: SmartTurn, tmp_path: Path,
) -> None:
    pcm = speech(tmp_path, "What time do you open on Sunday?")
    p = model.complete(pcm)
    assert 0.0 <= p <= 1.0
    assert model.complete(pcm) == p
    # Only the last 8 s are heard, silence before a shorter turn: 10 s of it change nothing.
    assert len(pcm) < 2 * 8000 * 8
    assert model.complete(bytes(2 * 8000 * 10) + pcm) == pytest.approx(p, abs=1e-6)
    assert 0.0 <= model.complete(b"") <= 1.0  # silence: an answer, not an error


@pytest.mark.engines
async def test_judging_runs_off_the_loop_and_a_cancelled_judgement_leaves_no_thread(
    model: SmartTurn, tmp_path: Path,
) -> None:
    pcm = speech(tmp_path, "I would like to book a haircut for tomorrow.")
    assert await model.judge(pcm) == model.complete(pcm)
    with trio.move_on_after(0.001) as scope:
        await model.judge(pcm)
    assert scope.cancelled_caught
    assert [t for t in threading.enumerate() if t.name == "voiced-turn"] == []


@pytest.mark.engines
def test_a_judgement_costs_one_core_not_two(model: SmartTurn, tmp_path: Path) -> None:
    """The features' matrix product must not leave numpy's BLAS threads spinning on the other
    cores (they did: 117 ms of CPU a judgement for 57 ms of wall time; voiced.threads)."""
    pcm = speech(tmp_path, "Could you tell me when you open tomorrow?")
    model.complete(pcm)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(5):
        model.complete(pcm)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    assert cpu < 1.3 * wall
