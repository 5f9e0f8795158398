"""One phone call: a Trio nursery whose tasks are the pipeline's stages.

    recv ─frames─> echo ─frames─> vad ─frames, speech events─> stt ─transcripts─> dialogue
      └────────────── marks, dtmf ──────────────────────────────────────────────────^    │
                                                 send <─audio, marks─ (brain -> tts) ──┘
    echo hears what the agent played (call.far_end) and silences inbound audio that is only
    its own voice coming back from a speakerphone.

Shutdown cascades: recv returns when the caller hangs up, and that cancels the nursery, so
every stage, reply and worker wait ends at once; nothing outlives the call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import trio

from .callstate import Call, CallObserver
from .canceller import EchoCanceller
from .config import Config
from .conversation import Conversation
from .echo import EchoPath
from .engines.base import Engines
from .errors import CallClosed, EngineError, FloodError, ProtocolError
from .events import Audio, DialogueEvent, EndReason, Frame, VadEvent
from .nearend import TurnAudio
from .sids import mask_number
from .stages.dialogue import dialogue
from .stages.echo import echo
from .stages.recv import recv
from .stages.send import send
from .stages.vad import vad
from .twilio.rest import TwilioRest
from .twilio.socket import MessageSocket
from .twilio.wire import Clear, Connected, Mark, Start, Stop, parse_inbound

log = logging.getLogger("voiced.call")


async def handshake(ws: MessageSocket, cfg: Config) -> Start | None:
    """Read up to Twilio's ``start``. None if the peer leaves or never starts."""
    bad = 0
    with trio.move_on_after(cfg.call.start_timeout_s):
        while True:
            try:
                msg = parse_inbound(await ws.receive())
            except CallClosed:
                return None
            except ProtocolError as exc:
                bad += 1
                log.warning("before start: skipped bad message: %s", exc)
                if bad > cfg.call.max_bad_messages:
                    log.warning("before start: too many bad messages, closing")
                    return None
                continue
            if isinstance(msg, Start):
                return msg
            if isinstance(msg, Stop):
                return None
            if not isinstance(msg, Connected):
                log.warning("before start: skipped %s message", type(msg).__name__.lower())
    log.warning("no start message within %.1fs, closing", cfg.call.start_timeout_s)
    return None


async def run_call(
    ws: MessageSocket, engines: Engines, cfg: Config, rest: TwilioRest | None = None,
    observer: CallObserver | None = None, on_start: Callable[[Call], None] | None = None,
) -> Call | None:
    """Serve one Media Streams connection until the call ends. Never raises for a bad
    peer or a failed engine: those end this call (logged), not the daemon. ``on_start``
    receives the call once Twilio's ``start`` is in (the daemon keeps it to end it on
    shutdown)."""
    start = await handshake(ws, cfg)
    if start is None:
        return None
    return await serve_call(ws, start, engines, cfg, rest, observer, on_start)


async def serve_call(
    ws: MessageSocket, start: Start, engines: Engines, cfg: Config, rest: TwilioRest | None = None,
    observer: CallObserver | None = None, on_start: Callable[[Call], None] | None = None,
) -> Call:
    """The call after its ``start`` (the daemon admits it in between: :mod:`voiced.admission`)."""
    call = Call(start, observer=observer, conversation=Conversation(cfg.call.max_history))
    if observer is not None:
        observer.started(call)
    if on_start is not None:
        on_start(call)
    log.info("call %s started (stream %s, caller %s)", call.id, start.stream_sid,
             mask_number(call.caller) if call.caller else "unknown")
    try:
        await _pipeline(ws, start, engines, cfg, rest, call, observer)
    except BaseException:
        call.ending(EndReason.CLOSED, "by the daemon")
        raise
    finally:
        # Also when the daemon cancels the call (shutdown past its grace): every call that
        # started has an end, in the log and in the records. Nothing here awaits.
        log.info(
            "call %s ended: %s after %.1fs, %d frames, %d dropped, %d silenced as echo, "
            "%d bad messages, faults %s",
            call.id, call.ended_by or "done", time.time() - call.started_at, call.stats.frames,
            call.stats.dropped, call.stats.echo_frames, call.stats.bad_messages,
            call.faults.counts or "none",
        )
        if observer is not None:
            observer.ended(call)
    return call


async def _pipeline(ws: MessageSocket, start: Start, engines: Engines, cfg: Config,
                    rest: TwilioRest | None, call: Call, observer: CallObserver | None) -> None:
    audio_tx, audio_rx = trio.open_memory_channel[Frame](cfg.call.inbound_buffer_frames)
    heard_tx, heard_rx = trio.open_memory_channel[Frame](cfg.call.inbound_buffer_frames)
    vad_tx, vad_rx = trio.open_memory_channel[Frame | VadEvent](64)
    dlg_tx, dlg_rx = trio.open_memory_channel[DialogueEvent](64)
    out_tx, out_rx = trio.open_memory_channel[Audio | Mark | Clear](64)
    # The caller's current turn, for the end-of-turn model: kept by the VAD stage, judged
    # by the dialogue when the rules ask.
    heard = TurnAudio(cfg.vad.preroll_ms) if engines.turn_model is not None else None

    async def recv_then_hangup() -> None:
        await recv(ws, audio_tx, dlg_tx, audio_rx.clone(), call.stats, cfg.call, call.id, cfg.flood)
        call.hangup(EndReason.COMPLETED if call.stats.stop_seen else EndReason.DROPPED)

    try:
        async with trio.open_nursery() as nursery:
            call.scope = nursery.cancel_scope
            nursery.start_soon(recv_then_hangup)
            if cfg.echo.enabled:
                e = cfg.echo
                path = EchoPath(call.far_end, max_delay_ms=e.max_delay_ms, window_s=e.window_s,
                                prior_db=e.prior_db, margin_db=e.margin_db)
                nursery.start_soon(echo, audio_rx, heard_tx, path, EchoCanceller(call.far_end),
                                   call.stats)
            else:
                heard_tx.close()
                heard_rx = audio_rx
            nursery.start_soon(vad, heard_rx, vad_tx, engines.classifier(), cfg.vad, cfg.turn,
                               cfg.bargein, observer.frame_lag if observer is not None else None,
                               heard)
            nursery.start_soon(engines.stt, vad_rx, dlg_tx.clone(), cfg.stt, cfg.vad,
                               cfg.call.ordered_languages(), call.id)
            nursery.start_soon(dialogue, dlg_rx, out_tx, engines, cfg, call, rest, heard)
            nursery.start_soon(send, out_rx, ws, start.stream_sid, call.hangup)
    except* FloodError as group:
        call.ending(EndReason.FLOOD, str(group.exceptions[0]))
        log.warning("call %s: closed: %s", call.id, group.exceptions[0])
    except* ProtocolError as group:
        call.ending(EndReason.PROTOCOL_ERROR, str(group.exceptions[0]))
    except* EngineError as group:
        call.ending(EndReason.ENGINE_ERROR, str(group.exceptions[0]))
