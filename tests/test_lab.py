"""The benchmark's own judgements, on records written by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voiced.lab.bench import own_words_answered
from voiced.records import CallView


def test_a_self_reply_is_a_turn_of_the_agents_own_words_not_a_cut_off_callers_second_half() -> None:
    greeting = {"kind": "agent", "said": "", "reply": "שלום, הגעתם למספרה. במה אפשר לעזור?"}
    echo = {"kind": "turn", "said": "במה אפשר לעזור", "reply": "סליחה, לא הבנתי."}
    first_half = {"kind": "turn", "said": "It is of the first importance.", "reply": "Sorry?"}
    second = {"kind": "turn", "said": "It is of the first importance that the letter used",
              "reply": "Sorry?"}
    view = CallView("CA1", turns=[greeting, echo, first_half, second])
    said = ["it is of the first importance that the letter used should be fine in form"]
    assert own_words_answered([view], said) == 1


def test_the_frame_lag_p99_and_the_share_within_20_ms_from_the_histogram() -> None:
    from voiced.lab.stats import frame_lag_p99_ms, frame_lag_within_pct
    from voiced.metrics import Metrics

    metrics = Metrics()
    for _ in range(989):
        metrics.frame_lag.observe(0.0005)
    for _ in range(11):  # 1.1 % of frames late: the p99 lands in the 50 ms bucket
        metrics.frame_lag.observe(0.03)
    assert frame_lag_p99_ms(metrics) == 50.0
    assert frame_lag_within_pct(metrics, 0.020) == 98.9
    assert frame_lag_within_pct(metrics, 0.003) is None  # not a bucket bound


def test_the_speed_probe_times_a_fixed_workload_in_cpu_milliseconds() -> None:
    from voiced.lab.stats import speed_probe

    ms = speed_probe(rounds=2)
    assert 0.5 < ms < 1000  # a fixed workload: about 10 ms here, not nothing, not seconds


def test_a_span_of_the_corpus_holds_recordings_out_in_manifest_order(tmp_path: Path) -> None:
    from voiced.lab.corpus import corpus_files

    rows = ["file\tlanguage\tduration_s\ttranscript\tsource\tlicence"]
    rows += [f"en/{i}.wav\ten\t1.0\tline {i}\tx\ty" for i in range(5)]
    rows += ["he/a.wav\the\t1.0\tשורה\tx\ty", "en/untranscribed.wav\ten\t1.0\t\tx\ty"]
    (tmp_path / "MANIFEST.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    names = [p.name for p, _ in corpus_files(tmp_path, "en", "1:3")]
    assert names == ["1.wav", "2.wav"]
    assert [p.name for p, _ in corpus_files(tmp_path, "en", "3:")] == ["3.wav", "4.wav"]
    assert len(corpus_files(tmp_path, "en")) == 5
    with pytest.raises(ValueError, match="A:B"):
        corpus_files(tmp_path, "en", "3")


async def test_a_harness_process_started_niced_runs_at_that_niceness() -> None:
    """``--others-nice``: the callers and the sim engines yield the cores the daemon wants."""
    import sys

    import trio

    from voiced.lab.procs import niced

    assert niced(0) == {}
    probe = [sys.executable, "-c", "import os; print(os.nice(0))"]
    done = await trio.run_process(probe, capture_stdout=True, **niced(5))
    assert int(done.stdout) == os.nice(0) + 5


async def test_a_harness_process_runs_the_benchmarks_code_not_its_working_directorys(
        tmp_path: Path) -> None:
    """A ``voiced`` package in the working directory (a checkout, while the benchmark runs
    from a snapshot of it) is not what the callers and the sim engines import."""
    import trio

    from voiced.lab.procs import module_command

    shadow = tmp_path / "voiced"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise SystemExit(3)\n", encoding="utf-8")
    done = await trio.run_process([*module_command("voiced.lab.procs")], cwd=tmp_path, check=False)
    assert done.returncode == 0
