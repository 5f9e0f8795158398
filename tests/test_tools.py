"""Tools in the brain: streamed function calls against a local OpenAI-compatible server (real
sockets, real clock), the call's tool box (deadlines, schema, side effects once and only when
heard, answers kept), the built-in appointment and message tools on a real SQLite book, and
the business's own tools signed and checked by a server the test starts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypercorn.config import Config as HyperConfig
from hypercorn.trio import serve
from quart import request
from quart_trio import QuartTrio

from voiced.book.schedule import Schedule
from voiced.book.sqlite import SqliteBook
from voiced.config import BookConfig, HttpToolConfig, OpenAIConfig
from voiced.engines.openai import OpenAIBrain
from voiced.events import EndCall, EndReason, Message, ToolCall, UserTurn
from voiced.lab.sim.llm import FakeLLM
from voiced.tools import builtin
from voiced.tools.base import CallContext, Json, Outcome, ToolSpec
from voiced.tools.box import ToolBox, check
from voiced.tools.http import HttpTool, Webhook, verify

CTX = CallContext("CA" + "1" * 32, "+972501234567", "he")
SECRET = "s3cret"


class Slow:
    """A tool that takes ``delay`` and counts its runs."""

    def __init__(self, name: str, delay: float, side_effects: bool = False,
                 deadline_s: float = 1.0) -> None:
        self.spec = ToolSpec(name, "slow", {"type": "object", "properties": {
            "n": {"type": "integer"}}}, side_effects=side_effects, deadline_s=deadline_s)
        self.delay = delay
        self.runs = 0

    async def run(self, args: Json, ctx: CallContext) -> Outcome:
        self.runs += 1
        await trio.sleep(self.delay)
        return Outcome({"n": args.get("n"), "done": True})


def test_arguments_are_checked_against_the_schema() -> None:
    schema = {"type": "object", "required": ["service"], "properties": {
        "service": {"type": "string", "enum": ["haircut"]}, "n": {"type": "integer"},
        "ok": {"type": "boolean"}}}
    assert check(schema, {"service": "haircut", "n": 2, "ok": True}) == ""
    assert check(schema, {}) == "missing 'service'"
    assert check(schema, {"service": "massage"}).startswith("'service' must be one of")
    assert check(schema, {"service": "haircut", "n": True}) == "'n' must be integer"
    assert check(schema, {"service": "haircut", "ok": 1}) == "'ok' must be boolean"
    assert check(schema, ["haircut"]) == "arguments must be a JSON object"


async def test_a_side_effect_waits_for_the_reply_to_be_heard_runs_once_and_is_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Prepared speculatively, a booking waits for the release; a barge-in cancelling the
    reply does not cut it short, and its answer is in the history; asked again (the caller
    repeats), it is not run twice."""
    booking = Slow("book_it", delay=0.5, side_effects=True)
    remembered: list[Message] = []
    async with trio.open_nursery() as call:
        box = ToolBox([booking], CTX, call, remember=lambda m: remembered.extend(m))
        released = trio.Event()
        ask = ToolCall("c1", "book_it", '{"n": 1}')
        with trio.CancelScope() as reply:
            call.start_soon(lambda: _cancel_after(reply, 0.7))
            async def answer() -> None:
                await box.for_reply(released).call(ask)
            async with trio.open_nursery() as inner:
                inner.start_soon(answer)
                await trio.sleep(0.3)
                assert booking.runs == 0  # not yet heard: not yet run
                released.set()
        assert reply.cancelled_caught  # the caller talked over it mid-booking
        await trio.sleep(1.0)
        assert booking.runs == 1
        assert [m.role for m in remembered] == ["assistant", "tool"]
        assert json.loads(remembered[1].content) == {"n": 1, "done": True}
        again = await box.for_reply(released).call(ToolCall("c2", "book_it", '{"n": 1}'))
        assert json.loads(again) == {"n": 1, "done": True} and booking.runs == 1


async def _cancel_after(scope: trio.CancelScope, seconds: float) -> None:
    await trio.sleep(seconds)
    scope.cancel()


