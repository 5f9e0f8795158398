"""The sim recogniser's realistic profile is no kinder than a real streaming recogniser:
interim words trail the audio, the last one is often wrong and revised, the final comes late.
Driven directly (no gRPC, no clock: the fake's times are audio times)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voiced.audio import RATE, ulaw_encode
from voiced.lab.sim.google import ORACLE, REALISTIC, FakeGoogle, Recognition

pytest.importorskip("google.cloud.speech_v1")
from google.cloud import speech_v1 as speech


def _blocks(pcm: np.ndarray) -> str:
    """One word per 100 ms of audio: the words said by the end of ``pcm``."""
    return " ".join(f"w{i}" for i in range(1, pcm.size // 800 + 1))


def _run(recognition: Recognition, speech_s: float = 2.0, after_s: float = 2.0,
         hz: float = 440.0, google: FakeGoogle | None = None) -> list[tuple[float, str, bool]]:
    """Speech (a loud tone) then silence, 20 ms at a time: (audio time, text, final) out."""
    google = google or FakeGoogle(words_for=_blocks, recognition=recognition, keep_log=False)
    t = np.arange(int(speech_s * RATE)) / RATE
    pcm = np.concatenate([(6000 * np.sin(2 * np.pi * hz * t)).astype(np.int16),
                          np.zeros(int(after_s * RATE), np.int16)])
    config = speech.StreamingRecognizeRequest(streaming_config=speech.StreamingRecognitionConfig(
        config=speech.RecognitionConfig(language_code="en-US")))
    requests = [config] + [
        speech.StreamingRecognizeRequest(audio_content=ulaw_encode(pcm[i:i + 160]))
        for i in range(0, pcm.size, 160)]
    out: list[tuple[float, str, bool]] = []
    sent = 0

    def feed() -> Any:
        nonlocal sent
        for r in requests:
            if r.audio_content:
                sent += len(r.audio_content)
            yield r

    for response in google._recognize(feed(), context=None):
        result = response.results[0]
        out.append((sent / RATE, result.alternatives[0].transcript, result.is_final))
    return out


def test_the_oracle_is_on_time_and_never_wrong() -> None:
    results = _run(ORACLE)
    interims = [(t, text) for t, text, final in results if not final]
    assert all(len(text.split()) >= round(t * 10) - 1 for t, text in interims)
    [(t_final, text, _)] = [r for r in results if r[2]]
    assert text == " ".join(f"w{i}" for i in range(1, 21)) and t_final == pytest.approx(2.15, abs=0.03)


def test_the_realistic_recogniser_trails_misses_the_last_word_and_finals_late() -> None:
    results = _run(Recognition(final_delay_s=0.4, interim_lag_s=0.3, wrong_last=1.0))
    interims = [(t, text) for t, text, final in results if not final]
    for t, text in interims:
        words = text.split()
        assert len(words) <= round((t - 0.3) * 10) + 1  # 300 ms behind the audio
        assert words[-1] != f"w{len(words)}"  # the last word heard wrong
    [(t_final, text, _)] = [r for r in results if r[2]]
    assert text == " ".join(f"w{i}" for i in range(1, 21))  # revised in the final
    assert t_final == pytest.approx(2.4, abs=0.03)


def test_the_default_realistic_profile_spreads_its_finals() -> None:
    delays = []
    for seed in range(12):
        profile = Recognition(**{**REALISTIC.__dict__, "seed": seed, "stray_stop": 0.0})
        [(t_final, _, _)] = [r for r in _run(profile, 1.0, 2.5) if r[2]]
        delays.append(t_final - 1.0)
    assert 0.3 <= float(np.median(delays)) <= 0.5 and max(delays) - min(delays) > 0.15


def test_the_realistic_recogniser_catches_up_in_the_pause_before_its_final() -> None:
    """After the speech its interim words go on catching up, never ahead of the lag: whole
    300 ms after the last sound, before the final (400 ms) revises and closes them."""
    results = _run(Recognition(final_delay_s=0.4, interim_lag_s=0.3))
    after = [(t, text) for t, text, final in results if not final and t > 2.0]
    assert after, "no interim words after the speech"
    for t, text in after:
        assert len(text.split()) <= round((2.0 - (0.3 - (t - 2.0))) * 10) + 1
    t_whole, whole = after[-1]
    assert whole == " ".join(f"w{i}" for i in range(1, 21))
    assert t_whole == pytest.approx(2.3, abs=0.03)
    [(t_final, _, _)] = [r for r in results if r[2]]
    assert t_final > t_whole


def test_the_same_speech_is_misheard_the_same_way_whichever_stream_opens_first() -> None:
    """Draws follow the audio, not the order streams opened: forty calls at once hear what
    the same forty hear one at a time (concurrent calls race for the order)."""
    def both(first: float, second: float) -> dict[float, list[tuple[float, str, bool]]]:
        google = FakeGoogle(words_for=_blocks, recognition=REALISTIC, keep_log=False)
        return {hz: _run(REALISTIC, 1.0, 2.5, hz=hz, google=google) for hz in (first, second)}

    assert both(440.0, 520.0) == both(520.0, 440.0)
    finals = {hz: [t for t, _, final in results if final]
              for hz, results in both(440.0, 520.0).items()}
    assert finals[440.0] != finals[520.0]  # different speech, its own draws
