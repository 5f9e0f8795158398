"""brain: one reply's text, cut into sentences as the engine streams it.

Started per reply (a reply is the unit barge-in cancels), so it takes the caller's turn
rather than a channel of turns. If the engine fails before saying anything, the fallback
brain (the scripted receptionist) answers instead: the caller never hears silence because a
server far away had a bad moment.
"""

from __future__ import annotations

import logging

import trio

from ..callstate import Faults
from ..engines.base import Brain
from ..errors import Engine, EngineError, FaultKind
from ..events import EndCall, Sentence, UserTurn
from ..latency import TurnLog
from ..text import SentenceSplitter
from ..tools.box import ReplyTools

log = logging.getLogger("voiced.brain")


async def brain(
    turn: UserTurn,
    tx: trio.MemorySendChannel[Sentence | EndCall],
    engine: Brain,
    fallback: Brain,
    turnlog: TurnLog | None,
    call_id: str,
    faults: Faults | None = None,
    tools: ReplyTools | None = None,
) -> None:
    with tx:
        said, failure = await _stream(engine, turn, tx, turnlog, tools)
        if failure is None:
            return
        log.warning("call %s: brain failed (%s)%s", call_id, failure,
                    "" if said else "; the fallback answers")
        if faults is not None:
            faults.add(Engine.LLM, FaultKind.of(failure))
        if not said:
            await _stream(fallback, turn, tx, turnlog)


async def _stream(
    source: Brain,
    turn: UserTurn,
    tx: trio.MemorySendChannel[Sentence | EndCall],
    turnlog: TurnLog | None,
    tools: ReplyTools | None = None,
) -> tuple[bool, EngineError | None]:
    """Relay one engine's reply as sentences. Returns (said anything, failure or None)."""
    frag_tx, frag_rx = trio.open_memory_channel[str | EndCall](32)
    failure: EngineError | None = None
    said = False

    async def produce() -> None:
        nonlocal failure
        with frag_tx:
            try:
                await source.reply(turn, frag_tx, tools)
            except EngineError as exc:
                failure = exc

    splitter = SentenceSplitter()
    end: EndCall | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async for fragment in frag_rx:
            if turnlog is not None and turnlog.t_llm_first is None:
                turnlog.t_llm_first = trio.current_time()
            if isinstance(fragment, EndCall):
                end = fragment
                continue
            if turnlog is not None:
                turnlog.fragments += 1
            for text in splitter.push(fragment):
                said = True
                await tx.send(Sentence(text, turn.language))
    rest = splitter.flush()
    if rest:
        said = True
        await tx.send(Sentence(rest, turn.language))
    if end is not None:
        await tx.send(end)
    return said, failure
