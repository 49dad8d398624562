"""The data layer imports nothing above it, and its modules form no import cycle (function-level imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

import facepart

ROOT = Path(facepart.__file__).parent
LOWER = {"facepart", "facepart.errors", "facepart.checks", "facepart.io_utils", "facepart.geometry"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every facepart module ``path`` imports, at any depth of its code."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if (ROOT.parent / Path(*full.split("."))).with_suffix(".py").exists()
                        or (ROOT.parent / Path(*full.split(".")) / "__init__.py").exists() else target)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m == "facepart" or m.startswith("facepart.")}


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in (ROOT / "data").rglob("*.py")}


def test_the_data_layer_imports_no_higher_layer():
    for module, deps in _graph().items():
        higher = sorted(d for d in deps if not d.startswith("facepart.data") and d not in LOWER
                        and d not in ("facepart.__version__",))
        assert not higher, f"{module} imports {higher}"


def test_the_data_layer_has_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep not in graph:
                continue
            if state.get(dep) == 1:
                cycle = path[path.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert "facepart.data.formats.builder" in graph and "facepart.data.annotation" in graph  # the walk saw them
