"""``blender``: a Python script that, run in Blender, puts one vertex group per part on the imported mesh.

The script holds the data as literals (``TOPOLOGY``, ``PARTS`` = group name ->
vertex indices) and checks the active mesh's vertex count before touching it.
Vertex indices only mean something if Blender kept the file's vertex order:
import a PLY (always kept), or an OBJ with "Split by Object" and "Split by Group"
off (Blender < 4: also "Keep Vert Order"). Read back with :func:`read_blender`,
which parses the literals (it never runs the script).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import open_input, write_bytes_atomic
from .common import check_fingerprint, file_fingerprint, index_array
from .options import ExportOptions
from .view import PartView, annotation_from_sets

SCRIPT = '''"""facepart part annotation -> Blender vertex groups ({n_parts} groups).

Annotation of {model} ({n_vertices} vertices, {n_triangles} triangles), {rule} rule, facepart {version}.
1. Import the mesh with its vertex order kept: a PLY (File > Import > Stanford PLY), or an OBJ
   with "Split by Object" and "Split by Group" off (Blender < 4: tick "Keep Vert Order").
2. Select it (it must be the active object).
3. Scripting workspace > Open this file > Run Script, or from a shell:
   blender your.blend --python {filename}
Each part becomes a vertex group of the same name (weight 1.0); existing groups of that name are
filled again.
"""
import bpy

TOPOLOGY = {topology!r}
PARTS = {{
{parts}}}


def main():
    obj = bpy.context.active_object
    if obj is None or obj.type != "MESH":
        raise RuntimeError("facepart: select the imported face mesh (make it the active object) first")
    n = len(obj.data.vertices)
    if n != TOPOLOGY["n_vertices"]:
        raise RuntimeError("facepart: the active mesh has %d vertices, these parts are for %d; import the model "
                           "with its vertex order kept" % (n, TOPOLOGY["n_vertices"]))
    for name, indices in PARTS.items():
        group = obj.vertex_groups.get(name)
        if group is None:
            group = obj.vertex_groups.new(name=name)
        group.add(indices, 1.0, "REPLACE")
    print("facepart: %d vertex groups on %s" % (len(PARTS), obj.name))


main()
'''


def _wrap(idx: np.ndarray, per_line: int = 20) -> str:
    rows = [", ".join(str(int(i)) for i in idx[k:k + per_line]) for k in range(0, len(idx), per_line)]
    return "".join(f"        {r},\n" for r in rows)


def write_blender(annotation: Annotation, path: Path, **options) -> list[Path]:
    view = PartView.of(annotation, ExportOptions.of(options))
    path = Path(path)
    fp = view.fingerprint
    parts = "".join(f"    {name!r}: [\n{_wrap(idx)}    ],\n" for name, idx in view.indices().items())
    model = (annotation.settings.get("model") or {}).get("name") or "the model"
    text = SCRIPT.format(n_parts=len(view.names), model=model, n_vertices=fp.n_vertices, n_triangles=fp.n_triangles,
                         rule=view.rule, version=__version__, filename=path.name, topology=fp.as_dict(), parts=parts)
    write_bytes_atomic(path, text.encode("utf-8"))
    return [path]


def _literals(path: Path) -> dict:
    with open_input(path, "r", "a Blender script", encoding="utf-8") as fh:
        text = fh.read()
    try:
        tree = ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        raise FacepartError(f"{path}: not a readable Python script ({exc.msg}, line {exc.lineno})") from None
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("TOPOLOGY", "PARTS"):
                try:
                    out[name] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    raise FacepartError(f"{path}: {name} is not a plain literal") from None
    return out


def is_blender(path: Path) -> bool:
    if path.suffix.lower() != ".py" or not path.is_file():
        return False
    with open(path, "rb") as fh:
        return b"facepart part annotation -> Blender vertex groups" in fh.read(300)


def read_blender(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    """The parts of a script written by :func:`write_blender` (parsed, never run)."""
    path = Path(path)
    lit = _literals(path)
    if "PARTS" not in lit or "TOPOLOGY" not in lit or not isinstance(lit["PARTS"], dict):
        raise FacepartError(f"{path}: not a facepart Blender script (no TOPOLOGY / PARTS)")
    found = file_fingerprint(lit["TOPOLOGY"], f"{path}: TOPOLOGY")
    sets = {str(k): index_array(v, str(path), str(k)) for k, v in lit["PARTS"].items()}
    return annotation_from_sets(sets, check_fingerprint(found, path, model, topology), str(path))
