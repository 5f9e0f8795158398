"""The turn-taking rules, event by event at exact times (no clock, no tasks): what the
dialogue is told to do when the caller speaks, pauses, goes on, or the words arrive."""

from __future__ import annotations

import dataclasses

from voiced.events import (
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
    Transcript,
    TurnJudged,
)
from voiced.stages.turns import (
    Agent,
    Drop,
    Interrupt,
    Interruption,
    Judge,
    Prepare,
    Release,
    Turns,
    Unanswered,
    Unheard,
    looks_complete,
)

SILENT = Agent()
TALKING = Agent(playing=True, answering=True)
GREETING = Agent(playing=True, answering=False)


def turns(smart: bool = True, bargein: bool = True) -> Turns:
    return Turns(smart_endpoint=smart, bargein=bargein, backchannels=["mm", "okay", "כן"])


def words(text: str, gen: int, t_end: float = 1.0, *, error: str = "") -> Transcript:
    return Transcript(text=text, language="en", gen=gen, t_end=t_end, t_ready=t_end + 0.3,
                      compute_s=0.3, speculative=True, error=error)


def test_the_reply_is_prepared_at_the_pause_and_released_at_the_endpoint() -> None:
    t = turns(smart=False)
    assert t.on(SpeechStarted(0.2, 0), SILENT, 0.2) == []
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == []
    said = words("I would like to book a table", 0)
    assert t.on(said, SILENT, 1.3) == [Prepare(0, 1, said)]
    assert t.on(SpeechEnded(1.0, 1.8, 0, 800), SILENT, 1.8) == [Release(0, 1.8, 1.0)]
    assert t.pending is None and not t.caller_speaking


def test_words_after_the_endpoint_are_released_at_once_with_the_endpoint_time() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    assert t.on(SpeechEnded(1.0, 1.8, 0, 800), SILENT, 1.8) == []
    assert t.awaiting_answer  # the caller is done; the answer is owed
    said = words("what time do you open", 0)
    assert t.on(said, SILENT, 2.1) == [Prepare(0, 1, said), Release(0, 1.8, 1.0)]
    assert not t.awaiting_answer


def test_a_finished_sentence_is_released_at_the_short_pause_an_unfinished_one_is_not() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    said = words("What time do you open?", 0)
    t.on(said, SILENT, 1.1)
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == [Release(0, 1.3, 1.0)]

    t.on(SpeechStarted(5.0, 1), SILENT, 5.0)
    t.on(words("I want to book a table for", 1), SILENT, 5.9)
    assert t.on(ShortPause(5.8, 6.1, 1), SILENT, 6.1) == []
    assert t.on(SpeechEnded(5.8, 6.6, 1, 800), SILENT, 6.6) == [Release(1, 6.6, 5.8)]


def test_words_that_arrive_after_the_short_pause_release_when_they_read_as_finished() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3)
    said = words("Do you deliver?", 0)
    assert t.on(said, SILENT, 1.45) == [Prepare(0, 1, said), Release(0, 1.45, 1.0)]


def judged_turns() -> Turns:
    """With an end-of-turn model that must hear the turn complete at 0.9 or more."""
    return Turns(smart_endpoint=True, bargein=True, backchannels=["mm"], model_complete=0.9)


def test_with_the_model_finished_words_are_released_once_it_hears_the_turn_complete() -> None:
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    said = words("What time do you open?", 0)
    assert t.on(said, SILENT, 1.1) == [Prepare(0, 1, said)]  # still talking: nothing to judge
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == [Judge(0)]  # paused after them: ask
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == []  # not judged yet: it waits
    assert t.on(TurnJudged(0, 0.97, 1.34), SILENT, 1.34) == [Release(0, 1.34, 1.0)]


