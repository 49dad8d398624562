"""``ply``, ``obj``, ``glb``: the model's mean shape coloured by part (MeshLab, Blender, three.js).

Every vertex keeps its index (nothing is merged or re-ordered) and its place in
the model file's own unit and axes (a mesh loaded from millimetres with
``-O up=z -O front=-y`` is written back in millimetres, z up, so the export lies
on the original in MeshLab or Blender; other model formats in facepart's frame,
metres), and takes the colour of its part (the smallest part holding it where parts overlap; grey
``UNLABELLED_COLOR`` for none). The legend travels with the file: PLY header
``comment facepart-part ID NAME R G B`` lines, OBJ ``# facepart-part ...``
comments, glTF scene ``extras``. The PLY also carries a ``short part``
vertex property (the part id, -1 = none), which MeshLab shows as a scalar.

``split=True`` gives one mesh per part. PLY writes a folder of ``<part>.ply`` files
plus a ``split.json`` manifest, as one set: each file holds exactly the part's
vertices (``int vertex_id`` property: the vertex's index in the full model) and
the triangles with all three corners in the part (``tri_rule`` "all"). OBJ and
GLB choose each part's triangles by ``tri_rule`` (default "majority"). OBJ writes
one file with an ``o <part>`` object per part over the shared vertex list;
GLB writes one scene with a node per part.

Readers (PLY, OBJ, GLB) take the ``part`` property where present, else match
colours against the file's legend (or facepart's default part colours).
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.parts import KNOWN_COLORS, PAPER_PARTS, UNLABELLED_COLOR
from ..data.topology import Fingerprint
from ..errors import FacepartError, require
from ..io_utils import atomic_file_set, write_bytes_atomic
from .common import check_fingerprint, own_sidecar, plain_file_names, safe_name, unique_file_names, writer_model
from .options import ExportOptions
from .view import PartView, annotation_from_sets

DEFAULT_TRI_RULE = "majority"


def _colours(view: PartView, labels: np.ndarray) -> np.ndarray:
    lut = np.vstack([view.colors, np.array([UNLABELLED_COLOR], np.uint8)]).astype(np.uint8)
    return lut[np.where(labels < 0, len(view.names), labels)]


def _legend(view: PartView) -> list[tuple[int, str, tuple[int, int, int]]]:
    return [(i, n, tuple(int(c) for c in view.colors[i])) for i, n in enumerate(view.names)]


def _prepare(annotation: Annotation, options: dict, fmt: str):
    opts = ExportOptions.of(options)
    model = writer_model(opts.model, annotation, fmt)
    view = PartView.of(annotation, opts)
    if not opts.split and view.rule == "union" and view.overlapping():
        # one part per vertex: the union's overlaps (a lip vertex also in skin) would be dropped without a word
        shared = int((view.member[:, [i for i, n in enumerate(view.names) if n not in view.groups]].sum(axis=1)
                      > 1).sum())
        if shared:
            raise FacepartError(f"--rule union puts {shared} vertices in more than one part, but the {fmt} format "
                                "holds one part per vertex: add --split (one mesh per part), or use an index "
                                "format (json, parts, csv)")
    return opts, model, view


def _part_meshes(view: PartView, triangles: np.ndarray, tri_rule: str):
    """For each part: (name, colour, (K,) kept vertex ids, (M, 3) triangles re-indexed into them)."""
    member = view.triangle_member(triangles, tri_rule)
    for i, name in enumerate(view.names):
        tri = triangles[member[:, i]]
        kept = np.unique(tri)
        new = np.full(view.n_vertices, -1, np.int64)
        new[kept] = np.arange(len(kept))
        yield name, view.colors[i], kept, new[tri].reshape(-1, 3)


# -- PLY --------------------------------------------------------------------------------------

def _ply_bytes(vertices, colours, triangles, comments, part=None, vertex_id=None) -> bytes:
    props = [("x", "<f4", "float"), ("y", "<f4", "float"), ("z", "<f4", "float"), ("red", "u1", "uchar"),
             ("green", "u1", "uchar"), ("blue", "u1", "uchar")]
    if part is not None:
        props.append(("part", "<i2", "short"))
    if vertex_id is not None:
        props.append(("vertex_id", "<i4", "int"))
    vdata = np.zeros(len(vertices), np.dtype([(n, t) for n, t, _ in props]))
    vdata["x"], vdata["y"], vdata["z"] = np.asarray(vertices, np.float32).T
    vdata["red"], vdata["green"], vdata["blue"] = np.asarray(colours, np.uint8).T
    if part is not None:
        vdata["part"] = part
    if vertex_id is not None:
        vdata["vertex_id"] = vertex_id
    fdata = np.zeros(len(triangles), np.dtype([("n", "u1"), ("v", "<i4", (3,))]))
    fdata["n"] = 3
    fdata["v"] = triangles
    header = ["ply", "format binary_little_endian 1.0", *[f"comment {c}" for c in comments],
              f"element vertex {len(vertices)}", *[f"property {p} {n}" for n, _, p in props],
              f"element face {len(triangles)}", "property list uchar int vertex_indices", "end_header"]
    return ("\n".join(header) + "\n").encode("ascii") + vdata.tobytes() + fdata.tobytes()


def _comments(view: PartView, model, prefix: str = "") -> list[str]:
    fp = model.fingerprint
    lines = [f"{prefix}facepart {__version__} part annotation of {quote(model.name)} (rule {view.rule})",
             f"{prefix}facepart-topology {fp.n_vertices} {fp.n_triangles} {fp.triangle_hash}"]
    lines += [f"{prefix}facepart-part {i} {quote(n)} {r} {g} {b}" for i, n, (r, g, b) in _legend(view)]
    frame = model.meta.get("file_frame")
    lines.append(f"{prefix}facepart-frame " + (f"the model file's: unit {frame['unit']}, up {frame['up']}, front "
                                               f"{frame['front']}" if isinstance(frame, dict) else
                                               "facepart's: metres, +y up, +z front"))
    return lines


def write_ply(annotation: Annotation, path: Path, **options) -> list[Path]:
    opts, model, view = _prepare(annotation, options, "ply")
    path = Path(path)
    if opts.split:
        return _write_ply_split(view, model, path.with_suffix("") if path.suffix.lower() == ".ply" else path, opts)
    labels = view.labels()
    write_bytes_atomic(path, _ply_bytes(model.in_file_frame(model.vertices), _colours(view, labels), model.triangles,
                                        _comments(view, model), part=labels.astype(np.int16)))
    return [path]


def _ply_header(path: Path) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(1 << 20)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise FacepartError(f"{path}: not a PLY file")
    return head[:end].decode("ascii", errors="replace").splitlines()


def _legend_from_comments(lines: list[str]):
    """([(name, rgb)] in id order, the stated Fingerprint or None) from facepart's header comments."""
    legend, topology = {}, None
    for ln in lines:
        words = ln.split()
        if "facepart-part" in words:
            k = words.index("facepart-part")
            try:
                pid, name, rgb = int(words[k + 1]), unquote(words[k + 2]), tuple(int(x) for x in words[k + 3:k + 6])
            except (ValueError, IndexError):
                continue
            legend[pid] = (name, rgb)
        elif "facepart-topology" in words:
            k = words.index("facepart-topology")
            try:
                topology = Fingerprint(int(words[k + 1]), int(words[k + 2]), words[k + 3])
            except (ValueError, IndexError):
                pass
    return [legend[i] for i in sorted(legend)], topology


