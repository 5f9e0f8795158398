"""One line per turn that says where the time went, from end of caller speech to first audio.

The stages fill a :class:`TurnLog` as the turn passes through them; the send stage closes it
when the first media frame of the reply leaves for Twilio, and that moment is the one the
caller experiences (less Twilio's own jitter buffer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import trio

log = logging.getLogger("voiced.latency")


@dataclass
class TurnLog:
    """Mutable on purpose: each stage writes its own fields, only the send stage reads all."""

    call: str
    n: int
    t_end: float = 0.0
    t_endpoint: float = 0.0
    t_stt: float = 0.0
    stt_compute_s: float = 0.0
    speculative: bool = False
    t_reply_start: float = 0.0
    t_llm_first: float | None = None
    tts_first_s: float | None = None
    t_first_audio: float | None = None
    ws_decode_ms: float = 0.0
    transcript: str = ""
    language: str = ""
    fragments: int = 0  # text fragments the brain streamed (an LLM's content deltas: tokens)
    # Replies prepared for this caller turn and dropped before this one was released (the
    # caller went on, or the words were revised), and the fragments they had streamed: what
    # speculation cost a billed LLM.
    dropped: int = 0
    dropped_fragments: int = 0

    def stages(self) -> dict[str, float]:
        """Seconds per stage, for percentiles."""
        out = {"endpoint": self.t_endpoint - self.t_end,
               "stt_after_endpoint": max(0.0, self.t_stt - self.t_endpoint),
               "stt_compute": self.stt_compute_s}
        if self.t_llm_first is not None:
            out["llm_first_token"] = self.t_llm_first - self.t_reply_start
        if self.tts_first_s is not None:
            out["tts_first_audio"] = self.tts_first_s
        if self.total_s is not None:
            out["total_server"] = self.total_s
            if "llm_first_token" in out and "tts_first_audio" in out:
                # What the endpoint rule and the engines require, speculation included; the
                # rest of the reply latency is voiced's own overhead.
                engines = (self.t_stt - self.t_end) + out["llm_first_token"] + out["tts_first_audio"]
                out["overhead"] = self.total_s - max(out["endpoint"], engines)
        return out

    def speculation(self) -> dict[str, int]:
        """The brain requests this turn took and the fragments streamed by those wasted."""
        return {"requests": 1 + self.dropped, "wasted_requests": self.dropped,
                "wasted_fragments": self.dropped_fragments}

    def timeline(self) -> dict[str, float]:
        """When each step happened, in seconds from the end of the caller's speech (negative:
        before it, speculatively): the waterfall in ``voiced calls``."""
        out = {"endpoint": self.t_endpoint - self.t_end,
               "stt_start": self.t_stt - self.stt_compute_s - self.t_end,
               "stt_ready": self.t_stt - self.t_end,
               "reply_start": self.t_reply_start - self.t_end}
        if self.t_llm_first is not None:
            out["llm_first_token"] = self.t_llm_first - self.t_end
            if self.tts_first_s is not None:
                out["tts_first_audio"] = self.t_llm_first - self.t_end + self.tts_first_s
        if self.t_first_audio is not None:
            out["first_audio_sent"] = self.t_first_audio - self.t_end
        return out

    @property
    def total_s(self) -> float | None:
        return None if self.t_first_audio is None else self.t_first_audio - self.t_end

    def first_audio(self) -> None:
        if self.t_first_audio is not None:
            return
        self.t_first_audio = trio.current_time()
        log.info("%s", self.line())

    def line(self) -> str:
        def ms(x: float | None) -> str:
            return "-" if x is None else f"{x * 1000:.0f}ms"

        stt_wait = self.t_stt - self.t_endpoint
        stt = (
            f"ready {ms(max(stt_wait, 0.0))} after endpoint "
            f"({'speculative' if self.speculative else 'at endpoint'}, "
            f"{ms(self.stt_compute_s)} compute)"
        )
        llm = None if self.t_llm_first is None else self.t_llm_first - self.t_reply_start
        total = self.total_s
        return (
            f"call {self.call} turn {self.n} "
            f"[ΔWS] frame decode {self.ws_decode_ms:.2f}ms | "
            f"[ΔVAD] endpoint {ms(self.t_endpoint - self.t_end)} | "
            f"[ΔSTT] {stt} | [ΔLLM] first token {ms(llm)} | "
            f"[ΔTTS] first audio {ms(self.tts_first_s)} | "
            f"[ΔTOTAL] {'-' if total is None else f'{total:.2f}s'}"
        )
