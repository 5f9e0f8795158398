"""Call control through Twilio's REST API: hang up, or transfer with ``<Dial>``.

Closing the media socket alone ends a ``<Connect><Stream>`` call only when no TwiML follows
it; the REST API ends (or redirects) the call for certain. The auth token comes from the
environment or a systemd credential and is never logged.
"""

from __future__ import annotations

import logging

import httpx
from twilio.twiml.voice_response import VoiceResponse

from .config import TwilioConfig, secret
from .errors import EngineError

log = logging.getLogger("voiced.twilio")


class TwilioRest:
    def __init__(self, cfg: TwilioConfig, http: httpx.AsyncClient) -> None:
        self._cfg = cfg
        self._http = http

    def available(self) -> bool:
        return secret(self._cfg.auth_token_env) is not None

    async def _update(self, account_sid: str, call_sid: str, data: dict[str, str]) -> None:
        token = secret(self._cfg.auth_token_env)
        if token is None or not account_sid or not call_sid:
            raise EngineError("Twilio REST API not configured (no auth token or call ids)")
        url = f"{self._cfg.api_base.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json"
        try:
            resp = await self._http.post(url, data=data, auth=(account_sid, token),
                                         timeout=self._cfg.timeout_s)
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
