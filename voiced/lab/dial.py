"""``voiced dial``: a Twilio Media Streams caller emulator.

It behaves as Twilio does towards our daemon: ``connected``, ``start``, then one 20 ms mu-law
``media`` message every 20 ms in real time (caller speech, then line silence), and ``stop``.
The agent's audio goes into an emulated Twilio playback buffer that plays in real time, echoes
each ``mark`` when playback reaches it and, on ``clear``, flushes and echoes the marks still
pending. Latency is measured where a caller would hear it: from the end of the caller's
speech (the last voiced frame of the WAV) to the first audible frame the buffer plays.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import trio
import webrtcvad

from ..audio import (
    FRAME_SAMPLES,
    RATE,
    SILENT_FRAME_ULAW,
    Pcm,
    frames,
    read_wav,
    rms_dbfs,
    ulaw_decode,
    ulaw_encode,
)
from ..errors import CallClosed, ProtocolError
from ..twilio.socket import MessageSocket
from ..twilio.wire import Clear, Connected, Mark, Media, Start, Stop, inbound, parse_outbound
from .line import Line

log = logging.getLogger("voiced.lab.dial")

TICK = FRAME_SAMPLES / RATE  # 20 ms
AUDIBLE_DBFS = -50.0


# Speech starts at a voiced frame with at least ONSET_VOICED voiced frames among it and the
# ONSET_SPAN - 1 after it: a lone click or breath before the words (one frame, then 300 ms of
# near-silence in Hashlama117_0009) is not its onset; a soft, broken start still is.
ONSET_VOICED, ONSET_SPAN = 3, 5


def speech_frames(pcm: Pcm) -> tuple[int, int]:
    """Indices of the first and last frames with speech in them: webrtcvad (strictest mode)
    and within 35 dB of the loudest frame, so crowd noise or hiss around the words does not
    count. The reference every latency (from the last) and barge-in stop (from the first,
    where the voiced frames gather: ``ONSET_VOICED`` in ``ONSET_SPAN``) is measured from."""
    vad = webrtcvad.Vad(3)
    chunks = frames(pcm)
    levels = [rms_dbfs(c) for c in chunks]
    floor = max(levels, default=-120.0) - 35.0
    voiced = [i for i, (chunk, level) in enumerate(zip(chunks, levels, strict=True))
              if level > floor and vad.is_speech(chunk.tobytes(), RATE)]
    if not voiced:
        return 0, 0
    marked = set(voiced)
    onset = next((i for i in voiced
                  if sum(i + k in marked for k in range(ONSET_SPAN)) >= ONSET_VOICED), voiced[0])
    return onset, voiced[-1]


@dataclass
class Utterance:
    name: str
    frames: list[bytes]  # mu-law, 160 bytes each
    end_frame: int
    start_frame: int = 0

    @classmethod
    def from_wav(cls, path: str | Path) -> Utterance:
        return cls.from_pcm(Path(path).name, read_wav(path))

    @classmethod
    def from_pcm(cls, name: str, pcm: Pcm) -> Utterance:
        start, end = speech_frames(pcm)
        return cls(name, [ulaw_encode(c) for c in frames(pcm)], end, start)


@dataclass
class TurnResult:
    name: str
    speech_end: float  # seconds since the call started
    latency_s: float | None = None  # None: no reply heard
    # How many times the agent started talking while the caller had not finished this
    # utterance (a cut-off caller who goes on may be cut off again at the next pause).
    cut_ins: int = 0
    # Barge-in: caller speech onset to the agent's audio stopping at the playback buffer.
    barge_in_stop_s: float | None = None

    @property
    def cut_off(self) -> bool:
        """The agent started talking at least once before the caller had finished."""
        return self.cut_ins > 0


@dataclass
class DialResult:
    turns: list[TurnResult] = field(default_factory=list)
    protocol_errors: int = 0
    marks_echoed: int = 0
    clears: int = 0
    agent_audio: list[Pcm] = field(default_factory=list)
    caller_audio: list[Pcm] = field(default_factory=list)
    hung_up_by_agent: bool = False
    # The agent interrupted itself: a `clear` while the caller was not speaking.
    self_interruptions: int = 0
    # The longest run of playback ticks that found the buffer empty in the middle of a
    # sentence (audio started, its mark not yet reached): silence the caller hears mid-reply.
    max_gap_ms: int = 0

    def write_wav(self, path: str | Path) -> None:
        from ..audio import write_wav

        caller = np.concatenate(self.caller_audio) if self.caller_audio else np.zeros(0, np.int16)
        agent = np.concatenate(self.agent_audio) if self.agent_audio else np.zeros(0, np.int16)
        write_wav(path, [caller, agent])


class Playback:
    """Twilio's side of the outbound stream: a FIFO of audio and marks played in real time."""

    def __init__(self) -> None:
        self._items: deque[bytes | str] = deque()
        self.buffered = 0  # bytes of audio waiting
        self._mid_sentence = False  # audio played since the last mark
        self._gap = 0  # ticks starved in the current gap
        self.max_gap_ms = 0

    def add_media(self, payload: bytes) -> None:
        self._items.append(payload)
        self.buffered += len(payload)

    def add_mark(self, name: str) -> None:
        self._items.append(name)

    def clear(self) -> list[str]:
        marks = [i for i in self._items if isinstance(i, str)]
        self._items.clear()
        self.buffered = 0
        self._mid_sentence = False
        return marks

    def tick(self) -> tuple[bytes, list[str]]:
        """Play 20 ms. Returns the audio played (silence if none) and marks reached."""
        out = bytearray()
        reached: list[str] = []
        while self._items:
            head = self._items[0]
            if isinstance(head, str):
                reached.append(self._items.popleft())  # type: ignore[arg-type]
                self._mid_sentence = False
                continue
            if len(out) == FRAME_SAMPLES:
                break
            take = FRAME_SAMPLES - len(out)
            out += head[:take]
            self._mid_sentence = True
            if len(head) > take:
                self._items[0] = head[take:]
            else:
                self._items.popleft()
        self.buffered -= len(out)
        if len(out) < FRAME_SAMPLES and self._mid_sentence and not reached:
            self._gap += 1
            self.max_gap_ms = max(self.max_gap_ms, 20 * self._gap)
        else:
            self._gap = 0
        out += SILENT_FRAME_ULAW[len(out):]
        return bytes(out), reached


