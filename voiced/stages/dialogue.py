"""dialogue: whose turn it is. Starts, replaces and cancels the agent's replies.

The reply in progress (brain -> tts for one turn) runs in its own cancel scope, held here;
a new caller turn cancels it and, if Twilio still has some of it buffered, sends ``clear`` so
the new answer does not queue behind the stale one. hypercorn's ``TrioSingleTask`` has the
same shape: cancel the old handle, ``await nursery.start(...)`` the new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import trio

from ..config import Config
from ..engines.base import Brain, Engines
from ..events import Audio, DialogueEvent, EndCall, Message, Sentence, Transcript, UserTurn
from ..latency import TurnLog
from ..wire import Clear, Dtmf, Mark
from .brain import brain
from .marks import ReplyRecord, parse_mark
from .tts import tts

log = logging.getLogger("voiced.dialogue")


class Say:
    """A brain that says one fixed line (the greeting, a fallback)."""

    def __init__(self, text: str) -> None:
        self._text = text

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall]) -> None:
        await tx.send(self._text)


@dataclass
class _Reply:
    scope: trio.CancelScope
    record: ReplyRecord


class Conversation:
    """The call's history, with each agent reply cut to what the caller heard."""

    def __init__(self) -> None:
        self._items: list[Message | ReplyRecord] = []
        self.replies: dict[int, ReplyRecord] = {}

    def add_user(self, text: str) -> None:
        self._items.append(Message("user", text))

    def add_reply(self, record: ReplyRecord) -> None:
        self._items.append(record)
        self.replies[record.n] = record

    def messages(self) -> tuple[Message, ...]:
        out = []
        for item in self._items:
            if isinstance(item, ReplyRecord):
                text = item.text()
                if text:
                    out.append(Message("assistant", text))
            else:
                out.append(item)
        return tuple(out)


async def dialogue(
    rx: trio.MemoryReceiveChannel[DialogueEvent],
    tx: trio.MemorySendChannel[Audio | Mark | Clear],
    engines: Engines,
    greeting: str,
    cfg: Config,
    call_id: str,
    hangup: Callable[[str], None],
    take_decode_ms: Callable[[], float],
    conversation: Conversation,
) -> None:
    with rx, tx:
        chunk_bytes = cfg.call.send_chunk_ms * 8
        current: _Reply | None = None
        count = 0

        async with trio.open_nursery() as nursery:

            async def run_reply(
                turn: UserTurn, source: Brain, turnlog: TurnLog | None,
                *, task_status: trio.TaskStatus[_Reply],
            ) -> None:
                nonlocal count
                count += 1
                record = ReplyRecord(count)
                conversation.add_reply(record)
                with trio.CancelScope() as scope:
                    task_status.started(_Reply(scope, record))
                    s_tx, s_rx = trio.open_memory_channel[Sentence | EndCall](4)
                    async with trio.open_nursery() as inner:
                        inner.start_soon(brain, turn, s_tx, source, engines.fallback, turnlog, call_id)
                        inner.start_soon(tts, s_rx, tx.clone(), engines.tts, record, turnlog,
                                         cfg.tts, chunk_bytes, call_id)
                if record.sentences:
                    log.info("call %s reply %d: %s", call_id, record.n, " ".join(record.sentences))

            async def interrupt() -> None:
                """Cancel the reply in progress; flush what Twilio has not played of it."""
                nonlocal current
                if current is not None:
                    current.scope.cancel()
                    if current.record.pending:
                        current.record.interrupted = True
                        await tx.send(Clear())
                    current = None

            async def start(turn: UserTurn, source: Brain, turnlog: TurnLog | None) -> None:
                nonlocal current
                await interrupt()
                current = await nursery.start(run_reply, turn, source, turnlog)

            language = cfg.call.language
            await start(UserTurn("", language), Say(greeting), None)
            turns = 0
            async for event in rx:
                if isinstance(event, Transcript):
                    text = event.text.strip()
                    if not text and not event.error:
                        log.info("call %s: turn had no words; not answering", call_id)
                        continue
                    turns += 1
                    language = event.language
                    turnlog = TurnLog(
                        call=call_id, n=turns, t_end=event.t_end, t_endpoint=event.t_endpoint,
                        t_stt=event.t_ready, stt_compute_s=event.compute_s,
                        speculative=event.speculative, ws_decode_ms=take_decode_ms(),
                        transcript=text, language=language, t_reply_start=trio.current_time(),
                    )
                    log.info("call %s turn %d caller (%s): %s", call_id, turns, language, text)
                    await interrupt()  # first, so the history below holds only what was heard
                    turn = UserTurn(text, language, history=conversation.messages())
                    conversation.add_user(text)
                    # No words but an STT error: the scripted fallback asks the caller again.
                    await start(turn, engines.brain if text else engines.fallback, turnlog)
                elif isinstance(event, Dtmf):
                    log.info("call %s: caller pressed %s", call_id, event.digit)
                    await interrupt()
                    turn = UserTurn("", language, dtmf=event.digit, history=conversation.messages())
                    conversation.add_user(f"[pressed {event.digit}]")
                    await start(turn, engines.brain, None)
                elif isinstance(event, Mark):
                    parsed = parse_mark(event.name)
                    record = conversation.replies.get(parsed[0]) if parsed else None
                    if record is None or parsed is None:
                        log.warning("call %s: echo of unknown mark %r", call_id, event.name[:40])
                    elif parsed[1] == "end":
                        hangup(f"the agent ended the call ({record.n})")
                    else:
                        record.heard = max(record.heard, int(parsed[1]))
            nursery.cancel_scope.cancel()
