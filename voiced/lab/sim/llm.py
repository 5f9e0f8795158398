"""A local OpenAI-compatible server: chat completions streamed as Server-Sent Events, and
``/v1/audio/transcriptions`` (multipart). For tests and ``voiced bench --engines sim``.

Behaviour is set per instance: time to first token, delay per token, the reply's tokens, a
hang (never answers), or an HTTP error. With ``tool_calls``, a request whose last message is
the caller's is answered with those calls instead (each streamed as OpenAI does: id and name
first, the arguments in fragments, all calls of a round interleaved by index, then
``finish_reason: "tool_calls"``), and a request that brings the tools' answers back gets the
tokens. Served by hypercorn on 127.0.0.1, so clients go
through real sockets, real HTTP and real SSE framing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

DEFAULT_REPLY = ("Sure. ", "We are open ", "Sunday ", "to ", "Thursday, ", "from ", "nine ", "to ",
                 "six. ", "Anything ", "else?")


def _tool_call_chunks(calls: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """The chunks of a streamed round of tool calls: each call's id and name, then its
    arguments in three fragments, the calls interleaved; the last chunk says why it ended."""
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": "c1", "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "tool_calls": [
        {"index": i, "id": f"call_{i}_{c['name']}", "type": "function",
         "function": {"name": c["name"], "arguments": ""}}]}) for i, c in enumerate(calls)]
    texts = [json.dumps(c["arguments"], ensure_ascii=False) for c in calls]
    for part in range(3):
        for i, text in enumerate(texts):
            n = -(-len(text) // 3)
            out.append(chunk({"tool_calls": [
                {"index": i, "function": {"arguments": text[part * n:(part + 1) * n]}}]}))
    out.append(chunk({}, "tool_calls"))
    return out


@dataclass
class FakeLLM:
    ttft_s: float = 0.35
    per_token_s: float = 0.015
    tokens: tuple[str, ...] = DEFAULT_REPLY
    hang: bool = False
    status: int = 200
    transcript: str = "what are your opening hours?"
    # Each {"name": ..., "arguments": {...}}: the calls a turn is answered with.
    tool_calls: tuple[dict[str, Any], ...] = ()
    # Answers in order, one per request, before any of the above: {"say": "..."} streams those
    # words, {"tools": [{"name": ..., "arguments": {...}}, ...]} that round of calls.
    script: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Keep ``requests`` (tests read them; a long benchmark must not).
    keep_log: bool = True
    streams_started: int = 0
    streams_finished: int = 0

    def app(self) -> QuartTrio:
        app = QuartTrio("fake-llm")

        @app.post("/v1/chat/completions")
        async def chat() -> Any:
            body = await request.get_json()
            if self.keep_log:
                self.requests.append(body)
            if self.status != 200:
                return {"error": {"message": "fake failure"}}, self.status

            async def events() -> AsyncIterator[bytes]:
                self.streams_started += 1
                if self.hang:
                    await trio.sleep_forever()
                await trio.sleep(self.ttft_s)
                scripted = self.script.pop(0) if self.script else None
                if scripted is not None and "tools" in scripted:
                    for chunk in _tool_call_chunks(tuple(scripted["tools"])):
                        yield f"data: {json.dumps(chunk)}\n\n".encode()
                    yield b"data: [DONE]\n\n"
                    self.streams_finished += 1
                    return
                if scripted is not None:
                    for word in str(scripted.get("say", "")).split(" "):
                        chunk = {"id": "c1", "object": "chat.completion.chunk",
                                 "choices": [{"index": 0, "delta": {"content": word + " "}}]}
                        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode()
                    yield b"data: [DONE]\n\n"
                    self.streams_finished += 1
                    return
                if self.tool_calls and body["messages"][-1]["role"] == "user":
                    for chunk in _tool_call_chunks(self.tool_calls):
                        await trio.sleep(self.per_token_s)
                        yield f"data: {json.dumps(chunk)}\n\n".encode()
                    yield b"data: [DONE]\n\n"
                    self.streams_finished += 1
                    return
                for i, token in enumerate(self.tokens):
                    if i:
                        await trio.sleep(self.per_token_s)
                    chunk = {"id": "c1", "object": "chat.completion.chunk",
                             "choices": [{"index": 0, "delta": {"content": token}}]}
                    yield f"data: {json.dumps(chunk)}\n\n".encode()
                yield b"data: [DONE]\n\n"
                self.streams_finished += 1

            return events(), 200, {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}

        @app.post("/v1/audio/transcriptions")
        async def transcriptions() -> Any:
            form = await request.form
            files = await request.files
            upload = files.get("file")
            audio = upload.read() if upload is not None else b""
            self.requests.append({"model": form.get("model"), "language": form.get("language"),
                                  "bytes": len(audio), "riff": audio[:4] == b"RIFF"})
            if not audio:
                return {"error": {"message": "no file"}}, 400
            await trio.sleep(self.ttft_s)
            return {"text": self.transcript, "language": form.get("language") or "en"}

        return app

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on a free loopback port; yields the base URL (``http://127.0.0.1:P/v1``)."""
        config = HyperConfig()
        config.bind = ["127.0.0.1:0"]
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")
        done = trio.Event()
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(serve, self.app(), config, shutdown_trigger=done.wait))
            try:
                yield binds[0].replace("http://", "http://", 1) + "/v1"
            finally:
                done.set()
                nursery.cancel_scope.deadline = trio.current_time() + 2
