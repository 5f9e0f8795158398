"""One call's tools, run for its brain.

A reply is prepared before the caller is known to be done and cancelled when they talk over
it, so a tool call can be speculative, or cut off halfway. Tools that only look things up run
at once (that is how their answer can be ready at the endpoint). Tools that change something
wait until the reply that asked is released, run in the *call's* nursery rather than the
reply's (a barge-in stops the speech, not a booking halfway through), run once per call for
the same arguments, and leave their answer in the conversation whether or not the reply that
asked lived to say it. Every call has a deadline and its arguments are checked against the
tool's schema first; whatever goes wrong comes back to the brain as ``{"error": ...}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import trio

from ..errors import BookError
from ..events import EndCall, Message, ToolCall
from .base import CallContext, Json, Outcome, Tool

log = logging.getLogger("voiced.tools")

_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "number": (int, float), "boolean": bool,
    "array": list, "object": dict,
}
MAX_ARGUMENTS = 4096  # characters of JSON a model may send one tool


def check(schema: Json, args: Any) -> str:
    """What is wrong with ``args`` against an object schema ("" if nothing): required
    properties, their JSON types, enums. Enough for a model's mistakes; not a validator."""
    if not isinstance(args, dict):
        return "arguments must be a JSON object"
    for name in schema.get("required", ()):
        if name not in args:
            return f"missing {name!r}"
    props: Mapping[str, Any] = schema.get("properties", {})
    for name, value in args.items():
        spec = props.get(name)
        if spec is None:
            continue
        want = _TYPES.get(spec.get("type", ""))
        if want is not None and (not isinstance(value, want) or
                                 (isinstance(value, bool) and spec.get("type") != "boolean")):
            return f"{name!r} must be {spec.get('type')}"
        if "enum" in spec and value not in spec["enum"]:
            return f"{name!r} must be one of {', '.join(map(str, spec['enum']))}"
    return ""


def _dump(result: Json) -> str:
    return json.dumps(result, ensure_ascii=False, default=str)


class ToolBox:
    """The tools of one call. ``remember`` keeps each finished call and its answer in the
    conversation; ``record`` takes what a tool wants in the call record."""

    def __init__(self, tools: Sequence[Tool], ctx: CallContext, nursery: trio.Nursery, *,
                 remember: Callable[[tuple[Message, ...]], None] | None = None,
                 record: Callable[[Json], None] | None = None,
                 now: Callable[[], str] | None = None) -> None:
        self._tools = {t.spec.name: t for t in tools}
        self.now = now or (lambda: "")  # the business's date and time, for the brain
        self.ctx = ctx
        self._nursery = nursery
        self._remember = remember
        self._record = record
        self._once: dict[str, tuple[trio.Event, list[Outcome]]] = {}
        # A brain's own notes on this call (the scripted receptionist's booking in progress).
        self.memo: dict[str, Any] = {}
        self.runs = 0  # tool runs started (a repeated side effect is not run again)

    def specs(self) -> list[dict[str, Any]]:
        return [t.spec.openai() for t in self._tools.values()]

    def __bool__(self) -> bool:
        return bool(self._tools)

    def for_reply(self, released: trio.Event) -> ReplyTools:
        return ReplyTools(self, released)

    async def _run(self, tool: Tool, call: ToolCall, args: Json) -> Outcome:
        self.runs += 1
        spec = tool.spec
        outcome = Outcome({"error": f"{spec.name} did not answer in time"})
        with trio.move_on_after(spec.deadline_s):
            try:
                outcome = await tool.run(args, self.ctx)
            except BookError as exc:
                outcome = Outcome({"error": str(exc)})
            except Exception:  # a tool's bug costs its answer, not the call
                log.exception("call %s: tool %s failed", self.ctx.call_sid, spec.name)
                outcome = Outcome({"error": f"{spec.name} failed"})
        if outcome.record is not None and self._record is not None:
            self._record({"tool": spec.name, **outcome.record})
        if self._remember is not None:
            self._remember((Message("assistant", "", tool_calls=(call,)),
                            Message("tool", _dump(outcome.result), tool_call_id=call.id)))
        return outcome

    async def _side_effect(self, tool: Tool, call: ToolCall, args: Json) -> Outcome:
        key = f"{tool.spec.name} {json.dumps(args, sort_keys=True, ensure_ascii=False)}"
        if key not in self._once:
            done, box = trio.Event(), list[Outcome]()
            self._once[key] = (done, box)

            async def run() -> None:
                box.append(await self._run(tool, call, args))
                done.set()
            self._nursery.start_soon(run)  # the call's nursery: a barge-in cannot cut it short
        done, box = self._once[key]
        await done.wait()
        return box[0]

    async def call(self, call: ToolCall, released: trio.Event) -> Outcome:
        tool = self._tools.get(call.name)
        if tool is None:
            return Outcome({"error": f"there is no tool {call.name!r}"})
        if len(call.arguments) > MAX_ARGUMENTS:
            return Outcome({"error": "arguments too long"})
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            return Outcome({"error": "arguments are not JSON"})
        problem = check(tool.spec.parameters, args)
        if problem:
            return Outcome({"error": problem})
        if not tool.spec.side_effects:
            return await self._run(tool, call, args)
        await released.wait()  # only a reply the caller hears may change anything
        return await self._side_effect(tool, call, args)


class ReplyTools:
    """The tools as one reply uses them: side effects wait for its release; an end of the
    call a tool asked for is kept for the reply to say last."""

    def __init__(self, box: ToolBox, released: trio.Event) -> None:
        self._box = box
        self._released = released
        self.end: EndCall | None = None

    def specs(self) -> list[dict[str, Any]]:
        return self._box.specs()

    def __bool__(self) -> bool:
        return bool(self._box)

    def now(self) -> str:
        return self._box.now()

    @property
    def memo(self) -> dict[str, Any]:
        return self._box.memo

    async def call(self, call: ToolCall) -> str:
        """The tool's answer as the JSON text the brain gets back."""
        outcome = await self._box.call(call, self._released)
        if outcome.end is not None and self.end is None:
            self.end = outcome.end
        return _dump(outcome.result)