def test_no_reply_starts_while_the_callers_voice_stirs_in_the_pause() -> None:
    """The model hears the turn complete just as a voiced frame comes in: if a second follows,
    the caller went on and the reply is dropped unheard; if not, it is released then."""
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    said = words("It is of the first importance.", 0)
    t.on(said, SILENT, 1.1)
    t.on(SpeechPaused(1.0, 0), SILENT, 1.2)
    t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3)
    assert t.on(SpeechStirred(1.48, 0), SILENT, 1.48) == []
    assert t.on(TurnJudged(0, 0.98, 1.49), SILENT, 1.49) == []  # complete, but not now
    assert t.on(SpeechResumed(1.50, 1), SILENT, 1.50) == [Drop(0)]

    t.on(SpeechPaused(2.0, 1), SILENT, 2.2)
    said = words("It is of the first importance that the letter be fine.", 1)
    t.on(said, SILENT, 2.25)
    t.on(ShortPause(2.0, 2.3, 1), SILENT, 2.3)
    assert t.on(SpeechStirred(2.32, 1), SILENT, 2.32) == []
    assert t.on(TurnJudged(1, 0.98, 2.33), SILENT, 2.33) == []
    assert t.on(SpeechStilled(2.34, 1), SILENT, 2.34) == [Release(1, 2.34, 2.0)]


def test_finished_words_the_model_doubts_wait_for_the_long_pause() -> None:
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("The form of printed letters should be beautiful.", 0), SILENT, 1.1)
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == [Judge(0)]
    assert t.on(TurnJudged(0, 0.4, 1.25), SILENT, 1.25) == []
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == []
    assert t.on(LongPause(1.0, 1.6, 0), SILENT, 1.6) == [Release(0, 1.6, 1.0)]


def test_a_turn_in_a_language_the_model_was_not_trained_on_goes_by_the_words_alone() -> None:
    t = judged_turns()  # model_languages: English only, the default
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    said = dataclasses.replace(words("מתי אתם פותחים מחר?", 0), language="he")
    t.on(said, SILENT, 1.1)
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == []  # not asked
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == [Release(0, 1.3, 1.0)]


def test_words_heard_in_a_guessed_language_are_not_judged_and_wait_for_the_full_silence() -> None:
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    said = dataclasses.replace(words("What?", 0), language_guessed=True)
    assert t.on(said, SILENT, 1.1) == [Prepare(0, 1, said)]
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == []  # not asked
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == []
    assert t.on(LongPause(1.0, 1.6, 0), SILENT, 1.6) == []
    assert t.on(SpeechEnded(1.0, 1.8, 0, 800), SILENT, 1.8) == [Release(0, 1.8, 1.0)]


def test_words_that_promise_more_are_not_judged_and_wait_for_the_full_silence() -> None:
    """The model is asked only where its answer can change something: never after words
    that read unfinished (they wait vad.silence_ms whatever it would say)."""
    t = judged_turns()
    t.on(SpeechStarted(5.0, 1), SILENT, 5.0)
    t.on(words("I want to book a table for", 1), SILENT, 5.9)
    assert t.on(SpeechPaused(5.8, 1), SILENT, 6.0) == []
    assert t.on(ShortPause(5.8, 6.1, 1), SILENT, 6.1) == []
    assert t.on(LongPause(5.8, 6.4, 1), SILENT, 6.4) == []
    assert t.on(SpeechEnded(5.8, 6.6, 1, 800), SILENT, 6.6) == [Release(1, 6.6, 5.8)]


def test_with_no_judgement_the_long_pause_releases_finished_words() -> None:
    """The model failed or was too slow: finished words wait turn.unsure_silence_ms."""
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("Do you deliver?", 0), SILENT, 1.1)
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == [Judge(0)]
    assert t.on(LongPause(1.0, 1.6, 0), SILENT, 1.6) == [Release(0, 1.6, 1.0)]


