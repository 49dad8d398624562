"""The package's architecture, checked: no module imports a higher layer, and no imports go round in a cycle.

Every import of every module counts, also the lazy ones inside functions.
"""

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[1] / "facepart"

#: Lowest first. A module may import its own layer and the ones below.
LAYERS = (
    ("errors", "checks", "io_utils", "geometry", "interrupts"),
    ("renderers",),
    ("data",),
    ("segmenters",),
    ("annotate",),
    ("export",),
    ("correction_gui", "report", "workflow"),
    ("cli", "__main__"),
)
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every facepart module ``path`` imports (absolute names; ``from X import y`` counts X and X.y)."""
    tree = ast.parse(path.read_text())
    me = _module_name(path).split(".")
    package = me if path.name == "__init__.py" else me[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "facepart"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "facepart":
                continue
            out.add(target)
            out |= {f"{target}.{a.name}" for a in node.names}
    return out


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(name: str, modules) -> str | None:
    """The module a dotted import name refers to (a name imported from a module resolves to the module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in _modules() if m != "facepart" and _layer(m) is None)
    assert not unplaced, f"modules outside every layer: {unplaced}"


def test_no_module_imports_a_higher_layer():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        mine = _layer(name)
        if mine is None:  # facepart/__init__.py: the public facade re-exports lazily
            continue
        for imported in _imports(path):
            target = _resolve(imported, modules)
            theirs = _layer(target) if target else None
            if theirs is not None and theirs > mine:
                upward.append(f"{name} (layer {mine}) imports {target} (layer {theirs})")
    assert not upward, "\n".join(sorted(set(upward)))


def test_there_is_no_import_cycle():
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        for imported in _imports(path):
            target = _resolve(imported, modules)
            # a package's own __init__ is imported by every submodule import: only count real modules
            if target and target != name and not name.startswith(target + ".") and target != "facepart":
                graph.add_edge(name, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "\n".join(" -> ".join(c + [c[0]]) for c in cycles[:10])


def test_the_checker_sees_a_violation():
    """The walk finds imports the way they are written (relative, lazy, from-imports)."""
    path = PACKAGE / "annotate" / "workers.py"
    found = _imports(path)
    assert "facepart.annotate.vote" in found and "facepart.renderers.base" in found
