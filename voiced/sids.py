"""Twilio's identifiers are data, never paths: ``CA`` (a call) or ``AC`` (an account) and 32
lowercase hex digits, checked before any of them is used in a URL, a record or a log line.

A SID arrives in a webhook form or in the media socket's ``start``, both of which a client
writes; ``CA1/../../IncomingPhoneNumbers/PN1`` is a string, not a call.
"""

from __future__ import annotations

import re

_SID = {"CA": re.compile(r"CA[0-9a-f]{32}"), "AC": re.compile(r"AC[0-9a-f]{32}")}


def is_call_sid(value: str) -> bool:
    return _SID["CA"].fullmatch(value) is not None


def is_account_sid(value: str) -> bool:
    return _SID["AC"].fullmatch(value) is not None


def shown(value: str) -> str:
    """A client-supplied identifier as it may appear in a log line: a valid SID whole,
    anything else cut short and escaped, so a log line cannot be forged or flooded."""
    if is_call_sid(value) or is_account_sid(value):
        return value
    return repr(value[:24]) + ("..." if len(value) > 24 else "")


def mask_number(number: str) -> str:
    """A caller's number as logs show it: enough to tell calls apart, not to dial back
    (``+972501234567`` -> ``+97********67``)."""
    digits = sum(ch.isdigit() for ch in number)
    if digits <= 4:
        return "*" * len(number)
    keep_head = 3 if number.startswith("+") else 2
    return number[:keep_head] + "*" * (len(number) - keep_head - 2) + number[-2:]
