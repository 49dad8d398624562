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


def _gltf_node_order(doc) -> dict[int, int]:
    """{node index: rank} of the nodes of a glTF's scene (``scene``, else the first) in depth-first order: each
    root node as listed, then its children as listed, before the next root."""
    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    scenes = doc.get("scenes") if isinstance(doc, dict) else None
    nodes = nodes if isinstance(nodes, list) else []
    which = doc.get("scene", 0) if isinstance(doc, dict) else 0
    scene = scenes[which] if isinstance(scenes, list) and isinstance(which, int) and 0 <= which < len(scenes) else {}
    roots = scene.get("nodes") if isinstance(scene, dict) else None
    order: dict[int, int] = {}
    stack = [r for r in reversed(roots if isinstance(roots, list) else [])]
    while stack:
        i = stack.pop()
        if not isinstance(i, int) or not 0 <= i < len(nodes) or i in order:
            continue
        order[i] = len(order)
        kids = nodes[i].get("children") if isinstance(nodes[i], dict) else None
        stack.extend(reversed(kids if isinstance(kids, list) else []))
    return order


def _join_gltf(scene, doc, trimesh):
    """One mesh from a glTF scene's placed meshes, vertices numbered mesh after mesh in the file's order: the
    scene's nodes depth-first (roots as listed, each node before its children, children as listed), a mesh of
    several primitives primitive after primitive. For a file that places each mesh once, in ``meshes[]`` order
    (trimesh, Blender and most exporters write them so), that is ``meshes[]`` order. (trimesh's own join walks the
    nodes in another order: it put a head after its eyes and teeth.) Returns (mesh, [(name, first vertex,
    vertex count)] per placed mesh)."""
    from trimesh.util import unique_name

    nodes = doc.get("nodes") if isinstance(doc, dict) else None
    nodes = nodes if isinstance(nodes, list) else []
    frames, counts = {}, {}  # trimesh's frame name of each node (the same naming, so the same names)
    for i, n in enumerate(nodes):
        frames[unique_name(n.get("name", str(i)) if isinstance(n, dict) else str(i), frames, counts=counts)] = i
    rank = _gltf_node_order(doc)
    geometry_rank = {name: k for k, name in enumerate(scene.geometry)}  # meshes[] order, primitive after primitive
    parents = scene.graph.transforms.parents
    placed = []
    for k, part in enumerate(scene.dump()):
        if not isinstance(part, trimesh.Trimesh):
            continue  # lines and points
        frame = part.metadata.get("node")
        node = frames.get(frame, frames.get(parents.get(frame)))  # a primitive of several hangs below its node
        key = (rank.get(node, len(rank)), geometry_rank.get(part.metadata.get("name"), k), k)
        label = None
        if node is not None and isinstance(nodes[node], dict):
            label = nodes[node].get("name")
        placed.append((key, str(label or part.metadata.get("name") or f"mesh {k}"), part))
    placed.sort(key=lambda item: item[0])
    if not placed:
        return None, []
    blocks, first = [], 0
    for _, label, part in placed:
        blocks.append((label, first, len(part.vertices)))
        first += len(part.vertices)
    parts = [part for _, _, part in placed]
    mesh = parts[0] if len(parts) == 1 else trimesh.util.concatenate(parts)
    return mesh, blocks


def gltf_blocks_note(blocks) -> list[str]:
    """A note when a glTF's nodes place more than one mesh (a head, its eyes, its teeth...): they are joined, and
    the note gives each one's first vertex."""
    if len(blocks) < 2:
        return []
    shown = ", ".join(f"{name} from {first}" for name, first, _ in blocks[:8])
    shown += f" and {len(blocks) - 8} more" if len(blocks) > 8 else ""
    return [f"the file places {len(blocks)} meshes; they are joined into one model, vertices numbered mesh after "
            f"mesh in the scene's node order (depth-first; for most files meshes[] order): {shown}"]


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


