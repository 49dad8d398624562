"""A small, order-preserving Wavefront OBJ reader (vertices, polygons, materials).

trimesh can re-order or merge vertices; this reader never does: vertex i of
the file is row i of the result. Polygons are fan-triangulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import FacepartError


class ObjMesh(NamedTuple):
    vertices: np.ndarray  # (V, 3) float64
    triangles: np.ndarray  # (F, 3) int64, 0-based
    triangle_polygon: np.ndarray  # (F,) int64 index of the source polygon
    polygon_material: list[str]  # material name per polygon ("" when none)
    uv: np.ndarray | None  # (T, 2) texture coordinates as listed in the file


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FacepartError(f"{path}: expected an OBJ file, got a folder") from None
    except OSError as exc:
        raise FacepartError(f"{path}: cannot read ({exc.strerror})") from None


def _floats(lines: list[str], width: int, path: Path, what: str) -> np.ndarray:
    if not lines:
        return np.zeros((0, width))
    try:
        rows = [ln.split()[1: width + 1] for ln in lines]
        arr = np.array(rows, dtype=np.float64)
    except ValueError:
        raise FacepartError(f"{path}: malformed '{what}' line (expected {width} numbers)") from None
    return arr.reshape(-1, width)


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """(V, 3) float64 vertex positions of an OBJ file, in file order."""
    path = Path(path)
    lines = [ln for ln in _read_text(path).splitlines() if ln.startswith("v ")]
    if not lines:
        raise FacepartError(f"{path}: no vertices ('v' lines) found; is this an OBJ file?")
    return _floats(lines, 3, path, "v")


def read_obj(path: str | Path) -> ObjMesh:
    """Read vertices, fan-triangulated faces and per-polygon material names."""
    path = Path(path)
    vlines, vtlines = [], []
    tris, tri_poly, materials = [], [], []
    material = ""
    for ln in _read_text(path).splitlines():
        if ln.startswith("v "):
            vlines.append(ln)
        elif ln.startswith("vt "):
            vtlines.append(ln)
        elif ln.startswith("usemtl"):
            material = ln[6:].strip()
        elif ln.startswith("f "):
            try:
                idx = [int(tok.split("/")[0]) for tok in ln.split()[1:]]
            except ValueError:
                raise FacepartError(f"{path}: malformed face line '{ln[:60]}'") from None
            if len(idx) < 3:
                raise FacepartError(f"{path}: a face with fewer than 3 vertices: '{ln[:60]}'")
            poly = len(materials)
            materials.append(material)
            for k in range(1, len(idx) - 1):
                tris.append((idx[0], idx[k], idx[k + 1]))
                tri_poly.append(poly)
    if not vlines:
        raise FacepartError(f"{path}: no vertices ('v' lines) found; is this an OBJ file?")
    vertices = _floats(vlines, 3, path, "v")
    tri = np.array(tris, dtype=np.int64).reshape(-1, 3)
    n = len(vertices)
    tri = np.where(tri < 0, tri + n, tri - 1)  # OBJ: 1-based, negatives count from the end
    if tri.size and (tri.min() < 0 or tri.max() >= n):
        raise FacepartError(f"{path}: a face refers to a vertex beyond the {n} vertices in the file")
    uv = _floats(vtlines, 2, path, "vt") if vtlines else None
    return ObjMesh(vertices, tri, np.array(tri_poly, dtype=np.int64), materials, uv)
