"""The VM's calls, across worker processes: one small table in a memory-mapped file.

``server.max_calls`` is what the *machine* can hold, and with ``server.workers`` processes a
call's webhook and its media socket may land on different workers. So the things admission
counts live here, not in a process: a slot per call, *reserved* when the voice webhook issues
its stream token, *live* once the stream's ``start`` redeems it, *spent* after the call until
the token expires (so it cannot be used twice, on any worker).

The table is a file mapped by every worker, locked with ``flock``: the kernel drops a lock
whose holder dies, so a worker killed at the wrong moment cannot wedge the others (a
``multiprocessing.Lock`` would stay held). A critical section is a scan of a few hundred rows,
microseconds, so it is taken on the event loop. Without a path the table lives in this
process only (one worker, tests).
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum, IntEnum
from pathlib import Path

import numpy as np

ROW = np.dtype([("state", "u1"), ("worker", "<i2"), ("nonce", "<u8"), ("call", "<u8"),
                ("expiry", "<f8")])


class State(IntEnum):
    FREE = 0
    RESERVED = 1  # a stream token issued, its stream not yet started
    LIVE = 2  # a call in progress
    SPENT = 3  # the call is over; its token is remembered until it expires


class Verdict(Enum):
    ADMITTED = "admitted"
    REUSED = "token already used"
    DUPLICATE = "a stream for this call is already live"
    FULL = "max_calls reached"


def call_key(call_sid: str) -> int:
    """A CallSid as 8 bytes: the table holds no caller data in the clear."""
    return int.from_bytes(hashlib.blake2b(call_sid.encode(), digest_size=8).digest(), "little")


class CallSlots:
    """Reserved, live and spent calls of every worker on this machine.

    ``capacity`` rows hold the calls in progress and the tokens issued or spent within their
    lifetime; when it is full of spent rows the oldest is forgotten first (its token could
    then be replayed on a worker that did not issue it, only until it expires)."""

    def __init__(self, capacity: int, path: str | os.PathLike[str] | None = None) -> None:
        self.capacity = capacity
        self.path = Path(path) if path is not None else None
        self._fd: int | None = None
        self._thread_lock = threading.Lock()
        size = capacity * ROW.itemsize
        if self.path is None:
            self._buf: mmap.mmap | bytearray = bytearray(size)
        else:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            if os.fstat(self._fd).st_size != size:
                os.ftruncate(self._fd, size)
            self._buf = mmap.mmap(self._fd, size)
        self._rows = np.ndarray((capacity,), dtype=ROW, buffer=self._buf)

    @classmethod
    def for_calls(cls, max_calls: int, path: str | os.PathLike[str] | None = None) -> CallSlots:
        return cls(4 * max_calls + 256, path)

    def close(self) -> None:
        if isinstance(self._buf, mmap.mmap):
            del self._rows
            self._buf.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @contextmanager
    def _locked(self) -> Iterator[np.ndarray]:
        with self._thread_lock:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield self._rows
            finally:
                if self._fd is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)

    @staticmethod
    def _expire(rows: np.ndarray, now: float) -> None:
        gone = ((rows["state"] == State.RESERVED) | (rows["state"] == State.SPENT)) & \
            (rows["expiry"] <= now)
        rows["state"][gone] = State.FREE

    @staticmethod
    def _taken(rows: np.ndarray) -> int:
        return int(np.count_nonzero((rows["state"] == State.RESERVED) |
                                    (rows["state"] == State.LIVE)))

    def _put(self, rows: np.ndarray, state: State, worker: int, nonce: int, call: int,
             expiry: float) -> bool:
        free = np.flatnonzero(rows["state"] == State.FREE)
        if free.size:
            i = int(free[0])
        else:
            spent = np.flatnonzero(rows["state"] == State.SPENT)
            if not spent.size:
                return False
            i = int(spent[np.argmin(rows["expiry"][spent])])
        rows[i] = (state, worker, nonce, call, expiry)
        return True

    def taken(self, now: float) -> int:
        """Calls in progress and on their way (tokens issued, not yet redeemed or expired)."""
        with self._locked() as rows:
            self._expire(rows, now)
            return self._taken(rows)

    def reserved(self, now: float) -> int:
        with self._locked() as rows:
            self._expire(rows, now)
            return int(np.count_nonzero(rows["state"] == State.RESERVED))

    def live(self, worker: int | None = None) -> int:
        with self._locked() as rows:
            mine = rows["state"] == State.LIVE
            if worker is not None:
                mine &= rows["worker"] == worker
            return int(np.count_nonzero(mine))

    def reserve(self, nonce: int, expiry: float, now: float, limit: int, worker: int) -> bool:
        """For the webhook: hold a slot for a call about to stream; False when ``limit`` calls
        are in progress or on their way."""
        with self._locked() as rows:
            self._expire(rows, now)
            if self._taken(rows) >= limit:
                return False
            return self._put(rows, State.RESERVED, worker, nonce, 0, expiry)

    def redeem(self, nonce: int, expiry: float, call: int, now: float, limit: int,
               worker: int) -> Verdict:
        """For a stream's ``start``: its token (already checked for forgery and expiry) makes
        the call live on ``worker``. A token issued by another machine has no row: it needs a
        free slot under ``limit``."""
        with self._locked() as rows:
            self._expire(rows, now)
            mine = np.flatnonzero((rows["nonce"] == nonce) & (rows["state"] != State.FREE))
            if mine.size and rows["state"][mine[0]] != State.RESERVED:
                return Verdict.REUSED
            if np.any((rows["state"] == State.LIVE) & (rows["call"] == call)):
                return Verdict.DUPLICATE
            if mine.size:
                rows[int(mine[0])] = (State.LIVE, worker, nonce, call, expiry)
                return Verdict.ADMITTED
            if self._taken(rows) >= limit or not self._put(rows, State.LIVE, worker, nonce,
                                                           call, expiry):
                return Verdict.FULL
            return Verdict.ADMITTED

    def release(self, nonce: int) -> None:
        """The call is over: its slot is free for another, its token stays spent."""
        with self._locked() as rows:
            rows["state"][(rows["nonce"] == nonce) & (rows["state"] == State.LIVE)] = State.SPENT

    def drop_worker(self, worker: int) -> int:
        """A worker died: its calls died with it. Returns how many there were."""
        with self._locked() as rows:
            dead = (rows["state"] == State.LIVE) & (rows["worker"] == worker)
            rows["state"][dead] = State.SPENT
            return int(np.count_nonzero(dead))
