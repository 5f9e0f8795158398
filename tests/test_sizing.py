"""The machine sizes what the configuration leaves at 0: workers, calls, Whisper decodes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from voiced import sizing
from voiced.admission import Registry
from voiced.app import create_app
from voiced.cli import main
from voiced.config import Config, from_dict, load
from voiced.lab.testing.fakes import fake_engines
from voiced.lab.testing.peer import voice_form

SHIPPED = Path(__file__).resolve().parent.parent / "config.toml"
CLOUD = {"stt": {"engine": "google"}, "tts": {"engine": "google"}}


def test_the_shipped_config_leaves_the_sizes_to_the_machine() -> None:
    cfg = load(SHIPPED)
    assert (cfg.server.workers, cfg.server.max_calls, cfg.stt.whisper.concurrency) == (0, 0, 0)


@pytest.mark.parametrize(("cores", "workers", "calls", "decodes"),
                         [(1, 1, 2, 1), (2, 1, 4, 2), (8, 1, 16, 8)])
def test_embedded_whisper_is_one_process_decoding_on_every_core_two_calls_a_core(
        cores: int, workers: int, calls: int, decodes: int) -> None:
    size = sizing.for_machine(load(SHIPPED), cores)
    assert (size.workers, size.max_calls, size.decodes) == (workers, calls, decodes)


@pytest.mark.parametrize(("cores", "workers", "calls"), [(1, 1, 20), (2, 2, 40), (4, 4, 80)])
def test_cloud_engines_get_a_worker_a_core_and_twenty_calls_a_core(
        cores: int, workers: int, calls: int) -> None:
    size = sizing.for_machine(from_dict(CLOUD), cores)
    assert (size.workers, size.max_calls) == (workers, calls)


def test_a_number_in_the_file_wins_and_threads_a_decode_divide_the_cores() -> None:
    cfg = from_dict({"server": {"workers": 3, "max_calls": 7},
                     "stt": {"whisper": {"concurrency": 1}}})
    size = sizing.for_machine(cfg, 16)
    assert (size.workers, size.max_calls, size.decodes) == (3, 7, 1)
    threads = from_dict({"stt": {"whisper": {"cpu_threads": 2}}})
    assert sizing.for_machine(threads, 4).decodes == 2
    assert sizing.for_machine(threads, 1).decodes == 1  # never none


def test_resolved_leaves_no_zero_and_is_stable() -> None:
    cfg = sizing.resolved(Config(), 4)
    assert (cfg.server.workers, cfg.server.max_calls, cfg.stt.whisper.concurrency) == (1, 8, 4)
    assert sizing.resolved(cfg, 64) == cfg  # a worker resolving again gets the same numbers
    assert "sized by voiced" not in sizing.for_machine(cfg, 4).describe(cfg)
    said = sizing.for_machine(Config(), 4).describe(Config())
    assert said == ("4 cores, embedded Whisper: 1 worker(s), at most 8 calls, 4 decodes at once "
                    "(server.workers, server.max_calls, stt.whisper.concurrency sized by voiced)")


async def test_the_caller_over_the_machines_calls_hears_the_line_is_busy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped default on a 1-core machine with the embedded engines: two calls, and the
    third caller is told the line is busy rather than answered slowly."""
    monkeypatch.setattr(sizing, "cores", lambda: 1)
    cfg = from_dict({"twilio": {"validate_signatures": False}})
    registry = Registry.for_config(cfg, None)
    assert registry.max_calls == 2
    client = create_app(cfg, fake_engines(cfg), registry=registry).test_client()
    for n in "12":
        sid = "CA" + n * 32
        token = registry.issue(sid, "AC" + "0" * 32)
        assert token is not None and registry.admit(sid, "AC" + "0" * 32, token) is None
    resp = await client.post("/twilio/voice", form=voice_form("CA" + "9" * 32))
    root = ET.fromstring(await resp.get_data(as_text=True))
    assert root.find("Hangup") is not None and root.find("Connect") is None


def test_check_config_says_what_this_machine_gets(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sizing, "cores", lambda: 2)
    assert main(["check-config", str(SHIPPED)]) == 0
    assert "# on this machine: 2 cores, embedded Whisper: 1 worker(s), at most 4 calls, " \
        "2 decodes at once" in capsys.readouterr().out


def test_a_cgroups_cpu_quota_caps_the_cores(tmp_path: Path) -> None:
    """A container given 1.5 CPUs of a 16-core host is sized for 2, not 16."""
    own = tmp_path / "cgroup"
    root = tmp_path / "fs"
    (root / "system.slice" / "voiced.service").mkdir(parents=True)
    own.write_text("0::/system.slice/voiced.service\n")
    assert sizing.quota_cores(own, root) is None  # no cpu.max: no quota
    (root / "system.slice" / "voiced.service" / "cpu.max").write_text("max 100000\n")
    assert sizing.quota_cores(own, root) is None
    (root / "system.slice" / "voiced.service" / "cpu.max").write_text("150000 100000\n")
    assert sizing.quota_cores(own, root) == 2
    (root / "system.slice" / "cpu.max").write_text("100000 100000\n")  # the slice's binds too
    assert sizing.quota_cores(own, root) == 1
    own.write_text("garbage\n0::/system.slice/voiced.service\n")
    assert sizing.quota_cores(own, root) == 1
    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "docker" / "abc").mkdir(parents=True)
    (v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu,cpuacct" / "docker" / "abc" / "cpu.cfs_period_us").write_text("100000\n")
    own.write_text("4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n")
    assert sizing.quota_cores(own, v1) == 1
    assert sizing.quota_cores(tmp_path / "missing", root) is None
    assert sizing.cores() >= 1
