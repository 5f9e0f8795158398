"""Any OpenAI-compatible chat endpoint (OpenAI, Groq, Gemini's compatible API, vLLM, Ollama,
llama.cpp server) streamed over Server-Sent Events with httpx.

One ``httpx.AsyncClient`` per process, and every request inside ``async with
client.stream(...)``: a reply cancelled by barge-in or hangup must hand its pooled connection
back, or the pool runs dry a few hundred cancellations later.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import trio

from ..config import OpenAIConfig, secret
from ..errors import EngineError, EngineTimeout
from ..events import EndCall, UserTurn

log = logging.getLogger("voiced.llm")


class OpenAIBrain:
    def __init__(self, cfg: OpenAIConfig, client: httpx.AsyncClient) -> None:
        self._cfg = cfg
        self._client = client
        self._url = cfg.base_url.rstrip("/") + "/chat/completions"

    def _body(self, turn: UserTurn) -> dict[str, Any]:
        history = list(turn.history)[-2 * self._cfg.history_turns :] if self._cfg.history_turns else []
        user = turn.text if not turn.dtmf else f"{turn.text} (caller pressed {turn.dtmf})".strip()
        messages = [{"role": "system", "content": self._cfg.system_prompt}]
        messages += [{"role": m.role, "content": m.content} for m in history]
        messages.append({"role": "user", "content": user})
        return {
            "model": self._cfg.model,
            "messages": messages,
            "stream": True,
            "temperature": self._cfg.temperature,
            "max_tokens": self._cfg.max_tokens,
        }

    async def reply(self, turn: UserTurn, tx: trio.MemorySendChannel[str | EndCall]) -> None:
        headers = {"Accept": "text/event-stream"}
        key = secret(self._cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        first_deadline = trio.current_time() + self._cfg.first_token_timeout_ms / 1000
        got_token = False
        with trio.move_on_after(self._cfg.total_timeout_ms / 1000) as total:
            try:
                with trio.CancelScope(deadline=first_deadline) as first:
                    async with self._client.stream(
                        "POST", self._url, json=self._body(turn), headers=headers
                    ) as resp:
                        if resp.status_code != 200:
                            body = (await resp.aread())[:200]
                            raise EngineError(f"LLM answered HTTP {resp.status_code}: {body!r}")
                        async for line in resp.aiter_lines():
                            token = _token(line)
                            if token is None:
                                continue
                            if isinstance(token, _Done):
                                return
                            if token:
                                if not got_token:
                                    got_token = True
                                    first.deadline = float("inf")
                                await tx.send(token)
                if first.cancelled_caught:
                    raise EngineTimeout(
                        f"LLM sent no token within {self._cfg.first_token_timeout_ms} ms"
                    )
            except httpx.HTTPError as exc:
                raise EngineError(f"LLM request failed: {type(exc).__name__}") from None
        if total.cancelled_caught:
            raise EngineTimeout(f"LLM reply exceeded {self._cfg.total_timeout_ms} ms")


class _Done:
    """The stream's ``data: [DONE]`` line."""


_DONE = _Done()


def _token(line: str) -> str | _Done | None:
    """The content delta of one SSE line; ``_DONE`` at the end; None for anything else."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return _DONE
    try:
        chunk = json.loads(data)
        delta = chunk["choices"][0].get("delta") or {}
        content = delta.get("content")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        log.warning("LLM sent an unreadable stream line (%d chars)", len(data))
        return None
    return content if isinstance(content, str) and content else None
