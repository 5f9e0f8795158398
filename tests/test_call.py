"""A whole call on the virtual clock: fake engines, a scripted Twilio peer, exact times."""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from voiced import config
from voiced.config import Config, IdleConfig
from voiced.errors import EngineError
from voiced.events import EndReason
from voiced.lab.testing.fakes import (
    FakeBrain,
    FakeSTT,
    FakeTTS,
    FakeTurnModel,
    fake_engines,
    tone,
)
from voiced.lab.testing.harness import CallHarness, voiced_tasks
from voiced.metrics import Metrics
from voiced.observe import Observer
from voiced.records import CallRecords, read_calls
from voiced.twilio.rest import TwilioRest
from voiced.twilio.wire import Dtmf, Media, Stop

SPEECH = tone(1000)
SHIPPED = config.load(Path(__file__).resolve().parent.parent / "config.toml")


def quick(ms: int = 300) -> Config:
    """A line whose smart endpoint answers finished words after ``ms`` of silence, shorter than
    the default's: the rules for a caller who goes on after such an answer need one to happen."""
    cfg = Config()
    return dataclasses.replace(cfg, turn=dataclasses.replace(cfg.turn, min_silence_ms=ms))


async def speak_and_wait(h: CallHarness, speech_ms: int = 1000, after_ms: int = 2000) -> float:
    """Caller speaks after a second of line silence; returns the end-of-speech time."""
    await h.peer.silence(1000)
    await h.peer.play(tone(speech_ms))
    t_end = trio.current_time()
    await h.peer.silence(after_ms)
    return t_end


async def speak_in_clauses(h: CallHarness, clauses_ms: list[int], pause_ms: int) -> list[float]:
    """After a second of line silence, clauses of caller speech ``pause_ms`` apart, then two
    seconds of silence; returns when each clause ended."""
    await h.peer.silence(1000)
    ends = []
    for i, ms in enumerate(clauses_ms):
        if i:
            await h.peer.silence(pause_ms)
        await h.peer.play(tone(ms))
        ends.append(trio.current_time())
    await h.peer.silence(2000)
    return ends


async def test_greeting_then_reply_830ms_after_end_of_speech(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    stt, tts = FakeSTT(delay=0.1), FakeTTS(delay=0.03)
    h = CallHarness(cfg, fake_engines(cfg, stt, tts))
    async with h.running():
        t_end = await speak_and_wait(h)
        await h.peer.send(Stop())
        await h.done.wait()
    # The greeting is spoken first, as soon as the call starts (TTS takes 30 ms).
    assert h.peer.media_times()[0] == pytest.approx(0.03)
    assert " ".join(tts.spoken[:2]) == cfg.brain.script.greeting["he"]  # two sentences
    # STT ran at the 200 ms pause and the reply (brain and TTS) was prepared behind the gate
    # by 330 ms; it is released at the 800 ms endpoint, exactly.
    assert stt.started == 1 and stt.finished == 1
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.800)
    # Every sentence is followed by a mark: reply 1 is the greeting, 2 the fallback line
    # (the default config has no intents), each two sentences long.
    assert h.peer.marks() == ["1.1", "1.2", "2.1", "2.2"]
    assert h.call is not None and h.call.stats.bad_messages == 0


async def test_slow_stt_is_hidden_up_to_the_endpoint(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    stt = FakeSTT(delay=1.0)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.03)))
    async with h.running():
        t_end = await speak_and_wait(h, after_ms=3000)
        await h.peer.send(Stop())
    # Started at the pause (end + 200 ms) rather than at the endpoint (end + 800 ms):
    # 600 ms of the 1 s transcription were hidden.
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.200 + 1.0 + 0.030)


