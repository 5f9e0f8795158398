from __future__ import annotations

import base64
import json

import pytest

from voiced.errors import ProtocolError
from voiced.twilio import wire


def test_a_real_twilio_start_message_parses() -> None:
    msg = {
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
        "start": {
            "accountSid": "AC123", "streamSid": "MZ18ad3ab5a668481ce02b83e7395059f0",
            "callSid": "CA123", "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": {"caller": "+972501234567"},
        },
    }
    start = wire.parse_inbound(json.dumps(msg))
    assert isinstance(start, wire.Start)
    assert start.call_sid == "CA123" and start.custom_parameters == {"caller": "+972501234567"}


def test_media_round_trip() -> None:
    text = wire.inbound("MZ1", wire.Media(b"\x01\x02" * 80, chunk=3, timestamp_ms=60), 4)
    media = wire.parse_inbound(text)
    assert media == wire.Media(b"\x01\x02" * 80, chunk=3, timestamp_ms=60)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json", "not JSON"),
        ("[1]", "not a JSON object"),
        ('{"event": "bogus"}', "unknown event"),
        ('{"event": "media"}', "without a 'media' object"),
        ('{"event": "media", "media": {"payload": "!!!"}}', "not valid base64"),
        ('{"event": "media", "media": {"payload": ""}}', "empty media payload"),
        ('{"event": "media", "media": {"payload": 5}}', "must be a string"),
        ('{"event": "media", "media": {"payload": "' + "A" * 20000 + '"}}', "too large"),
        ('{"event": "dtmf", "dtmf": {"digit": "x"}}', "invalid DTMF"),
        ('{"event": "start", "start": {"streamSid": ""}}', "without a streamSid"),
        ('{"event": "start", "start": {"streamSid": "MZ1", "mediaFormat": '
         '{"encoding": "audio/x-l16", "sampleRate": 16000, "channels": 1}}}', "unsupported media"),
        ('{"event": "media", "media": {"payload": "AA==", "timestamp": "soon"}}', "must be a number"),
    ],
)
def test_bad_inbound_messages_raise_a_protocol_error(text: str, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        wire.parse_inbound(text)


def test_outbound_media_is_raw_mulaw_without_a_file_header() -> None:
    text = wire.outbound("MZ1", wire.Media(b"\xff" * 160))
    msg = json.loads(text)
    assert msg == {"event": "media", "streamSid": "MZ1",
                   "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}}
    assert not base64.b64decode(msg["media"]["payload"]).startswith(b"RIFF")


def test_outbound_mark_and_clear() -> None:
    assert json.loads(wire.outbound("MZ1", wire.Mark("2.1"))) == {
        "event": "mark", "streamSid": "MZ1", "mark": {"name": "2.1"}}
    assert json.loads(wire.outbound("MZ1", wire.Clear())) == {"event": "clear", "streamSid": "MZ1"}
    assert wire.parse_outbound(wire.outbound("MZ1", wire.Clear())) == ("MZ1", wire.Clear())