def test_a_judgement_of_a_pause_the_caller_went_on_from_counts_for_nothing() -> None:
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("I'd like a haircut.", 0), SILENT, 1.1)
    assert t.on(SpeechPaused(1.0, 0), SILENT, 1.2) == [Judge(0)]
    assert t.on(SpeechResumed(1.35, 1), SILENT, 1.35) == [Drop(0)]
    assert t.on(TurnJudged(0, 0.99, 1.4), SILENT, 1.4) == []  # stale
    said = words("I'd like a haircut. I meant Tuesday at noon.", 1, 3.0)
    assert t.on(said, SILENT, 3.1) == [Prepare(1, 2, said)]
    assert t.on(ShortPause(3.0, 3.3, 1), SILENT, 3.3) == [Judge(1)]  # asked again, anew
    assert t.on(TurnJudged(1, 0.95, 3.35), SILENT, 3.35) == [Release(1, 3.35, 3.0)]


def test_words_that_arrive_after_the_short_pause_are_judged_then_released() -> None:
    t = judged_turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3)
    said = words("Do you deliver?", 0)
    assert t.on(said, SILENT, 1.45) == [Prepare(0, 1, said), Judge(0)]
    assert t.on(TurnJudged(0, 0.96, 1.5), SILENT, 1.5) == [Release(0, 1.5, 1.0)]


def test_the_smart_endpoint_off_waits_for_the_full_silence() -> None:
    t = turns(smart=False)
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("What time do you open?", 0), SILENT, 1.1)
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == []


def test_a_caller_who_goes_on_drops_the_prepared_reply_and_the_next_words_are_a_new_turn() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("Hi.", 0), SILENT, 0.9)
    assert t.on(SpeechResumed(1.4, 1), SILENT, 1.4) == [Drop(0)]
    assert t.on(words("Hi.", 0), SILENT, 1.5) == []  # stale: the caller went on since
    said = words("Hi. I wanted to book", 1, 2.5)
    assert t.on(said, SILENT, 2.7) == [Prepare(1, 2, said)]


def test_revised_words_prepare_the_reply_again_under_the_same_turn_number() -> None:
    t = turns(smart=False)
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    first, revised = words("book a table for two", 0), words("book a table for ten", 0)
    assert t.on(first, SILENT, 1.1) == [Prepare(0, 1, first)]
    assert t.on(first, SILENT, 1.2) == []  # the same words again change nothing
    assert t.on(revised, SILENT, 1.3) == [Drop(0), Prepare(0, 1, revised)]
    assert t.on(SpeechEnded(1.0, 1.8, 0, 800), SILENT, 1.8) == [Release(0, 1.8, 1.0)]


def test_the_same_words_punctuated_anew_keep_the_prepared_reply() -> None:
    """Whisper's final pass often differs from the speculative one only in punctuation: the
    reply prepared for the words stands (no second LLM request), and a full stop that now
    ends the turn releases it at once."""
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    first = words("I would like a table for two", 0)
    assert t.on(first, SILENT, 1.1) == [Prepare(0, 1, first)]
    assert t.on(ShortPause(1.0, 1.3, 0), SILENT, 1.3) == []  # not punctuated: not finished
    again = words("I would like a table for two.", 0)
    assert t.on(again, SILENT, 1.4) == [Release(0, 1.4, 1.0)]


def test_an_acknowledgement_or_no_words_get_no_answer_and_keep_the_turn_number_free() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    assert t.on(words("okay mm", 0), SILENT, 0.8) == [Unanswered(0, Unheard.ACKNOWLEDGEMENT, "okay mm")]
    assert t.on(SpeechEnded(0.6, 1.4, 0, 400), SILENT, 1.4) == []
    t.on(SpeechStarted(3.0, 1), SILENT, 3.0)
    assert t.on(words("  ", 1), SILENT, 3.6) == [Unanswered(1, Unheard.NO_WORDS, "")]
    t.on(SpeechStarted(5.0, 2), SILENT, 5.0)
    said = words("okay, when do you close", 2)
    assert t.on(said, SILENT, 5.9) == [Prepare(2, 1, said)]


def test_no_words_but_a_recogniser_error_is_answered_by_asking_again() -> None:
    t = turns(smart=False)
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    failed = words("", 0, error="STT gave no result within 3.0s")
    assert t.on(failed, SILENT, 1.1) == [Prepare(0, 1, failed)]


