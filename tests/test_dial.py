from __future__ import annotations

import numpy as np

from voiced.audio import frames, ulaw_decode, ulaw_encode
from voiced.lab.dial import Playback, Utterance, speech_frames
from voiced.lab.sim.oracle import CorpusOracle
from voiced.lab.testing.fakes import tone


def test_playback_plays_in_order_echoes_marks_when_reached() -> None:
    p = Playback()
    p.add_media(b"\x01" * 200)
    p.add_mark("a")
    p.add_media(b"\x02" * 100)
    p.add_mark("b")
    played, reached = p.tick()
    assert played == b"\x01" * 160 and reached == []
    played, reached = p.tick()
    assert played == b"\x01" * 40 + b"\x02" * 100 + b"\xff" * 20
    assert reached == ["a", "b"]
    assert p.tick() == (b"\xff" * 160, [])


def test_clear_flushes_and_returns_pending_marks() -> None:
    p = Playback()
    p.add_media(b"\x01" * 1000)
    p.add_mark("x")
    p.add_mark("y")
    p.tick()
    assert p.clear() == ["x", "y"]
    assert p.buffered == 0 and p.tick() == (b"\xff" * 160, [])


def test_speech_end_ignores_quiet_tail() -> None:
    pcm = np.concatenate([np.zeros(1600, np.int16), tone(1000), np.zeros(4000, np.int16)])
    start, end = speech_frames(pcm)
    assert start * 160 <= 1600 < (start + 1) * 160 + 160
    assert end * 160 < 1600 + 8000 <= (end + 1) * 160 + 160


def test_speech_onset_is_not_a_lone_click_before_the_words() -> None:
    """A click or breath of one frame, 300 ms of quiet, then the words: the words' onset is
    where a barge-in's stop is measured from (Hashlama117_0009 starts so)."""
    click = tone(1000)[:160]
    pcm = np.concatenate([np.zeros(1600, np.int16), click, np.zeros(2400, np.int16),
                          tone(1000), np.zeros(1600, np.int16)])
    start, _ = speech_frames(pcm)
    words_at = (1600 + 160 + 2400) // 160
    assert words_at - 1 <= start <= words_at + 1


def test_sim_oracle_reveals_words_as_spoken_and_punctuates_only_the_end() -> None:
    rng = np.random.default_rng(7)
    speech = [(rng.standard_normal(8000) * 3000).astype(np.int16) for _ in range(2)]
    gap = np.zeros(4000, dtype=np.int16)  # a 500 ms mid-sentence pause
    pcm = np.concatenate([gap, speech[0], gap, speech[1], gap])
    utt = Utterance("u", [ulaw_encode(c) for c in frames(pcm)], end_frame=0)
    oracle = CorpusOracle([(utt, "book a haircut for tomorrow,")])
    heard = ulaw_decode(ulaw_encode(pcm))
    first = heard[4000:12000]  # the first stretch, up to the pause
    second = heard[16000:24000]
    assert oracle(first) == "book a haircut"
    assert oracle(second) == "for tomorrow."
    assert oracle(heard[4000:8000]) == "book a"  # an interim result mid-stretch
    assert oracle((rng.standard_normal(800) * 3000).astype(np.int16)) == ""  # unknown audio


def test_playback_measures_gaps_inside_a_sentence_only() -> None:
    p = Playback()
    p.add_media(b"\x00" * 320)  # two frames
    p.tick(), p.tick()
    for _ in range(3):  # the rest of the sentence is late: 60 ms of silence mid-sentence
        p.tick()
    p.add_media(b"\x00" * 160)
    p.add_mark("1.1")
    p.tick(), p.tick()
    for _ in range(10):  # between replies: not a gap
        p.tick()
    assert p.max_gap_ms == 60
