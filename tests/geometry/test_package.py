"""The package's shape: its public names, and imports only downwards (no cycles)."""

from __future__ import annotations

import ast
from pathlib import Path

import samcli.geometry

PACKAGE = Path(samcli.geometry.__file__).parent


def _imports(path: Path) -> set[str]:
    """samcli modules a file imports, anywhere in it (functions included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("samcli")}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.name}: relative import")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("samcli"):
            out.add(node.module)
    return out


def test_public_api():
    assert sorted(samcli.geometry.__all__) == [
        "geometry_to_mask", "geometry_to_yolo_ring", "mask_to_geometry"]


def test_modules_import_each_other_without_cycles_and_nothing_else_of_samcli():
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        mods = _imports(path)
        name = "samcli.geometry" + ("" if path.stem == "__init__" else "." + path.stem)
        assert all(m.startswith("samcli.geometry.") or m == "samcli.config" for m in mods), (
            name, mods)
        if name != "samcli.geometry":  # modules import siblings directly, not the package
            assert "samcli.geometry" not in mods, name
        graph[name] = {m for m in mods if m.startswith("samcli.geometry")}
    done: set[str] = set()

    def visit(node: str, path: tuple) -> None:
        assert node not in path, " -> ".join(path + (node,))
        if node in done:
            return
        for nxt in graph.get(node, ()):
            visit(nxt, path + (node,))
        done.add(node)

    for node in graph:
        visit(node, ())
