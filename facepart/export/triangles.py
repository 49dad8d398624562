"""``tri``: per-triangle part labels under an explicit rule (projects disagree: MICA keeps a triangle
when all 3 corners are in the part, SMIRK when any corner is).

``.npz`` (default, no pickles)::

    format          "facepart-triangle-parts"
    tri_rule        "all" | "any" | "majority"
    labels          (F,) int16   one part per triangle (the smallest part holding it), -1 = none
    part_names      (P,) str
    part_colors     (P, 3) uint8
    tri_<name>      (M_p,) int64 sorted ids of the triangles in part <name> (parts may overlap)
    n_vertices, n_triangles, triangle_hash   the topology

``.npy``: SMIRK's ``FLAME_masks_triangles.npy`` layout, a pickled dict of
part name -> int64 triangle ids (``np.load(f, allow_pickle=True).item()``).

Reading back needs the model's triangles and inverts the rule: under "any" a
vertex is in a part when all its triangles are, under "all" when any is, under
"majority" when most are. Vertices at part boundaries can differ (a triangle
rule loses information); everything else comes back exactly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse

from ..data.annotation import Annotation
from ..data.formats.pickle_cache import pickled, pickled_keys
from ..data.formats.safe_pickle import load_npy
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import atomic_path
from .common import check_fingerprint, index_array, npz_format, safe_name, writer_model
from .options import TRI_RULES
from .options import ExportOptions
from .view import PartView, annotation_from_sets

FORMAT = "facepart-triangle-parts"
DEFAULT_TRI_RULE = "majority"


def triangle_sets(annotation: Annotation, triangles: np.ndarray, opts: ExportOptions):
    """(view, tri_rule, (F, P) bool triangle membership, (F,) labels)."""
    view = PartView.of(annotation, opts)
    rule = opts.tri_rule or DEFAULT_TRI_RULE
    member = view.triangle_member(triangles, rule)
    return view, rule, member, view.most_specific(member)


def write_tri(annotation: Annotation, path: Path, **options) -> list[Path]:
    opts = ExportOptions.of(options)
    model = writer_model(opts.model, annotation, "tri")
    view, rule, member, labels = triangle_sets(annotation, model.triangles, opts)
    path = Path(path)
    sets = {n: np.flatnonzero(member[:, i]).astype(np.int64) for i, n in enumerate(view.names)}
    if path.suffix.lower() == ".npy":
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.array(sets, dtype=object), allow_pickle=True)
        return [path]
    keys = {}
    for n in view.names:
        key = "tri_" + safe_name(n)
        if key in keys.values():
            raise FacepartError(f"two parts share the file key '{key}'; rename one")
        keys[n] = key
    fp = view.fingerprint
    arrays = {"format": np.array(FORMAT), "tri_rule": np.array(rule), "labels": labels.astype(np.int16),
              "part_names": np.array(view.names), "part_colors": view.colors.astype(np.uint8),
              "n_vertices": np.array(fp.n_vertices), "n_triangles": np.array(fp.n_triangles),
              "triangle_hash": np.array(fp.triangle_hash), **{keys[n]: sets[n] for n in view.names}}
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return [path]


def is_tri(path: Path) -> bool:
    """A facepart triangle-parts ``.npz``, or a SMIRK-style ``.npy``: a pickled dict of part names to integer
    triangle-id arrays (3DDFA-V3's dict, with its 'annotation' key, is not one)."""
    if Path(path).suffix.lower() == ".npy":
        try:
            keys = pickled_keys(path, (".npy",))
            data = pickled(path) if keys and "annotation" not in keys else None
        except FacepartError:
            return False
        return isinstance(data, dict) and all(
            isinstance(v, np.ndarray) and v.ndim == 1 and np.issubdtype(v.dtype, np.integer) for v in data.values())
    return npz_format(path) == FORMAT


def vertex_sets_from_triangles(member: np.ndarray, triangles: np.ndarray, n_vertices: int, tri_rule: str) -> np.ndarray:
    """(V, P) bool vertex membership that ``tri_rule`` turns into the triangle membership ``member`` (F, P)."""
    tri = np.asarray(triangles, np.int64)
    incidence = sparse.csr_matrix((np.ones(tri.size), (tri.ravel(), np.repeat(np.arange(len(tri)), 3))),
                                  shape=(n_vertices, len(tri)))
    degree = np.asarray(incidence.sum(axis=1)).ravel()
    inside = np.asarray(incidence @ member.astype(np.float64))  # (V, P) incident triangles in the part
    has = degree[:, None] > 0
    if tri_rule == "any":
        return has & (inside >= degree[:, None])
    if tri_rule == "all":
        return has & (inside > 0)
    return has & (inside * 2 > degree[:, None])


def read_tri(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    if model is None:
        raise FacepartError(f"{path}: reading triangle labels back needs the model's triangles (--model MODEL)")
    n, triangles = model.n_vertices, model.triangles
    if path.suffix.lower() == ".npy":
        data = load_npy(path)
        if not isinstance(data, dict) or not all(isinstance(v, np.ndarray) for v in data.values()):
            raise FacepartError(f"{path}: expected a pickled dict of part name -> triangle ids")
        names, rule = [str(k) for k in data], DEFAULT_TRI_RULE
        tri_sets = [index_array(v, str(path), str(k)) for k, v in data.items()]
        fingerprint = model.fingerprint
    else:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "format" not in data.files or str(data["format"]) != FORMAT:
                    raise FacepartError(f"{path}: not a facepart triangle-parts file")
                names = [str(x) for x in data["part_names"]]
                rule = str(data["tri_rule"])
                if rule not in TRI_RULES:
                    raise FacepartError(f"{path}: tri_rule '{rule[:40]}' is none of {', '.join(TRI_RULES)}")
                tri_sets = [index_array(data["tri_" + safe_name(nm)], str(path), nm) for nm in names]
                found = Fingerprint.from_dict(data, str(path))
        except FacepartError:
            raise
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise FacepartError(f"{path}: not a readable triangle-parts file ({exc})") from None
        fingerprint = check_fingerprint(found, path, model, topology)
    member = np.zeros((len(triangles), len(names)), bool)
    for i, ids in enumerate(tri_sets):
        if ids.size and (ids.min() < 0 or ids.max() >= len(triangles)):
            raise FacepartError(f"{path}: part '{names[i]}' has triangle ids outside 0..{len(triangles) - 1}")
        member[ids, i] = True
    vmember = vertex_sets_from_triangles(member, triangles, n, rule)
    return annotation_from_sets({nm: np.flatnonzero(vmember[:, i]) for i, nm in enumerate(names)}, fingerprint,
                                str(path), settings={"tri_rule": rule})