def test_barge_in_needs_confirmed_speech_over_a_playing_agent_and_barge_in_enabled() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), TALKING, 0.2)
    assert t.on(SpeechConfirmed(0.4, 0), TALKING, 0.4) == [Interrupt(Interruption.BARGE_IN)]
    assert t.on(SpeechConfirmed(0.4, 0), GREETING, 0.4) == [Interrupt(Interruption.BARGE_IN)]
    assert t.on(SpeechConfirmed(0.4, 0), SILENT, 0.4) == []
    assert turns(bargein=False).on(SpeechConfirmed(0.4, 0), TALKING, 0.4) == []


def test_a_caller_cut_off_by_the_smart_endpoint_stops_the_answer_when_they_go_on() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("I would like a table.", 0), SILENT, 0.8)
    assert t.on(ShortPause(0.7, 1.0, 0), SILENT, 1.0) == [Release(0, 1.0, 0.7)]
    assert t.on(SpeechResumed(1.5, 1), TALKING, 1.5) == [Interrupt(Interruption.RESUMED)]
    # Resuming while the greeting plays is not being cut off: the greeting goes on.
    t2 = turns()
    t2.on(SpeechStarted(0.2, 0), GREETING, 0.2)
    assert t2.on(SpeechResumed(1.5, 1), GREETING, 1.5) == []


def test_a_caller_once_cut_off_is_answered_only_at_the_full_silence_for_the_rest_of_the_turn(
) -> None:
    """Credit_Rating_0006 pauses 300-800 ms after one finished clause after another: answered
    at the first, and cut off at each pause after it until its 13 s were out."""
    t = Turns(smart_endpoint=True, bargein=True, backchannels=["mm"], patient=True)
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("It says one thing only.", 0), SILENT, 0.8)
    assert t.on(ShortPause(0.7, 1.0, 0), SILENT, 1.0) == [Release(0, 1.0, 0.7)]
    assert t.on(SpeechResumed(1.4, 1), TALKING, 1.4) == [Interrupt(Interruption.RESUMED)]
    # The next clause reads finished too: no answer at the short pause, nor the long one.
    said = words("What is the risk?", 1, 2.0)
    assert t.on(said, SILENT, 2.3) == [Prepare(1, 2, said)]
    assert t.on(ShortPause(2.0, 2.3, 1), SILENT, 2.3) == []
    assert t.on(LongPause(2.0, 2.6, 1), SILENT, 2.6) == []
    assert t.on(SpeechEnded(2.0, 2.8, 1, 800), SILENT, 2.8) == [Release(1, 2.8, 2.0)]
    # The caller's next turn, after that one ended, gets the smart endpoint again: kept for
    # the whole call, the rule slowed the next turns of cut-off English callers by ~0.25 s.
    t.on(SpeechStarted(5.0, 2), SILENT, 5.0)
    said = words("When do you open?", 2, 6.0)
    assert t.on(said, SILENT, 6.2) == [Prepare(2, 3, said)]
    assert t.on(ShortPause(6.0, 6.3, 2), SILENT, 6.3) == [Release(2, 6.3, 6.0)]


def test_without_patience_a_cut_off_caller_is_answered_at_the_next_finished_pause() -> None:
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("It says one thing only.", 0), SILENT, 0.8)
    t.on(ShortPause(0.7, 1.0, 0), SILENT, 1.0)
    t.on(SpeechResumed(1.4, 1), TALKING, 1.4)
    t.on(words("What is the risk?", 1, 2.0), SILENT, 2.3)
    assert t.on(ShortPause(2.0, 2.3, 1), SILENT, 2.3) == [Release(1, 2.3, 2.0)]


def test_a_discarded_sound_ends_the_pending_turn_and_drops_its_reply() -> None:
    t = turns(smart=False)
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(words("uh", 0), SILENT, 0.5)
    assert t.caller_speaking
    assert t.on(SpeechDiscarded(0.9, 120), SILENT, 0.9) == [Drop(0)]
    assert t.pending is None and not t.caller_speaking
    assert t.on_goodbye() == []