async def test_speculation_is_cancelled_when_the_caller_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In a language not in ``stt.transcribe_in_parts`` (the line's Hebrew, by default): the
    pass the caller talked over is thrown away."""
    cfg = Config()
    stt = FakeSTT(delay=0.5)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))
    async with h.running():
        await h.peer.silence(1000)
        await h.peer.play(tone(600))
        await h.peer.silence(300)  # a mid-sentence pause: speculation starts at 200 ms
        await h.peer.play(tone(600))
        t_end = trio.current_time()
        await h.peer.silence(2000)
        await h.peer.send(Stop())
    assert stt.started == 2 and stt.cancelled == 1 and stt.finished == 1
    # No reply audio between the pause and the real end of the turn.
    assert [t for t in h.peer.media_times() if 1.0 < t < t_end + 0.8] == []
    # The final transcription heard both halves (pre-roll + 600 + 300 + 600 ms + 200 ms tail).
    # (300 ms pre-roll that ends with the 60 ms onset, the rest of the first 600 ms, the
    # pause, the second 600 ms, and the 200 ms of silence before the last speculation.)
    assert stt.audio_seconds[-1] == pytest.approx(0.3 + 0.54 + 0.3 + 0.6 + 0.2)


async def test_a_pass_the_caller_talked_over_is_kept_and_only_the_rest_is_transcribed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In parts: the pass started at the mid-sentence pause finishes although the caller went
    on; at the last pause only what followed is decoded, with the first part's words as
    context."""
    cfg = Config()
    cfg = dataclasses.replace(cfg, stt=dataclasses.replace(cfg.stt, transcribe_in_parts=(cfg.call.language,)))
    stt = FakeSTT(delay=0.5, text="I would like a table.")
    brain = FakeBrain(first_delay=0.0)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), brain))
    async with h.running():
        await h.peer.silence(1000)
        await h.peer.play(tone(1600))  # a first part long enough to stand alone (1.5 s)
        await h.peer.silence(300)
        await h.peer.play(tone(600))
        t_end = trio.current_time()
        await h.peer.silence(2000)
        await h.peer.send(Stop())
    assert stt.started == 2 and stt.cancelled == 0 and stt.finished == 2
    # The first pass: pre-roll, the first 1600 ms and 200 ms of the pause; the second: the
    # pause's last 100 ms, the second 600 ms and 200 ms of silence.
    assert stt.audio_seconds == [pytest.approx(0.3 + 1.54 + 0.2), pytest.approx(0.1 + 0.6 + 0.2)]
    assert stt.contexts == ["", "I would like a table."]
    # The turn's words are both parts, the first one's full stop gone.
    assert brain.turns[-1].text == "I would like a table I would like a table."
    # They read finished, so the reply goes at once: the 200 ms pause, the 500 ms decode of
    # the tail, 10 ms for the brain's first sentence; without parts, at the 800 ms endpoint.
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.2 + 0.5 + 0.01)


async def test_parts_follow_the_language_the_caller_is_expected_in(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """``stt.transcribe_in_parts = ["en"]`` on a Hebrew line: the first turn, expected in
    Hebrew, is transcribed whole (its talked-over pass cancelled); once the caller is heard
    in English, their next turn is transcribed in parts."""
    cfg = Config()
    cfg = dataclasses.replace(cfg, stt=dataclasses.replace(cfg.stt, transcribe_in_parts=("en",)))
    stt = FakeSTT(delay=0.5, text="I would like a table.", language="en")
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))

    async def paused_turn() -> None:
        await h.peer.silence(1000)
        await h.peer.play(tone(1600))
        await h.peer.silence(300)  # the pass started 200 ms into this pause is talked over
        await h.peer.play(tone(600))
        await h.peer.silence(3000)

    async with h.running():
        await paused_turn()
        assert (stt.started, stt.cancelled) == (2, 1)  # Hebrew expected: whole
        await paused_turn()
        await h.peer.send(Stop())
    assert (stt.started, stt.cancelled) == (4, 1)  # English now: the first part kept
    assert stt.contexts[-1] == "I would like a table."
    assert stt.audio_seconds[-1] == pytest.approx(0.1 + 0.6 + 0.2)  # only the tail


