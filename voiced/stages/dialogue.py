"""dialogue: whose turn it is. Prepares, releases, replaces and cancels the agent's replies.

A reply (brain -> tts for one turn) runs in its own cancel scope, with a gate in front of the
socket. It is *prepared* as soon as a transcript exists, usually at the caller's first pause,
while the gate is closed; it is *released* when the endpoint is confirmed (``vad.silence_ms``
of silence, or ``turn.min_silence_ms`` when the words read as a finished sentence); it is
*cancelled* if the caller goes on. So the reply is never heard before the caller is done,
and the brain and the first sentence's TTS are hidden inside the endpoint wait.

While the agent talks, ``bargein.min_speech_ms`` of caller speech cancels the reply and sends
Twilio ``clear``; the history then keeps only the sentences whose marks came back. Short
acknowledgements never interrupt and get no answer of their own. hypercorn's
``TrioSingleTask`` has the same shape as the reply handle: cancel the old one,
``await nursery.start(...)`` the new one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import trio

from ..callstate import Call
from ..config import Config
from ..conversation import ReplyRecord, parse_mark
from ..engines.base import Brain, Engines
from ..errors import EngineError
from ..events import (
    Audio,
    DialogueEvent,
    EndCall,
    Sentence,
    ShortPause,
    SpeechConfirmed,
    SpeechDiscarded,
    SpeechEnded,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Transcript,
    UserTurn,
)
from ..latency import TurnLog
from ..limits import SummaryLog
from ..text import normalize
from ..twilio_rest import TwilioRest
from ..wire import Clear, Dtmf, Mark
from .brain import brain, fault_kind
from .tts import audio_messages, tts

log = logging.getLogger("voiced.dialogue")

ULAW_BYTES_PER_S = 8000  # 8 kHz, one byte a sample

# Words a sentence does not end on, whatever punctuation Whisper put after them.
_DANGLING = frozenset({
    "and", "or", "but", "the", "a", "an", "of", "to", "in", "on", "at", "for", "with", "from",
    "by", "as", "that", "than", "because", "so", "if", "when", "which", "who", "whose", "my",
    "your", "our", "their", "his", "her", "its", "is", "are", "was", "were", "be", "been", "ו",
    "או", "אבל", "של", "את", "עם", "על", "אל", "מ", "ב", "ל", "כי", "אם", "כש", "ש", "אשר", "כמו",
    "גם", "רק",
})
_FINAL_PUNCT = re.compile(r"[.?!…׃]['\")\]]*\s*$")


def looks_complete(text: str) -> bool:
    """A transcript that reads as a finished question or sentence: final punctuation, and not
    ending on a word that promises more ("and", "the", "של")."""
    if not _FINAL_PUNCT.search(text) or text.rstrip().endswith("..."):
        return False
    words = normalize(text).split()
    return bool(words) and words[-1] not in _DANGLING


class Say:
    """A brain that says one fixed line (the greeting, a reprompt), optionally ending the call."""

    def __init__(self, text: str, end: EndCall | None = None) -> None:
        self._text = text
        self._end = end

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall]) -> None:
        await tx.send(self._text)
        if self._end is not None:
            await tx.send(self._end)


@dataclass
class Reply:
    record: ReplyRecord
    turnlog: TurnLog | None
    gen: int | None  # the caller's speech segment it answers
    user_text: str = ""
    idle: bool = False  # a reprompt or idle goodbye: does not count as activity
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    gate: trio.Event = field(default_factory=trio.Event)
    first_audio: trio.Event = field(default_factory=trio.Event)
    finished: trio.Event = field(default_factory=trio.Event)
    recorded: bool = False

    @property
    def playing(self) -> bool:
        """Still producing audio, or Twilio still has some of it to play."""
        return not self.finished.is_set() or self.record.pending


@dataclass
class _Pending:
    """The caller's turn between its first pause and the release of its reply."""

    gen: int
    transcript: Transcript | None = None
    short_pause: ShortPause | None = None
    t_end: float | None = None  # end of the caller's speech, per the VAD
    t_endpoint: float | None = None
    reply: Reply | None = None


