"""Who may hold a media stream, and how many may: calls bound to Twilio's webhook.

The media socket's handshake signature is an HMAC of a fixed URL: the same for every call
and valid forever, so it proves that Twilio once opened a socket, not that this socket
belongs to a live call. The signed voice webhook therefore hands each call a **stream
token**, a ``<Parameter>`` of its ``<Stream>``; the socket's ``start`` must bring it back
with the same CallSid and AccountSid, once, before it expires. The token is an HMAC under a
key derived from the auth token, so any process holding the token can check it; the record
of tokens already used is the machine's (:mod:`voiced.slots`).

Counting: a socket is *pending* until its ``start`` is valid (a small cap of its own and a
short deadline); only then is it an *active* call against ``server.max_calls``. Tokens
issued and not yet used reserve their slot, so the webhook never promises more calls than
fit. The slots are the machine's, shared by its worker processes (:mod:`voiced.slots`): a
call's webhook and its stream may be served by different workers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from enum import Enum

import trio

from . import sizing
from .callstate import Call
from .config import Config, ServerConfig
from .events import EndReason
from .sids import is_account_sid, is_call_sid
from .slots import CallSlots, Verdict, call_key


class Refusal(Enum):
    """Why a stream's ``start`` was not admitted (a log line and a metric label each)."""

    BAD_SID = "malformed CallSid or AccountSid"
    WRONG_ACCOUNT = "not the configured account"
    NO_TOKEN = "no stream token"
    BAD_TOKEN = "stream token forged or for another call"
    EXPIRED = "stream token expired"
    REUSED = "stream token already used"
    DUPLICATE = "a stream for this call is already live"
    FULL = "max_calls reached"
    DRAINING = "shutting down"


def token_key(auth_token: str | None) -> bytes:
    """The tokens' key: derived from the auth token (so every worker and every instance with
    the same account agrees), or random for this process when there is none (development)."""
    if not auth_token:
        return secrets.token_bytes(32)
    return hmac.new(auth_token.encode(), b"voiced stream token v1", hashlib.sha256).digest()


class StreamTokens:
    """Expiring tokens, each bound to one CallSid and AccountSid by an HMAC. Whether one was
    used already is not theirs to know: :class:`~voiced.slots.CallSlots` remembers that for
    every worker of the machine."""

    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.ttl = ttl_s
        self.clock = clock

    def _mac(self, call_sid: str, account_sid: str, expiry: int, nonce: str) -> str:
        msg = f"{call_sid}|{account_sid}|{expiry}|{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def make(self, call_sid: str, account_sid: str) -> tuple[str, int, float]:
        """A new token for this call, with its nonce and expiry (for the slot it reserves)."""
        expiry = int(self.clock() + self.ttl) + 1
        nonce = secrets.token_hex(8)
        return (f"{expiry}.{nonce}.{self._mac(call_sid, account_sid, expiry, nonce)}",
                int(nonce, 16), float(expiry))

    def check(self, token: str, call_sid: str, account_sid: str) -> tuple[int, float] | Refusal:
        """The token's nonce and expiry if it was made for this call and has not expired."""
        if not token:
            return Refusal.NO_TOKEN
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12 or \
                len(parts[1]) != 16 or any(c not in "0123456789abcdef" for c in parts[1]):
            return Refusal.BAD_TOKEN
        expiry, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(call_sid, account_sid, expiry, nonce)):
            return Refusal.BAD_TOKEN
        if expiry <= self.clock():
            return Refusal.EXPIRED
        return int(nonce, 16), float(expiry)


_DEFAULTS = ServerConfig()
_REFUSALS = {Verdict.REUSED: Refusal.REUSED, Verdict.DUPLICATE: Refusal.DUPLICATE,
             Verdict.FULL: Refusal.FULL}


