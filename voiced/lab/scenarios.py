"""``voiced test scenarios/*.toml``: scripted conversations with the business's agent, and
what each reply must say and do. For the business's owner as much as for us: "when a caller
asks for Tuesday at ten, it books Tuesday at ten".

A scenario is a TOML file::

    name = "A haircut booked in Hebrew"
    language = "he"
    caller = "+972501234567"
    now = "2026-12-02T10:00"        # the business's local time (the book's clock)
    [[booked]]                      # appointments already in the book
    service = "haircut"
    start = "2026-12-08T10:00"
    [[turn]]
    say = "אני רוצה לקבוע תור לתספורת מחר בעשר"
    contains = "לקבוע תספורת"       # the reply must contain this (or match ``regex``)
    [[turn]]
    say = "כן"
    tool = "book_appointment"       # called in this turn (``tool_args``: a subset of its arguments)
    end = ""                        # "hangup" or "transfer": the call ends so

``audio = false`` keeps a scenario out of audio mode (one about a given transcript).

Text mode goes straight to the brain with the call's tools on a fresh book in a temporary
directory: a scenario takes well under a second. The brain is the scripted receptionist
(``run_scenario`` takes any other, the LLM's included). Audio mode (``--audio``) makes each
scenario a phone call through the whole pipeline (:mod:`voiced.lab.scenarios_audio`).
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import trio

from ..book.schedule import Schedule
from ..book.sqlite import SqliteBook
from ..business import Facts
from ..config import Config
from ..engines.base import Brain
from ..engines.booking import Booking
from ..engines.openai import OpenAIBrain
from ..engines.scripted import ScriptedBrain
from ..events import EndCall, EndReason, Message, UserTurn
from ..tools import builtin
from ..tools.base import CallContext, Json, Outcome, Tool, ToolSpec
from ..tools.box import ToolBox
from .sim.llm import FakeLLM


@dataclass
class Called:
    name: str
    args: dict[str, Any]
    result: Json


class Recorded:
    """A tool that notes each call and when it began, for the scenario's ``tool`` checks
    (audio mode finds the caller line a call served by its time)."""

    def __init__(self, tool: Tool, log: list[tuple[float, Called]]) -> None:
        self._tool = tool
        self._log = log
        self.spec: ToolSpec = tool.spec

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        t = trio.current_time()
        outcome = await self._tool.run(args, ctx)
        self._log.append((t, Called(self.spec.name, dict(args), outcome.result)))
        return outcome


@dataclass
class TurnResult:
    said: str
    reply: str
    tools: list[Called] = field(default_factory=list)
    end: EndCall | None = None
    failures: list[str] = field(default_factory=list)


def check(turn: Mapping[str, Any], result: TurnResult) -> list[str]:
    """What the turn expected and did not get."""
    out = []
    if "contains" in turn and str(turn["contains"]) not in result.reply:
        out.append(f"reply does not contain {turn['contains']!r}")
    if "regex" in turn and not re.search(str(turn["regex"]), result.reply):
        out.append(f"reply does not match /{turn['regex']}/")
    if "tool" in turn:
        calls = [c for c in result.tools if c.name == turn["tool"]]
        wanted = turn.get("tool_args", {})
        if not any(all(c.args.get(k) == v for k, v in wanted.items()) for c in calls):
            out.append(f"{turn['tool']} was not called with {wanted}" if calls else
                       f"{turn['tool']} was not called")
    for name in turn.get("no_tool", []):
        if any(c.name == name for c in result.tools):
            out.append(f"{name} was called")
    end = turn.get("end")
    if end is not None:
        got = {EndReason.AGENT_HANGUP: "hangup", EndReason.TRANSFERRED: "transfer"}.get(
            result.end.reason, str(result.end.reason)) if result.end else ""
        if got != end:
            out.append(f"the call {'ended: ' + got if got else 'went on'}, expected {end or 'on'}")
    return out


def scenario_now(scenario: Mapping[str, Any], schedule: Schedule) -> datetime:
    """The business's local time the scenario happens at (the book's clock)."""
    return datetime.fromisoformat(str(scenario.get("now", "2026-12-02T10:00"))).replace(
        tzinfo=schedule.zone)


async def prefill(book: SqliteBook, scenario: Mapping[str, Any]) -> None:
    """The scenario's ``[[booked]]`` appointments into ``book``."""
    for i, b in enumerate(scenario.get("booked", [])):
        start = datetime.fromisoformat(b["start"]).replace(tzinfo=book.schedule.zone)
        await book.book(b["service"], start, b.get("phone", f"+1555000{i:04d}"), "booked")


