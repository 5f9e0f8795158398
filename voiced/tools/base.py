"""A tool as the brain sees it (name, description, JSON Schema of its arguments) and as the
call runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..events import EndCall

Json = Mapping[str, Any]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: Json = field(default_factory=lambda: {"type": "object", "properties": {}})
    # Changes something (books, cancels, sends, ends the call): runs only once the reply
    # that asked for it is heard (never for a reply prepared while the caller may go on), and
    # never twice with the same arguments in one call.
    side_effects: bool = False
    deadline_s: float = 5.0

    def openai(self) -> dict[str, Any]:
        """The spec in the chat completions ``tools`` format."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": dict(self.parameters)}}


@dataclass(frozen=True)
class CallContext:
    """What a tool may know of the call it serves."""

    call_sid: str
    caller: str  # the caller's number (E.164), or "" if withheld
    language: str


@dataclass(frozen=True)
class Outcome:
    """A tool's answer: ``result`` goes back to the brain as JSON; ``end`` ends or transfers
    the call once the reply is said; ``record`` goes into the call record (a message taken)."""

    result: Json
    end: EndCall | None = None
    record: Json | None = None


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, args: Json, ctx: CallContext) -> Outcome: ...
