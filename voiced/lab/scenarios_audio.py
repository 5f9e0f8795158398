"""``voiced test --audio``: a scenario as a phone call. Each caller line is spoken by the
embedded voice (what ``voiced say`` writes), dialled into a daemon in this process as Twilio
would, and heard, answered and acted on by the whole pipeline: VAD, turn-taking, Whisper, the
brain, the tools, espeak-ng. The checks are the text mode's, on what the call records say
the agent heard and answered.

What differs from text mode, and why: a tool call belongs to the caller line whose speech
ended last before it ran (the call records keep actions, not every lookup, so the tools are
watched directly); the line's language is the scenario's, as a business answering in that
language would set ``call.language``; and when the agent answers more or fewer times than
the scenario has lines (a caller cut off in a pause, a line not heard at all) the scenario
fails on that, since no turn could then be checked against the right line.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from collections.abc import Mapping
from typing import Any

import httpx
import trio

from ..audio import silence_padded
from ..book.schedule import Schedule
from ..book.sqlite import SqliteBook
from ..build import book_path, build_engines, vocabulary, warm_engines
from ..config import Config
from ..engines.base import SpeechToText, TextToSpeech
from ..engines.cache import CachedTTS
from ..events import EndCall, EndReason
from ..records import CallRecords, read_calls
from .dial import DialOptions, Utterance
from .runner import dial_url, local_daemon, signed_options
from .scenarios import Called, Recorded, TurnResult, check, prefill, scenario_now
from .speech import synthesize

CALLER_WPM = 130
_AGENT_ENDS = {EndReason.AGENT_HANGUP.value, EndReason.TRANSFERRED.value}


@dataclasses.dataclass
class AudioEngines:
    """What every scenario's call shares: Whisper loaded once, the embedded voice."""

    stt: SpeechToText
    tts: TextToSpeech
    caller_voice: Any

    @classmethod
    def load(cls, cfg: Config) -> AudioEngines:
        from ..engines import whisper
        from ..engines.espeak import EspeakTTS
        from ..engines.spoken import SpokenForm

        agent = SpokenForm(EspeakTTS(cfg.tts.espeak))
        # Callers speak English at 130 words a minute, as make demo's do; Hebrew at the
        # embedded voice's own 130.
        caller = SpokenForm(EspeakTTS(dataclasses.replace(cfg.tts.espeak, rate=CALLER_WPM)))
        stt = whisper.load(cfg.stt.whisper.model_dir, cfg.stt.whisper, vocabulary(cfg))
        return cls(stt, CachedTTS(agent), caller)

    async def utterance(self, text: str, lang: str, name: str) -> Utterance:
        """``text`` as ``voiced say`` speaks it, as the frames a caller's phone sends."""
        _, pcm = await synthesize(self.caller_voice, text, lang)
        return Utterance.from_pcm(name, silence_padded(pcm, 300))


async def run_audio(cfg: Config, scenario: Mapping[str, Any],
                    engines: AudioEngines) -> list[TurnResult]:
    lang = str(scenario.get("language", cfg.call.language))
    turns = list(scenario.get("turn", []))
    cfg = dataclasses.replace(cfg, call=dataclasses.replace(cfg.call, language=lang))
    schedule = Schedule(cfg.book)
    now = scenario_now(scenario, schedule)
    log: list[tuple[float, Called]] = []
    utterances = [await engines.utterance(str(t["say"]), lang, f"line {i + 1}")
                  for i, t in enumerate(turns)]
    with tempfile.TemporaryDirectory(prefix="voiced-scenario-") as state:
        cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, state_dir=state))
        await prefill(SqliteBook(book_path(cfg), schedule, clock=lambda: now), scenario)
        records = CallRecords(state)
        token = secrets.token_urlsafe(24)
        async with httpx.AsyncClient() as http:
            built = build_engines(cfg, http, stt=engines.stt, tts=engines.tts, clock=lambda: now)
            built = dataclasses.replace(built, tools=tuple(Recorded(t, log) for t in built.tools))
            await warm_engines(built, cfg)
            opts = signed_options(cfg, DialOptions(caller=str(scenario.get("caller", "+15550100"))),
                                  token)
            async with local_daemon(cfg, built, auth_token=token, records=records) as url:
                t0 = trio.current_time()
                dialled = await dial_url(url, utterances, opts)
        view = read_calls(records.path)[-1]
    answered = [t for t in view.turns if t.get("kind") == "turn"]
    ends = [t0 + r.speech_end for r in dialled.turns]
    ended = EndCall(EndReason(view.end["reason"])) if view.end and view.end.get("reason") in \
        _AGENT_ENDS else None
    results = []
    for i, turn in enumerate(turns):
        record = answered[i] if i < len(answered) else {}
        upto = ends[i + 1] if i + 1 < len(ends) else float("inf")
        tools = [c for t, c in log if ends[i] <= t < upto] if i < len(ends) else []
        last = i == len(turns) - 1
        result = TurnResult(str(record.get("said", "")), str(record.get("reply", "")), tools,
                            ended if last else None)
        # How the call ended is known for the whole call: checked on its last line.
        result.failures = check(turn if last else {k: v for k, v in turn.items() if k != "end"},
                                result)
        if not record:
            result.failures.append("no answer to this line")
        results.append(result)
    if len(answered) != len(turns):
        results[-1].failures.append(f"the agent answered {len(answered)} times to "
                                    f"{len(turns)} caller lines")
    return results
