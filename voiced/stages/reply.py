"""The agent's voice: one reply heard at a time, each in its own cancel scope.

A reply (brain -> tts for one turn) runs behind a gate. It can be *prepared* while the gate is
closed (the caller may not be done), *released* to be heard (it replaces whatever the agent was
saying), or *interrupted*: cancelled, with Twilio told to ``clear`` what it has not played.
hypercorn's ``TrioSingleTask`` has the same shape: cancel the old one, ``await
nursery.start(...)`` the new one.

Everything the agent sends passes :class:`Playout`, which keeps a clock of when the audio sent
so far will have finished playing at the caller's end, and so when each mark should come back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

from ..audio import ulaw_to_pcm_bytes
from ..callstate import Call
from ..config import Config
from ..conversation import ReplyRecord
from ..engines.base import Brain, Engines
from ..events import Audio, EndCall, Sentence, UserTurn
from ..farend import FarEnd
from ..latency import TurnLog
from ..text import normalize
from ..tools.box import ReplyTools, ToolBox
from ..twilio.wire import Clear, Mark
from .brain import brain
from .tts import tts

log = logging.getLogger("voiced.dialogue")

ULAW_BYTES_PER_S = 8000  # 8 kHz, one byte a sample
ULAW_BYTES_PER_MS = ULAW_BYTES_PER_S // 1000


class Say:
    """A brain that says one fixed line (the greeting, a reprompt), optionally ending the call."""

    def __init__(self, text: str, end: EndCall | None = None) -> None:
        self._text = text
        self._end = end

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None:
        await tx.send(self._text)
        if self._end is not None:
            await tx.send(self._end)


@dataclass
class Reply:
    record: ReplyRecord
    turnlog: TurnLog | None
    gen: int | None  # the caller's speech segment it answers; None for the agent's own lines
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

    def words(self) -> frozenset[str]:
        """What the agent says in this reply, as normalised words."""
        return frozenset(normalize(" ".join(self.record.sentences)).split())

    @property
    def answers_caller(self) -> bool:
        return self.gen is not None

    def as_record(self, language: str, faults: int) -> dict[str, Any]:
        """The call record of this reply: what the caller said, what the agent said, what of
        it the caller heard (marks echoed), the timings and the faults met."""
        t, rec = self.turnlog, self.record
        return {
            "n": rec.n,
            "kind": "turn" if self.gen is not None else "idle" if self.idle else "agent",
            "said": self.user_text,
            "language": t.language if t is not None and t.language else language,
            "reply": " ".join(rec.sentences),
            "heard": " ".join(rec.sentences[: rec.heard]),
            "barge_in": rec.interrupted,
            "ms": {k: round(1000 * v, 1) for k, v in t.stages().items()} if t is not None else {},
            "at_ms": {k: round(1000 * v, 1) for k, v in t.timeline().items()} if t else {},
            "brain": t.speculation() if t is not None else {},
            "faults": faults,
        }


class Playout:
    """The one way out to the send stage. Twilio plays what it gets at 8000 bytes a second, in
    order, from when it arrives; so the time each mark should echo is known, and a mark that
    never echoes (a peer that does not play, or lies) is taken as played ``mark_slack_s``
    later instead of keeping the agent "talking" until ``call.max_duration_s``."""

    def __init__(self, tx: trio.MemorySendChannel[Audio | Mark | Clear], mark_slack_s: float,
                 far_end: FarEnd | None = None) -> None:
        self._tx = tx
        self._far = far_end
        self._slack = mark_slack_s
        self._play_end = 0.0
        self._awaiting: dict[str, float] = {}  # marks not yet echoed, in send order, and when due
        self._mark_sent = trio.Event()

    async def send(self, item: Audio | Mark | Clear) -> None:
        now = trio.current_time()
        if isinstance(item, Audio):
            starts = max(self._play_end, now)
            if self._far is not None:
                self._far.play(ulaw_to_pcm_bytes(item.payload), starts)
            self._play_end = starts + len(item.payload) / ULAW_BYTES_PER_S
        elif isinstance(item, Mark):
            self._awaiting[item.name] = max(self._play_end, now) + self._slack
            self._mark_sent.set()
        else:
            self._play_end = now  # `clear`: nothing left to play
            if self._far is not None:
                self._far.clear(now)
        await self._tx.send(item)

    def echoed(self, name: str) -> None:
        self._awaiting.pop(name, None)

    async def watchdog(self, late: Callable[[Mark], Awaitable[None]]) -> None:
        """Hand each mark not echoed in time to ``late``, as if it had been."""
        while True:
            while not self._awaiting:
                self._mark_sent = trio.Event()
                await self._mark_sent.wait()
            name, due = next(iter(self._awaiting.items()))
            await trio.sleep_until(due)
            if self._awaiting.pop(name, None) is not None:
                await late(Mark(name))


class ReplySlot:
    """The reply being heard (``current``), and the making of new ones.

    ``finished`` is awaited after each reply's brain and TTS are done (or cancelled)."""

    def __init__(self, nursery: trio.Nursery, playout: Playout, engines: Engines, cfg: Config,
                 call: Call, finished: Callable[[Reply], Awaitable[None]],
                 toolbox: ToolBox | None = None) -> None:
        self._nursery = nursery
        self._toolbox = toolbox
        self._playout = playout
        self._engines = engines
        self._cfg = cfg
        self._call = call
        self._finished = finished
        self._count = 0
        self._faults_seen = 0  # call.faults.total when the last reply was recorded
        self.current: Reply | None = None  # released: audible or about to be
        self.language = cfg.call.language  # the conversation's now: the caller's last

    async def prepare(self, turn: UserTurn, source: Brain, turnlog: TurnLog | None, *,
                      gen: int | None = None, idle: bool = False) -> Reply:
        """Start a reply behind its closed gate."""
        self._count += 1
        reply = Reply(ReplyRecord(self._count), turnlog, gen, turn.text, idle)
        await self._nursery.start(self._run, reply, turn, source)
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
        reply.gate.set()

    async def interrupt(self, reason: str) -> None:
        """Cancel the released reply; flush what Twilio has not played of it."""
        reply, self.current = self.current, None
        if reply is None:
            return
        reply.scope.cancel()
        if reply.record.pending or (reply.first_audio.is_set() and not reply.finished.is_set()):
            reply.record.interrupted = True
            await self._playout.send(Clear())
            log.info("call %s: reply %d stopped (%s); the caller heard %d of %d sentences",
                     self._call.id, reply.record.n, reason, reply.record.heard,
                     len(reply.record.sentences))
        self.record(reply)

    def record(self, reply: Reply | None) -> None:
        """Write the call record of a reply whose fate is known (once)."""
        if reply is None or reply.recorded or not reply.record.sentences:
            return
        reply.recorded = True
        faults = self._call.faults.total - self._faults_seen
        self._faults_seen = self._call.faults.total
        self._call.record_turn(reply.as_record(self.language, faults))

    async def _run(self, reply: Reply, turn: UserTurn, source: Brain, *,
                   task_status: trio.TaskStatus[None]) -> None:
        engines, cfg, call = self._engines, self._cfg, self._call
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
                        await self._playout.send(item)

            async with trio.open_nursery() as inner:
                tools = self._toolbox.for_reply(reply.gate) if self._toolbox else None
                inner.start_soon(brain, turn, s_tx, source, engines.fallback, reply.turnlog,
                                 call.id, call.faults, tools)
                inner.start_soon(tts, s_rx, a_tx, engines.tts, reply.record, reply.turnlog, cfg.tts,
                                 cfg.call.send_chunk_ms * ULAW_BYTES_PER_MS, call.id, call.faults,
                                 cfg.brain.script.trouble)
                inner.start_soon(gate)
        reply.finished.set()
        await self._finished(reply)
