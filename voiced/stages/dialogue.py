"""dialogue: the stage that turns what the caller does into what the agent says.

Three parts, each its own module, put together here:

- :class:`~voiced.stages.turns.Turns` decides whose turn it is (pure: events in, actions out);
- :class:`~voiced.stages.reply.ReplySlot` makes, releases and interrupts the agent's replies;
- :class:`~voiced.stages.idle.IdleTimer` notices a silent line.

The reply is prepared at the caller's first pause and released at the endpoint, so the brain
and the first sentence's TTS are hidden inside the endpoint wait; it is never heard before the
caller is done. While the agent talks, ``bargein.min_speech_ms`` of caller speech cancels the
reply and sends Twilio ``clear``; the history then keeps only the sentences whose marks came
back. Everything that ends the call (goodbye, transfer, idle, shutdown, faults) goes through a
reply whose end mark, once played, hangs up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

import trio

from ..callstate import Call
from ..config import Config
from ..conversation import ReplyRecord, parse_mark
from ..engines.base import Brain, Engines
from ..errors import Engine, EngineError
from ..events import (
    Audio,
    DialogueEvent,
    EndCall,
    EndReason,
    SpeechDiscarded,
    SpeechEnded,
    SpeechResumed,
    SpeechStarted,
    Transcript,
    TurnJudged,
    UserTurn,
)
from ..latency import TurnLog
from ..limits import SummaryLog
from ..nearend import TurnAudio
from ..tools.base import CallContext
from ..tools.box import ToolBox
from ..twilio.rest import TwilioRest
from ..twilio.wire import Clear, Dtmf, Mark
from .idle import IdleTimer
from .reply import ULAW_BYTES_PER_MS, Playout, Reply, ReplySlot, Say
from .tts import audio_messages
from .turns import (
    Action,
    Agent,
    Drop,
    Interrupt,
    Interruption,
    Judge,
    Prepare,
    Release,
    Turns,
    Unanswered,
)

log = logging.getLogger("voiced.dialogue")


def _toolbox(nursery: trio.Nursery, engines: Engines, cfg: Config, call: Call) -> ToolBox | None:
    """The call's tools, if the engines have any: answers kept in the conversation, actions
    in the call record."""
    if not engines.tools:
        return None
    zone = ZoneInfo(cfg.book.timezone)
    return ToolBox(engines.tools, CallContext(call.id, call.caller, cfg.call.language), nursery,
                   remember=call.conversation.add_tools, record=call.record_action,
                   now=lambda: datetime.now(zone).strftime(f"%A %Y-%m-%d %H:%M ({cfg.book.timezone})"))


class Dialogue:
    def __init__(self, nursery: trio.Nursery, tx: trio.MemorySendChannel[Audio | Mark | Clear],
                 engines: Engines, cfg: Config, call: Call, rest: TwilioRest | None,
                 heard: TurnAudio | None = None) -> None:
        self._nursery = nursery
        self._heard = heard if engines.turn_model is not None else None
        self._judging = trio.CancelScope()
        self._judge_failed = False
        # Events come from the stage's loop and, judged, from the end-of-turn model's task:
        # one at a time, as the turn-taking rules expect.
        self._handling = trio.Lock()
        self._engines = engines
        self._cfg = cfg
        self._call = call
        self._rest = rest
        self._script = cfg.brain.script
        self.playout = Playout(tx, cfg.call.mark_slack_s, call.far_end)
        self.toolbox = _toolbox(nursery, engines, cfg, call)
        self.slot = ReplySlot(nursery, self.playout, engines, cfg, call, self._reply_finished,
                              self.toolbox)
        self.turns = Turns(smart_endpoint=cfg.turn.smart_endpoint, bargein=cfg.bargein.enabled,
                           backchannels=cfg.bargein.backchannels,
                           min_complete_words=cfg.turn.min_complete_words,
                           model_complete=cfg.turn.model_complete if self._heard else None,
                           model_languages=cfg.turn.model_languages,
                           patient=cfg.turn.patient_after_cut_off)
        self.idle = IdleTimer(cfg.idle)
        self._prepared: Reply | None = None  # the pending caller turn's reply, gate closed
        self._dropped = (0, 0)  # replies dropped since the last release, their fragments
        self.summary = SummaryLog(log)

    def private(self, text: str) -> str:
        """Callers' words and keys as the log may show them (``log.transcripts``)."""
        return text if self._cfg.log.transcripts else f"<{len(text.split())} words>"

    def line(self, texts: Mapping[str, str]) -> str:
        """A configured line in the conversation's language, else the line's own."""
        return texts.get(self.slot.language) or texts.get(self._cfg.call.language) or ""

    # -- the caller ------------------------------------------------------------------------

    async def handle(self, ev: DialogueEvent) -> None:
        async with self._handling:
            await self._handle(ev)

    async def _handle(self, ev: DialogueEvent) -> None:
        if isinstance(ev, Mark):
            await self.on_mark(ev)
            return
        if isinstance(ev, Dtmf):
            await self._on_dtmf(ev)
            return
        if isinstance(ev, SpeechStarted):
            self.idle.activity()
        if isinstance(ev, Transcript) and ev.fault is not None:
            self._call.faults.add(Engine.STT, ev.fault)
        current = self.slot.current
        playing = current is not None and current.playing
        # The agent's words matter only where a caller's turn begins (is it its echo?): not
        # normalised again for every partial and pause.
        starts = isinstance(ev, SpeechStarted | SpeechResumed)
        agent = Agent(playing=playing, answering=current is not None and current.answers_caller,
                      words=current.words() if current is not None and playing and starts
                      else frozenset(),
                      asked=isinstance(ev, Transcript) and self._call.conversation.asked())
        for action in self.turns.on(ev, agent, trio.current_time()):
            await self._act(action)
        if isinstance(ev, SpeechEnded | SpeechDiscarded):
            self._check_quiet()

    async def _act(self, action: Action) -> None:
        if isinstance(action, Prepare):
            await self._prepare_answer(action)
        elif isinstance(action, Release):
            await self._release_answer(action)
        elif isinstance(action, Drop):
            if self._prepared is not None and self._prepared.gen == action.gen:
                self._prepared.scope.cancel()
                wasted = self._prepared.turnlog.fragments if self._prepared.turnlog else 0
                self._dropped = (self._dropped[0] + 1, self._dropped[1] + wasted)
                self._prepared = None
        elif isinstance(action, Judge) and self._heard is not None:
            self._judging.cancel()  # an earlier turn's: moot
            self._judging = trio.CancelScope()
            self._nursery.start_soon(self._judge, action.gen, self._heard.pcm(), self._judging)
        elif isinstance(action, Interrupt):
            if action.why is Interruption.BARGE_IN:
                self._call.barge_ins += 1
            elif action.why is Interruption.RESUMED:
                self._call.cut_offs += 1
                patient = self._cfg.turn.patient_after_cut_off
                log.info("call %s: the caller went on after the smart endpoint answered%s",
                         self._call.id, "; this turn ends at vad.silence_ms"
                         if patient else "")
            await self.slot.interrupt(action.why)
        elif isinstance(action, Unanswered):
            log.info("call %s: caller said %s (%s); not answering", self._call.id,
                     self.private(action.text), action.why)
            self._check_quiet()

    async def _judge(self, gen: int, pcm: bytes, scope: trio.CancelScope) -> None:
        """The end-of-turn model's judgement of the caller's turn so far, back to the rules."""
        assert self._engines.turn_model is not None
        complete: float | None = None
        with scope:
            try:
                complete = await self._engines.turn_model.judge(pcm)
            except EngineError as exc:
                if not self._judge_failed:  # once a call: it may fail at every pause
                    log.warning("call %s: %s; where it fails, the words alone decide",
                                self._call.id, exc)
                self._judge_failed = True
        if complete is not None:
            await self.handle(TurnJudged(gen, complete, trio.current_time()))

    async def _prepare_answer(self, action: Prepare) -> None:
        ev, text = action.transcript, action.transcript.text.strip()
        self.slot.language = ev.language
        turnlog = TurnLog(
            call=self._call.id, n=action.n, t_end=ev.t_end, t_stt=ev.t_ready,
            stt_compute_s=ev.compute_s, speculative=ev.speculative,
            ws_decode_ms=self._call.stats.take_decode_ms(), transcript=text, language=ev.language,
            t_reply_start=trio.current_time(),
        )
        turn = UserTurn(text, ev.language, history=self._call.conversation.messages())
        # No words but an STT error: the scripted fallback asks the caller again.
        source = self._engines.brain if text else self._engines.fallback
        self._prepared = await self.slot.prepare(turn, source, turnlog, gen=action.gen)

    async def _release_answer(self, action: Release) -> None:
        reply, self._prepared = self._prepared, None
        if reply is None or reply.gen != action.gen:
            return
        t = reply.turnlog
        if t is not None:
            (t.dropped, t.dropped_fragments), self._dropped = self._dropped, (0, 0)
            t.t_endpoint = action.t_endpoint
            if action.t_end is not None:
                t.t_end = action.t_end  # a streaming recogniser may have spoken before the pause
            log.info("call %s turn %d caller (%s): %s", self._call.id, t.n, t.language,
                     self.private(t.transcript))
        await self.release(reply)
        if self._cfg.filler.enabled:
            self._nursery.start_soon(self._filler, reply)

    async def _on_dtmf(self, ev: Dtmf) -> None:
        log.info("call %s: caller pressed %s", self._call.id,
                 ev.digit if self._cfg.log.transcripts else "a key")
        turn = UserTurn("", self.slot.language, dtmf=ev.digit,
                        history=self._call.conversation.messages())
        self._call.conversation.add_user(f"[pressed {ev.digit}]")
        await self.say(turn, self._engines.brain)

    # -- the agent -------------------------------------------------------------------------

    async def release(self, reply: Reply) -> None:
        await self.slot.release(reply)
        if not reply.idle:
            self.idle.activity()

    async def say(self, turn: UserTurn, source: Brain, *, idle: bool = False) -> Reply:
        """A reply heard at once (the greeting, a reprompt, an answer to a key)."""
        reply = await self.slot.prepare(turn, source, None, idle=idle)
        await self.release(reply)
        return reply

    async def say_line(self, texts: Mapping[str, str], end: EndCall | None = None, *,
                       idle: bool = False) -> None:
        await self.say(UserTurn("", self.slot.language), Say(self.line(texts), end), idle=idle)

    async def _reply_finished(self, reply: Reply) -> None:
        if reply.record.sentences and not reply.scope.cancelled_caught:
            log.info("call %s reply %d: %s", self._call.id, reply.record.n,
                     self.private(" ".join(reply.record.sentences)))
            if reply.gen is not None and self._call.faults.turn_answered(
                    self._cfg.call.max_faulty_turns):
                log.warning("call %s: %d turns in a row with engine faults (%s); ending the call",
                            self._call.id, self._cfg.call.max_faulty_turns, self._call.faults.counts)
                line = f"{self.line(self._script.trouble)} {self.line(self._script.goodbye)}"
                await self.say(UserTurn("", self.slot.language),
                               Say(line, EndCall(EndReason.ENGINE_FAULTS)))
        self._check_quiet()

    async def _filler(self, reply: Reply) -> None:
        with trio.move_on_after(self._cfg.filler.after_ms / 1000):
            await reply.first_audio.wait()
            return
        if reply is not self.slot.current or reply.finished.is_set():
            return
        log.info("call %s: reply %d not ready; saying the filler", self._call.id, reply.record.n)
        await self.say_now(self.line(self._script.filler))

    async def say_now(self, text: str) -> None:
        """Speak a line straight to the socket, outside any reply (fillers)."""
        a_tx, a_rx = trio.open_memory_channel[bytes](8)

        async def synth() -> None:
            with a_tx:
                try:
                    await self._engines.tts.synthesize(text, self.slot.language, a_tx)
                except EngineError as exc:
                    log.warning("call %s: TTS failed for %r: %s", self._call.id, text, exc)

        chunk = self._cfg.call.send_chunk_ms * ULAW_BYTES_PER_MS
        async with trio.open_nursery() as nursery:
            nursery.start_soon(synth)
            async for audio in a_rx:
                for message in audio_messages(audio, chunk):
                    await self.playout.send(message)

    # -- marks: what the caller heard --------------------------------------------------------

    async def on_mark(self, ev: Mark) -> None:
        self.playout.echoed(ev.name)
        parsed = parse_mark(ev.name)
        record = self._call.conversation.replies.get(parsed[0]) if parsed else None
        if record is None or parsed is None:
            self.summary.event(trio.current_time(), "unknown mark",
                               f"call {self._call.id}: echo of unknown mark {ev.name[:40]!r}")
            return
        if record.interrupted:
            return  # echoed by our `clear`: flushed, not heard
        if parsed[1] == "end":
            await self._end_call(record)
            return
        record.heard = max(record.heard, int(parsed[1]))
        current = self.slot.current
        if current is not None and current.record is record and current.finished.is_set() \
                and not record.pending:
            self.slot.record(current)  # played to the end: the turn is complete, on disk now
        self._check_quiet()

    async def mark_late(self, mark: Mark) -> None:
        self._call.stats.marks_assumed += 1
        self.summary.event(trio.current_time(), "mark", f"call {self._call.id}: mark "
                           f"{mark.name} not echoed in time; taken as played")
        await self.on_mark(mark)

    async def _end_call(self, record: ReplyRecord) -> None:
        call, end = self._call, record.end
        assert end is not None  # only a reply that ends the call sends an end mark
        if self._rest is not None and self._rest.available():
            try:
                if end.transfer_to:
                    await self._rest.transfer(call.start.account_sid, call.start.call_sid,
                                              end.transfer_to)
                else:
                    await self._rest.hangup(call.start.account_sid, call.start.call_sid)
            except EngineError as exc:
                log.warning("call %s: %s; closing the stream instead", call.id, exc)
        detail = f"to {end.transfer_to}" if end.transfer_to else end.detail
        call.hangup(end.reason, f"{detail} (reply {record.n})" if detail else f"reply {record.n}")

    # -- silence, time and shutdown -------------------------------------------------------

    def _check_quiet(self) -> None:
        current = self.slot.current
        agent_quiet = current is None or not current.playing
        if agent_quiet and not self.turns.caller_speaking and not self.turns.awaiting_answer:
            self.idle.quiet_now()

    async def reprompt(self) -> None:
        log.info("call %s: caller silent for %.0fs, reprompting", self._call.id,
                 self._cfg.idle.reprompt_s)
        await self.say_line(self._script.reprompt, idle=True)

    async def idle_goodbye(self) -> None:
        log.info("call %s: caller silent for %.0fs, hanging up", self._call.id,
                 self._cfg.idle.hangup_s)
        await self.say_line(self._script.goodbye, EndCall(EndReason.IDLE), idle=True)

    async def goodbye_when_asked(self) -> None:
        """The daemon is shutting down: end the call the way a person would."""
        await self._call.goodbye.wait()
        log.info("call %s: asked to end (%s); saying goodbye", self._call.id, self._call.ended_by)
        for action in self.turns.on_goodbye():
            await self._act(action)
        await self.say_line(self._script.goodbye, EndCall(EndReason.SHUTDOWN))

    async def max_duration(self) -> None:
        await trio.sleep(self._cfg.call.max_duration_s)
        log.info("call %s: reached call.max_duration_s, saying goodbye", self._call.id)
        await self.say_line(self._script.goodbye, EndCall(EndReason.MAX_DURATION), idle=True)


async def dialogue(
    rx: trio.MemoryReceiveChannel[DialogueEvent],
    tx: trio.MemorySendChannel[Audio | Mark | Clear],
    engines: Engines,
    cfg: Config,
    call: Call,
    rest: TwilioRest | None,
    heard: TurnAudio | None = None,
) -> None:
    """``heard``: the caller's current turn, kept by the VAD stage, for the end-of-turn model."""
    with rx, tx:
        async with trio.open_nursery() as nursery:
            d = Dialogue(nursery, tx, engines, cfg, call, rest, heard)
            await d.say_line(cfg.brain.script.greeting)
            nursery.start_soon(d.idle.run, d.reprompt, d.idle_goodbye)
            nursery.start_soon(d.max_duration)
            nursery.start_soon(d.goodbye_when_asked)
            nursery.start_soon(d.playout.watchdog, d.mark_late)
            try:
                async for event in rx:
                    await d.handle(event)
            finally:
                d.slot.record(d.slot.current)  # the last turn, however the call ends
                d.summary.flush(trio.current_time())
            nursery.cancel_scope.cancel()
