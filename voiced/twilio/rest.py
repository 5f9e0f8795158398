"""Call control through Twilio's REST API: hang up, or transfer with ``<Dial>``.

Closing the media socket alone ends a ``<Connect><Stream>`` call only when no TwiML follows
it; the REST API ends (or redirects) the call for certain. The auth token comes from the
environment or a systemd credential and is never logged.

The SIDs in the URL came from a client: each is checked to be a SID (:mod:`voiced.sids`) and
quoted as one path segment, the account is the configured one when ``twilio.account_sid`` is
set, and only calls this daemon admitted (``admitted``) can be changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

import httpx
from twilio.twiml.voice_response import VoiceResponse

from ..config import TwilioConfig, secret
from ..errors import EngineError
from ..sids import is_account_sid, is_call_sid, shown

log = logging.getLogger("voiced.twilio")


class TwilioRest:
    def __init__(self, cfg: TwilioConfig, http: httpx.AsyncClient,
                 admitted: Callable[[str], bool] | None = None) -> None:
        self._cfg = cfg
        self._http = http
        self._admitted = admitted

    def available(self) -> bool:
        return secret(self._cfg.auth_token_env) is not None

    def calls_url(self, account_sid: str, call_sid: str) -> str:
        """The call's REST resource; raises :class:`EngineError` for anything not a SID of
        the configured account, or a call this daemon did not admit."""
        account = self._cfg.account_sid or account_sid
        if not is_account_sid(account) or (self._cfg.account_sid and account_sid != account):
            raise EngineError(f"refusing a Twilio REST call for account {shown(account_sid)}")
        if not is_call_sid(call_sid):
            raise EngineError(f"refusing a Twilio REST call for call {shown(call_sid)}")
        if self._admitted is not None and not self._admitted(call_sid):
            raise EngineError(f"refusing a Twilio REST call for {call_sid}: not a call admitted here")
        base = self._cfg.api_base.rstrip("/")
        return f"{base}/2010-04-01/Accounts/{quote(account, safe='')}/Calls/{quote(call_sid, safe='')}.json"

    async def _update(self, account_sid: str, call_sid: str, data: dict[str, str]) -> None:
        token = secret(self._cfg.auth_token_env)
        if token is None:
            raise EngineError("Twilio REST API not configured (no auth token)")
        url = self.calls_url(account_sid, call_sid)
        account = self._cfg.account_sid or account_sid
        try:
            resp = await self._http.post(url, data=data, auth=(account, token),
                                         timeout=self._cfg.timeout_s, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise EngineError(f"Twilio REST call failed: {type(exc).__name__}") from None
        if resp.status_code >= 300:
            raise EngineError(f"Twilio REST answered HTTP {resp.status_code}")

    async def hangup(self, account_sid: str, call_sid: str) -> None:
        await self._update(account_sid, call_sid, {"Status": "completed"})
        log.info("call %s: hung up through the REST API", call_sid)

    async def transfer(self, account_sid: str, call_sid: str, number: str) -> None:
        twiml = VoiceResponse()
        twiml.dial(number)
        await self._update(account_sid, call_sid, {"Twiml": str(twiml)})
        log.info("call %s: transferred", call_sid)