def _obj_tail(path: Path) -> tuple[bool, str]:
    """(whether an OBJ ends in the middle of a line, the keyword of its last non-blank line)."""
    from ..io_utils import open_input

    with open_input(path, "rb", "an OBJ file") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    lines = [ln.split() for ln in tail.decode("latin-1").splitlines() if ln.strip()]
    return bool(tail) and tail[-1:] not in (b"\n", b"\r"), (lines[-1][0] if lines else "")


def _read_obj(path: Path):
    """:func:`~facepart.data.obj.read_obj`, with a hint when the file looks cut off (a download or copy that
    stopped): it ends in the middle of a line, or among its vertex lines with no faces at all."""
    from .obj import read_obj

    try:
        obj = read_obj(path)
    except FacepartError as err:
        mid_line, _ = _obj_tail(path)
        if mid_line:
            raise FacepartError(f"{err}; the file ends in the middle of a line: is it truncated?") from None
        raise
    if len(obj.triangles) == 0 and len(obj.vertices):
        mid_line, last = _obj_tail(path)
        where = "in the middle of a line" if mid_line else ("among its vertex lines" if last == "v" else "")
        if where:
            raise FacepartError(f"{path}: {len(obj.vertices)} vertices but no faces ('f' lines), and the file ends "
                                f"{where}: is it truncated?")
    return obj


def _load_trimesh(path: Path):
    """(trimesh.Trimesh, [(name, first vertex, vertex count)] of each mesh a glTF places, else [])."""
    from ..interrupts import import_held
    from ..io_utils import check_regular_file

    check_regular_file(path, "a mesh file")
    gltf = path.suffix.lower() in (".gltf", ".glb")
    if gltf:
        _check_gltf_uris(path)
    elif path.suffix.lower() in (".ply", ".off"):
        _check_declared_counts(path)
    trimesh = import_held("trimesh")  # trimesh's own optional imports swallow Ctrl-C

    try:
        if path.suffix.lower() == ".stl":
            source, kind = _stl_source(path), "stl"
        else:
            source, kind = str(path), None
        blocks = []
        if gltf:  # joined here, in the file's order (trimesh's to_mesh() follows its own graph order)
            scene = trimesh.load(source, file_type=kind, process=False, maintain_order=True, force="scene")
            mesh, blocks = _join_gltf(scene, _gltf_json(path) or {}, trimesh)
        else:
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
    return mesh, blocks


