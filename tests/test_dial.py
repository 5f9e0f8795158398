from __future__ import annotations

import numpy as np

from voiced.dial import Playback, speech_frames
from voiced.testing.fakes import tone


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
