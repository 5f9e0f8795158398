"""The OpenAI-compatible client against a local SSE server (real sockets, real clock)."""

from __future__ import annotations

import httpx
import pytest
import trio

from voiced.config import Config, OpenAIConfig, WhisperApiConfig
from voiced.engines.openai import OpenAIBrain
from voiced.engines.scripted import ScriptedBrain
from voiced.engines.whisper_api import WhisperApiSTT
from voiced.errors import EngineError, EngineTimeout
from voiced.events import EndCall, Message, Sentence, UserTurn
from voiced.lab.sim.llm import FakeLLM
from voiced.lab.testing.fakes import tone
from voiced.stages.brain import brain as brain_stage


async def collect(b: OpenAIBrain, turn: UserTurn) -> list[str | EndCall]:
    tx, rx = trio.open_memory_channel[str | EndCall](100)
    async with tx:
        await b.reply(turn, tx)
    return [x async for x in rx]


async def test_tokens_stream_with_history_and_system_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICED_LLM_API_KEY", "sk-test")
    llm = FakeLLM(ttft_s=0.05, per_token_s=0.0)
    async with llm.running() as url, httpx.AsyncClient() as http:
        b = OpenAIBrain(OpenAIConfig(base_url=url, model="m1"), http)
        turn = UserTurn("When are you open?", "en", history=(Message("assistant", "Hello."),))
        tokens = await collect(b, turn)
    assert "".join(str(t) for t in tokens) == "".join(llm.tokens)
    body = llm.requests[0]
    assert body["stream"] is True and body["model"] == "m1"
    assert [m["role"] for m in body["messages"]] == ["system", "assistant", "user"]
    assert body["messages"][-1]["content"] == "When are you open?"


async def test_first_token_deadline_on_a_hung_server_gives_the_fallback_line() -> None:
    llm = FakeLLM(hang=True)
    cfg = Config()
    async with llm.running() as url, httpx.AsyncClient() as http:
        b = OpenAIBrain(OpenAIConfig(base_url=url, first_token_timeout_ms=300), http)
        with pytest.raises(EngineTimeout):
            await collect(b, UserTurn("hi", "en"))
        # Through the brain stage, the caller hears the scripted fallback instead.
        tx, rx = trio.open_memory_channel[Sentence | EndCall](10)
        t0 = trio.current_time()
        await brain_stage(UserTurn("hi", "en"), tx, b, ScriptedBrain(cfg.brain.script, "he"), None, "t")
        said = [s async for s in rx]
    assert trio.current_time() - t0 == pytest.approx(0.3, abs=0.15)
    assert " ".join(s.text for s in said if isinstance(s, Sentence)) == cfg.brain.script.fallback["en"]


async def test_http_errors_are_engine_errors() -> None:
    llm = FakeLLM(status=503)
    async with llm.running() as url, httpx.AsyncClient() as http:
        with pytest.raises(EngineError, match="HTTP 503"):
            await collect(OpenAIBrain(OpenAIConfig(base_url=url), http), UserTurn("hi", "en"))


async def test_a_thousand_cancelled_streams_leak_no_pooled_connection() -> None:
    llm = FakeLLM(ttft_s=0.0, per_token_s=0.05)
    limits = httpx.Limits(max_connections=10, max_keepalive_connections=10)
    async with llm.running() as url, httpx.AsyncClient(limits=limits, timeout=5.0) as http:
        b = OpenAIBrain(OpenAIConfig(base_url=url), http)
        for _ in range(1000):
            with trio.move_on_after(0.005):  # barge-in, mid-stream
                await collect(b, UserTurn("hi", "en"))
        # With a leaked slot per cancel, a 10-connection pool would be long exhausted.
        tokens = await collect(b, UserTurn("still there?", "en"))
    assert "".join(str(t) for t in tokens) == "".join(llm.tokens)
    assert llm.streams_started >= 900


async def test_whisper_http_uploads_16k_wav_and_reads_the_text() -> None:
    llm = FakeLLM(ttft_s=0.0)
    async with llm.running() as url, httpx.AsyncClient() as http:
        stt = WhisperApiSTT(WhisperApiConfig(base_url=url, model="whisper-large-v3"), http, 5.0)
        r = await stt.transcribe(tone(1000).tobytes(), ("he",))
    assert r.text == llm.transcript and r.language == "he"
    req = llm.requests[0]
    assert req == {"model": "whisper-large-v3", "language": "he", "bytes": 44 + 32000, "riff": True}