async def test_the_language_the_caller_spoke_is_favoured_from_then_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A Hebrew line: the first turn is asked Hebrew first; once the caller is heard in
    English, English comes first, so a short "yes" is not forced into Hebrew."""
    cfg = Config()
    stt = FakeSTT(delay=0.1, language="en")
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))
    async with h.running():
        await speak_and_wait(h)
        await speak_and_wait(h)
        await h.peer.send(Stop())
    assert stt.asked == [("he", "en"), ("en", "he")]


async def test_hangup_mid_reply_ends_the_call_at_once_leaving_no_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=[f"Sentence number {i}. " for i in range(50)], token_delay=0.5)
    tts = FakeTTS(delay=0.05)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(delay=0.1), tts, brain))
    async with h.running():
        t_end = await speak_and_wait(h, after_ms=1500)
        assert h.peer.first_media_after(t_end) is not None  # the reply is playing
        assert "voiced.stages.tts.tts" in voiced_tasks()
        t_stop = trio.current_time()
        await h.peer.send(Stop())
        await h.done.wait()
    assert h.ended_at is not None and h.ended_at - t_stop <= 0.100
    assert h.ended_at == pytest.approx(t_stop)
    assert h.call is not None and h.call.end is EndReason.COMPLETED
    assert voiced_tasks() == []
    assert tts.active == 0


async def test_dropped_socket_mid_reply_ends_the_call(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=[f"Part {i}. " for i in range(50)], token_delay=0.5)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(), brain))
    async with h.running():
        await speak_and_wait(h, after_ms=1500)
        t_drop = trio.current_time()
        h.peer.sock.close()
        await h.done.wait()
    assert h.ended_at == pytest.approx(t_drop)
    assert h.call is not None and h.call.end is EndReason.DROPPED
    assert voiced_tasks() == []


async def test_malformed_messages_are_skipped_and_the_call_goes_on(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(delay=0.1), FakeTTS(delay=0.03)))
    async with h.running():
        await h.peer.send_raw("this is not json")
        await h.peer.send_raw('{"event": "bogus", "streamSid": "MZ1"}')
        await h.peer.send_raw('{"event": "media", "media": {"payload": "@@not base64@@"}}')
        await h.peer.send_raw("[1, 2, 3]")
        t_end = await speak_and_wait(h)
        await h.peer.send(Stop())
    assert h.call is not None and h.call.stats.bad_messages == 4
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.800)


async def test_a_flood_of_bad_messages_closes_only_that_call(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = dataclasses.replace(Config(), call=dataclasses.replace(Config().call, max_bad_messages=3))
    engines = fake_engines(cfg)
    bad, good = CallHarness(cfg, engines), CallHarness(cfg, engines)
    async with bad.running(), good.running():
        for _ in range(4):
            await bad.peer.send_raw("garbage")
        await bad.done.wait()
        t_end = await speak_and_wait(good)
        await good.peer.send(Stop())
    assert bad.call is not None and bad.call.end is EndReason.PROTOCOL_ERROR
    assert bad.peer.closed
    assert good.peer.first_media_after(t_end) == pytest.approx(t_end + 0.800)


async def test_no_start_message_closes_the_socket(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    h = CallHarness(cfg, fake_engines(cfg))
    async with h.running(start=False):
        await h.peer.send(Media(b"\xff" * 160))  # media before start: skipped
        await h.done.wait()
    assert h.call is None
    assert h.ended_at == pytest.approx(cfg.call.start_timeout_s)


async def test_agent_ends_the_call_after_its_goodbye_is_played(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=["Goodbye."], end_call=True)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0), brain))
    async with h.running():
        t_end = await speak_and_wait(h, after_ms=3000)
        await h.done.wait()
    assert h.peer.marks() == ["1.1", "1.2", "2.1", "2.end"]
    # "Goodbye." (8 characters: 8 frames of fake speech) was prepared during the pause and
    # reaches Twilio at the endpoint; Twilio plays it on its next 8 ticks. The call ends when
    # the mark after it is echoed, not when it was sent.
    t_sent = h.peer.first_media_after(t_end)
    assert t_sent is not None and t_sent == pytest.approx(t_end + 0.8)
    t_echo = dict((name, t) for t, name in h.peer.echoed)["2.end"]
    assert t_echo == pytest.approx(t_sent + 8 * 0.02)
    assert h.ended_at == pytest.approx(t_echo)
    assert h.call is not None and h.call.end is EndReason.AGENT_HANGUP
    assert h.peer.closed


async def test_dtmf_reaches_the_brain(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    brain = FakeBrain()
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(), brain))
    async with h.running():
        await h.peer.silence(200)
        await h.peer.send(Dtmf("0"))
        await h.peer.silence(200)
        await h.peer.send(Stop())
    assert [t.dtmf for t in brain.turns] == ["0"]


LONG = [f"{n} sentence of a rather long answer to the question. " for n in ("First", "Second", "Third")]


async def test_barge_in_clears_within_a_frame_and_history_keeps_what_was_heard(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=LONG, token_delay=0.0, first_delay=0.0)  # ~1.1 s of speech each
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0), brain))
    async with h.running():
        t_end = await speak_and_wait(h, after_ms=2100)
        # The reply started at t_end + 0.8; its first sentence (1.12 s) has been played and
        # the caller talks over the second one.
        t_onset = trio.current_time() + 0.02
        await h.peer.play(tone(600))
        await h.peer.silence(1500)
        await h.peer.send(Stop())
    # 300 ms of speech is 15 frames: the last arrives at onset + 280 ms, and `clear` leaves
    # in that same instant.
    assert h.peer.clears() == [pytest.approx(t_onset + 0.28)]
    assert h.call is not None and h.call.barge_ins == 1
    # The reply's audio stops at Twilio with the clear: nothing of it is played after, and
    # the marks of what was never played come back at once, flushed by the clear.
    t_clear = t_onset + 0.28
    next_reply = h.peer.first_media_after(t_clear + 0.001)
    assert next_reply is not None
    assert [t for t in h.peer.heard if t_clear < t < next_reply] == []
    flushed = [(t, n) for t, n in h.peer.echoed if n in ("2.2", "2.3")]
    assert [n for _, n in flushed] == ["2.2", "2.3"]
    assert [t for t, _ in flushed] == pytest.approx([t_clear, t_clear])
    second = brain.turns[1]
    assert [m.content for m in second.history if m.role == "assistant"] == [
        cfg.brain.script.greeting["he"], LONG[0].strip(),
    ]
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8)


async def test_a_150ms_mm_does_not_interrupt_the_agent(autojump_clock: trio.testing.MockClock) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=LONG, token_delay=0.0, first_delay=0.0)
    stt = FakeSTT()
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), brain))
    async with h.running():
        await speak_and_wait(h, after_ms=1500)
        await h.peer.play(tone(150))
        await h.peer.silence(2500)
        await h.peer.send(Stop())
    assert h.peer.clears() == []
    assert stt.started == 1  # too short to be a turn: not even transcribed
    assert h.call is not None and h.call.barge_ins == 0
    assert [name for _, name in h.peer.echoed if name.startswith("2.")] == ["2.1", "2.2", "2.3"]


async def test_a_spoken_backchannel_gets_no_answer(autojump_clock: trio.testing.MockClock) -> None:
    """After a statement, "uh-huh, okay" is the caller listening (after a question it would
    be an answer: tests/test_turns.py)."""
    cfg = Config()
    brain = FakeBrain(tokens=("We are open ", "nine to six."))
    stt = FakeSTT()
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), brain))
    async with h.running():
        await speak_and_wait(h, after_ms=3000)
        stt.text = "Uh-huh, okay."
        await h.peer.play(tone(250))
        await h.peer.silence(2000)
        await h.peer.send(Stop())
    assert len(brain.turns) == 1


async def test_a_prepared_reply_is_dropped_when_the_caller_goes_on(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    cfg = Config()
    brain = FakeBrain(first_delay=0.01)
    tts = FakeTTS(delay=0.01)
    records = CallRecords(tmp_path)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(delay=0.05), tts, brain),
                    observer=Observer(Metrics(), records))
    async with h.running():
        await h.peer.silence(1000)
        await h.peer.play(tone(600))
        await h.peer.silence(500)  # transcript at 250 ms, reply ready behind the gate by 270 ms
        await h.peer.play(tone(600))
        t_end = trio.current_time()
        await h.peer.silence(2000)
        await h.peer.send(Stop())
    assert len(brain.turns) == 2  # the speculative reply was prepared, then cancelled
    assert "We are open nine to six." in tts.spoken  # it even had its audio
    # What the speculation cost, in the turn's call record: two brain requests, the dropped
    # one had streamed all three of its fragments (a billed LLM's tokens).
    [view] = read_calls(records.path)
    [answered] = [t for t in view.turns if t["kind"] == "turn"]
    assert answered["brain"] == {"requests": 2, "wasted_requests": 1, "wasted_fragments": 3}
    greeting_end = max(t for t in h.peer.media_times() if t < 1.0)
    assert [t for t in h.peer.media_times() if greeting_end < t < t_end + 0.8] == []
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8)


async def test_a_caller_the_smart_endpoint_cut_off_is_waited_for_and_the_call_counts_it(
    autojump_clock: trio.testing.MockClock, tmp_path: Path,
) -> None:
    """Finished-looking words, then 500 ms pauses: answered 300 ms into the first, the caller
    goes on (the reply stops at once), and the second pause gets no answer; the turn ends at
    the full 800 ms. The call record and the metric count the one cut-off."""
    cfg = quick(300)
    metrics, records = Metrics(), CallRecords(tmp_path)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(text="I need an appointment.", delay=0.05),
                                      FakeTTS(delay=0.0), FakeBrain(first_delay=0.0)),
                    observer=Observer(metrics, records))
    async with h.running():
        t_first, t_second, t_end = await speak_in_clauses(h, [600, 600, 600], pause_ms=500)
        await h.peer.send(Stop())
    assert h.call is not None and h.call.cut_offs == 1 and h.call.barge_ins == 0
    assert len(h.peer.clears()) == 1
    assert h.peer.first_media_after(t_first) == pytest.approx(t_first + 0.3)
    assert h.peer.first_media_after(t_second) == pytest.approx(t_end + 0.8)
    [view] = read_calls(records.path)
    assert view.end is not None and view.end["cut_offs"] == 1
    assert metrics.registry.get_sample_value("voiced_cut_offs_total") == 1


@pytest.mark.parametrize(("line", "cut_offs"), [(Config(), 0), (quick(300), 1)])
async def test_a_caller_who_breathes_580ms_after_a_finished_clause_is_not_answered_in_it(
    autojump_clock: trio.testing.MockClock, line: Config, cut_offs: int,
) -> None:
    """The corpus's longest breath after a finished clause (LJ001-0009, "Printing then for our
    purpose." and 580 ms before the rest): on the defaults the agent waits for the rest and
    answers 600 ms after it; a 300 ms smart wait answers in the breath and is cut off."""
    h = CallHarness(line, fake_engines(line, FakeSTT(text="I need an appointment.", delay=0.05),
                                       FakeTTS(delay=0.0), FakeBrain(first_delay=0.0)))
    async with h.running():
        t_breath, t_end = await speak_in_clauses(h, [1500, 1000], pause_ms=580)
        await h.peer.send(Stop())
    assert h.call is not None and h.call.cut_offs == cut_offs
    if cut_offs:
        assert h.peer.first_media_after(t_breath) == pytest.approx(t_breath + 0.3)
    else:
        assert h.peer.first_media_after(t_breath) == pytest.approx(t_end + 0.6)
        assert h.peer.clears() == []


@pytest.mark.parametrize(
    ("words", "endpoint"),
    [
        ("What are your opening hours?", 0.600),  # reads as complete: turn.min_silence_ms
        ("I would like to book an appointment for the.", 0.800),  # dangles: the full wait
        ("so I was wondering", 0.800),  # no final punctuation
    ],
)
async def test_smart_endpoint_answers_complete_sentences_sooner(
    autojump_clock: trio.testing.MockClock, words: str, endpoint: float
) -> None:
    cfg = Config()
    assert cfg.turn.min_silence_ms == 600 and cfg.vad.silence_ms == 800
    stt = FakeSTT(text=words, delay=0.05)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))
    async with h.running():
        t_end = await speak_and_wait(h)
        await h.peer.send(Stop())
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + endpoint)


@pytest.mark.parametrize(
    ("voiced_ms", "reply_at"),
    [
        (0, 0.300),  # the smart endpoint
        (20, 0.320),  # a stir at it: the reply waits the frame out, then starts
        (40, 0.620),  # the caller went on: dropped; the next pause's answer, 300 ms into it
    ],
)
async def test_no_reply_starts_while_the_callers_voice_stirs_at_the_endpoint(
    autojump_clock: trio.testing.MockClock, voiced_ms: int, reply_at: float
) -> None:
    """The corpus's cut-offs that remained were replies released in the 20 ms before the
    caller's voice came back: a voiced frame in a pause holds the reply until the next."""
    cfg = quick(300)
    stt = FakeSTT(text="What are your opening hours?", delay=0.05)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))
    async with h.running():
        t_end, _ = await speak_in_clauses(h, [1000, voiced_ms], pause_ms=280)
        await h.peer.send(Stop())
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + reply_at)


