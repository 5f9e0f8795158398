"""config.toml in, checked :class:`~voiced.config.Config` out; the effective settings back out
as text (secrets masked); secrets from the environment or systemd credentials.

The loader is ours, not a library's: msgspec 0.23 (the fastest converter into dataclasses)
fills a dataclass from a table with a misspelt key (``silense_ms``) and says nothing, and a
typo that silently keeps a default is the config error an operator never finds. This one names
the unknown key and the known ones, and the key of every wrong type or range."""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .schema import Config


def load(path: str | os.PathLike[str] | None) -> Config:
    """Read a TOML file (or nothing, for the defaults) into a checked :class:`Config`."""
    if path is None:
        return Config()
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("", f"{path} is not UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path}: invalid TOML: {exc}") from None
    return from_dict(data)


def from_dict(data: Mapping[str, Any]) -> Config:
    cfg = _build(Config, data, "")
    assert isinstance(cfg, Config)
    return cfg


def _build(cls: type[Any], data: Any, key: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(key, f"expected a table, got {_kind(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{key}.{unknown[0]}" if key else unknown[0]
        raise ConfigError(where, f"unknown setting (known here: {', '.join(sorted(fields))})")
    values: dict[str, Any] = {}
    for name, value in data.items():
        sub = f"{key}.{name}" if key else name
        values[name] = _convert(hints[name], value, sub)
        _check(fields[name].metadata, values[name], sub)
    try:
        return cls(**values)
    except TypeError as exc:  # a required field left out
        raise ConfigError(key, str(exc)) from None


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type[Any], hint), value, key)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, f"expected true or false, got {_kind(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"expected an integer, got {_kind(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, f"expected a number, got {_kind(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, f"expected a string, got {_kind(value)}")
        return value
    if origin is tuple:
        (item,) = (a for a in typing.get_args(hint) if a is not Ellipsis)
        if not isinstance(value, list):
            raise ConfigError(key, f"expected an array, got {_kind(value)}")
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (Mapping, dict) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        _, item = typing.get_args(hint)
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a table, got {_kind(value)}")
        return types.MappingProxyType(
            {str(k): _convert(item, v, f"{key}.{k}") for k, v in value.items()}
        )
    raise AssertionError(f"unsupported config type {hint!r} at {key}")  # pragma: no cover


def _check(meta: Mapping[str, Any], value: Any, key: str) -> None:
    if "range" in meta:
        lo, hi = meta["range"]
        if not lo <= value <= hi:
            raise ConfigError(key, f"{value} is out of range [{lo}, {hi}]")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(key, f"{value!r} is not one of {', '.join(meta['choices'])}")


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def secret(env_name: str) -> str | None:
    """A secret from the environment or from a systemd credential (``LoadCredential=``)."""
    value = os.environ.get(env_name)
    if value:
        return value
    cred_dir = os.environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir:
        try:
            return (Path(cred_dir) / env_name).read_text().strip() or None
        except OSError:
            return None
    return None


def render(cfg: Config) -> str:
    """The effective settings as TOML-like text, with the secrets they point at masked."""
    lines: list[str] = []

    def emit(obj: Any, prefix: str) -> None:
        scalars = []
        nested = []
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                nested.append((f.name, value))
            elif isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
                nested.extend((f"{f.name}[{i}]", v) for i, v in enumerate(value))
            else:
                scalars.append((f.name, value))
        if scalars:
            lines.append(f"[{prefix}]")
            for name, value in scalars:
                lines.append(f"{name} = {_show(value)}")
                if name.endswith("_env") and isinstance(value, str):
                    lines.append(f"# {value} is {'set (****)' if secret(value) else 'not set'}")
            lines.append("")
        for name, value in nested:
            emit(value, f"{prefix}.{name}" if prefix else name)

    for f in dataclasses.fields(cfg):
        emit(getattr(cfg, f.name), f.name)
    return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + " }"
    return str(value)
