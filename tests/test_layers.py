"""The package's layers (docs/ARCHITECTURE.md): every import inside voiced, at the top of a
module or inside a function, goes to the same layer or a lower one, and none closes a cycle.
The instruments (``voiced.lab``) are above the daemon, so the daemon never imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import voiced

ROOT = Path(voiced.__file__).parent

# Lowest first. A module is in the layer of its longest matching prefix.
LAYERS: list[tuple[str, ...]] = [
    ("voiced", "voiced.errors", "voiced.sids", "voiced.limits", "voiced.loopwatch", "voiced.text",
     "voiced.business",
     "voiced.hebrew", "voiced.lang", "voiced.audio", "voiced.threads", "voiced.models", "voiced.logs",
     "voiced.systemd", "voiced.metrics", "voiced.config", "voiced.farend", "voiced.nearend", "voiced.echo",
     "voiced.canceller", "voiced.slots", "voiced.sizing"),
    ("voiced.twilio",),
    ("voiced.events", "voiced.conversation", "voiced.callstate", "voiced.latency"),
    ("voiced.engines", "voiced.book", "voiced.tools"),
    ("voiced.stages",),
    ("voiced.call", "voiced.build", "voiced.records", "voiced.observe", "voiced.waterfall"),
    ("voiced.admission", "voiced.guard", "voiced.listener", "voiced.app", "voiced.server",
     "voiced.workers"),
    ("voiced.lab",),
    ("voiced.cli", "voiced.__main__"),
]


def module_name(path: Path) -> str:
    parts = ["voiced", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def layer(module: str) -> int:
    best, rank = -1, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, rank = len(name), i
    assert rank >= 0, f"{module} is in no layer: add it to LAYERS and docs/ARCHITECTURE.md"
    return rank


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The voiced modules ``module`` imports, wherever in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("voiced")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("voiced"):
                target = node.module
            else:
                continue
            # ``from . import models`` names a module; ``from .x import y`` a name in x.
            subs = {f"{target}.{a.name}" for a in node.names} & known
            out |= subs or {target}
    return {m for m in out if m in known and m != module}


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imports(m, p, set(mods)) for m, p in mods.items()}


def test_every_import_goes_down_or_across_a_layer() -> None:
    upward = sorted(f"{m} (layer {layer(m)}) imports {d} (layer {layer(d)})"
                    for m, deps in graph().items() for d in deps if layer(d) > layer(m))
    assert upward == []


def test_the_daemon_never_imports_the_instruments() -> None:
    daemon = {m: deps for m, deps in graph().items() if layer(m) < layer("voiced.lab")}
    assert {m: sorted(d for d in deps if d.startswith("voiced.lab")) for m, deps in daemon.items()
            if any(d.startswith("voiced.lab") for d in deps)} == {}


def test_no_import_cycles() -> None:
    g = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for d in sorted(g[m]):
            if state.get(d) == 1:
                cycles.append([*path[path.index(d):], d])
            elif d not in state:
                visit(d)
        path.pop()
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m)
    assert cycles == []


def test_the_checker_sees_what_it_must() -> None:
    """The checks above would pass on an empty graph: make sure they read real imports."""
    g = graph()
    assert "voiced.stages.dialogue" in g and "voiced.stages.turns" in g["voiced.stages.dialogue"]
    assert "voiced.build" in g["voiced.server"]  # an import inside a function
    assert "voiced.lab.bench" in g["voiced.cli"]
    assert layer("voiced.stages.turns") == 4 and layer("voiced.twilio.wire") == 1


def test_the_daemon_modules_and_functions_stay_readable() -> None:
    """docs/ARCHITECTURE.md: a daemon module over 400 lines or a function over 60 is split,
    or the document says why it is not."""
    too_long: list[str] = []
    for module, path in modules().items():
        if layer(module) >= layer("voiced.lab"):
            continue
        source = path.read_text(encoding="utf-8")
        if source.count("\n") > 400:
            too_long.append(f"{module}: {source.count(chr(10))} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > 60:
                    too_long.append(f"{module}.{node.name}: "
                                    f"{node.end_lineno - node.lineno + 1} lines")
    assert too_long == []