async def test_unknown_tools_bad_json_and_deadlines_are_errors_the_brain_hears(
    autojump_clock: trio.testing.MockClock,
) -> None:
    released = trio.Event()
    released.set()
    async with trio.open_nursery() as call:
        tools = ToolBox([Slow("slow", delay=5.0)], CTX, call).for_reply(released)
        assert "no tool" in await tools.call(ToolCall("1", "nope", "{}"))
        assert "not JSON" in await tools.call(ToolCall("2", "slow", "{n: 1"))
        assert "must be integer" in await tools.call(ToolCall("3", "slow", '{"n": "x"}'))
        t0 = trio.current_time()
        assert "did not answer in time" in await tools.call(ToolCall("4", "slow", "{}"))
        assert trio.current_time() - t0 == pytest.approx(1.0)


async def test_streamed_parallel_tool_calls_are_run_and_answered_then_the_reply_speaks() -> None:
    """Two calls in one round, their arguments in interleaved fragments: both run, their
    answers go back under their ids, the model's words follow; the hang-up a tool asked for
    comes last."""
    lookup, other = Slow("lookup", 0.05), Slow("other", 0.05)
    llm = FakeLLM(ttft_s=0.02, per_token_s=0.0, tokens=("All done. ", "Goodbye."),
                  tool_calls=({"name": "lookup", "arguments": {"n": 7}},
                              {"name": "other", "arguments": {"n": 8}},
                              {"name": "hangup", "arguments": {}}))
    released = trio.Event()
    released.set()
    async with llm.running() as url, httpx.AsyncClient() as http, trio.open_nursery() as call:
        box = ToolBox([lookup, other, builtin.Hangup()], CTX, call, now=lambda: "Sunday")
        b = OpenAIBrain(OpenAIConfig(base_url=url), http)
        tx, rx = trio.open_memory_channel[str | EndCall](100)
        async with tx:
            await b.reply(UserTurn("check please", "en"), tx, box.for_reply(released))
        out = [x async for x in rx]
    assert "".join(x for x in out if isinstance(x, str)) == "All done. Goodbye."
    assert out[-1] == EndCall(EndReason.AGENT_HANGUP, "", "hangup")
    assert lookup.runs == other.runs == 1
    first, second = llm.requests
    assert {t["function"]["name"] for t in first["tools"]} == {"lookup", "other", "hangup"}
    assert "Now: Sunday" in first["messages"][0]["content"]
    asked = second["messages"][-4]
    assert [c["function"]["name"] for c in asked["tool_calls"]] == ["lookup", "other", "hangup"]
    answers = {m["tool_call_id"]: json.loads(m["content"]) for m in second["messages"][-3:]}
    assert answers["call_0_lookup"] == {"n": 7, "done": True}
    assert answers["call_1_other"] == {"n": 8, "done": True}


async def test_a_slow_tool_gets_the_filler_said_while_it_runs() -> None:
    llm = FakeLLM(ttft_s=0.01, per_token_s=0.0, tokens=("Found it.",),
                  tool_calls=({"name": "lookup", "arguments": {}},))
    released = trio.Event()
    released.set()
    async with llm.running() as url, httpx.AsyncClient() as http, trio.open_nursery() as call:
        box = ToolBox([Slow("lookup", 0.4)], CTX, call)
        b = OpenAIBrain(OpenAIConfig(base_url=url), http, filler={"he": "רגע, אני בודק."},
                        filler_after_ms=100)
        tx, rx = trio.open_memory_channel[str | EndCall](100)
        async with tx:
            await b.reply(UserTurn("יש תור מחר?", "he"), tx, box.for_reply(released))
        out = [x async for x in rx]
    assert out == ["רגע, אני בודק. ", "Found it."]


def test_history_cut_inside_a_round_of_tool_calls_drops_the_orphan_answers() -> None:
    from voiced.engines.openai import _consistent

    call = ToolCall("c1", "lookup", "{}")
    history = [Message("tool", "{}", tool_call_id="c0"), Message("user", "hi"),
               Message("assistant", "", tool_calls=(call,)), Message("tool", "{}", tool_call_id="c1")]
    assert _consistent(history) == history[1:]


@pytest.fixture
def book(tmp_path: Path) -> SqliteBook:
    cfg = BookConfig()
    schedule = Schedule(cfg)
    return SqliteBook(tmp_path / "book.sqlite3", schedule,
                      clock=lambda: datetime(2026, 12, 6, 8, 0, tzinfo=schedule.zone))