@dataclass
class DialOptions:
    caller: str = "+15550100"
    quiet_ms: int = 700  # agent silence that tells the caller it may speak
    gap_ms: int = 300  # caller's pause before speaking after the agent went quiet
    reply_timeout_s: float = 15.0
    greeting_timeout_s: float = 10.0
    barge_in_after_ms: int | None = None
    # Sign the handshake as Twilio does: the account's auth token and the wss:// URL Twilio
    # would have called (the daemon's public one, not necessarily the one dialled).
    auth_token: str | None = None
    signed_url: str = ""
    # The voice webhook, and the https:// URL Twilio signs for it.
    voice_path: str = "/twilio/voice"
    signed_voice_url: str = ""
    # Keep both sides' audio for ``DialResult.write_wav``; load benchmarks do without.
    record_audio: bool = True
    # The call as the voice webhook answered it (:func:`voiced.lab.runner.place_call`): its
    # ids and the <Stream>'s parameters, the stream token among them. Empty: made up here.
    call_sid: str = ""
    account_sid: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    # What the line adds to the caller's audio: a speakerphone's echo, noise, hum.
    line: Line | None = None


# The account the emulator calls from, when none is configured.
TEST_ACCOUNT_SID = "AC" + "0" * 32


def new_call_sid() -> str:
    return "CA" + secrets.token_hex(16)


def voice_form(call_sid: str, account_sid: str, caller: str) -> dict[str, str]:
    """The voice webhook's form as Twilio posts it for an incoming call."""
    return {"CallSid": call_sid, "AccountSid": account_sid, "From": caller, "To": "+15550199",
            "Direction": "inbound", "CallStatus": "ringing"}


