"""The TwiML the voice webhook answers with: connect the call to our media socket, or say
we are busy and hang up."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, VoiceResponse

from ..config import Config
from ..lang import GOOGLE_TTS


def busy_twiml(cfg: Config) -> str:
    """What a caller over ``max_calls`` (or during shutdown) hears, then the line hangs up."""
    response = VoiceResponse()
    lang = cfg.call.language
    text = cfg.brain.script.busy.get(lang) or next(iter(cfg.brain.script.busy.values()), "")
    if text:
        response.say(text, language=GOOGLE_TTS.get(lang, "en-US"))
    response.hangup()
    return str(response)


def twiml(cfg: Config, caller: str, token: str) -> str:
    """``<Connect><Stream>``: with Connect only the inbound track exists, and the stream (and
    the call) lasts until either side hangs up. ``token`` comes back in the stream's
    ``start`` as a custom parameter and binds the stream to this call. The stream goes to
    this instance (``server.media_host``), the status callback wherever webhooks go."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(
        url=f"wss://{cfg.server.media_host}{cfg.server.media_path}",
        status_callback=f"https://{cfg.server.public_host}{cfg.server.status_path}",
        status_callback_method="POST",
    )
    stream.parameter(name="caller", value=caller)
    stream.parameter(name="token", value=token)
    response.append(connect)
    return str(response)