def read_mesh_arrays(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(V, 3) vertices, (F, 3) triangles and (V, 3) colours in [0, 1] or None, in file order."""
    vertices, triangles, colors, _ = read_mesh_arrays_uv(path)
    return vertices, triangles, colors


def read_mesh_arrays_uv(path: str | Path):
    """Like :func:`read_mesh_arrays`, plus (V, 2) per-vertex UVs or None.

    A glTF placing several meshes is joined mesh after mesh in its scene's node order (depth-first: roots as
    listed, a node before its children; for a file placing each mesh once in ``meshes[]`` order, that order); an
    OBJ's objects and groups keep the file's ``v`` line order."""
    return _read_arrays(Path(path))[:4]


def _read_arrays(path: Path):
    """:func:`read_mesh_arrays_uv`'s arrays, plus the glTF's placed meshes as :func:`_load_trimesh` gives them."""
    if path.suffix.lower() == ".obj":
        from .obj import vertex_uv

        obj = _read_obj(path)
        return obj.vertices, obj.triangles, obj.vertex_colors, vertex_uv(obj), []
    mesh, blocks = _load_trimesh(path)
    colors = None
    visual = getattr(mesh, "visual", None)
    if visual is not None and getattr(visual, "kind", None) == "vertex":
        colors = np.asarray(visual.vertex_colors)[:, :3] / 255.0
    uv = None
    if visual is not None and getattr(visual, "kind", None) == "texture" and getattr(visual, "uv", None) is not None:
        uv = np.asarray(visual.uv, np.float64)
        uv = uv if uv.shape == (len(mesh.vertices), 2) else None
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64), colors, uv, blocks


def soup_note(vertices: np.ndarray, triangles: np.ndarray) -> list[str]:
    """A note when most drawn vertices lie at the position of another (a triangle soup, or a mesh split at every
    edge): to facepart each triangle is then its own piece, which no cleanup joins. The file's vertex numbers are
    kept (part files number them), so the note says how to weld rather than welding."""
    used = np.unique(triangles)
    if len(used) < 3 or len(used) <= len(triangles):  # a welded mesh has about half as many vertices as triangles
        return []
    _, inverse, counts = np.unique(vertices[used], axis=0, return_inverse=True, return_counts=True)
    shared = int((counts[inverse.reshape(-1)] > 1).sum())
    if shared < 0.5 * len(used):
        return []
    own = len(used) == 3 * len(triangles) and len(np.unique(triangles.reshape(-1))) == triangles.size
    what = "every triangle has its own three vertices" if own else "the triangles share few vertices"
    return [f"{shared} of {len(used)} vertices lie at the position of another, at {len(counts)} positions in all "
            f"({what}): the mesh is in many unconnected pieces, which part cleanup cannot join, and copies at one "
            "position can take different parts; weld it (Blender: Merge by Distance; trimesh: merge_vertices) "
            "and save it, or load it with -O weld=true (part files then number the welded vertices)"]


def load_mesh(path: str | Path, blendshapes: str | Path | None = None, unit: str | None = None,
              up: str = "y", front: str = "z", weld: bool = False) -> FaceModel:
    """Load a mesh file, and optionally a folder of same-topology meshes as blend shapes.

    ``up``, ``front``: the file's axes the head points along and the face looks along
    (``-O up=z -O front=-y``); the model is rotated into facepart's frame.
    ``weld``: merge vertices at identical positions (``-O weld=true``, for a triangle soup, which a note
    points out), numbered in order of first appearance; part files then number the welded vertices, not the
    file's. An STL is always welded (it keeps no shared vertices). A glTF placing several meshes is joined mesh
    after mesh in its scene's node order (see :func:`read_mesh_arrays_uv`), the note giving each one's first vertex.
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
        from .obj import material_texture, vertex_uv

        obj = _read_obj(path)
        vertices, triangles, colors, uv = obj.vertices, obj.triangles, obj.vertex_colors, vertex_uv(obj)
        blocks = []
        if uv is not None and colors is None:
            texture, no_texture = material_texture(path, obj)
    else:
        vertices, triangles, colors, uv, blocks = _read_arrays(path)
    if not np.all(np.isfinite(vertices)):
        raise FacepartError(f"{path}: {int((~np.isfinite(vertices)).any(axis=1).sum())} vertices are NaN or infinite")
    notes = []
    stl = path.suffix.lower() == ".stl"
    if (stl or weld) and len(vertices):
        stl_shape, raw_triangles = (vertices.shape, triangles.shape), triangles  # unwelded, as blend shapes are
        kept, vertices, triangles = weld_corners(vertices, triangles)
        colors = colors[kept] if colors is not None else None
        uv = uv[kept] if uv is not None else None
        if len(vertices) < stl_shape[0][0]:
            notes.append(f"STL keeps no shared vertices: its {stl_shape[0][0]} triangle corners were welded into "
                         f"{len(vertices)} vertices at identical positions; part files number these" if stl else
                         f"welded (weld=true): the file's {stl_shape[0][0]} vertices merged into {len(vertices)} "
                         "at identical positions, numbered in order of first appearance; part files number these")
    else:
        kept = None
        notes += soup_note(vertices, triangles)
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
            if kept is not None and (v.shape, t.shape) == stl_shape and np.array_equal(t, raw_triangles):
                # the base's welding, corner for corner
                v, t = v[kept], triangles
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
    notes += gltf_blocks_note(blocks)
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
              # how the file's points became facepart's: v = (v_file @ rotation.T) * scale (exports go back)
              "file_frame": {"unit": unit, "up": up, "front": front, "scale": float(scale),
                             "rotation": np.asarray(rotation, np.float64).tolist()},
              **({"material_texture": str(texture)} if texture is not None else {}),
              **({"notes": notes} if notes else {})},
    )