def _labels_from_colours(colours: np.ndarray, legend, path: Path) -> tuple[list, np.ndarray]:
    """Match (V, 3) uint8 colours to the legend (or facepart's default part colours)."""
    if not legend:
        legend = [(n, KNOWN_COLORS[n]) for n in PAPER_PARTS]
    lut = {tuple(rgb): i for i, (_, rgb) in enumerate(legend)}
    lut.setdefault(tuple(UNLABELLED_COLOR), -1)
    keys = colours[:, 0].astype(np.int64) << 16 | colours[:, 1].astype(np.int64) << 8 | colours[:, 2]
    uniq, inverse = np.unique(keys, return_inverse=True)
    mapped = np.array([lut.get(((int(k) >> 16) & 255, (int(k) >> 8) & 255, int(k) & 255), -2) for k in uniq])
    labels = mapped[inverse]
    if (labels == -2).any():
        bad = int((labels == -2).sum())
        raise FacepartError(f"{path}: {bad} vertices have a colour of no part in the legend "
                            f"({', '.join(n for n, _ in legend)}); was the mesh re-coloured or lit?")
    return legend, labels


def _annotation_from_labels(labels: np.ndarray, legend, fingerprint: Fingerprint, path: Path) -> Annotation:
    names = [n for n, _ in legend]
    sets = {n: np.flatnonzero(labels == i) for i, n in enumerate(names)}
    return annotation_from_sets(sets, fingerprint, str(path), {n: rgb for n, rgb in legend})