async def test_booking_by_tool_needs_a_yes_offers_the_nearest_and_is_recorded(book: SqliteBook) -> None:
    services = ("haircut", "colour")
    booker = builtin.BookAppointment(book, services, book.schedule.zone)
    args = {"service": "haircut", "date": "2026-12-06", "time": "10:00", "name": "Moshe"}
    unconfirmed = await booker.run({**args, "confirmed": False}, CTX)
    assert "confirm" in unconfirmed.result["error"]
    done = await booker.run({**args, "confirmed": True}, CTX)
    assert done.result["booked"]["time"] == "10:00" and done.record is not None
    taken = await booker.run({**args, "confirmed": True}, CallContext("CA2", "+972509999999", "he"))
    assert "taken" in taken.result["error"]
    assert [s["time"] for s in taken.result["nearest"]] == ["09:30", "10:30", "09:15"]
    free = await builtin.CheckAvailability(book, services).run(
        {"service": "haircut", "date": "2026-12-06"}, CTX)
    assert "10:00" not in free.result["free"] and "09:00" in free.result["free"]
    mine = await builtin.ListAppointments(book).run({}, CTX)
    [appt] = mine.result["appointments"]
    cancel = builtin.CancelAppointment(book)
    assert "confirm" in (await cancel.run({"appointment_id": appt["id"], "confirmed": False},
                                          CTX)).result["error"]
    assert (await cancel.run({"appointment_id": appt["id"], "confirmed": True},
                             CTX)).result["cancelled"]["id"] == appt["id"]


@asynccontextmanager
async def business_server(answer: Mapping[str, Any] | None = None) -> AsyncIterator[tuple[str, list[Any]]]:
    """The business's own server: records each request with whether its signature holds."""
    app = QuartTrio("business")
    seen: list[Any] = []

    @app.post("/<path:name>")
    async def handle(name: str) -> Any:
        body = await request.get_data(as_text=False)
        assert isinstance(body, bytes)
        headers = {k: v for k, v in request.headers.items()}
        seen.append((name, json.loads(body), verify(body, headers, SECRET)))
        return dict(answer or {"ok": True})

    config = HyperConfig()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    done = trio.Event()
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(serve, app, config, shutdown_trigger=done.wait))
        try:
            yield binds[0], seen
        finally:
            done.set()


async def test_the_business_tool_gets_signed_arguments_and_its_answer_reaches_the_brain() -> None:
    async with business_server({"stock": 3}) as (base, seen), httpx.AsyncClient() as http:
        tool = HttpTool(HttpToolConfig(
            "stock", "Items in stock", f"{base}/stock",
            parameters='{"type": "object", "required": ["item"], "properties": '
                       '{"item": {"type": "string"}}}'), http, SECRET)
        assert tool.spec.side_effects
        outcome = await tool.run({"item": "shampoo"}, CTX)
        message = await builtin.TakeMessage(Webhook(f"{base}/messages", http, SECRET)).run(
            {"name": "Dana", "message": "please call back", "for": "Ruti"}, CTX)
    assert outcome.result == {"stock": 3}
    (name, body, signed), (hook, note, hook_signed) = seen
    assert name == "stock" and signed and body["arguments"] == {"item": "shampoo"}
    assert body["caller"] == CTX.caller and body["call_sid"] == CTX.call_sid
    assert hook == "messages" and hook_signed and note["message"]["for"] == "Ruti"
    assert message.record is not None and message.record["sent"] is True
    assert message.record["message"]["callback_number"] == CTX.caller
    # Forged: another secret does not verify, nor an old timestamp.
    raw = json.dumps({"x": 1}).encode()
    from voiced.tools.http import signed as sign
    assert not verify(raw, sign(raw, "other"), SECRET)
    assert not verify(raw, sign(raw, SECRET, now=1000.0), SECRET)


async def test_a_message_is_kept_when_the_webhook_is_down() -> None:
    async with httpx.AsyncClient() as http:
        taker = builtin.TakeMessage(Webhook("http://127.0.0.1:9/none", http, SECRET))
        outcome = await taker.run({"name": "Dana", "message": "call me"}, CTX)
    assert outcome.result == {"taken": True}
    assert outcome.record is not None and outcome.record["sent"] is False


