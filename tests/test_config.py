from __future__ import annotations

from pathlib import Path

import pytest

from voiced import cli, config
from voiced.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_config_is_valid_and_speaks_hebrew_and_english() -> None:
    cfg = config.load(ROOT / "config.toml")
    assert cfg.vad.silence_ms == 800
    assert cfg.call.language == "he"
    assert {i.name for i in cfg.brain.script.intents} >= {"hours", "prices", "goodbye"}
    for intent in cfg.brain.script.intents:
        assert set(intent.answer) == {"he", "en"}, intent.name


def test_the_shipped_beam_is_wide_for_short_hebrew_turns_and_narrower_for_long_ones() -> None:
    whisper = config.load(ROOT / "config.toml").stt.whisper
    assert whisper.beam_for("he", 5.9) == 5  # a request: one word is the meaning
    assert whisper.beam_for("he", 6.0) == 3  # a long sentence: more steps, nothing gained
    assert whisper.beam_for("en", 12.0) == 1  # never wider than the language's own
    assert whisper.describe_beam("he") == "5, 3 from 6.0 s"
    assert whisper.describe_beam("en") == "1"


@pytest.mark.parametrize(
    ("data", "key", "message"),
    [
        ({"vad": {"silence_ms": "800"}}, "vad.silence_ms", "expected an integer"),
        ({"vad": {"silense_ms": 800}}, "vad.silense_ms", "unknown setting"),
        ({"vad": {"aggressiveness": 7}}, "vad.aggressiveness", "out of range"),
        ({"call": {"language": "fr"}}, "call.language", "not one of"),
        ({"call": {"languages": ["he", "xx"]}}, "call.languages", "unknown language"),
        ({"turn": {"model_languages": ["fr"]}}, "turn.model_languages", "unknown language"),
        ({"stt": {"transcribe_in_parts": ["fr"]}}, "stt.transcribe_in_parts", "unknown language"),
        ({"stt": {"transcribe_in_parts": True}}, "stt.transcribe_in_parts", "expected an array"),
        ({"turn": {"unsure_silence_ms": 900}}, "turn.unsure_silence_ms", "between"),
        ({"turn": {"model": "silero"}}, "turn.model", "not one of"),
        ({"stt": {"whisper": {"beam_size": True}}}, "stt.whisper.beam_size", "expected an integer"),
        ({"brain": {"script": {"intents": [{"keywords": {}}]}}}, "brain.script.intents[0]", "name"),
        ({"server": []}, "server", "expected a table"),
        ({"brain": {"script": {"greeting": {"en": "hi"}}}}, "brain.script.greeting", "line language"),
    ],
)
def test_bad_settings_name_their_key(data: dict[str, object], key: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        config.from_dict(data)
    assert info.value.key == key


def test_check_config_prints_one_line_and_no_traceback_on_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[vad]\nsilence_ms = -5\n")
    assert cli.main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err == "voiced: config error: vad.silence_ms: -5 is out of range [100, 5000]\n"

    broken = tmp_path / "broken.toml"
    broken.write_text("[vad\n")
    assert cli.main(["check-config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid TOML" in err and "Traceback" not in err


def test_check_config_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICED_LLM_API_KEY", "sk-very-secret-value")
    assert cli.main(["check-config", str(ROOT / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "sk-very-secret-value" not in out
    assert "# VOICED_LLM_API_KEY is set (****)" in out
    assert "silence_ms = 800" in out


def test_secrets_come_from_systemd_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VOICED_LLM_API_KEY", raising=False)
    (tmp_path / "VOICED_LLM_API_KEY").write_text("from-credential\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert config.secret("VOICED_LLM_API_KEY") == "from-credential"
