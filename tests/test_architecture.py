"""The house rules, checked on the source: no import cycles, layers import only downwards,
modules of one idea and modest size.

Imports are read from every module's syntax tree at every level (inside functions too, where
the lazy imports live), so a cycle hidden in a function body counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "samcli"

# Modules that are one idea reading best whole, allowed past MAX_LINES (reason given).
MAX_LINES = 600
LONG_BUT_ONE_IDEA: dict[str, str] = {
    "samcli.config": "the one home of every default and rule (DESIGN.md): each command's "
                     "options, their checks and warnings, presets and family defaults",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The samcli modules ``name`` imports (the module itself or, for ``from m import x``,
    ``m.x`` when that is a module), plus the packages Python runs to reach them."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                       for alias in node.names]
        for t in targets:
            parts = t.split(".")
            for k in range(1, len(parts) + 1):
                candidate = ".".join(parts[:k])
                if candidate in known and candidate != name:
                    found.add(candidate)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            # a package's __init__ is run before its modules, but importing the package does
            # not run them: an edge into a parent package is not part of a cycle through it
            # unless that __init__ imports back, which the graph shows by itself
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    graph = _graph()
    parents = {v: {w for w in ws if not v.startswith(w + ".")} for v, ws in graph.items()}
    assert _cycles(parents) == []


def test_cycle_finder_finds_a_planted_cycle():
    """The checker itself: a cycle through a function-level import is found."""
    graph = _graph()
    graph["samcli.errors"] = graph["samcli.errors"] | {"samcli.pipeline"}
    assert any("samcli.errors" in c and "samcli.pipeline" in c for c in _cycles(graph))


# Who may import whom (prefix rules; a module matches its longest rule).
LAYERS = {
    "samcli.errors": set(),
    "samcli.fs": set(),
    "samcli.model": {"samcli.errors", "samcli.fs", "samcli.model"},
    "samcli.config": {"samcli.errors"},
}
NOT_IMPORTED_BY_LIBRARY = ("samcli.cli", "samcli.commands", "samcli.__main__")


@pytest.mark.parametrize("layer, allowed", sorted(LAYERS.items()))
def test_layers_import_only_downwards(layer, allowed):
    for module, imports in _graph().items():
        if module == layer or module.startswith(layer + "."):
            for target in imports:
                ok = any(target == a or target.startswith(a + ".") for a in allowed)
                ok |= target == "samcli" or (layer.endswith("model") and target == layer)
                assert ok, f"{module} imports {target}"


def test_the_library_never_imports_the_command_line():
    for module, imports in _graph().items():
        if module.startswith(NOT_IMPORTED_BY_LIBRARY):
            continue
        bad = [t for t in imports if t.startswith(NOT_IMPORTED_BY_LIBRARY)]
        assert not bad, f"{module} imports {bad}"


def test_modules_stay_small():
    long = {}
    for name, path in _modules().items():
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and name not in LONG_BUT_ONE_IDEA:
            long[name] = n
    assert not long, f"modules over {MAX_LINES} lines: {long}"
