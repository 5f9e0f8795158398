"""Only Twilio gets in: every webhook and the media socket's handshake carry
``X-Twilio-Signature``, an HMAC of the URL Twilio called (and its POST parameters) keyed with
the account's auth token.

The URL is rebuilt from ``server.public_host``, not from what the socket saw: behind a TLS
proxy the daemon sees ``http://127.0.0.1:8080/...`` while Twilio signed
``https://voice.example.com/...``. A signature is bound to its URL, so one captured for the
voice webhook is refused on any other path.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

HEADER = "X-Twilio-Signature"


class Signatures:
    def __init__(self, auth_token: str, public_host: str, media_host: str | None = None) -> None:
        self._validator = RequestValidator(auth_token)
        self._host = public_host
        self._media_host = media_host or public_host

    def url(self, scheme: str, path_and_query: str) -> str:
        """The URL Twilio called: ``https`` for webhooks (at the public host), ``wss`` for the
        media socket (at this instance's own host, which the TwiML named)."""
        host = self._media_host if scheme == "wss" else self._host
        return f"{scheme}://{host}{path_and_query}"

    def valid(self, url: str, params: Mapping[str, str], signature: str | None) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(url, dict(params), signature))


def sign(auth_token: str, url: str, params: Mapping[str, str] | None = None) -> str:
    """What Twilio puts in ``X-Twilio-Signature`` for this request: for emulators and tests."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params or {})))
