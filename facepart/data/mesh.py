"""Any triangle mesh (OBJ, PLY, GLB/GLTF, OFF, STL) through trimesh, with optional blend shapes.

Vertex order is preserved (``process=False``, ``maintain_order=True``). The
mesh is taken to be in facepart's axes (+y up, +z toward the viewer, +x the
subject's left) unless ``up`` and ``front`` say how the file lies (a scan with
+z up looking along -y: ``up="z", front="-y"``); its unit is given or guessed
from its size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FacepartError
from .face_model import FaceModel
from .formats.frame import UNIT_SCALE, axes_rotation, guess_unit, orient_outward

MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".off", ".stl")
UNITS = UNIT_SCALE
#: Farthest a vertex may lie from the origin, in metres: beyond it float32 keeps no millimetres (and 1e20
#: overflows float32 once squared).
MAX_COORDINATE_M = 1e4


def _stl_source(path: Path):
    """An STL file for trimesh, checked: a binary STL whose size matches its triangle count (its 80-byte
    header blanked: trimesh decodes it as text, and a non-UTF-8 header sends it to an optional package,
    charset_normalizer), or ASCII STL text. Anything else is a one-line error naming the file."""
    import io

    from ..io_utils import open_input

    with open_input(path, "rb", "an STL file") as fh:
        data = fh.read()
    if len(data) >= 84:
        count = int.from_bytes(data[80:84], "little")
        if len(data) == 84 + 50 * count:
            return io.BytesIO(b" " * 80 + data[80:])
    else:
        count = None
    head = data[:1024].lstrip()
    try:
        data.decode("utf-8")
        text = head.lower().startswith(b"solid")
    except UnicodeDecodeError:
        text = False
    if not text:
        binary = ("shorter than a binary STL header (84 bytes)" if count is None else
                  f"a binary STL of {count} triangles would be {84 + 50 * count} bytes, this file has {len(data)}")
        raise FacepartError(f"{path}: not an STL file ({binary}; nor is it ASCII STL text starting with 'solid')")
    return io.BytesIO(data)


def weld_corners(vertices: np.ndarray, triangles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge vertices at identical positions (an STL's separate triangle corners), numbered in order of first
    appearance: (keep (M,) ids of the vertices kept, (M, 3) vertices, (F, 3) triangles on them)."""
    _, first, inverse = np.unique(vertices, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    keep = first[order]
    return keep, vertices[keep], rank[inverse.reshape(-1)][triangles]


def _gltf_json(path: Path):
    """The JSON part of a .gltf, or of a .glb's first chunk (None when a .glb has none: trimesh reports it)."""
    from ..io_utils import loads_json, open_input

    with open_input(path, "rb", "a glTF file") as fh:
        if path.suffix.lower() == ".glb":  # only the header and the JSON chunk, not the binary buffers
            head = fh.read(20)
            if len(head) < 20 or head[:4] != b"glTF" or head[16:20] != b"JSON":
                return None
            data = fh.read(int.from_bytes(head[12:16], "little"))
        else:
            data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FacepartError(f"{path}: not a readable glTF file (its JSON is not UTF-8 text)") from None
    return loads_json(text, str(path), "glTF file")


def gltf_scene_notes(path: Path) -> list[str]:
    """A note when a glTF's nodes place more than one mesh (a head, its eyes, its teeth...): they are joined."""
    doc = _gltf_json(path)
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    meshes = doc.get("meshes") if isinstance(doc, dict) else None
    placed = [n for n in (nodes if isinstance(nodes, list) else [])
              if isinstance(n, dict) and isinstance(n.get("mesh"), int)]
    if len(placed) < 2:
        return []
    names = []
    for n in placed:
        m = meshes[n["mesh"]] if isinstance(meshes, list) and 0 <= n["mesh"] < len(meshes) else {}
        names.append(str(n.get("name") or (m.get("name") if isinstance(m, dict) else None) or f"mesh {n['mesh']}"))
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [f"the file places {len(placed)} meshes ({shown}); they are joined into one model, vertices numbered "
            "mesh after mesh"]


def _check_gltf_uris(path: Path) -> None:
    """Refuse a glTF whose buffers or images name anything but a regular file inside its folder (an absolute
    path, '..', a URL, /dev/zero or a FIFO would be read without end or leak other files)."""
    from urllib.parse import unquote

    from ..io_utils import check_regular_file

    doc = _gltf_json(path)
    if not isinstance(doc, dict):
        return  # trimesh reports a document that is not an object
    folder = path.parent.resolve()
    for key in ("buffers", "images"):
        entries = doc.get(key)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            uri = entry.get("uri") if isinstance(entry, dict) else None
            if not isinstance(uri, str) or uri.startswith("data:"):
                continue
            name = unquote(uri)
            target = (folder / name).resolve()
            if "://" in uri or Path(name).is_absolute() or (target != folder and folder not in target.parents):
                raise FacepartError(f"{path}: {key}[{i}] refers to '{uri}'; expected a file name relative to "
                                    "the glTF's folder, inside it")
            try:
                check_regular_file(folder / name, f"the data of {key}[{i}]")
            except FacepartError as err:
                raise FacepartError(f"{path}: {key}[{i}]: {err}") from None


def _data_lines(text: str) -> list[list[str]]:
    return [toks for toks in (ln.split("#", 1)[0].split() for ln in text.splitlines()) if toks]


def _off_counts(text: str) -> tuple[int, int, int, int] | None:
    """(declared vertices, declared faces, complete vertex lines, complete face lines) of an OFF file."""
    rows = _data_lines(text)
    if not rows or not rows[0][0].upper().endswith("OFF"):
        return None
    head = rows[0][1:] or (rows[1] if len(rows) > 1 else [])
    body = rows[1:] if rows[0][1:] else rows[2:]
    try:
        nv, nf = int(head[0]), int(head[1])
    except (IndexError, ValueError):
        return None  # trimesh reports a malformed header
    verts = sum(1 for toks in body[:nv] if len(toks) >= 3)
    faces = body[nv:nv + max(nf, 0)]
    done = sum(1 for toks in faces if toks[0].isdigit() and len(toks) >= 1 + int(toks[0]))
    return nv, nf, verts, done


def _ply_counts(text: str) -> tuple[int, int, int, int] | None:
    """Like :func:`_off_counts`, for an ASCII PLY (None for a binary one, whose length trimesh checks)."""
    head, sep, body = text.partition("end_header")
    if not sep or "format ascii" not in head:
        return None
    elements: list[list] = []  # [name, count, first property is a list]
    for ln in head.splitlines():
        toks = ln.split()
        if len(toks) >= 3 and toks[0] == "element":
            try:
                elements.append([toks[1], int(toks[2]), None])
            except ValueError:
                return None
        elif toks[:1] == ["property"] and elements and elements[-1][2] is None:
            elements[-1][2] = toks[1:2] == ["list"]
    rows = [ln.split() for ln in body.splitlines()[1:] if ln.strip()]
    got, at = {}, 0
    for name, count, is_list in elements:
        chunk = rows[at:at + max(count, 0)]
        at += max(count, 0)
        if is_list:
            got[name] = sum(1 for toks in chunk if toks[0].isdigit() and len(toks) >= 1 + int(toks[0]))
        else:
            got[name] = len(chunk)
    declared = {name: count for name, count, _ in elements}
    if "vertex" not in declared:
        return None
    return declared["vertex"], declared.get("face", 0), got["vertex"], got.get("face", 0)


def _check_declared_counts(path: Path) -> None:
    """Refuse an ASCII PLY or OFF file that holds fewer complete vertices or faces than its header declares
    (a truncated download): trimesh would load the part that is there without a word."""
    from ..io_utils import open_input

    with open_input(path, "rb", "a mesh file") as fh:
        data = fh.read()
    is_off = path.suffix.lower() == ".off"
    if not is_off and b"format ascii" not in data[:data.find(b"end_header")]:
        return  # a binary PLY: trimesh checks its length
    counts = (_off_counts if is_off else _ply_counts)(data.decode("latin-1"))
    if counts is None:
        return
    nv, nf, got_v, got_f = counts
    if nv < 0 or nf < 0:
        raise FacepartError(f"{path}: the header declares {nv} vertices and {nf} faces; expected counts of 0 or more")
    if (got_v, got_f) != (nv, nf):
        raise FacepartError(f"{path}: the header declares {nv} vertices and {nf} faces, but the file holds "
                            f"{got_v} and {got_f} complete ones; is it truncated?")


def _load_trimesh(path: Path):
    from ..interrupts import import_held
    from ..io_utils import check_regular_file

    check_regular_file(path, "a mesh file")
    if path.suffix.lower() in (".gltf", ".glb"):
        _check_gltf_uris(path)
    elif path.suffix.lower() in (".ply", ".off"):
        _check_declared_counts(path)
    trimesh = import_held("trimesh")  # trimesh's own optional imports swallow Ctrl-C

    try:
        if path.suffix.lower() == ".stl":
            source, kind = _stl_source(path), "stl"
        else:
            source, kind = str(path), None
        mesh = trimesh.load(source, file_type=kind, process=False, maintain_order=True, force="mesh")
    except FacepartError:
        raise
    except FileNotFoundError as exc:
        if not path.exists():
            raise FacepartError(f"{path}: file not found") from None
        raise FacepartError(f"{path}: not a readable mesh (it refers to a file that is missing: "
                            f"{exc.filename or exc})") from None
    except ImportError as exc:  # trimesh imports optional packages for some files
        raise FacepartError(f"{path}: trimesh needs the Python package '{exc.name}' to read this file "
                            f"(pip install {exc.name})") from None
    except Exception as exc:  # trimesh raises many types for malformed files
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise FacepartError(f"{path}: not a readable mesh ({type(exc).__name__}: {first})") from None
    if not hasattr(mesh, "faces") or len(getattr(mesh, "vertices", [])) == 0:
        raise FacepartError(f"{path}: no triangle mesh found in the file")
    return mesh


def read_mesh_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(V, 3) vertices, (F, 3) triangles and (V, 3) colours in [0, 1] or None, in file order."""
    vertices, triangles, colors, _ = read_mesh_arrays_uv(path)
    return vertices, triangles, colors


def read_mesh_arrays_uv(path: str | Path):
    """Like :func:`read_mesh_arrays`, plus (V, 2) per-vertex UVs or None."""
    path = Path(path)
    if path.suffix.lower() == ".obj":
        from .obj import read_obj, vertex_uv

        obj = read_obj(path)
        return obj.vertices, obj.triangles, obj.vertex_colors, vertex_uv(obj)
    mesh = _load_trimesh(path)
    colors = None
    visual = getattr(mesh, "visual", None)
    if visual is not None and getattr(visual, "kind", None) == "vertex":
        colors = np.asarray(visual.vertex_colors)[:, :3] / 255.0
    uv = None
    if visual is not None and getattr(visual, "kind", None) == "texture" and getattr(visual, "uv", None) is not None:
        uv = np.asarray(visual.uv, np.float64)
        uv = uv if uv.shape == (len(mesh.vertices), 2) else None
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), colors, uv


def load_mesh(path: str | Path, blendshapes: str | Path | None = None, unit: str | None = None,
              up: str = "y", front: str = "z") -> FaceModel:
    """Load a mesh file, and optionally a folder of same-topology meshes as blend shapes.

    ``up``, ``front``: the file's axes the head points along and the face looks along
    (``-O up=z -O front=-y``); the model is rotated into facepart's frame.
    An OBJ with UVs whose materials name one diffuse texture (``map_Kd``) records it in
    ``meta["material_texture"]``; :func:`~facepart.data.load_model` colours the model with it
    unless ``texture=`` is given.
    """
    path = Path(path)
    rotation = axes_rotation(up, front)  # a bad axis is reported before the file is read
    if not path.exists():
        raise FacepartError(f"{path}: file not found")
    texture, no_texture = None, ""
    if path.suffix.lower() == ".obj":
        from .obj import material_texture, read_obj, vertex_uv

        obj = read_obj(path)
        vertices, triangles, colors, uv = obj.vertices, obj.triangles, obj.vertex_colors, vertex_uv(obj)
        if uv is not None and colors is None:
            texture, no_texture = material_texture(path, obj)
    else:
        vertices, triangles, colors, uv = read_mesh_arrays_uv(path)
    if not np.all(np.isfinite(vertices)):
        raise FacepartError(f"{path}: {int((~np.isfinite(vertices)).any(axis=1).sum())} vertices are NaN or infinite")
    notes = []
    weld = None
    if path.suffix.lower() == ".stl" and len(vertices):
        stl_shape = (vertices.shape, triangles.shape)
        weld, vertices, triangles = weld_corners(vertices, triangles)
        colors = colors[weld] if colors is not None else None
        uv = uv[weld] if uv is not None else None
        if len(vertices) < stl_shape[0][0]:
            notes.append(f"STL keeps no shared vertices: its {stl_shape[0][0]} triangle corners were welded into "
                         f"{len(vertices)} vertices at identical positions; part files number these")
    used = np.unique(triangles)
    if 0 < len(used) < len(vertices):
        notes.append(f"{len(vertices) - len(used)} vertices are in no triangle: kept so the file's vertex numbers "
                     "stay, but never drawn or labelled, and left out of the size and the framing")
    drawn = vertices[used] if len(used) else vertices
    extent = float(np.ptp(drawn, axis=0).max()) if len(drawn) else 0.0
    guessed = unit is None
    if guessed:
        unit = guess_unit(extent)
    if unit not in UNITS:
        raise FacepartError(f"unknown unit '{unit}'; use one of {', '.join(UNITS)}")
    scale = UNITS[unit]
    reach = float(np.abs(vertices).max()) * scale if len(vertices) else 0.0
    if reach > MAX_COORDINATE_M:
        raise FacepartError(f"{path}: a vertex lies {reach:.3g} m from the origin (unit {unit}); expected a head "
                            f"within {MAX_COORDINATE_M:.0e} m of it (recentre the mesh, or give its unit)")

    names, deltas = [], []
    if blendshapes is not None:
        folder = Path(blendshapes)
        if not folder.is_dir():
            raise FacepartError(f"{folder}: expected a folder of blend-shape meshes")
        files = sorted(f for f in folder.iterdir()
                       if f.suffix.lower() in MESH_SUFFIXES and f.resolve() != path.resolve())
        if not files:
            raise FacepartError(f"{folder}: no mesh files ({', '.join(MESH_SUFFIXES)}) in the blend-shape folder")
        for f in files:
            v, t, _ = read_mesh_arrays(f)
            if weld is not None and (v.shape, t.shape) == stl_shape:  # the base's welding, corner for corner
                v, t = v[weld], triangles
            if v.shape != vertices.shape or t.shape != triangles.shape or not np.array_equal(t, triangles):
                raise FacepartError(f"{f}: {len(v)} vertices and {len(t)} triangles, but {path.name} has "
                                    f"{len(vertices)} and {len(triangles)} (or another triangle order); "
                                    "blend shapes must share the base mesh's topology")
            names.append(f.stem)
            deltas.append((v - vertices) * scale)

    turned = not np.array_equal(rotation, np.eye(3))
    notes += ([f"rotated into facepart's frame from up {up}, front {front}"] if turned else []) + \
        ([f"no colour from the OBJ's materials: {no_texture}"] if no_texture else [])
    if guessed:
        notes.append(f"unit guessed from the size ({extent:.4g} units across reads as a head in {unit}); "
                     "give --unit if that is wrong")
    if path.suffix.lower() in (".glb", ".gltf"):
        notes += gltf_scene_notes(path)
    vertices = (vertices @ rotation.T if turned else vertices) * scale
    triangles = orient_outward(vertices, triangles, notes, "the file's triangles were wound inward")
    return FaceModel(
        name=path.stem,
        vertices=vertices,
        triangles=triangles,
        expression_basis=(np.stack(deltas) @ rotation.T if turned else np.stack(deltas)) if deltas else None,
        expression_kind="blendshape",
        expression_names=tuple(names),
        albedo=colors,
        uv=uv,
        meta={"format": f"mesh ({path.suffix.lower().lstrip('.')})", "units": unit, "path": str(path),
              **({"material_texture": str(texture)} if texture is not None else {}),
              **({"notes": notes} if notes else {})},
    )