class Dialogue:
    def __init__(
        self,
        nursery: trio.Nursery,
        tx: trio.MemorySendChannel[Audio | Mark | Clear],
        engines: Engines,
        cfg: Config,
        call: Call,
        rest: TwilioRest | None,
    ) -> None:
        self._nursery = nursery
        self._tx = tx
        self._engines = engines
        self._cfg = cfg
        self._call = call
        self._rest = rest
        self._script = cfg.brain.script
        self._count = 0
        self._turns = 0
        self.language = cfg.call.language
        self.current: Reply | None = None  # released: audible or about to be
        self.pending: _Pending | None = None
        self.caller_speaking = False
        # Idle: true while neither side talks; ``quiet_since`` says since when.
        self.quiet = False
        self.quiet_since = 0.0
        self._changed = trio.Event()  # set (and replaced) whenever ``quiet`` changes
        self._idle_scope: trio.CancelScope | None = None
        self._backchannels = sorted({normalize(b) for b in cfg.bargein.backchannels}, key=len, reverse=True)
        self._faults_seen = 0  # call.faults.total when the last turn was recorded
        self._faulty_turns = 0  # consecutive answered turns that met an engine fault
        self._faults_before_reply = 0
        # When the audio sent so far will have finished playing at the caller's end, and the
        # marks Twilio has yet to echo, in the order sent, with when each is due (see
        # :meth:`mark_watchdog`).
        self._play_end = 0.0
        self._awaiting: dict[str, float] = {}
        self._mark_sent = trio.Event()
        self._summary = SummaryLog(log)

    # -- what the caller hears -------------------------------------------------------------

    def private(self, text: str) -> str:
        """Callers' words and keys as the log may show them (``log.transcripts``)."""
        return text if self._cfg.log.transcripts else f"<{len(text.split())} words>"

    async def _send(self, item: Audio | Mark | Clear) -> None:
        """Everything the agent sends passes here, so the playout clock knows when each mark
        should come back."""
        now = trio.current_time()
        if isinstance(item, Audio):
            self._play_end = max(self._play_end, now) + len(item.payload) / ULAW_BYTES_PER_S
        elif isinstance(item, Mark):
            self._awaiting[item.name] = max(self._play_end, now) + self._cfg.call.mark_slack_s
            self._mark_sent.set()
        else:
            self._play_end = now  # `clear`: nothing left to play
        await self._tx.send(item)

    async def mark_watchdog(self) -> None:
        """A mark not echoed ``call.mark_slack_s`` after its audio should have played is taken
        as played: a peer that never echoes marks would otherwise keep the agent "talking",
        with the idle and hang-up timers stopped, until ``call.max_duration_s``."""
        while True:
            while not self._awaiting:
                self._mark_sent = trio.Event()
                await self._mark_sent.wait()
            name, due = next(iter(self._awaiting.items()))
            await trio.sleep_until(due)
            if self._awaiting.pop(name, None) is not None:
                self._call.stats.marks_assumed += 1
                self._summary.event(trio.current_time(), "mark",
                                    f"call {self._call.id}: mark {name} not echoed in time; "
                                    "taken as played")
                await self.on_mark(Mark(name))

    # -- replies -------------------------------------------------------------------------

    async def _run_reply(
        self, reply: Reply, turn: UserTurn, source: Brain, *, task_status: trio.TaskStatus[None]
    ) -> None:
        engines, cfg = self._engines, self._cfg
        with reply.scope:
            task_status.started()
            s_tx, s_rx = trio.open_memory_channel[Sentence | EndCall](4)
            a_tx, a_rx = trio.open_memory_channel[Audio | Mark](64)

            async def gate() -> None:
                with a_rx:
                    await reply.gate.wait()
                    async for item in a_rx:
                        if isinstance(item, Audio):
                            reply.first_audio.set()
                        await self._send(item)

            faults = self._call.faults
            async with trio.open_nursery() as inner:
                inner.start_soon(brain, turn, s_tx, source, engines.fallback, reply.turnlog,
                                 self._call.id, faults)
                inner.start_soon(tts, s_rx, a_tx, engines.tts, reply.record, reply.turnlog, cfg.tts,
                                 cfg.call.send_chunk_ms * 8, self._call.id, faults,
                                 cfg.brain.script.trouble)
                inner.start_soon(gate)
        reply.finished.set()
        if reply.record.sentences and not reply.scope.cancelled_caught:
            log.info("call %s reply %d: %s", self._call.id, reply.record.n,
                     self.private(" ".join(reply.record.sentences)))
            if reply.gen is not None:
                await self._count_faults()
        self._check_quiet()

    async def _count_faults(self) -> None:
        """After an answered turn: too many turns in a row with an engine fault, and the agent
        apologises and hangs up rather than keep failing at the caller."""
        total = self._call.faults.total
        faulty, self._faults_before_reply = total > self._faults_before_reply, total
        self._faulty_turns = self._faulty_turns + 1 if faulty else 0
        if self._faulty_turns >= self._cfg.call.max_faulty_turns:
            self._faulty_turns = 0
            log.warning("call %s: %d turns in a row with engine faults (%s); ending the call",
                        self._call.id, self._cfg.call.max_faulty_turns, self._call.faults.counts)
            script = self._cfg.brain.script
            line = f"{self._line(script.trouble)} {self._line(script.goodbye)}"
            await self.prepare(UserTurn("", self.language), Say(line, EndCall("engine faults")), None)

    def record(self, reply: Reply | None) -> None:
        """The call record of a reply whose fate is known: what the caller said, what the agent
        said, what of it the caller heard (marks echoed), the timings and the faults."""
        if reply is None or reply.recorded or not reply.record.sentences:
            return
        reply.recorded = True
        t = reply.turnlog
        faults = self._call.faults.total - self._faults_seen
        self._faults_seen = self._call.faults.total
        rec = reply.record
        self._call.record_turn({
            "n": rec.n,
            "kind": "turn" if reply.gen is not None else "idle" if reply.idle else "agent",
            "said": reply.user_text,
            "language": t.language if t is not None and t.language else self.language,
            "reply": " ".join(rec.sentences),
            "heard": " ".join(rec.sentences[: rec.heard]),
            "barge_in": rec.interrupted,
            "ms": {k: round(1000 * v, 1) for k, v in t.stages().items()} if t is not None else {},
            "at_ms": {k: round(1000 * v, 1) for k, v in t.timeline().items()} if t else {},
            "faults": faults,
        })

    async def prepare(
        self, turn: UserTurn, source: Brain, turnlog: TurnLog | None, *,
        gen: int | None = None, released: bool = True, idle: bool = False,
    ) -> Reply:
        """Start a reply; with ``released=False`` its audio waits behind the gate."""
        self._count += 1
        reply = Reply(ReplyRecord(self._count), turnlog, gen, turn.text, idle)
        await self._nursery.start(self._run_reply, reply, turn, source)
        if released:
            await self.release(reply)
        return reply

    async def release(self, reply: Reply) -> None:
        """Let a prepared reply be heard: it replaces whatever the agent was saying."""
        if self.current is not None and self.current is not reply:
            await self.interrupt("replaced")
        if reply.gen is not None:
            self._call.conversation.add_user(reply.user_text)
        self._call.conversation.add_reply(reply.record)
        self.record(self.current)
        self.current = reply
        if not reply.idle:
            self._activity()
        reply.gate.set()

    async def interrupt(self, reason: str) -> None:
        """Cancel the released reply; flush what Twilio has not played of it."""
        reply, self.current = self.current, None
        if reply is None:
            return
        reply.scope.cancel()
        if reply.record.pending or (reply.first_audio.is_set() and not reply.finished.is_set()):
            reply.record.interrupted = True
            await self._send(Clear())
            log.info("call %s: reply %d stopped (%s); the caller heard %d of %d sentences",
                     self._call.id, reply.record.n, reason, reply.record.heard,
                     len(reply.record.sentences))
        self.record(reply)

    def _drop_pending(self) -> None:
        if self.pending is not None and self.pending.reply is not None:
            self.pending.reply.scope.cancel()
        self.pending = None

    # -- the caller's turn ---------------------------------------------------------------

    def _is_backchannel(self, text: str) -> bool:
        """Nothing but acknowledgements ("uh-huh, okay", "כן כן")."""
        rest = f" {normalize(text)} "
        if not rest.strip():
            return False
        for phrase in self._backchannels:
            while f" {phrase} " in rest:
                rest = rest.replace(f" {phrase} ", " ")
        return not rest.strip()

    async def on_transcript(self, ev: Transcript) -> None:
        p = self.pending
        if p is None or p.gen != ev.gen:
            return  # the caller went on since, or it was noise
        if p.transcript is not None:
            if p.transcript.text == ev.text:
                return
            # A streaming recognizer revised the words before the reply was heard: redo it.
            if p.reply is not None:
                p.reply.scope.cancel()
                p.reply = None
            self._turns -= 1
        p.transcript = ev
        if ev.error:
            self._call.faults.add("stt", fault_kind(ev.error))
        text = ev.text.strip()
        if not text and not ev.error:
            log.info("call %s: turn had no words; not answering", self._call.id)
            self._check_quiet()
            return
        if self._is_backchannel(text):
            log.info("call %s: caller said %s (acknowledgement); not answering", self._call.id,
                     self.private(text))
            self._check_quiet()
            return
        self.language = ev.language
        self._turns += 1
        turnlog = TurnLog(
            call=self._call.id, n=self._turns, t_end=ev.t_end, t_stt=ev.t_ready,
            stt_compute_s=ev.compute_s, speculative=ev.speculative,
            ws_decode_ms=self._call.stats.take_decode_ms(), transcript=text, language=ev.language,
            t_reply_start=trio.current_time(),
        )
        turn = UserTurn(text, ev.language, history=self._call.conversation.messages())
        # No words but an STT error: the scripted fallback asks the caller again.
        source = self._engines.brain if text else self._engines.fallback
        p.reply = await self.prepare(turn, source, turnlog, gen=ev.gen, released=False)
        if p.t_endpoint is not None:
            await self._confirm(p, p.t_endpoint)
        elif p.short_pause is not None and self._smart_endpoint(text):
            await self._confirm(p, trio.current_time())

    def _smart_endpoint(self, text: str) -> bool:
        return self._cfg.turn.smart_endpoint and looks_complete(text)

    async def _confirm(self, p: _Pending, t_endpoint: float) -> None:
        """The caller's turn is over: let its reply be heard."""
        p.t_endpoint = t_endpoint
        reply = p.reply
        if reply is None:
            return  # released when its transcript arrives
        self.pending = None
        if reply.turnlog is not None:
            reply.turnlog.t_endpoint = t_endpoint
            if p.t_end is not None:
                # A streaming recognizer may have spoken before the VAD saw the pause.
                reply.turnlog.t_end = p.t_end
            log.info("call %s turn %d caller (%s): %s", self._call.id, reply.turnlog.n,
                     reply.turnlog.language, self.private(reply.turnlog.transcript))
        await self.release(reply)
        if self._cfg.filler.enabled:
            self._nursery.start_soon(self._filler, reply)

    async def _filler(self, reply: Reply) -> None:
        with trio.move_on_after(self._cfg.filler.after_ms / 1000):
            await reply.first_audio.wait()
            return
        if reply is not self.current or reply.finished.is_set():
            return
        log.info("call %s: reply %d not ready; saying the filler", self._call.id, reply.record.n)
        await self.say_now(self._line(self._script.filler))

    async def say_now(self, text: str) -> None:
        """Speak a line straight to the socket, outside any reply (fillers)."""
        a_tx, a_rx = trio.open_memory_channel[bytes](8)

        async def synth() -> None:
            with a_tx:
                try:
                    await self._engines.tts.synthesize(text, self.language, a_tx)
                except EngineError as exc:
                    log.warning("call %s: TTS failed for %r: %s", self._call.id, text, exc)

        chunk = self._cfg.call.send_chunk_ms * 8
        async with trio.open_nursery() as nursery:
            nursery.start_soon(synth)
            async for audio in a_rx:
                for message in audio_messages(audio, chunk):
                    await self._send(message)

    def _line(self, texts: Mapping[str, str]) -> str:
        """A configured line in the caller's language, else the line's own."""
        return texts.get(self.language) or texts.get(self._cfg.call.language) or ""

    async def handle(self, ev: DialogueEvent) -> None:
        if isinstance(ev, Transcript):
            await self.on_transcript(ev)
        elif isinstance(ev, SpeechStarted):
            self.caller_speaking = True
            self._activity()
            self._drop_pending()
            self.pending = _Pending(ev.gen)
        elif isinstance(ev, SpeechConfirmed):
            if self._cfg.bargein.enabled and self.current is not None and self.current.playing:
                self._call.barge_ins += 1
                await self.interrupt("barge-in")
        elif isinstance(ev, SpeechResumed):
            # The caller went on after a pause. A reply released by the smart endpoint has
            # cut them off: stop it at once.
            if self.pending is None and self.current is not None and self.current.gen is not None \
                    and self.current.playing and self._cfg.bargein.enabled:
                await self.interrupt("caller resumed")
            self._drop_pending()
            self.pending = _Pending(ev.gen)
        elif isinstance(ev, SpeechPaused):
            if self.pending is not None and self.pending.gen == ev.gen:
                self.pending.t_end = ev.t_end
        elif isinstance(ev, ShortPause):
            p = self.pending
            if p is not None and p.gen == ev.gen:
                p.short_pause = ev
                p.t_end = ev.t_end
                if p.transcript is not None and p.reply is not None and \
                        self._smart_endpoint(p.transcript.text):
                    await self._confirm(p, ev.t)
        elif isinstance(ev, SpeechEnded):
            self.caller_speaking = False
            p = self.pending
            if p is not None and p.gen == ev.gen:
                p.t_end = ev.t_end
                await self._confirm(p, ev.t_endpoint)
            self._check_quiet()
        elif isinstance(ev, SpeechDiscarded):
            self.caller_speaking = False
            self._drop_pending()
            self._check_quiet()
        elif isinstance(ev, Dtmf):
            log.info("call %s: caller pressed %s", self._call.id,
                     ev.digit if self._cfg.log.transcripts else "a key")
            turn = UserTurn("", self.language, dtmf=ev.digit, history=self._call.conversation.messages())
            self._call.conversation.add_user(f"[pressed {ev.digit}]")
            await self.prepare(turn, self._engines.brain, None)
        elif isinstance(ev, Mark):
            await self.on_mark(ev)

    async def on_mark(self, ev: Mark) -> None:
        self._awaiting.pop(ev.name, None)
        parsed = parse_mark(ev.name)
        record = self._call.conversation.replies.get(parsed[0]) if parsed else None
        if record is None or parsed is None:
            self._summary.event(trio.current_time(), "unknown mark",
                                f"call {self._call.id}: echo of unknown mark {ev.name[:40]!r}")
            return
        if record.interrupted:
            return  # echoed by our `clear`: flushed, not heard
        if parsed[1] == "end":
            await self._end_call(record)
            return
        record.heard = max(record.heard, int(parsed[1]))
        current = self.current
        if current is not None and current.record is record and current.finished.is_set() \
                and not record.pending:
            self.record(current)  # played to the end: the turn is complete, on disk now
        self._check_quiet()

    async def _end_call(self, record: ReplyRecord) -> None:
        call = self._call
        if self._rest is not None and self._rest.available():
            try:
                if record.transfer_to:
                    await self._rest.transfer(call.start.account_sid, call.start.call_sid, record.transfer_to)
                else:
                    await self._rest.hangup(call.start.account_sid, call.start.call_sid)
            except EngineError as exc:
                log.warning("call %s: %s; closing the stream instead", call.id, exc)
        what = f"transferred to {record.transfer_to}" if record.transfer_to else "ended the call"
        call.hangup(f"the agent {what} ({record.n})")

    # -- silence on the line -------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _activity(self) -> None:
        if self._idle_scope is not None:
            self._idle_scope.cancel()
        if self.quiet:
            self.quiet = False
            self._notify()

    def _check_quiet(self) -> None:
        agent_quiet = self.current is None or not self.current.playing
        p = self.pending
        awaiting_answer = p is not None and p.t_endpoint is not None and p.transcript is None
        if agent_quiet and not self.caller_speaking and not awaiting_answer and not self.quiet:
            self.quiet = True
            self.quiet_since = trio.current_time()
            self._notify()

    async def idle_loop(self) -> None:
        idle = self._cfg.idle
        while True:
            while not self.quiet:
                await self._changed.wait()
            since = self.quiet_since
            with trio.CancelScope() as self._idle_scope:
                await trio.sleep_until(since + idle.reprompt_s)
                log.info("call %s: caller silent for %.0fs, reprompting", self._call.id, idle.reprompt_s)
                await self.prepare(UserTurn("", self.language), Say(self._line(self._script.reprompt)),
                                   None, idle=True)
                await trio.sleep_until(since + idle.hangup_s)
                log.info("call %s: caller silent for %.0fs, hanging up", self._call.id, idle.hangup_s)
                await self.goodbye("idle")
                return

    async def goodbye(self, reason: str) -> None:
        """Say the goodbye line, then end the call once Twilio has played it."""
        await self.prepare(UserTurn("", self.language),
                           Say(self._line(self._script.goodbye), EndCall(reason)), None, idle=True)

    async def goodbye_when_asked(self) -> None:
        """The daemon is shutting down: end the call the way a person would."""
        await self._call.goodbye.wait()
        log.info("call %s: asked to end (%s); saying goodbye", self._call.id, self._call.ended_by)
        self._drop_pending()
        line = self._line(self._cfg.brain.script.goodbye)
        await self.prepare(UserTurn("", self.language), Say(line, EndCall("shutdown")), None)

    async def max_duration(self) -> None:
        await trio.sleep(self._cfg.call.max_duration_s)
        log.info("call %s: reached call.max_duration_s, saying goodbye", self._call.id)
        await self.goodbye("max duration")


async def dialogue(
    rx: trio.MemoryReceiveChannel[DialogueEvent],
    tx: trio.MemorySendChannel[Audio | Mark | Clear],
    engines: Engines,
    cfg: Config,
    call: Call,
    rest: TwilioRest | None,
) -> None:
    with rx, tx:
        async with trio.open_nursery() as nursery:
            d = Dialogue(nursery, tx, engines, cfg, call, rest)
            await d.prepare(UserTurn("", cfg.call.language), Say(d._line(cfg.brain.script.greeting)), None)
            nursery.start_soon(d.idle_loop)
            nursery.start_soon(d.max_duration)
            nursery.start_soon(d.goodbye_when_asked)
            nursery.start_soon(d.mark_watchdog)
            try:
                async for event in rx:
                    await d.handle(event)
            finally:
                d.record(d.current)  # the last turn, however the call ends
                d._summary.flush(trio.current_time())
            nursery.cancel_scope.cancel()