class _Sse(httpx.AsyncByteStream):
    """A chat completion streamed in virtual time: ``ttft`` then the chunks."""

    def __init__(self, chunks: list[dict[str, Any]], ttft: float) -> None:
        self._chunks = chunks
        self._ttft = ttft

    async def __aiter__(self) -> AsyncIterator[bytes]:
        await trio.sleep(self._ttft)
        for chunk in self._chunks:
            yield f"data: {json.dumps(chunk)}\n\n".encode()
        yield b"data: [DONE]\n\n"


def _virtual_llm(tool_calls: list[dict[str, Any]], text: str, ttft: float) -> httpx.MockTransport:
    """An OpenAI-compatible endpoint in the test's own (virtual) time: tool calls for a turn,
    ``text`` once the tools have answered."""
    from voiced.lab.sim.llm import _tool_call_chunks

    async def handler(req: httpx.Request) -> httpx.Response:
        body = json.loads(req.content)
        if body["messages"][-1]["role"] == "user":
            chunks = _tool_call_chunks(tuple(tool_calls))
        else:
            chunks = [{"choices": [{"index": 0, "delta": {"content": text}}]}]
        return httpx.Response(200, headers={"Content-Type": "text/event-stream"},
                              stream=_Sse(chunks, ttft))
    return httpx.MockTransport(handler)


async def test_a_slow_tool_gets_the_filler_at_exactly_filler_after_ms_then_the_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    released = trio.Event()
    released.set()
    transport = _virtual_llm([{"name": "lookup", "arguments": {}}], "Found it.", ttft=0.3)
    async with httpx.AsyncClient(transport=transport) as http, trio.open_nursery() as call:
        box = ToolBox([Slow("lookup", 2.0, deadline_s=5.0)], CTX, call)
        b = OpenAIBrain(OpenAIConfig(base_url="http://llm.test/v1"), http,
                        filler={"en": "One moment."}, filler_after_ms=700)
        tx, rx = trio.open_memory_channel[str | EndCall](100)
        t0 = trio.current_time()
        heard: list[tuple[float, str | EndCall]] = []

        async def listen() -> None:
            async for x in rx:
                heard.append((round(trio.current_time() - t0, 3), x))
        async with trio.open_nursery() as n:
            n.start_soon(listen)
            async with tx:
                await b.reply(UserTurn("is there a slot?", "en"), tx, box.for_reply(released))
    # The tool call arrives at 0.3 s; the filler 0.7 s after it; the tool answers at 2.3 s,
    # the model's words 0.3 s later.
    assert heard == [(1.0, "One moment. "), (2.6, "Found it.")]


class MemoryBook:
    """The book's interface in memory and in virtual time (a write takes ``delay``)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.booked: list[tuple[str, datetime]] = []

    async def book(self, service: str, start: datetime, phone: str, name: str,
                   staff: str | None = None) -> Any:
        await trio.sleep(self.delay)
        self.booked.append((phone, start))
        from voiced.book.schedule import Appointment, Slot

        return Appointment(f"a{len(self.booked)}", service, Slot(start, start, ""), phone, name)

    async def nearest(self, service: str, wanted: datetime, n: int = 3) -> list[Any]:
        return []


async def test_a_barge_in_during_book_appointment_leaves_exactly_one_booking(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The caller talks over the reply while the booking is being written; the reply stops,
    the booking finishes; the caller's repeated yes finds it done rather than booking again."""
    from zoneinfo import ZoneInfo

    book = MemoryBook(delay=1.0)
    tool = builtin.BookAppointment(book, ("haircut",), ZoneInfo("Asia/Jerusalem"))  # type: ignore[arg-type]
    args = json.dumps({"service": "haircut", "date": "2026-12-08", "time": "10:00", "name": "M",
                       "confirmed": True})
    remembered: list[Message] = []
    released = trio.Event()
    released.set()
    async with trio.open_nursery() as call:
        box = ToolBox([tool], CTX, call, remember=lambda m: remembered.extend(m))
        with trio.move_on_after(0.4) as barge_in:  # the reply is cut off mid-booking
            await box.for_reply(released).call(ToolCall("c1", "book_appointment", args))
        assert barge_in.cancelled_caught and book.booked == []
        await trio.sleep(1.0)
        assert len(book.booked) == 1  # it finished all the same
        again = json.loads(await box.for_reply(released).call(
            ToolCall("c2", "book_appointment", args)))
        assert again["booked"]["id"] == "a1"
    assert len(book.booked) == 1
    assert any(m.role == "tool" and "a1" in m.content for m in remembered)