def _check_file_topology(found: Fingerprint, stated: Fingerprint | None, path: Path, model, topology) -> Fingerprint:
    if stated is not None:
        found.check_matches(stated, f"{path} (its mesh)", "the topology written in its header; the mesh was "
                            "re-meshed or re-ordered (import with 'keep vertex order')")
    return check_fingerprint(found, path, model, topology)


def read_ply(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    trimesh = require("trimesh", "reading PLY files", "pip install trimesh")
    path = Path(path)
    header = _ply_header(path)
    legend, stated = _legend_from_comments(header)
    if any(ln.startswith("comment") and "vertex_id" in ln for ln in header):
        raise FacepartError(f"{path}: a single part of a --split export; read the unsplit file instead")
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as exc:  # noqa: BLE001 - trimesh raises many types on damaged files
        raise FacepartError(f"{path}: not a readable PLY mesh ({type(exc).__name__}: {exc})") from None
    fingerprint = _check_file_topology(Fingerprint.of(len(mesh.vertices), mesh.faces), stated, path, model, topology)
    raw = mesh.metadata.get("_ply_raw", {}).get("vertex", {}).get("data")
    if raw is not None and raw.dtype.names and "part" in raw.dtype.names and legend:
        labels = np.asarray(raw["part"], np.int64)
        if labels.min() < -1 or labels.max() >= len(legend):
            raise FacepartError(f"{path}: 'part' values outside -1..{len(legend) - 1}")
    else:
        if not any(ln.split()[-1:] == ["red"] for ln in header):
            raise FacepartError(f"{path}: the PLY has no vertex colours and no 'part' property")
        legend, labels = _labels_from_colours(np.asarray(mesh.visual.vertex_colors)[:, :3], legend, path)
    return _annotation_from_labels(labels, legend, fingerprint, path)


#: The formats whose ``--split`` writes a folder of files (obj and glb keep one file, one object per part).
SPLIT_INTO_FOLDER = ("ply",)
SPLIT_MANIFEST = "split.json"
SPLIT_FORMAT = "facepart-ply-split"


def _previous_split_files(folder: Path) -> list[str]:
    """The part files the previous ``split.json`` in ``folder`` lists, so that a re-export removes those it does
    not rewrite; other files in the folder are never touched."""
    files = (own_sidecar(folder, SPLIT_MANIFEST, SPLIT_FORMAT) or {}).get("files")
    names = list(files.values()) if isinstance(files, dict) else files if isinstance(files, list) else []
    return [n for n in plain_file_names(names) if n.endswith(".ply")]


def _write_ply_split(view: PartView, model, folder: Path, opts) -> list[Path]:
    """One ``<part>.ply`` per part, written as one set with a ``split.json`` manifest.

    Each file holds exactly the part's vertices (``vertex_id`` = their sorted indices in the full model, all in
    the part's colour) and the triangles whose three corners are all in the part: the only faces that can be
    written over those vertices. A part vertex in no such triangle stays as a lone point, so ``vertex_id`` is
    always the part's vertex set. That is ``--tri-rule all``; "any" and "majority" would need vertices of other
    parts and are refused. A re-export removes the part files the previous manifest lists and the new set
    lacks; other files in the folder are left alone.
    """
    import json

    if opts.tri_rule not in (None, "all"):
        raise FacepartError(f"ply --split writes each part's own vertices, so its faces follow --tri-rule all; "
                            f"got --tri-rule {opts.tri_rule}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FacepartError(f"{folder}: expected a folder for the split PLY files, found a file")
    files = unique_file_names(view.names, f"{folder}: ply --split file names")
    files = {n: f"{stem}.ply" for n, stem in files.items()}
    if SPLIT_MANIFEST.lower() in {f.lower() for f in files.values()}:
        raise FacepartError(f"{folder}: a part name would overwrite the manifest {SPLIT_MANIFEST}")
    triangles = np.asarray(model.triangles, np.int64)
    inside = view.member[triangles].all(axis=1)  # (F, P): every corner in the part
    previous = _previous_split_files(folder)
    with atomic_file_set(folder, members=previous) as stage:
        for i, name in enumerate(view.names):
            kept = np.flatnonzero(view.member[:, i])
            new = np.full(view.n_vertices, -1, np.int64)
            new[kept] = np.arange(len(kept))
            tri = new[triangles[inside[:, i]]].reshape(-1, 3)
            comments = [f"facepart {__version__} part '{quote(name)}' of {quote(model.name)}; vertex_id = index "
                        "in the full model"]
            points = model.in_file_frame(model.vertices[kept])
            (stage / files[name]).write_bytes(_ply_bytes(points, np.tile(view.colors[i], (len(kept), 1)),
                                                         tri, comments, vertex_id=kept))
        (stage / SPLIT_MANIFEST).write_text(json.dumps({
            "format": SPLIT_FORMAT, "files": files, "tri_rule": "all", "rule": view.rule,
            "topology": model.fingerprint.as_dict(), "facepart_version": __version__}, indent=1) + "\n")
    return [folder / files[n] for n in view.names] + [folder / SPLIT_MANIFEST]


def is_ply(path: Path) -> bool:
    return path.suffix.lower() == ".ply" and path.is_file()


# -- OBJ --------------------------------------------------------------------------------------

def write_obj(annotation: Annotation, path: Path, **options) -> list[Path]:
    opts, model, view = _prepare(annotation, options, "obj")
    path = Path(path)
    labels = view.labels()
    colours = _colours(view, labels).astype(np.float64) / 255.0
    buf = io.StringIO()
    for c in _comments(view, model, prefix="# "):
        buf.write(c + "\n")
    buf.write("# vertex lines: v x y z r g b (colours in 0..1); faces are 1-based\n")
    if opts.split:
        buf.write("# facepart-split: one object per part\n")
    np.savetxt(buf, np.hstack([model.in_file_frame(model.vertices), colours]), fmt="v %.7g %.7g %.7g %.6f %.6f %.6f")
    if opts.split:
        objects = unique_file_names(view.names, f"{path}: OBJ object names", fold_case=False)
        member = view.triangle_member(model.triangles, opts.tri_rule or DEFAULT_TRI_RULE)
        for i, name in enumerate(view.names):
            buf.write(f"o {objects[name]}\n")
            np.savetxt(buf, model.triangles[member[:, i]] + 1, fmt="f %d %d %d")
    else:
        buf.write(f"o {safe_name(model.name)}\n")
        np.savetxt(buf, model.triangles + 1, fmt="f %d %d %d")
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return [path]


def read_obj_parts(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    from ..data.obj import read_obj

    path = Path(path)
    header = []
    with open(path, "r", errors="replace") as fh:
        for ln in fh:
            if not ln.startswith("#"):
                if ln.strip():
                    break
                continue
            header.append(ln.strip())
    if any("facepart-split" in ln for ln in header):
        raise FacepartError(f"{path}: a --split export (faces repeated per part); read the unsplit file instead")
    legend, stated = _legend_from_comments(header)
    mesh = read_obj(path)
    if mesh.vertex_colors is None:
        raise FacepartError(f"{path}: the OBJ has no vertex colours ('v x y z r g b' lines)")
    fingerprint = _check_file_topology(Fingerprint.of(len(mesh.vertices), mesh.triangles), stated, path, model,
                                       topology)
    colours = np.clip(np.round(np.asarray(mesh.vertex_colors) * 255), 0, 255).astype(np.uint8)
    legend, labels = _labels_from_colours(colours, legend, path)
    return _annotation_from_labels(labels, legend, fingerprint, path)


# -- GLB --------------------------------------------------------------------------------------

def write_glb(annotation: Annotation, path: Path, **options) -> list[Path]:
    trimesh = require("trimesh", "the glb export", "pip install trimesh")
    opts, model, view = _prepare(annotation, options, "glb")
    path = Path(path)
    scene = trimesh.Scene()
    if opts.split:
        nodes = unique_file_names(view.names, f"{path}: glb node names", fold_case=False)
        for name, colour, kept, tri in _part_meshes(view, model.triangles, opts.tri_rule or DEFAULT_TRI_RULE):
            if not len(tri):
                continue
            mesh = trimesh.Trimesh(model.in_file_frame(model.vertices[kept]), tri,
                                   vertex_colors=np.tile([*colour, 255], (len(kept), 1)), process=False)
            scene.add_geometry(mesh, geom_name=nodes[name], node_name=nodes[name])
    else:
        labels = view.labels()
        rgba = np.hstack([_colours(view, labels), np.full((len(labels), 1), 255, np.uint8)])
        mesh = trimesh.Trimesh(model.in_file_frame(model.vertices), model.triangles, vertex_colors=rgba, process=False)
        scene.add_geometry(mesh, geom_name=safe_name(model.name), node_name=safe_name(model.name))
    fp = model.fingerprint
    scene.metadata["facepart"] = {"version": __version__, "rule": view.rule, "split": bool(opts.split),
                                  "topology": fp.as_dict(),
                                  "parts": [{"id": i, "name": n, "color": list(rgb)} for i, n, rgb in _legend(view)]}
    data = scene.export(file_type="glb")
    write_bytes_atomic(path, data)
    return [path]


def read_glb(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    trimesh = require("trimesh", "reading glb files", "pip install trimesh")
    path = Path(path)
    try:
        scene = trimesh.load(path, file_type="glb", process=False, force="scene")
    except Exception as exc:  # noqa: BLE001
        raise FacepartError(f"{path}: not a readable glb file ({type(exc).__name__}: {exc})") from None
    meta = scene.metadata.get("facepart") if isinstance(scene.metadata, dict) else None
    if meta and meta.get("split"):
        raise FacepartError(f"{path}: a --split export (one mesh per part); read the unsplit file instead")
    if len(scene.geometry) != 1:
        raise FacepartError(f"{path}: expected one mesh, found {len(scene.geometry)}")
    mesh = next(iter(scene.geometry.values()))
    stated = None
    legend = []
    if meta:
        topo = meta.get("topology", {})
        stated = Fingerprint.from_dict(topo, f"{path}: facepart metadata")
        legend = [(str(p["name"]), tuple(int(c) for c in p["color"])) for p in meta.get("parts", [])]
    fingerprint = _check_file_topology(Fingerprint.of(len(mesh.vertices), mesh.faces), stated, path, model, topology)
    legend, labels = _labels_from_colours(np.asarray(mesh.visual.vertex_colors)[:, :3], legend, path)
    return _annotation_from_labels(labels, legend, fingerprint, path)
