"""Who may hold a media stream, and how many may: calls bound to Twilio's webhook.

The media socket's handshake signature is an HMAC of a fixed URL: the same for every call
and valid forever, so it proves that Twilio once opened a socket, not that this socket
belongs to a live call. The signed voice webhook therefore hands each call a **stream
token**, a ``<Parameter>`` of its ``<Stream>``; the socket's ``start`` must bring it back
with the same CallSid and AccountSid, once, before it expires. The token is an HMAC under a
key derived from the auth token, so any process holding the token can check it; the record
of tokens already used is this process's.

Counting: a socket is *pending* until its ``start`` is valid (a small cap of its own and a
short deadline); only then is it an *active* call against ``server.max_calls``. Tokens
issued and not yet used reserve their slot, so the webhook never promises more calls than
fit.
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

from .callstate import Call
from .config import Config, ServerConfig
from .events import EndReason
from .sids import is_account_sid, is_call_sid


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
    """Single-use, expiring tokens, each bound to one CallSid and AccountSid."""

    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._ttl = ttl_s
        self._clock = clock
        # Tokens issued and not yet used or expired, by nonce, in order of expiry.
        self._open: dict[str, float] = {}
        self._order: deque[tuple[float, str]] = deque()
        self._used: dict[str, float] = {}  # nonce -> expiry, forgotten once expired
        self._used_order: deque[tuple[float, str]] = deque()

    def _mac(self, call_sid: str, account_sid: str, expiry: int, nonce: str) -> str:
        msg = f"{call_sid}|{account_sid}|{expiry}|{nonce}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:32]

    def _prune(self, now: float) -> None:
        while self._order and self._order[0][0] <= now:
            self._open.pop(self._order.popleft()[1], None)
        while self._used_order and self._used_order[0][0] <= now:
            self._used.pop(self._used_order.popleft()[1], None)

    def outstanding(self) -> int:
        """Tokens issued, not yet used, not expired: calls on their way."""
        self._prune(self._clock())
        return len(self._open)

    def issue(self, call_sid: str, account_sid: str) -> str:
        now = self._clock()
        self._prune(now)
        expiry = int(now + self._ttl) + 1
        nonce = secrets.token_hex(8)
        self._open[nonce] = expiry
        self._order.append((expiry, nonce))
        return f"{expiry}.{nonce}.{self._mac(call_sid, account_sid, expiry, nonce)}"

    def redeem(self, token: str, call_sid: str, account_sid: str) -> Refusal | None:
        """Use ``token`` for this call: None if it is good (it is then spent)."""
        now = self._clock()
        self._prune(now)
        if not token:
            return Refusal.NO_TOKEN
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
            return Refusal.BAD_TOKEN
        expiry, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac, self._mac(call_sid, account_sid, expiry, nonce)):
            return Refusal.BAD_TOKEN
        if expiry <= now:
            return Refusal.EXPIRED
        if nonce in self._used:
            return Refusal.REUSED
        self._used[nonce] = expiry
        self._used_order.append((expiry, nonce))
        self._open.pop(nonce, None)
        return None


_DEFAULTS = ServerConfig()


class Registry:
    """Live calls and the counts behind ``max_calls``, ``max_pending_streams`` and the busy
    answer; /healthz and the shutdown drain read it too."""

    def __init__(self, max_calls: int = _DEFAULTS.max_calls,
                 max_pending: int = _DEFAULTS.max_pending_streams,
                 tokens: StreamTokens | None = None, account_sid: str = "") -> None:
        self.max_calls = max_calls
        self.max_pending = max_pending
        self.tokens = tokens or StreamTokens(token_key(None), _DEFAULTS.stream_token_ttl_s)
        self.account_sid = account_sid  # the configured account; empty: the webhook's
        # Handshakes of sockets before a valid start, oldest first.
        self.waiting: deque[trio.CancelScope] = deque()
        self.active = 0
        self.total = 0
        self.busy = 0
        self.draining = False
        self.live: set[str] = set()  # CallSids of admitted, live calls
        self.calls: set[Call] = set()
        self.changed = trio.Event()  # set (and replaced) whenever a call ends

    @classmethod
    def for_config(cls, cfg: Config, auth_token: str | None,
                   clock: Callable[[], float] = time.time) -> Registry:
        tokens = StreamTokens(token_key(auth_token), cfg.server.stream_token_ttl_s, clock)
        return cls(cfg.server.max_calls, cfg.server.max_pending_streams, tokens,
                   cfg.twilio.account_sid)

    @property
    def pending(self) -> int:
        """Media sockets that have not yet sent a valid start."""
        return len(self.waiting)

    # -- the webhook and the stream ------------------------------------------------------

    def has_room(self) -> bool:
        """For the webhook: a call it answers now will find a slot when its stream starts."""
        return not self.draining and self.active + self.tokens.outstanding() < self.max_calls

    def check_sids(self, call_sid: str, account_sid: str) -> Refusal | None:
        if not is_call_sid(call_sid) or not is_account_sid(account_sid):
            return Refusal.BAD_SID
        if self.account_sid and account_sid != self.account_sid:
            return Refusal.WRONG_ACCOUNT
        return None

    def admit(self, call_sid: str, account_sid: str, token: str) -> Refusal | None:
        """A stream's ``start``: None admits it, and the caller must :meth:`release` it."""
        refusal = self.check_sids(call_sid, account_sid)
        if refusal is None:
            refusal = self.tokens.redeem(token, call_sid, account_sid)
        if refusal is None and call_sid in self.live:
            refusal = Refusal.DUPLICATE
        if refusal is None and self.draining:
            refusal = Refusal.DRAINING
        if refusal is None and self.active >= self.max_calls:
            refusal = Refusal.FULL
        if refusal is None:
            self.active += 1
            self.total += 1
            self.live.add(call_sid)
        return refusal

    def release(self, call_sid: str) -> None:
        self.active -= 1
        self.live.discard(call_sid)
        self.changed.set()
        self.changed = trio.Event()

    def admitted(self, call_sid: str) -> bool:
        """For the REST API: only a live call this daemon admitted may be changed."""
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