class Registry:
    """This worker's calls, and the machine's counts behind ``max_calls``,
    ``max_pending_streams`` and the busy answer (in ``slots``, shared by every worker);
    /healthz and the shutdown drain read it too."""

    def __init__(self, max_calls: int = sizing.CLOUD_CALLS_PER_CORE,
                 max_pending: int = _DEFAULTS.max_pending_streams,
                 tokens: StreamTokens | None = None, account_sid: str = "",
                 slots: CallSlots | None = None, worker: int = 0) -> None:
        self.max_calls = max_calls
        self.max_pending = max_pending
        self.tokens = tokens or StreamTokens(token_key(None), _DEFAULTS.stream_token_ttl_s)
        self.slots = slots or CallSlots.for_calls(max_calls)
        self.worker = worker
        self.account_sid = account_sid  # the configured account; empty: the webhook's
        # Handshakes of sockets before a valid start, oldest first.
        self.waiting: deque[trio.CancelScope] = deque()
        self.active = 0  # this worker's calls
        self.total = 0
        self.busy = 0
        self.draining = False
        self.live: dict[str, int] = {}  # CallSid -> token nonce, of this worker's live calls
        self.calls: set[Call] = set()
        self.changed = trio.Event()  # set (and replaced) whenever a call ends

    @classmethod
    def for_config(cls, cfg: Config, auth_token: str | None,
                   clock: Callable[[], float] = time.time, slots: CallSlots | None = None,
                   worker: int = 0) -> Registry:
        tokens = StreamTokens(token_key(auth_token), cfg.server.stream_token_ttl_s, clock)
        return cls(sizing.for_machine(cfg).max_calls, cfg.server.max_pending_streams, tokens,
                   cfg.twilio.account_sid, slots, worker)

    @property
    def pending(self) -> int:
        """Media sockets that have not yet sent a valid start."""
        return len(self.waiting)

    def outstanding(self) -> int:
        """Tokens issued on this machine, not yet used, not expired: calls on their way."""
        return self.slots.reserved(self.tokens.clock())

    def machine_calls(self) -> int:
        """Calls in progress on every worker of this machine."""
        return self.slots.live()

    # -- the webhook and the stream ------------------------------------------------------

    def has_room(self) -> bool:
        """For the webhook: a call it answers now will find a slot when its stream starts."""
        return not self.draining and self.slots.taken(self.tokens.clock()) < self.max_calls

    def issue(self, call_sid: str, account_sid: str) -> str | None:
        """A stream token for the call, its slot reserved; None when the machine is full."""
        if self.draining:
            return None
        token, nonce, expiry = self.tokens.make(call_sid, account_sid)
        if not self.slots.reserve(nonce, expiry, self.tokens.clock(), self.max_calls,
                                  self.worker):
            return None
        return token

    def check_sids(self, call_sid: str, account_sid: str) -> Refusal | None:
        if not is_call_sid(call_sid) or not is_account_sid(account_sid):
            return Refusal.BAD_SID
        if self.account_sid and account_sid != self.account_sid:
            return Refusal.WRONG_ACCOUNT
        return None

    def admit(self, call_sid: str, account_sid: str, token: str) -> Refusal | None:
        """A stream's ``start``: None admits it, and the caller must :meth:`release` it."""
        refusal = self.check_sids(call_sid, account_sid)
        if refusal is not None:
            return refusal
        checked = self.tokens.check(token, call_sid, account_sid)
        if isinstance(checked, Refusal):
            return checked
        if self.draining:
            return Refusal.DRAINING
        nonce, expiry = checked
        verdict = self.slots.redeem(nonce, expiry, call_key(call_sid), self.tokens.clock(),
                                    self.max_calls, self.worker)
        if verdict is not Verdict.ADMITTED:
            return _REFUSALS[verdict]
        self.active += 1
        self.total += 1
        self.live[call_sid] = nonce
        return None

    def release(self, call_sid: str) -> None:
        self.active -= 1
        nonce = self.live.pop(call_sid, None)
        if nonce is not None:
            self.slots.release(nonce)
        self.changed.set()
        self.changed = trio.Event()

    def admitted(self, call_sid: str) -> bool:
        """For the REST API: only a live call this worker admitted may be changed."""
        return call_sid in self.live

    # -- shutdown ------------------------------------------------------------------------

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for every call to end; True if they did."""
        with trio.move_on_after(timeout_s):
            while self.active:
                await self.changed.wait()
        return self.active == 0

    def say_goodbye(self, reason: EndReason) -> None:
        for call in list(self.calls):
            call.say_goodbye(reason)
