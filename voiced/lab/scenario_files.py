"""``voiced test scenarios/*.toml``: the scenario files run in text mode
(:mod:`voiced.lab.scenarios`), against the LLM brain, or as phone calls
(:mod:`voiced.lab.scenarios_audio`), with what each turn said, did and missed printed."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from ..config import Config
from .scenarios import run_scenario, with_llm
from .scenarios_audio import AudioEngines, run_audio


async def run_files(cfg: Config, paths: list[Path], llm: bool = False, audio: bool = False) -> int:
    """Each scenario in text mode (to the LLM brain with ``llm``), or as a phone call with
    ``audio`` (:mod:`voiced.lab.scenarios_audio`); 0 when all passed."""
    voices = AudioEngines.load(cfg) if audio else None
    failed = ran = 0
    for path in paths:
        scenario = tomllib.loads(path.read_text(encoding="utf-8"))
        if llm and not any("llm" in t for t in scenario.get("turn", [])):
            continue  # written for the scripted receptionist only
        if audio and scenario.get("audio") is False:
            print(f"skip {path.name}: a text-only scenario (audio = false)")
            continue
        ran += 1
        if voices is not None:
            results = await run_audio(cfg, scenario, voices)
        else:
            results = await (with_llm(cfg, scenario) if llm else run_scenario(cfg, scenario))
        bad = [r for r in results if r.failures]
        failed += bool(bad)
        print(f"{'FAIL' if bad else 'ok  '} {path.name}: {scenario.get('name', '')}")
        for r in results:
            mark = "  x" if r.failures else "   "
            tools = ", ".join(f"{c.name}({json.dumps(c.args, ensure_ascii=False)})" for c in r.tools)
            print(f"{mark} caller: {r.said}\n      agent: {r.reply}"
                  + (f"\n      tools: {tools}" if tools else ""))
            for f in r.failures:
                print(f"      ! {f}")
    print(f"{ran - failed} of {ran} scenarios passed" + (" (against the LLM brain)" if llm else "")
          + (" (as phone calls)" if audio else ""))
    return 1 if failed else 0


