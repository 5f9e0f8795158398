"""Any OpenAI-compatible chat endpoint (OpenAI, Groq, Gemini's compatible API, vLLM, Ollama,
llama.cpp server) streamed over Server-Sent Events with httpx, with function calling.

One ``httpx.AsyncClient`` per process, and every request inside ``async with
client.stream(...)``: a reply cancelled by barge-in or hangup must hand its pooled connection
back, or the pool runs dry a few hundred cancellations later.

Tools: the request offers the call's tools; the stream may carry text, ``tool_calls``
deltas (several calls at once, each built up from fragments by index), or both. Calls are run
(:mod:`voiced.tools.box`: deadlines, side effects once and only when heard), their answers go
back as ``tool`` messages and the model is asked again, up to ``tool_rounds`` rounds. If the
tools keep the caller waiting ``filler_after_ms``, the caller hears the filler line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import trio

from ..config import OpenAIConfig, secret
from ..errors import EngineError, EngineTimeout
from ..events import EndCall, Message, ToolCall, UserTurn
from ..tools.box import ReplyTools

log = logging.getLogger("voiced.llm")


@dataclass
class _Pending:
    """A tool call being streamed: id and name come first, the arguments in fragments."""

    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def call(self, index: int) -> ToolCall:
        return ToolCall(self.id or f"call_{index}", self.name, "".join(self.arguments))


def _wire(message: Message) -> dict[str, Any]:
    if message.tool_calls:
        return {"role": "assistant", "content": message.content or None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls]}
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    return {"role": message.role, "content": message.content}


def _consistent(history: list[Message]) -> list[Message]:
    """History cut to its last turns may begin inside a round of tool calls: a tool answer
    whose call was cut off is not a message any API accepts. Drop such orphans."""
    asked: set[str] = set()
    out = []
    for m in history:
        if m.tool_calls:
            asked.update(c.id for c in m.tool_calls)
        if m.role == "tool" and m.tool_call_id not in asked:
            continue
        out.append(m)
    return out


class OpenAIBrain:
    def __init__(self, cfg: OpenAIConfig, client: httpx.AsyncClient, *,
                 filler: Mapping[str, str] | None = None, filler_after_ms: int = 700,
                 facts: str = "") -> None:
        self._cfg = cfg
        self._client = client
        self._url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._filler = filler or {}
        self._filler_after = filler_after_ms / 1000
        self._facts = facts  # the business's facts (voiced.business): its one source

    def _messages(self, turn: UserTurn, tools: ReplyTools | None) -> list[dict[str, Any]]:
        history = list(turn.history)[-2 * self._cfg.history_turns :] if self._cfg.history_turns else []
        user = turn.text if not turn.dtmf else f"{turn.text} (caller pressed {turn.dtmf})".strip()
        system = self._cfg.system_prompt
        if self._facts:
            system += f" {self._facts}"
        if tools:
            system += f" Now: {tools.now()}. {self._cfg.tools_prompt}"
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        messages += [_wire(m) for m in _consistent(history)]
        messages.append({"role": "user", "content": user})
        return messages

    def _body(self, messages: list[dict[str, Any]], tools: ReplyTools | None,
              last_round: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._cfg.model,
            "messages": messages,
            "stream": True,
            "temperature": self._cfg.temperature,
            "max_tokens": self._cfg.max_tokens,
        }
        if tools:
            body["tools"] = tools.specs()
            body["tool_choice"] = "none" if last_round else "auto"
        return body

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall],
                    tools: ReplyTools | None = None) -> None:
        messages = self._messages(turn, tools)
        filled = False
        for round_ in range(self._cfg.tool_rounds + 1):
            calls = await self._round(self._body(messages, tools, round_ == self._cfg.tool_rounds), tx)
            if not calls or not tools:
                break
            messages.append(_wire(Message("assistant", "", tool_calls=tuple(calls))))
            answers, filled = await self._run(calls, tools, tx, turn.language, filled)
            messages += [{"role": "tool", "tool_call_id": c.id, "content": a}
                         for c, a in zip(calls, answers, strict=True)]
        if tools is not None and tools.end is not None:
            await tx.send(tools.end)

    async def _run(self, calls: list[ToolCall], tools: ReplyTools,
                   tx: trio.MemorySendChannel[str | EndCall], language: str,
                   filled: bool) -> tuple[list[str], bool]:
        """All of a round's calls at once; the filler if they keep the caller waiting."""
        answers = [""] * len(calls)
        done = trio.Event()

        async def one(i: int, call: ToolCall) -> None:
            answers[i] = await tools.call(call)

        async def all_of() -> None:
            async with trio.open_nursery() as inner:
                for i, call in enumerate(calls):
                    inner.start_soon(one, i, call)
            done.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(all_of)
            with trio.move_on_after(self._filler_after):
                await done.wait()
            if not done.is_set() and not filled and self._filler.get(language):
                filled = True
                await tx.send(self._filler[language] + " ")
        return answers, filled

    async def _round(self, body: dict[str, Any],
                     tx: trio.MemorySendChannel[str | EndCall]) -> list[ToolCall]:
        """One request: its text to ``tx`` as it comes; the tool calls it asked for."""
        headers = {"Accept": "text/event-stream"}
        key = secret(self._cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        first_deadline = trio.current_time() + self._cfg.first_token_timeout_ms / 1000
        pending: dict[int, _Pending] = {}
        got_token = False
        with trio.move_on_after(self._cfg.total_timeout_ms / 1000) as total:
            try:
                with trio.CancelScope(deadline=first_deadline) as first:
                    async with self._client.stream(
                        "POST", self._url, json=body, headers=headers
                    ) as resp:
                        if resp.status_code != 200:
                            text = (await resp.aread())[:200]
                            raise EngineError(f"LLM answered HTTP {resp.status_code}: {text!r}")
                        async for line in resp.aiter_lines():
                            delta = _delta(line)
                            if delta is None:
                                continue
                            if isinstance(delta, _Done):
                                break
                            token, fragments = delta
                            if (token or fragments) and not got_token:
                                got_token = True
                                first.deadline = float("inf")
                            for index, fragment in fragments:
                                _add(pending.setdefault(index, _Pending()), fragment)
                            if token:
                                await tx.send(token)
                if first.cancelled_caught:
                    raise EngineTimeout(
                        f"LLM sent no token within {self._cfg.first_token_timeout_ms} ms"
                    )
            except httpx.HTTPError as exc:
                raise EngineError(f"LLM request failed: {type(exc).__name__}") from None
        if total.cancelled_caught:
            raise EngineTimeout(f"LLM reply exceeded {self._cfg.total_timeout_ms} ms")
        if len(pending) > self._cfg.max_tool_calls:
            raise EngineError(f"LLM asked for {len(pending)} tool calls at once")
        return [pending[i].call(i) for i in sorted(pending)]


class _Done:
    """The stream's ``data: [DONE]`` line."""


_DONE = _Done()


def _add(pending: _Pending, fragment: Mapping[str, Any]) -> None:
    pending.id = fragment.get("id") or pending.id
    function = fragment.get("function") or {}
    pending.name = function.get("name") or pending.name
    if isinstance(function.get("arguments"), str):
        pending.arguments.append(function["arguments"])


def _delta(line: str) -> tuple[str | None, list[tuple[int, Mapping[str, Any]]]] | _Done | None:
    """The content and tool-call fragments of one SSE line; ``_DONE`` at the end; None for
    anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        chunk = json.loads(data)
        delta = chunk["choices"][0].get("delta") or {}
        content = delta.get("content")
        calls = delta.get("tool_calls") or []
        fragments: list[tuple[int, Mapping[str, Any]]] = [
            (int(c.get("index", i)), c) for i, c in enumerate(calls) if isinstance(c, dict)]
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        log.warning("LLM sent an unreadable stream line (%d chars)", len(data))
        return None
    token = content if isinstance(content, str) and content else None
    return (token, fragments) if token or fragments else None
