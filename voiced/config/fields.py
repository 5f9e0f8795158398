"""Field metadata the loader checks: a numeric range, or a fixed set of choices."""

from __future__ import annotations

from typing import Any

LANGUAGES = ("he", "en")


def in_range(lo: float, hi: float) -> dict[str, Any]:
    return {"range": (lo, hi)}


def one_of(*options: str) -> dict[str, Any]:
    return {"choices": options}
