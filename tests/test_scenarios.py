"""The shipped conversation scenarios (scenarios/*.toml) pass against the scripted
receptionist, in text mode: what `voiced test scenarios/*.toml` runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from voiced import config
from voiced.lab.scenarios import run_scenario, with_llm

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
TEXTS = {p.stem: tomllib.loads(p.read_text(encoding="utf-8")) for p in SCENARIOS}
CFG = config.load(ROOT / "config.toml")


@pytest.mark.parametrize("name", sorted(TEXTS))
async def test_scenario(name: str) -> None:
    results = await run_scenario(CFG, TEXTS[name])
    assert results
    assert [(r.said, r.failures) for r in results if r.failures] == []


@pytest.mark.parametrize("name", sorted(n for n, s in TEXTS.items()
                                        if any("llm" in t for t in s.get("turn", []))))
async def test_scenario_against_the_llm_brain(name: str) -> None:
    """The same expectations, the LLM brain's tool calls coming from the local LLM server
    over the real protocol."""
    results = await with_llm(CFG, TEXTS[name])
    assert results
    assert [(r.said, r.failures) for r in results if r.failures] == []


def test_a_scenario_that_expects_what_did_not_happen_fails() -> None:
    import trio

    wrong = {"language": "en", "turn": [{"say": "When are you open?", "contains": "closed forever",
                                         "tool": "book_appointment", "end": "hangup"}]}
    [result] = trio.run(run_scenario, CFG, wrong)
    assert result.failures == ["reply does not contain 'closed forever'",
                               "book_appointment was not called", "the call went on, expected hangup"]


@pytest.mark.engines
def test_the_scenarios_pass_as_phone_calls() -> None:
    """Audio mode: every scenario not marked text-only, each caller line spoken by the
    embedded voice into a daemon on the embedded engines (Whisper, espeak-ng), on the real
    clock; the same expectations as in text mode (about 25 s a scenario)."""
    pytest.importorskip("faster_whisper")
    import trio

    from voiced.lab.scenarios_audio import AudioEngines, run_audio

    voices = AudioEngines.load(CFG)
    spoken = [n for n in sorted(TEXTS) if TEXTS[n].get("audio", True)]
    assert len(spoken) >= 4

    async def run_all() -> dict[str, list[tuple[str, list[str]]]]:
        failed = {}
        for name in spoken:
            results = await run_audio(CFG, TEXTS[name], voices)
            assert len(results) == len(TEXTS[name]["turn"])
            failed[name] = [(r.said, r.failures) for r in results if r.failures]
        return failed

    assert trio.run(run_all) == {name: [] for name in spoken}
