"""The machine's calls across worker processes: max_calls holds for all of them together, and a
call's stream token is good on whichever worker its socket lands on, once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from voiced.admission import Refusal, Registry, StreamTokens
from voiced.slots import CallSlots, Verdict, call_key

KEY = b"k" * 32
ACCOUNT = "AC" + "0" * 32


def sid(n: int) -> str:
    return f"CA{n:032x}"


def workers(path: Path, n: int, max_calls: int, now: list[float]) -> list[Registry]:
    """``n`` workers' registries over one slots file, as `voiced serve` makes them."""
    return [Registry(max_calls=max_calls, tokens=StreamTokens(KEY, 30.0, clock=lambda: now[0]),
                     slots=CallSlots.for_calls(max_calls, path), worker=i) for i in range(n)]


def test_a_stream_is_admitted_by_another_worker_than_its_webhook_once(tmp_path: Path) -> None:
    now = [1000.0]
    a, b = workers(tmp_path / "slots", 2, max_calls=5, now=now)
    token = a.issue(sid(1), ACCOUNT)
    assert token is not None and b.outstanding() == 1
    assert b.admit(sid(1), ACCOUNT, token) is None
    assert a.machine_calls() == 1 and a.active == 0 and b.active == 1
    assert a.admit(sid(1), ACCOUNT, token) is Refusal.REUSED  # the replay, on the other worker
    other = a.issue(sid(1), ACCOUNT)
    assert other is not None and a.admit(sid(1), ACCOUNT, other) is Refusal.DUPLICATE
    b.release(sid(1))
    assert a.machine_calls() == 0
    assert a.admit(sid(1), ACCOUNT, token) is Refusal.REUSED  # spent until it expires


def test_max_calls_holds_for_the_machine_not_per_worker(tmp_path: Path) -> None:
    now = [1000.0]
    regs = workers(tmp_path / "slots", 3, max_calls=4, now=now)
    tokens = [regs[n % 3].issue(sid(n), ACCOUNT) for n in range(6)]
    assert [t is not None for t in tokens] == [True] * 4 + [False] * 2  # busy past 4
    assert not any(r.has_room() for r in regs)
    for n in range(4):  # each stream on the next worker round
        token = tokens[n]
        assert token is not None and regs[(n + 1) % 3].admit(sid(n), ACCOUNT, token) is None
    regs[2].release(sid(1))
    assert all(r.has_room() for r in regs)
    now[0] += 60.0  # tokens expire; live calls do not
    assert regs[0].machine_calls() == 3 and regs[0].outstanding() == 0


def test_an_unused_token_holds_its_slot_until_it_expires(tmp_path: Path) -> None:
    now = [1000.0]
    (a,) = workers(tmp_path / "slots", 1, max_calls=1, now=now)
    assert a.issue(sid(1), ACCOUNT) is not None
    assert a.issue(sid(2), ACCOUNT) is None
    now[0] += 32.0
    assert a.issue(sid(2), ACCOUNT) is not None


def test_a_dead_workers_calls_free_their_slots(tmp_path: Path) -> None:
    now = [1000.0]
    a, b = workers(tmp_path / "slots", 2, max_calls=2, now=now)
    for n, reg in ((1, a), (2, b)):
        token = reg.issue(sid(n), ACCOUNT)
        assert token is not None and reg.admit(sid(n), ACCOUNT, token) is None
    assert not a.has_room()
    assert CallSlots.for_calls(2, tmp_path / "slots").drop_worker(1) == 1  # the supervisor
    assert a.has_room() and a.machine_calls() == 1


def test_spent_tokens_make_way_for_new_calls_oldest_first() -> None:
    slots = CallSlots(capacity=3)
    for n in range(3):
        assert slots.redeem(n, 2000.0 + n, call_key(sid(n)), 1000.0, 10, 0) is Verdict.ADMITTED
        slots.release(n)
    # The table is full of spent tokens: a new call takes the one that expires first.
    assert slots.redeem(9, 3000.0, call_key(sid(9)), 1000.0, 10, 0) is Verdict.ADMITTED
    assert slots.redeem(1, 2001.0, call_key(sid(1)), 1000.0, 10, 0) is Verdict.REUSED
    assert slots.redeem(0, 2000.0, call_key(sid(0)), 1000.0, 10, 0) is Verdict.ADMITTED


def _grab(path: str, worker: int, tries: int, out: multiprocessing.Queue[int]) -> None:
    slots = CallSlots.for_calls(50, path)
    won = sum(slots.reserve(worker * 1000 + i + 1, 1e12, 1000.0, 50, worker)
              for i in range(tries))
    out.put(won)


def test_workers_racing_for_the_last_slots_never_exceed_max_calls(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[int] = ctx.Queue()
    path = str(tmp_path / "slots")
    procs = [ctx.Process(target=_grab, args=(path, w, 40, out)) for w in range(3)]
    for p in procs:
        p.start()
    won = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sum(won) == 50
    rows = CallSlots.for_calls(50, path)
    assert rows.reserved(1000.0) == 50 and rows.live() == 0