async def run_scenario(cfg: Config, scenario: Mapping[str, Any],
                       brain: Brain | None = None, llm: FakeLLM | None = None) -> list[TurnResult]:
    """Play the scenario's turns to ``brain`` (default: the scripted receptionist); with
    ``llm`` (a running :class:`FakeLLM` the brain talks to), each turn's ``llm`` list is what
    that server answers the brain's requests in that turn."""
    lang = str(scenario.get("language", cfg.call.language))
    schedule = Schedule(cfg.book)
    now = scenario_now(scenario, schedule)
    log: list[tuple[float, Called]] = []
    results: list[TurnResult] = []
    with tempfile.TemporaryDirectory(prefix="voiced-scenario-") as state:
        book = SqliteBook(Path(state) / "book.sqlite3", schedule, clock=lambda: now)
        await prefill(book, scenario)
        services = tuple(s.name for s in cfg.book.services)
        tools: list[Tool] = [builtin.CheckAvailability(book, services),
                             builtin.BookAppointment(book, services, schedule.zone),
                             builtin.ListAppointments(book), builtin.CancelAppointment(book),
                             builtin.TakeMessage(), builtin.Hangup()]
        if cfg.tools.transfer:
            tools.append(builtin.Transfer(cfg.tools.transfer))
        if brain is None:
            brain = ScriptedBrain(cfg.brain.script, cfg.call.language,
                                  Booking(schedule, clock=lambda: now))
        history: list[Message] = []
        async with trio.open_nursery() as call:
            box = ToolBox([Recorded(t, log) for t in tools],
                          CallContext("CA" + "0" * 32, str(scenario.get("caller", "+15550100")),
                                      lang), call,
                          now=lambda: now.strftime("%A %Y-%m-%d %H:%M"))
            heard = trio.Event()
            heard.set()  # every reply is heard in full: the scenario waits for it
            for turn in scenario.get("turn", []):
                before = len(log)
                if llm is not None:
                    llm.script[:] = list(turn.get("llm", []))
                tx, rx = trio.open_memory_channel[str | EndCall](64)
                async with tx:
                    await brain.reply(UserTurn(str(turn["say"]), lang, history=tuple(history)),
                                      tx, box.for_reply(heard))
                out = [x async for x in rx]
                reply = "".join(x for x in out if isinstance(x, str)).strip()
                end = next((x for x in out if isinstance(x, EndCall)), None)
                result = TurnResult(str(turn["say"]), reply, [c for _, c in log[before:]], end)
                result.failures = check(turn, result)
                results.append(result)
                history += [Message("user", result.said), Message("assistant", reply)]
                if end is not None:
                    break
    return results


async def with_llm(cfg: Config, scenario: Mapping[str, Any]) -> list[TurnResult]:
    """The scenario against the LLM brain, the local LLM server answering as its turns say."""
    server = FakeLLM(ttft_s=0.01, per_token_s=0.0, keep_log=False)
    async with server.running() as url, httpx.AsyncClient() as http:
        brain = OpenAIBrain(dataclasses.replace(cfg.brain.openai, base_url=url), http,
                            facts=Facts(cfg).brief())
        return await run_scenario(cfg, scenario, brain, server)