def stream_parameters(twiml: str) -> dict[str, str] | None:
    """What Twilio reads from the voice webhook's answer: the ``<Connect><Stream>``'s
    parameters, or None when the answer is not a stream (busy: ``<Say>``, ``<Hangup>``)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    stream = root.find("./Connect/Stream")
    if stream is None:
        return None
    return {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}


async def dial(
    ws: MessageSocket, utterances: Sequence[Utterance], opts: DialOptions | None = None
) -> DialResult:
    """Play one call through ``ws`` and return what happened."""
    opts = opts or DialOptions()
    result = DialResult()
    stream_sid = "MZ" + secrets.token_hex(16)
    call_sid = opts.call_sid or new_call_sid()
    playback = Playback()
    effects = opts.line.effects() if opts.line is not None else None
    seq = 0

    async def send(item: Connected | Start | Media | Mark | Stop) -> None:
        nonlocal seq
        seq += 1
        await ws.send(inbound(stream_sid, item, seq))

    async def receive_loop() -> None:
        while True:
            try:
                data = await ws.receive()
            except CallClosed:
                result.hung_up_by_agent = True
                return
            try:
                sid, item = parse_outbound(data)
            except ProtocolError as exc:
                result.protocol_errors += 1
                log.warning("protocol error from agent: %s", exc)
                continue
            if sid != stream_sid:
                result.protocol_errors += 1
                log.warning("agent used streamSid %r, expected %r", sid[:40], stream_sid)
            if isinstance(item, Media):
                playback.add_media(item.payload)
            elif isinstance(item, Mark):
                playback.add_mark(item.name)
            elif isinstance(item, Clear):
                result.clears += 1
                now = trio.current_time() - t0
                if not state.speaking:
                    result.self_interruptions += 1
                    last = result.turns[-1] if result.turns else None
                    since = f"{last.name} ended {now - last.speech_end:.2f} s before" if last \
                        else "the call started"
                    log.warning("self-interruption: a clear %.2f s into the call, the caller "
                                "silent since %s", now, since)
                state.on_clear(now)
                for name in playback.clear():
                    result.marks_echoed += 1
                    await send(Mark(name))

    await send(Connected())
    await send(Start(stream_sid=stream_sid, call_sid=call_sid,
                     account_sid=opts.account_sid or TEST_ACCOUNT_SID,
                     custom_parameters=dict(opts.parameters) or {"caller": opts.caller}))
    t0 = trio.current_time()
    state = _CallerScript(utterances, opts)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(receive_loop)
        tick = 0

        while not state.done and not result.hung_up_by_agent:
            tick += 1
            await trio.sleep_until(t0 + tick * TICK)
            now = tick * TICK
            played, reached = playback.tick()
            for name in reached:
                result.marks_echoed += 1
                await send(Mark(name))
            heard = None if played == SILENT_FRAME_ULAW else ulaw_decode(played)
            audible = heard is not None and rms_dbfs(heard) > AUDIBLE_DBFS
            caller_frame = state.step(now, audible, playback.buffered > 0, result)
            if effects is not None:
                caller_frame = effects.mix(caller_frame, played)
            if opts.record_audio:
                result.agent_audio.append(ulaw_decode(played))
                result.caller_audio.append(ulaw_decode(caller_frame))
            try:
                await send(Media(caller_frame, chunk=tick, timestamp_ms=int(now * 1000)))
            except CallClosed:
                result.hung_up_by_agent = True
        if not result.hung_up_by_agent:
            with contextlib.suppress(CallClosed):
                await send(Stop())
        nursery.cancel_scope.cancel()
    result.max_gap_ms = playback.max_gap_ms
    return result


class _CallerScript:
    """What the emulated caller does each 20 ms: wait for the agent, speak, wait for the reply.

    A polite caller waits until the agent has been quiet for ``quiet_ms`` (plus ``gap_ms``)
    before the next utterance. With ``barge_in_after_ms`` the caller instead starts talking
    that long after the agent's reply became audible, and we time how long the agent takes to
    stop (a ``clear`` emptied the buffer). Agent audio that starts while the caller is still
    speaking marks the turn as cut off.
    """

    SILENCE = SILENT_FRAME_ULAW

    def __init__(self, utterances: Sequence[Utterance], opts: DialOptions) -> None:
        self._todo = deque(utterances)
        self._opts = opts
        self._speaking: Utterance | None = None
        self._pos = 0
        self._waiting_since = 0.0
        self._heard_agent_at: float | None = None
        self._quiet_since: float | None = None
        self._was_audible = False
        self._turn: TurnResult | None = None
        self._cut_ins = 0
        self._barge_onset: float | None = None
        self._barge_stop: float | None = None
        self._clear_at: float | None = None
        self.done = False

    @property
    def speaking(self) -> bool:
        return self._speaking is not None

    def on_clear(self, now: float) -> None:
        self._clear_at = now

    def step(self, now: float, audible: bool, buffered: bool, result: DialResult) -> bytes:
        started = audible and not self._was_audible
        self._was_audible = audible
        self._watch_barge_in(now, audible, buffered)
        if self._speaking is not None:
            return self._speak(now, audible, started, result)
        # Listening: the agent's reply (or greeting), then its end.
        if audible:
            if self._heard_agent_at is None:
                self._heard_agent_at = now
            self._quiet_since = None
            if self._turn is not None and self._turn.latency_s is None:
                self._turn.latency_s = now - self._turn.speech_end
        elif self._heard_agent_at is not None and not buffered and self._quiet_since is None:
            self._quiet_since = now
        opts = self._opts
        first = not result.turns
        timeout = opts.greeting_timeout_s if first else opts.reply_timeout_s
        quiet_enough = (
            self._quiet_since is not None
            and now - self._quiet_since >= (opts.quiet_ms + opts.gap_ms) / 1000
        )
        barge = (
            opts.barge_in_after_ms is not None and not first and audible
            and self._heard_agent_at is not None
            and now - self._heard_agent_at >= opts.barge_in_after_ms / 1000
        )
        if quiet_enough or barge or now - self._waiting_since >= timeout:
            if not self._todo:
                self.done = True
                return self.SILENCE
            self._speaking = self._todo.popleft()
            self._pos = 0
            self._cut_ins = 0
            # Its first frame goes out on the next tick.
            self._barge_onset = now + (self._speaking.start_frame + 1) * TICK if barge else None
            self._barge_stop = None
        return self.SILENCE

    def _watch_barge_in(self, now: float, audible: bool, buffered: bool) -> None:
        onset = self._barge_onset
        if onset is None or self._barge_stop is not None or now < onset:
            return
        if self._clear_at is not None and self._clear_at >= onset and not audible and not buffered:
            self._barge_stop = now - onset
            if self._turn is not None and self._turn.barge_in_stop_s is None and self._speaking is None:
                self._turn.barge_in_stop_s = self._barge_stop

    def _speak(self, now: float, audible: bool, started: bool, result: DialResult) -> bytes:
        utt = self._speaking
        assert utt is not None
        frame = utt.frames[self._pos]
        if self._pos < utt.end_frame and started and self._barge_onset is None:
            self._cut_ins += 1
        if self._pos == utt.end_frame:
            self._turn = TurnResult(utt.name, now, cut_ins=self._cut_ins,
                                    barge_in_stop_s=self._barge_stop)
            result.turns.append(self._turn)
        elif audible and self._turn is not None and self._turn.latency_s is None and \
                self._pos > utt.end_frame:
            self._turn.latency_s = now - self._turn.speech_end
        self._pos += 1
        if self._pos == len(utt.frames):
            self._speaking = None
            self._waiting_since = now
            self._heard_agent_at = now if audible else None
            self._quiet_since = None
        return frame
