"""Twilio Media Streams messages, both ways, as frozen dataclasses.

One module owns the JSON so the rest of voiced never sees a dict: the daemon parses what
Twilio sends and builds what it answers; the ``voiced dial`` emulator does the reverse with the
same code, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProtocolError

# Twilio sends 20 ms (160 byte) frames; we accept up to a second in one message.
MAX_MEDIA_BYTES = 8000


@dataclass(frozen=True)
class Connected:
    protocol: str = "Call"
    version: str = "1.0.0"


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str = ""
    tracks: tuple[str, ...] = ("inbound",)
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True)
class Media:
    payload: bytes
    chunk: int = 0
    timestamp_ms: int = 0
    track: str = "inbound"


@dataclass(frozen=True)
class Mark:
    name: str


@dataclass(frozen=True)
class Dtmf:
    digit: str


@dataclass(frozen=True)
class Stop:
    reason: str = ""


@dataclass(frozen=True)
class Clear:
    pass


Inbound = Connected | Start | Media | Mark | Dtmf | Stop
Outbound = Media | Mark | Clear


def _obj(msg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = msg.get(key)
    if not isinstance(value, Mapping):
        raise ProtocolError(f"{msg.get('event')!r} message without a {key!r} object")
    return value


def _str(obj: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = obj.get(key, None if required else "")
    if not isinstance(value, str):
        raise ProtocolError(f"field {key!r} must be a string")
    return value


def _int(obj: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = obj.get(key, default)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"field {key!r} must be a number, got {str(value)[:20]!r}") from None


def _payload(media: Mapping[str, Any]) -> bytes:
    text = _str(media, "payload")
    if len(text) > MAX_MEDIA_BYTES * 4 // 3 + 4:
        raise ProtocolError(f"media payload of {len(text)} characters is too large")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("media payload is not valid base64") from None
    if not data:
        raise ProtocolError("empty media payload")
    return data


def _load(text: str | bytes) -> Mapping[str, Any]:
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("message is not JSON") from None
    if not isinstance(msg, Mapping):
        raise ProtocolError("message is not a JSON object")
    return msg


def parse_inbound(text: str | bytes) -> Inbound:
    """A message Twilio sends to us. Raises :class:`ProtocolError` on anything unusable."""
    msg = _load(text)
    event = msg.get("event")
    if event == "media":
        media = _obj(msg, "media")
        return Media(
            payload=_payload(media),
            chunk=_int(media, "chunk"),
            timestamp_ms=_int(media, "timestamp"),
            track=_str(media, "track", required=False) or "inbound",
        )
    if event == "start":
        start = _obj(msg, "start")
        fmt = start.get("mediaFormat") or {}
        params = start.get("customParameters") or {}
        if not isinstance(fmt, Mapping) or not isinstance(params, Mapping):
            raise ProtocolError("start message with malformed mediaFormat or customParameters")
        tracks = start.get("tracks") or ["inbound"]
        if not isinstance(tracks, list):
            raise ProtocolError("field 'tracks' must be a list")
        parsed = Start(
            stream_sid=_str(start, "streamSid", required=False)
            or _str(msg, "streamSid", required=False),
            call_sid=_str(start, "callSid", required=False),
            account_sid=_str(start, "accountSid", required=False),
            tracks=tuple(str(t) for t in tracks),
            custom_parameters={str(k): str(v) for k, v in params.items()},
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(fmt, "sampleRate", 8000),
            channels=_int(fmt, "channels", 1),
        )
        if not parsed.stream_sid:
            raise ProtocolError("start message without a streamSid")
        if (parsed.encoding, parsed.sample_rate, parsed.channels) != ("audio/x-mulaw", 8000, 1):
            raise ProtocolError(
                f"unsupported media format {parsed.encoding} {parsed.sample_rate} Hz "
                f"x{parsed.channels}"
            )
        return parsed
    if event == "mark":
        return Mark(name=_str(_obj(msg, "mark"), "name"))
    if event == "dtmf":
        digit = _str(_obj(msg, "dtmf"), "digit")
        if len(digit) != 1 or digit not in "0123456789*#ABCD":
            raise ProtocolError(f"invalid DTMF digit {digit[:5]!r}")
        return Dtmf(digit=digit)
    if event == "stop":
        return Stop()
    if event == "connected":
        return Connected(protocol=str(msg.get("protocol", "Call")), version=str(msg.get("version", "")))
    raise ProtocolError(f"unknown event {str(event)[:40]!r}")


def parse_outbound(text: str | bytes) -> tuple[str, Outbound]:
    """A message we send to Twilio, as Twilio (or ``voiced dial``) reads it."""
    msg = _load(text)
    sid = _str(msg, "streamSid")
    event = msg.get("event")
    if event == "media":
        return sid, Media(payload=_payload(_obj(msg, "media")))
    if event == "mark":
        return sid, Mark(name=_str(_obj(msg, "mark"), "name"))
    if event == "clear":
        return sid, Clear()
    raise ProtocolError(f"unknown outbound event {str(event)[:40]!r}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def outbound(stream_sid: str, item: Outbound) -> str:
    """The JSON text for a message to Twilio (no file header: raw mu-law bytes only)."""
    msg: dict[str, Any] = {"streamSid": stream_sid}
    if isinstance(item, Media):
        msg |= {"event": "media", "media": {"payload": _b64(item.payload)}}
    elif isinstance(item, Mark):
        msg |= {"event": "mark", "mark": {"name": item.name}}
    else:
        msg |= {"event": "clear"}
    return json.dumps(msg, separators=(",", ":"))


def inbound(stream_sid: str, item: Inbound, seq: int = 0) -> str:
    """The JSON text Twilio would send; used by the emulator and the tests."""
    msg: dict[str, Any] = {"event": "", "sequenceNumber": str(seq), "streamSid": stream_sid}
    if isinstance(item, Connected):
        return json.dumps({"event": "connected", "protocol": item.protocol, "version": item.version})
    if isinstance(item, Start):
        msg |= {
            "event": "start",
            "start": {
                "streamSid": item.stream_sid,
                "accountSid": item.account_sid,
                "callSid": item.call_sid,
                "tracks": list(item.tracks),
                "customParameters": dict(item.custom_parameters),
                "mediaFormat": {
                    "encoding": item.encoding,
                    "sampleRate": item.sample_rate,
                    "channels": item.channels,
                },
            },
        }
    elif isinstance(item, Media):
        msg |= {
            "event": "media",
            "media": {
                "track": item.track,
                "chunk": str(item.chunk),
                "timestamp": str(item.timestamp_ms),
                "payload": _b64(item.payload),
            },
        }
    elif isinstance(item, Mark):
        msg |= {"event": "mark", "mark": {"name": item.name}}
    elif isinstance(item, Dtmf):
        msg |= {"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": item.digit}}
    else:
        msg |= {"event": "stop", "stop": {"accountSid": "", "callSid": ""}}
    return json.dumps(msg, separators=(",", ":"))