async def test_a_short_question_heard_in_a_guessed_language_waits_the_full_silence(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A Hebrew and English line: an English caller's first 0.4 s ("Now, as...") is too short
    for Whisper to tell the language, is heard in Hebrew ("מה?", a question) and was answered
    300 ms into the caller's breath. Until the caller is heard in a language, such a guess
    waits ``vad.silence_ms``; once they are, the same short question gets the smart 300 ms."""
    cfg = quick(300)
    stt = FakeSTT(text="מה?", language="he", delay=0.05, guess_under_s=1.0)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0)))
    async with h.running():
        t_guessed = await speak_and_wait(h, speech_ms=400)
        t_long = await speak_and_wait(h, speech_ms=1500)  # told: the caller's language known
        t_short = await speak_and_wait(h, speech_ms=400)  # a guess again, but an informed one
        await h.peer.send(Stop())
    assert h.peer.first_media_after(t_guessed) == pytest.approx(t_guessed + 0.800)
    assert h.peer.first_media_after(t_long) == pytest.approx(t_long + 0.300)
    assert h.peer.first_media_after(t_short) == pytest.approx(t_short + 0.300)


@pytest.mark.parametrize(
    ("words", "complete", "endpoint", "asked"),
    [
        ("What time do you open tomorrow?", 0.97, 0.300, 1),  # heard complete: the short wait
        ("What time do you open tomorrow?", 0.40, 0.600, 1),  # doubted: turn.unsure_silence_ms
        ("so I was wondering", 0.97, 0.800, 0),  # words that promise more: never asked
    ],
)
async def test_the_end_of_turn_model_decides_how_long_finished_words_wait(
    autojump_clock: trio.testing.MockClock, words: str, complete: float, endpoint: float,
    asked: int,
) -> None:
    """The model tells the smart wait from ``turn.unsure_silence_ms`` (600 ms): a line that
    uses it sets the smart wait shorter than that."""
    cfg = quick(300)
    model = FakeTurnModel(complete, delay=0.03)
    stt = FakeSTT(text=words, delay=0.05)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), turn_model=model))
    async with h.running():
        t_end = await speak_and_wait(h)
        await h.peer.send(Stop())
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + endpoint)
    assert len(model.heard) == asked
    if asked:
        # Asked when the words came (250 ms into the pause): the turn from its 300 ms of
        # preroll on, its 1 s of speech, the pause so far.
        assert model.heard[0] == pytest.approx(16000 * (0.3 + 1.0 + 0.25), abs=16000 * 0.08)


async def test_a_failing_end_of_turn_model_is_logged_once_and_finished_words_wait_600ms(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(FakeTurnModel):
        async def judge(self, pcm: bytes) -> float:
            self.heard.append(len(pcm))
            raise EngineError("end-of-turn model failed: broken")

    cfg = quick(300)
    model = Broken()
    stt = FakeSTT(text="What time do you open tomorrow?", delay=0.05)
    h = CallHarness(cfg, fake_engines(cfg, stt, FakeTTS(delay=0.0), turn_model=model))
    async with h.running():
        t_end = await speak_and_wait(h)
        t_end2 = await speak_and_wait(h)
        await h.peer.send(Stop())
    assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.600)
    assert h.peer.first_media_after(t_end2) == pytest.approx(t_end2 + 0.600)
    assert len(model.heard) == 2
    assert len([r for r in caplog.records if "end-of-turn model failed" in r.message]) == 1


async def test_filler_plays_when_the_brain_is_slow_and_not_otherwise(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = Config()
    for first_delay, filler_expected in ((2.0, True), (0.3, False)):
        tts = FakeTTS(delay=0.0)
        h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), tts, FakeBrain(first_delay=first_delay)))
        async with h.running():
            t_end = await speak_and_wait(h, after_ms=3000)
            await h.peer.send(Stop())
        filler = cfg.brain.script.filler["en"]
        assert (filler in tts.spoken) is filler_expected
        if filler_expected:
            # The brain started at the pause (t_end + 0.3 with STT): the filler comes 700 ms
            # after the endpoint, the answer when the brain has it.
            assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8 + 0.7)
        else:
            assert h.peer.first_media_after(t_end) == pytest.approx(t_end + 0.8)


async def test_idle_reprompt_and_hangup_fire_at_the_configured_times(
    autojump_clock: trio.testing.MockClock,
) -> None:
    cfg = dataclasses.replace(Config(), idle=IdleConfig(reprompt_s=5.0, hangup_s=12.0))
    tts = FakeTTS(delay=0.0)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), tts))
    async with h.running():
        t_end = await speak_and_wait(h, after_ms=20000)
    # The fallback answer ("Sorry, I did not catch that." "Could you say it again?": 51
    # characters, 1.02 s of fake speech) starts at the endpoint; the agent is quiet when Twilio
    # echoes its last mark.
    t_quiet = dict((name, t) for t, name in h.peer.echoed)["2.2"]
    reprompt = cfg.brain.script.reprompt["en"]
    goodbye = cfg.brain.script.goodbye["en"]
    assert tts.spoken[-2:] == [reprompt, goodbye]
    media = h.peer.media_times()
    assert min(t for t in media if t > t_quiet) == pytest.approx(t_quiet + 5.0)
    assert min(t for t in media if t > t_quiet + 5.5) == pytest.approx(t_quiet + 12.0)
    assert h.call is not None and h.call.end is EndReason.IDLE
    assert t_quiet == pytest.approx(t_end + 0.8 + 1.02)


async def test_the_call_ends_at_its_maximum_duration(autojump_clock: trio.testing.MockClock) -> None:
    base = Config()
    cfg = dataclasses.replace(base, call=dataclasses.replace(base.call, max_duration_s=10.0))
    tts = FakeTTS(delay=0.0)
    h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), tts))
    async with h.running():
        await speak_and_wait(h, after_ms=1000)
        await h.peer.play(tone(30_000))  # a caller who will not stop talking
    assert tts.spoken[-1] == cfg.brain.script.goodbye["en"]  # the caller spoke English
    goodbye_at = [t for t in h.peer.media_times() if t >= 10.0]
    assert goodbye_at and goodbye_at[0] == pytest.approx(10.0)
    assert h.call is not None and h.call.end is EndReason.MAX_DURATION


@asynccontextmanager
async def twilio_rest(
    cfg: Config, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[TwilioRest, list[httpx.Request]]]:
    """The REST client over an in-memory transport that records the requests it gets."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={})

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "test-token")
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        yield TwilioRest(cfg.twilio, http), requests


