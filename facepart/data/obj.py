"""A small, order-preserving Wavefront OBJ reader (vertices, polygons, materials).

trimesh can re-order or merge vertices; this reader never does: vertex i of
the file is row i of the result. Polygons are fan-triangulated.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..checks import LARGEST_INDEX
from ..errors import FacepartError
from ..io_utils import open_input


class ObjMesh(NamedTuple):
    vertices: np.ndarray  # (V, 3) float64
    triangles: np.ndarray  # (F, 3) int64, 0-based
    triangle_polygon: np.ndarray  # (F,) int64 index of the source polygon
    polygon_material: list[str]  # material name per polygon ("" when none)
    uv: np.ndarray | None  # (T, 2) texture coordinates as listed in the file
    corner_uv: np.ndarray | None = None  # (F, 3) int64 0-based 'vt' index of each triangle corner, -1 = none
    vertex_colors: np.ndarray | None = None  # (V, 3) colours in [0, 1] from 'v x y z r g b' lines
    material_libraries: tuple[str, ...] = ()  # the 'mtllib' file names, as written


def _read_text(path: Path) -> str:
    with open_input(path, "r", "an OBJ file", encoding="utf-8-sig", errors="replace") as fh:  # drops a BOM
        return fh.read()


def _floats(lines: list[str], width: int, path: Path, what: str) -> np.ndarray:
    if not lines:
        return np.zeros((0, width))
    rows = [ln.split()[1: width + 1] for ln in lines]
    try:
        if any(len(row) != width for row in rows):
            raise ValueError
        arr = np.array(rows, dtype=np.float64)
    except ValueError:
        bad = next(ln for ln, row in zip(lines, rows) if not _numbers(row, width))
        raise FacepartError(f"{path}: malformed '{what}' line (expected {width} numbers): '{bad[:60]}'") from None
    return arr.reshape(-1, width)


def _numbers(row: list[str], width: int) -> bool:
    try:
        return len(row) == width and all(isinstance(float(x), float) for x in row)
    except ValueError:
        return False


def read_obj_vertices(path: str | Path) -> np.ndarray:
    """(V, 3) float64 vertex positions of an OBJ file, in file order."""
    path = Path(path)
    lines = [ln for ln in _read_text(path).splitlines() if ln.lstrip().startswith(("v ", "v\t"))]
    if not lines:
        raise FacepartError(f"{path}: no vertices ('v' lines) found; is this an OBJ file?")
    return _floats(lines, 3, path, "v")


def read_obj(path: str | Path) -> ObjMesh:
    """Read vertices, fan-triangulated faces and per-polygon material names."""
    path = Path(path)
    vlines, vtlines = [], []
    tris, tri_poly, materials, tri_uv = [], [], [], []
    material = ""
    libraries: list[str] = []
    for ln in _read_text(path).splitlines():
        toks = ln.split()  # any whitespace: tabs and indented lines are common
        key = toks[0] if toks else ""
        if key == "v":
            vlines.append(ln)
        elif key == "vt":
            vtlines.append(ln)
        elif key == "f":
            try:
                corners = [tok.split("/") for tok in toks[1:]]
                idx = [int(c[0]) for c in corners]
                tex = [int(c[1]) if len(c) > 1 and c[1] else 0 for c in corners]
            except ValueError:
                raise FacepartError(f"{path}: malformed face line '{ln.strip()[:60]}'") from None
            if len(idx) < 3:
                raise FacepartError(f"{path}: a face with fewer than 3 vertices: '{ln.strip()[:60]}'")
            if 0 in idx or max(map(abs, idx + tex)) > LARGEST_INDEX:
                raise FacepartError(f"{path}: a face refers to vertex 0 or one far beyond the file's vertices "
                                    f"(OBJ indices start at 1): '{ln.strip()[:60]}'")
            # OBJ: 1-based; a negative index counts back from the last vertex defined so far
            nv, nvt = len(vlines), len(vtlines)
            if min(idx) < -nv or min(tex) < -nvt:
                raise FacepartError(f"{path}: a face's negative index reaches before the first vertex or texture "
                                    f"coordinate defined above it: '{ln.strip()[:60]}'")
            idx = [i - 1 if i > 0 else nv + i for i in idx]
            tex = [t - 1 if t > 0 else (nvt + t if t < 0 else -1) for t in tex]  # -1: none
            poly = len(materials)
            materials.append(material)
            for k in range(1, len(idx) - 1):
                tris.append((idx[0], idx[k], idx[k + 1]))
                tri_uv.append((tex[0], tex[k], tex[k + 1]))
                tri_poly.append(poly)
        elif key == "mtllib":
            libraries.append(ln.strip()[6:].strip())
        elif key == "usemtl":
            material = ln.strip()[6:].strip()
    if not vlines:
        raise FacepartError(f"{path}: no vertices ('v' lines) found; is this an OBJ file?")
    vertices = _floats(vlines, 3, path, "v")
    tri = np.array(tris, dtype=np.int64).reshape(-1, 3)
    n = len(vertices)
    if tri.size and (tri.min() < 0 or tri.max() >= n):
        raise FacepartError(f"{path}: a face refers to a vertex beyond the {n} vertices in the file")
    uv = _floats(vtlines, 2, path, "vt") if vtlines else None
    corner_uv = None
    if uv is not None and tri_uv:
        corner_uv = np.array(tri_uv, dtype=np.int64).reshape(-1, 3)  # -1: no texture coordinate
        if corner_uv.max() >= len(uv) or corner_uv.min() < -1:
            raise FacepartError(f"{path}: a face refers to a texture coordinate beyond the {len(uv)} in the file")
    colors = None
    if vlines and all(len(ln.split()) >= 7 for ln in vlines):
        rgb = _floats(["v " + " ".join(ln.split()[4:7]) for ln in vlines], 3, path, "v (colour)")
        colors = np.clip(rgb / (255.0 if rgb.size and rgb.max() > 1.0 else 1.0), 0.0, 1.0)
    return ObjMesh(vertices, tri, np.array(tri_poly, dtype=np.int64), materials, uv, corner_uv, colors,
                   tuple(lib for lib in libraries if lib))


#: Material libraries larger than this are not read (bytes).
MAX_MATERIAL_FILE = 16 * 2**20


def material_texture(path: str | Path, mesh: ObjMesh) -> tuple[Path | None, str]:
    """The one diffuse texture (``map_Kd``) of the materials the OBJ's polygons use, read from its material
    libraries beside it: (image path, "") or (None, why not: "" when the file names no texture at all).

    Several different textures (a photogrammetry atlas in pieces) are not merged: the reason says so.
    """
    folder = Path(path).parent
    textures: dict[str, Path] = {}
    missing = []
    for library in mesh.material_libraries:
        lib = folder / library
        try:  # a regular file of a sane size only (not a device or a pipe that never ends)
            if not lib.is_file():
                missing.append(library)
                continue
            if lib.stat().st_size > MAX_MATERIAL_FILE:
                continue
            text = lib.read_text(errors="replace")
        except OSError:
            continue  # an unreadable material file: the mesh is still usable without colour
        name = ""
        for ln in text.splitlines():
            ln = ln.strip()
            if ln.startswith("newmtl"):
                name = ln[6:].strip()
            elif ln.startswith("map_Kd") and name and len(ln.split()) > 1:
                textures.setdefault(name, lib.parent / ln.split()[-1])  # options (-s, -o ...) come first
    used = {textures[m] for m in set(mesh.polygon_material) if m in textures}
    if not used:
        return None, (f"its material library {missing[0]} is not beside it" if missing and not textures else "")
    if len(used) > 1:
        return None, f"its materials use {len(used)} texture images; give one with --texture"
    image = used.pop()
    if not image.is_file():
        return None, f"its material's texture {image.name} is not beside it"
    return image, ""


def vertex_uv(mesh: ObjMesh) -> np.ndarray | None:
    """(V, 2) one texture coordinate per vertex (the first corner that names one; seams keep one side),
    or None if the file has no texture coordinates for its faces."""
    if mesh.uv is None or mesh.corner_uv is None:
        return None
    n = len(mesh.vertices)
    out = np.full((n, 2), np.nan)
    tri, cuv = mesh.triangles.ravel(), mesh.corner_uv.ravel()
    ok = cuv >= 0
    order = np.arange(len(tri))[ok][::-1]  # reversed so that the first corner wins the assignment
    out[tri[order]] = mesh.uv[cuv[order]]
    out[np.isnan(out).any(axis=1)] = 0.0
    return out
