"""Whose turn it is, as a pure state machine: the VAD's events and the transcripts go in,
decisions come out. No I/O, no clock of its own (times come with the events), no task: it is
tested event by event at exact times, the way :class:`voiced.stages.vad.Endpointer` is.

A caller's turn is *pending* from its first sound until its reply is released. Its reply is
*prepared* as soon as a transcript exists (usually at the first pause, gate closed) and
*released* at the endpoint: ``vad.silence_ms`` of silence, or ``turn.min_silence_ms`` when the
words read as a finished sentence and the end-of-turn model (if there is one) hears the turn
as complete, ``turn.unsure_silence_ms`` when it doubts it. If the caller goes on, the prepared
reply is dropped; if the recogniser revises the words before the release, the reply is
prepared again for the new words.
While the agent talks, enough caller speech interrupts it; an acknowledgement ("mm", "כן")
gets no answer of its own. A caller the smart endpoint cut off (they went on after it
answered) is one who pauses mid-thought: with ``patient``, the rest of that turn ends only at
``vad.silence_ms``, as a person who talked over someone once waits longer after.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ..events import (
    DialogueEvent,
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
from ..text import normalize

# Words a sentence does not end on, whatever punctuation the recogniser put after them.
_DANGLING = frozenset({
    "and", "or", "but", "the", "a", "an", "of", "to", "in", "on", "at", "for", "with", "from",
    "by", "as", "that", "than", "because", "so", "if", "when", "which", "who", "whose", "my",
    "your", "our", "their", "his", "her", "its", "is", "are", "was", "were", "be", "been", "ו",
    "או", "אבל", "של", "את", "עם", "על", "אל", "מ", "ב", "ל", "כי", "אם", "כש", "ש", "אשר", "כמו",
    "גם", "רק",
})
_FINAL_PUNCT = re.compile(r"[.?!…׃]['\")\]]*\s*$")


def looks_complete(text: str, min_words: int = 3) -> bool:
    """A transcript that reads as a finished question or sentence: final punctuation, and not
    ending on a word that promises more ("and", "the", "של").

    A statement shorter than ``min_words`` is an *opener*, not a turn: callers start with
    "Hi.", "I'm sorry.", "שלום.", "סליחה." and go on after half a second ("Hi. ... I wanted to
    book"); answered 300 ms into that pause, they are cut off (6 of 6 such utterances were).
    A question is a turn however short ("When?")."""
    stripped = text.rstrip()
    if not _FINAL_PUNCT.search(text) or stripped.endswith("..."):
        return False
    words = normalize(text).split()
    if not words:
        return False
    if stripped.rstrip("'\")]").endswith("?"):
        return True  # "When?" asks, whatever word it ends on
    return words[-1] not in _DANGLING and len(words) >= min_words


class Unheard(StrEnum):
    """Why a transcript gets no answer."""

    NO_WORDS = "no words"
    ACKNOWLEDGEMENT = "acknowledgement"
    ECHO = "the agent's own words"  # heard over the agent: its echo, not the caller


class Interruption(StrEnum):
    BARGE_IN = "barge-in"  # the caller spoke over the agent long enough
    RESUMED = "caller resumed"  # the caller went on after the smart endpoint answered


@dataclass(frozen=True)
class Prepare:
    """Prepare the reply to turn ``n`` (speech segment ``gen``) behind a closed gate."""

    gen: int
    n: int
    transcript: Transcript


@dataclass(frozen=True)
class Drop:
    """The reply prepared for ``gen`` answers words the caller has not finished: drop it."""

    gen: int


@dataclass(frozen=True)
class Release:
    """The caller's turn is over: let the reply prepared for ``gen`` be heard."""

    gen: int
    t_endpoint: float
    t_end: float | None  # end of the caller's speech, per the VAD


@dataclass(frozen=True)
class Judge:
    """Ask the end-of-turn model whether the caller's turn ``gen`` is complete: they paused
    after words that read as finished (its answer comes back as a ``TurnJudged``)."""

    gen: int


@dataclass(frozen=True)
class Interrupt:
    """Stop the agent mid-reply."""

    why: Interruption


@dataclass(frozen=True)
class Unanswered:
    gen: int
    why: Unheard
    text: str


Action = Prepare | Drop | Release | Judge | Interrupt | Unanswered


@dataclass(frozen=True)
class Agent:
    """What the machine must know of the agent when an event comes: whether its released reply
    is still being heard, and whether that reply answers a caller turn (rather than being the
    greeting or a reprompt)."""

    playing: bool = False
    answering: bool = False
    words: frozenset[str] = frozenset()  # of the reply being heard, normalised
    # The agent's last words the caller heard were a question ("Shall I book it?"): a "yes"
    # after it is an answer, not an acknowledgement.
    asked: bool = False


@dataclass
class _Pending:
    """The caller's turn between its first sound and the release of its reply."""

    gen: int
    transcript: Transcript | None = None
    short_pause: bool = False
    t_end: float | None = None
    t_endpoint: float | None = None
    n: int | None = None  # the turn's number, once a reply was prepared for it
    over_agent: frozenset[str] | None = None  # began while the agent spoke: its words
    prepared: bool = False  # a reply to the current words exists
    complete: float | None = None  # the end-of-turn model's judgement of this pause
    judging: bool = False  # it was asked
    long_pause: bool = False  # silence reached turn.unsure_silence_ms
    stirred: bool = False  # the caller's voice may be coming back: no reply starts now


class Turns:
    """The turn-taking rules. ``on(event, agent, now)`` returns what to do, in order."""

    def __init__(self, *, smart_endpoint: bool, bargein: bool, backchannels: Iterable[str],
                 min_complete_words: int = 3, model_complete: float | None = None,
                 model_languages: Iterable[str] = ("en",), patient: bool = False) -> None:
        self._smart = smart_endpoint
        self._patient = patient
        self._min_words = min_complete_words
        self._model_complete = model_complete  # None: no end-of-turn model
        self._model_languages = frozenset(model_languages)  # ... and in others, none
        self._bargein = bargein
        self._backchannels = sorted({normalize(b) for b in backchannels}, key=len, reverse=True)
        self.pending: _Pending | None = None
        self.caller_speaking = False
        self.answered = 0  # caller turns that got a reply prepared
        self._waiting = False  # cut off in this turn: only vad.silence_ms ends it (patient)

    @property
    def awaiting_answer(self) -> bool:
        """The caller is done and we owe them an answer whose words are not in yet."""
        p = self.pending
        return p is not None and p.t_endpoint is not None and p.transcript is None

    def on(self, ev: DialogueEvent, agent: Agent, now: float) -> list[Action]:
        if isinstance(ev, Transcript):
            return self._transcript(ev, now, agent)
        if isinstance(ev, SpeechStarted):
            self.caller_speaking = True
            return self._new_turn(ev.gen, agent)
        if isinstance(ev, SpeechConfirmed):
            return [Interrupt(Interruption.BARGE_IN)] if self._bargein and agent.playing else []
        if isinstance(ev, SpeechResumed):
            # A reply the smart endpoint released has cut the caller off: stop it at once.
            cut_off = self.pending is None and agent.answering and agent.playing and self._bargein
            self._waiting = self._waiting or (cut_off and self._patient)
            return ([Interrupt(Interruption.RESUMED)] if cut_off else []) + \
                self._new_turn(ev.gen, agent)
        if isinstance(ev, SpeechPaused) and (p := self._pending(ev.gen)):
            p.t_end = ev.t_end
            return self._release_if_done(p, ev.t_end)  # not yet: the model may be asked
        elif isinstance(ev, ShortPause | LongPause) and (p := self._pending(ev.gen)):
            p.short_pause, p.t_end = True, ev.t_end
            p.long_pause = p.long_pause or isinstance(ev, LongPause)
            return self._release_if_done(p, ev.t)
        elif isinstance(ev, SpeechStirred | SpeechStilled) and (p := self._pending(ev.gen)):
            p.stirred = isinstance(ev, SpeechStirred)
            return [] if p.stirred else self._release_if_done(p, ev.t)
        elif isinstance(ev, TurnJudged) and (p := self._pending(ev.gen)):
            p.complete = ev.complete
            return self._release_if_done(p, ev.t)
        elif isinstance(ev, SpeechEnded):
            self.caller_speaking = False
            self._waiting = False
            if p := self._pending(ev.gen):
                p.t_end = ev.t_end
                return self._release(p, ev.t_endpoint)
        elif isinstance(ev, SpeechDiscarded):
            self.caller_speaking = False
            return self._drop()
        return []

    def _pending(self, gen: int) -> _Pending | None:
        return self.pending if self.pending is not None and self.pending.gen == gen else None

    def _transcript(self, ev: Transcript, now: float, agent: Agent) -> list[Action]:
        p = self._pending(ev.gen)
        if p is None:
            return []  # the caller went on since, or it was noise
        actions: list[Action] = []
        if p.transcript is not None:
            if p.transcript.text == ev.text:
                return []
            if p.prepared and normalize(p.transcript.text) == normalize(ev.text):
                # The same words, punctuated or cased anew: the prepared reply (its LLM request
                # already paid for) stands; only whether the turn reads finished may change.
                p.transcript = ev
                return self._release_if_done(p, now) if p.t_endpoint is None else []
            # The recogniser revised the words before the reply was heard: prepare it again.
            if p.prepared:
                actions.append(Drop(p.gen))
                p.prepared = False
        p.transcript = ev
        text = ev.text.strip()
        unheard = Unheard.NO_WORDS if not text and not ev.error else \
            Unheard.ACKNOWLEDGEMENT if self._is_backchannel(text) and \
            (agent.playing or not agent.asked) else \
            Unheard.ECHO if p.over_agent is not None and _echoes(text, p.over_agent) else None
        if unheard is not None:
            if p.n is not None and p.n == self.answered:
                self.answered, p.n = self.answered - 1, None  # its number goes to the next turn
            return [*actions, Unanswered(ev.gen, unheard, text)]
        if p.n is None:
            self.answered += 1
            p.n = self.answered
        p.prepared = True
        actions.append(Prepare(ev.gen, p.n, ev))
        if p.t_endpoint is not None:
            actions += self._release(p, p.t_endpoint)
        else:
            actions += self._release_if_done(p, now)
        return actions

    def _release(self, p: _Pending, t_endpoint: float) -> list[Action]:
        p.t_endpoint = t_endpoint
        if not p.prepared:
            return []  # released when its words arrive (if they call for an answer)
        self.pending = None
        return [Release(p.gen, t_endpoint, p.t_end)]

    def on_goodbye(self) -> list[Action]:
        """The agent is about to say goodbye: whatever the caller was saying gets no answer."""
        return self._drop()

    def _new_turn(self, gen: int, agent: Agent) -> list[Action]:
        actions = self._drop()
        self.pending = _Pending(gen, over_agent=agent.words if agent.playing else None)
        return actions

    def _drop(self) -> list[Action]:
        p, self.pending = self.pending, None
        return [Drop(p.gen)] if p is not None and p.prepared else []

    def _release_if_done(self, p: _Pending, now: float) -> list[Action]:
        """The smart endpoint: released before ``vad.silence_ms`` once the caller has paused
        ``turn.min_silence_ms`` after words that read as finished, and the end-of-turn model
        heard the turn as complete; or ``turn.unsure_silence_ms`` after such words whatever it
        heard (or if it said nothing). The model is asked once the caller has paused after
        such words, and only then: elsewhere its answer could change nothing. Words heard in
        a language guessed, before the caller was heard in any, do not end a turn early; nor
        does anything once the smart endpoint has cut the caller off in this turn (``patient``)."""
        if self._waiting:
            return []
        if not (self._smart and p.prepared and p.transcript is not None and p.t_end is not None
                and not p.transcript.language_guessed
                and looks_complete(p.transcript.text, self._min_words)):
            return []
        actions: list[Action] = []
        judged = self._model_complete is not None and \
            p.transcript.language in self._model_languages
        if judged and not p.judging:
            p.judging = True
            actions.append(Judge(p.gen))
        if not p.short_pause:
            return actions
        sure = not judged or p.long_pause or \
            (p.complete is not None and p.complete >= (self._model_complete or 0.0))
        return actions + self._release(p, now) if sure and not p.stirred else actions

    def _is_backchannel(self, text: str) -> bool:
        """Nothing but acknowledgements ("uh-huh, okay", "כן כן")."""
        rest = f" {normalize(text)} "
        if not rest.strip():
            return False
        for phrase in self._backchannels:
            while f" {phrase} " in rest:
                rest = rest.replace(f" {phrase} ", " ")
        return not rest.strip()


def _echoes(text: str, agent_words: frozenset[str]) -> bool:
    """Words heard over the agent that are nearly all the agent's own (80 % or more, two words
    at least): the echo the level guard let through, transcribed. The guard
    (:mod:`voiced.echo`) stops nearly all of it; this is the second line."""
    words = normalize(text).split()
    return len(words) >= 2 and sum(w in agent_words for w in words) >= 0.8 * len(words)