async def test_the_agent_hangs_up_through_the_rest_api(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = Config()
    brain = FakeBrain(tokens=["Bye."], end_call=True)
    async with twilio_rest(cfg, monkeypatch) as (rest, requests):
        h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0), brain), rest=rest)
        async with h.running():
            await speak_and_wait(h, after_ms=3000)
    (req,) = requests
    assert req.url.path.endswith(f"/Calls/{h.peer_call_sid}.json")
    assert req.headers["Authorization"].startswith("Basic ")
    assert req.content == b"Status=completed"


async def test_dtmf_0_transfers_the_call_through_the_rest_api(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = SHIPPED
    async with twilio_rest(cfg, monkeypatch) as (rest, requests):
        h = CallHarness(cfg, fake_engines(cfg, FakeSTT(), FakeTTS(delay=0.0)), rest=rest)
        async with h.running():
            await h.peer.silence(1000)
            await h.peer.send(Dtmf("0"))
            await h.peer.silence(5000)
    (req,) = requests
    form = urllib.parse.parse_qs(req.content.decode())
    assert form["Twiml"] == ["<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>"
                             "<Dial>+972500000000</Dial></Response>"]
    assert h.call is not None and h.call.ended_by == "transferred: to +972500000000 (reply 2)"


def test_vad_config_speculation_must_precede_endpoint() -> None:
    from voiced.config import from_dict
    from voiced.errors import ConfigError

    with pytest.raises(ConfigError, match=r"turn\.speculate_after_ms"):
        from_dict({"vad": {"silence_ms": 300}, "turn": {"speculate_after_ms": 300}})
