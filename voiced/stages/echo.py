"""echo: inbound audio that is only the agent's own voice coming back is silenced here, before
the VAD and the recogniser hear it (:mod:`voiced.echo` says how it is told apart).

Every frame goes on, in order and on time; a frame judged echo goes on as line silence, so
the VAD sees no speech in it and the recogniser no words. The caller talking over the agent
is louder than the echo the agent's audio predicts, and passes untouched.
"""

from __future__ import annotations

import trio

from ..audio import FRAME_BYTES_PCM, SILENT_FRAME_ULAW
from ..callstate import RecvStats
from ..echo import EchoPath, energy
from ..events import Frame

SILENT_PCM = bytes(FRAME_BYTES_PCM)


async def echo(
    rx: trio.MemoryReceiveChannel[Frame],
    tx: trio.MemorySendChannel[Frame],
    path: EchoPath,
    stats: RecvStats,
) -> None:
    with rx, tx:
        async for frame in rx:
            level = energy(frame.pcm)
            path.push(frame.t, level)
            if path.is_echo(frame.t, level):
                stats.echo_frames += 1
                frame = Frame(SILENT_FRAME_ULAW, SILENT_PCM, frame.t, frame.seq)
            await tx.send(frame)
