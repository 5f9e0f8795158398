"""echo: the agent's own voice coming back from a speakerphone is taken out of the inbound
audio here, before the VAD and the recogniser hear it (:mod:`voiced.echo` says how).

Each frame first loses the echo a linear canceller predicts; a frame whose remainder is no
louder than the residual echo the call has shown (and, on a noisy line, the line's noise
beside it) goes on as line silence, so the VAD sees no speech in it and the recogniser no
words. The caller talking over the agent is louder than that, and goes on with the echo
taken out from under it. Every frame goes on, in order and on time.
"""

from __future__ import annotations

import numpy as np
import trio

from ..audio import FRAME_BYTES_PCM, RATE, SILENT_FRAME_ULAW, ulaw_encode
from ..callstate import RecvStats
from ..canceller import EchoCanceller
from ..echo import AUDIBLE, EchoPath
from ..events import Frame
from ..farend import FRAME_S, mean_square

SILENT_PCM = bytes(FRAME_BYTES_PCM)


async def echo(
    rx: trio.MemoryReceiveChannel[Frame],
    tx: trio.MemorySendChannel[Frame],
    path: EchoPath,
    canceller: EchoCanceller,
    stats: RecvStats,
) -> None:
    with rx, tx:
        t0: float | None = None
        async for frame in rx:
            # The inbound stream's own clock: frame n is 20 ms after frame n-1, whatever the
            # network's jitter did to when it arrived.
            t0 = frame.t - frame.seq * FRAME_S if t0 is None else t0
            t = t0 + frame.seq * FRAME_S
            await tx.send(clean(frame, t, path, canceller, stats))


def clean(frame: Frame, t: float, path: EchoPath, canceller: EchoCanceller,
           stats: RecvStats) -> Frame:
    near = np.frombuffer(frame.pcm, dtype="<i2").astype(np.float32)
    level = mean_square(near)
    estimate = path.estimate
    talking = path.talking(t, level)  # as loud as the agent: the caller, whatever else
    left = canceller.process(near, round(t * RATE), estimate.delay_frames if estimate else None)
    residual = mean_square(left) if left is not near else level
    if residual > level:
        # The canceller made it louder: what it learnt no longer fits (the reply reached the
        # caller a few ms off the last one's timing). It learns on; the frame goes as it came.
        left, residual = near, level
    bound = None if talking or residual <= AUDIBLE else path.bound(t, canceller.trusted)
    echo_alone = bound is not None and bound.holds(residual)
    # Or the echo and the line's noise beside it: silenced too, but not learnt from.
    noise = bound is not None and not echo_alone and bound.holds(residual, noise=True)
    # The canceller learns from echo alone, and from nothing for a while after the caller
    # was heard. (It once learnt from all but the caller as loud as the agent until it was
    # trusted: a caller who went on as a reply started was learnt as echo.)
    caller = not echo_alone and not noise and residual > AUDIBLE  # let through as the caller
    if echo_alone:
        canceller.learn(path.noise_floor)
    elif caller and canceller.trusted:
        canceller.caller_heard()
    # What the canceller leaves is measured on the frames that could be echo alone with
    # nothing taken out, not only on those the gate took for echo with it: a filter that
    # got worse would otherwise never be seen to (its echo let through, never measured).
    # Untrusted, the gate judged with nothing taken out already (and nothing is measured).
    could_be_echo = echo_alone or (
        canceller.trusted and bound is not None and bound.holds(residual, uncancelled=True))
    path.push(t, level, residual, canceller.trusted, could_be_echo,
              caller=caller or canceller.doubting, hold=canceller.doubting,
              filter_id=canceller.filter_id)
    if echo_alone or noise:
        stats.echo_frames += 1
        return Frame(SILENT_FRAME_ULAW, SILENT_PCM, frame.t, frame.seq)
    if left is near:
        return frame
    pcm = np.clip(np.round(left), -32768, 32767).astype("<i2")
    return Frame(ulaw_encode(pcm), pcm.tobytes(), frame.t, frame.seq)