def test_looks_complete() -> None:
    assert looks_complete("What time do you open?")
    assert looks_complete("אני רוצה לקבוע תור.")
    assert not looks_complete("I want to book a table for")
    assert not looks_complete("I would like the.")
    assert not looks_complete("Well...")
    assert not looks_complete("רציתי לשאול של.")
    # Openers: short statements callers go on from. Short questions are turns.
    for opener in ("Hi.", "I'm sorry.", "Thank you.", "שלום.", "סליחה.", "כן, אז..."):
        assert not looks_complete(opener), opener
    assert looks_complete("When?") and looks_complete("מתי?") and looks_complete("Open today?")
    assert looks_complete("Hi, I'd like a table.")
    assert looks_complete("I'm sorry.", min_words=2)


def test_an_opener_waits_for_the_full_silence_and_the_caller_goes_on() -> None:
    """ "Hi." then 600 ms of silence then the question: the short pause does not release a
    reply to "Hi."; the caller going on drops it; the question is answered."""
    t = turns()
    t.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    t.on(SpeechPaused(0.6, 0), SILENT, 0.8)
    hi = words("Hi.", 0, t_end=0.6)
    assert t.on(hi, SILENT, 0.85) == [Prepare(0, 1, hi)]
    assert t.on(ShortPause(0.6, 0.9, 0), SILENT, 0.9) == []  # not a whole turn
    assert t.on(SpeechResumed(1.2, 1), SILENT, 1.2) == [Drop(0)]
    t.on(SpeechPaused(2.4, 1), SILENT, 2.6)
    ask = words("Hi. I wanted to book a table for tonight?", 1, t_end=2.4)
    assert t.on(ask, SILENT, 2.7) == [Prepare(1, 2, ask)]
    assert t.on(ShortPause(2.4, 2.7, 1), SILENT, 2.7) == [Release(1, 2.7, 2.4)]


def test_the_agents_own_words_heard_over_it_are_its_echo_not_a_turn() -> None:
    said = frozenset(["we", "are", "open", "nine", "to", "six", "anything", "else"])
    over = Agent(playing=True, answering=True, words=said)
    t = turns()
    t.on(SpeechStarted(0.2, 0), over, 0.2)
    echo = words("we are open nine to six", 0)
    assert t.on(echo, over, 0.9) == [Unanswered(0, Unheard.ECHO, "we are open nine to six")]
    # The same words from a caller who waited for the agent to finish are a question.
    t.on(SpeechStarted(3.0, 1), SILENT, 3.0)
    again = words("we are open nine to six", 1)
    assert t.on(again, SILENT, 3.9) == [Prepare(1, 1, again)]
    # Over the agent, but mostly the caller's own words: a turn.
    t.on(SpeechStarted(5.0, 2), over, 5.0)
    mine = words("are you open on saturday", 2)
    assert t.on(mine, over, 5.9) == [Prepare(2, 2, mine)]


def test_a_yes_after_the_agent_asked_is_an_answer_not_an_acknowledgement() -> None:
    """ "Shall I book it?" then "yes": answered. The same "yes" while the agent talks, or
    after a statement, is an acknowledgement."""
    asked = Agent(asked=True)
    t = turns()
    t.on(SpeechStarted(0.2, 0), asked, 0.2)
    yes = words("Okay.", 0)
    assert t.on(yes, asked, 0.8) == [Prepare(0, 1, yes)]
    t2 = turns()
    t2.on(SpeechStarted(0.2, 0), SILENT, 0.2)
    assert t2.on(words("Okay.", 0), SILENT, 0.8) == [Unanswered(0, Unheard.ACKNOWLEDGEMENT, "Okay.")]
    t3 = turns()
    t3.on(SpeechStarted(0.2, 0), TALKING, 0.2)
    playing_asked = Agent(playing=True, answering=True, asked=True)
    assert t3.on(words("Okay.", 0), playing_asked, 0.8) == \
        [Unanswered(0, Unheard.ACKNOWLEDGEMENT, "Okay.")]
