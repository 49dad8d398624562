"""The BFM "front" family (35,709 vertices): Deep3D ``BFM_model_front.mat``, ascust ``BFM09_model_info.mat``
and 3DDFA-V3 ``face_model.npy``.

``BFM_model_front.mat`` / ``BFM09_model_info.mat`` (formats.md 2b):

==============  ================  ===============================================
key             shape             meaning
==============  ================  ===============================================
meanshape       (1, 3N)           mean shape, decimetres (BFM / 1e5), vertex-major;
                                  not centred: Deep3D subtracts the vertex mean, so do we
idBase          (3N, 80)          identity basis, already times its std devs, dm
exBase          (3N, 64)          expression basis (Exp_Pca x std_exp / 1e5), dm
meantex         (1, 3N)           mean colour, 0-255
texBase         (3N, 80)          colour basis times std devs, 0-255
tri             (F, 3)            triangles, 1-based (float32), outward winding
point_buf       (N, 8)            incident triangles per vertex, 1-based, F+1 = padding
keypoints       (1, 68)           68 landmark vertices, 1-based
frontmask2_idx  (M, 1)            photometric-loss region, 1-based
skinmask        (1, N)            0/1 skin region
==============  ================  ===============================================

``face_model.npy`` (3DDFA-V3, a pickled dict; formats.md §1.1): ``u`` (3N, 1),
``id`` (3N, 80), ``exp`` (3N, 64), ``u_alb`` (3N, 1) 0-255, ``alb`` (3N, 80),
``tri`` (F, 3) and ``point_buf`` (N, 8) 0-based, ``uv_coords`` (N, 3) in [0, 1],
``ldm68`` (68,) 0-based, and the part annotation: ``annotation`` = 8 vertex-index
arrays and ``annotation_tri`` = 8 triangle arrays in the order
right_eye, left_eye, right_eyebrow, left_eyebrow, nose, up_lip, down_lip, skin.
Same units (dm) and axes (+x subject's left, +y up, +z toward the viewer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError
from ..regions import RegionSet
from .arrays import (colour_pca, column_basis, floats, guess_base, indices, numeric, per_vertex, planar_layout,
                     triangles, vertex_major)
from .builder import make_model
from .containers import fetch, mat_variable_names, read_mat
from .frame import UNIT_SCALE
from .pickle_cache import forget, pickled, pickled_keys

DEEP3D_EXPECTED = "a Deep3D BFM_model_front.mat / BFM09_model_info.mat (meanshape, idBase, exBase, tri)"
DEEP3D_REQUIRED = {"meanshape", "idBase", "tri"}
V3_EXPECTED = "a 3DDFA-V3 face_model.npy (a dict with u, id, exp, tri)"
V3_REQUIRED = {"u", "id", "exp", "tri"}
#: The order of 3DDFA-V3's ``annotation`` lists (recon.py comment); the names are facepart's part names.
V3_PARTS = ("right_eye", "left_eye", "right_eyebrow", "left_eyebrow", "nose", "up_lip", "down_lip", "skin")
UNIT = "dm"


def is_deep3d(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".mat" and DEEP3D_REQUIRED <= mat_variable_names(path)


def is_3ddfa_v3(path: Path) -> bool:
    return V3_REQUIRED <= pickled_keys(path, (".npy", ".pkl"))


def _check_point_buf(value, path, n: int, n_tri: int, base: int, notes: list[str], source: str) -> None:
    """point_buf: (N, k) incident-triangle ids, with n_tri (+base) as padding."""
    arr = numeric(value, path, "point_buf")
    if arr.ndim != 2 or arr.shape[0] != n:
        raise FacepartError(f"{path}: 'point_buf' must have shape ({n}, 8), got {arr.shape}")
    indices(arr, path, "point_buf", n_tri + 1, base, notes, source=source)


def load_deep3d(path: str | Path, recentre: bool = True):
    """Load a Deep3D ``BFM_model_front.mat`` or ascust ``BFM09_model_info.mat``."""
    path = Path(path)
    notes: list[str] = []
    data = read_mat(path)
    for key in DEEP3D_REQUIRED:
        fetch(data, key, path, DEEP3D_EXPECTED)
    n = len(vertex_major(data["meanshape"], path, "meanshape"))
    # tri, point_buf, keypoints and frontmask2_idx share one index base (1-based as documented): the
    # triangles, which reach every vertex, decide it; the others follow unless their own values contradict it
    base = guess_base(data["tri"], path, "tri", n, 1, notes)
    source = "documented: {}" if base == 1 else "the file's triangles are {}"
    tri = triangles(data["tri"], path, "tri", n, base, guess=False)
    _follow_note(data, ("point_buf", "keypoints", "frontmask2_idx"), base, 1, notes)
    mean, identity, expression = _shape_pca(data, path, n, tri, ("meanshape", "idBase", "exBase"), notes)
    scale = UNIT_SCALE[UNIT]
    if recentre:
        mean = mean - mean.mean(axis=0)
    if "point_buf" in data:
        _check_point_buf(data["point_buf"], path, n, len(tri), base, notes, source)

    albedo, albedo_basis = colour_pca(data, path, "meantex", "texBase", n, tri, notes)

    landmarks = None
    if "keypoints" in data:
        landmarks = indices(data["keypoints"], path, "keypoints", n, base, notes, source=source).ravel()
        if landmarks.shape != (68,):
            raise FacepartError(f"{path}: 'keypoints' must hold 68 vertex ids, got {landmarks.size}")

    masks = {}
    if "frontmask2_idx" in data:
        front = indices(data["frontmask2_idx"], path, "frontmask2_idx", n, base, notes, source=source)
        masks["frontmask2"] = front.ravel()
    if "skinmask" in data:
        masks["skinmask"] = np.flatnonzero(per_vertex(data["skinmask"], path, "skinmask", n) > 0.5)
    regions = [RegionSet("Deep3D masks", masks, str(path))] if masks else []

    version = "ascust BFM09_model_info" if "model_info" in path.name else "Deep3D BFM_model_front"
    return make_model(path, fmt="deep3d", version=version, units=UNIT, vertices=mean * scale, triangles_=tri,
                      identity_basis=identity, expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, landmarks68=landmarks, region_sets=regions, notes=notes,
                      extra_meta={"recentred": recentre})


def _follow_note(data: dict, keys: tuple[str, ...], base: int, documented: int, notes: list[str]) -> None:
    """Say which index arrays were read with the triangles' base rather than the documented one."""
    follow = [f"'{k}'" for k in keys if k in data]
    if base != documented and follow:
        notes.append(f"{', '.join(follow)} read {base}-based like 'tri' unless their values say otherwise "
                     "(one index base per file)")


def _shape_pca(data: dict, path: Path, n: int, tri: np.ndarray, keys: tuple[str, str, str], notes: list[str]):
    """(mean (N, 3) in the file's unit, identity and expression bases in metres) of the keys (mean, identity,
    expression; the expression one optional), each read planar when it is stored x1..xN, y1..yN, z1..zN."""
    scale = UNIT_SCALE[UNIT]
    mean_key, id_key, exp_key = keys
    planar = planar_layout(data[mean_key], path, mean_key, n, tri, notes)
    mean = vertex_major(data[mean_key], path, mean_key, n, planar)
    identity = column_basis(data[id_key], path, id_key, n, scale,
                            planar=planar_layout(data[id_key], path, id_key, n, tri, notes))
    expression = None
    if exp_key in data:
        expression = column_basis(data[exp_key], path, exp_key, n, scale,
                                  planar=planar_layout(data[exp_key], path, exp_key, n, tri, notes))
    return mean, identity, expression


def _index_list(value, path, key: str, count: int) -> list:
    """A list of ``count`` arrays from a pickled list, tuple or object array."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value.reshape(-1)) if value.ndim else [value.item()]
    elif isinstance(value, np.ndarray) and value.ndim >= 2:
        value = list(value)
    if not isinstance(value, (list, tuple)) or len(value) != count:
        got = len(value) if isinstance(value, (list, tuple)) else type(value).__name__
        raise FacepartError(f"{path}: '{key}' must be a list of {count} index arrays, got {got}")
    return list(value)


def read_v3_annotation(data: dict, path: Path, n: int, notes: list[str], base: int = 0,
                       source: str = "documented: {}") -> RegionSet | None:
    """3DDFA-V3's ``annotation`` (8 vertex-index arrays) as a region set with facepart's part names.

    The 8 arrays share one index base (documented 0-based, or ``base``: the one the file's triangles use),
    decided from all of them together, and so do the 8 ``annotation_tri`` arrays.
    """
    if "annotation" not in data:
        return None
    parts = _index_list(data["annotation"], path, "annotation", len(V3_PARTS))
    part_base = guess_base(list(parts), path, "annotation", n, base, notes, source)
    regions = {name: indices(idx, path, f"annotation[{i}]", n, part_base, guess=False).ravel()
               for i, (name, idx) in enumerate(zip(V3_PARTS, parts))}
    rs_notes = []
    if "annotation_tri" in data:
        tris = _index_list(data["annotation_tri"], path, "annotation_tri", len(V3_PARTS))
        tri_base = guess_base(list(tris), path, "annotation_tri", n, base, notes, source)
        counts = [len(triangles(t, path, f"annotation_tri[{i}]", n, tri_base, guess=False)) if np.size(t) else 0
                  for i, t in enumerate(tris)]
        rs_notes.append("annotation_tri read (" + ", ".join(f"{p} {c}" for p, c in zip(V3_PARTS, counts))
                        + " triangles)")
    return RegionSet("3DDFA-V3 annotation", regions, str(path), rs_notes)


def load_3ddfa_v3(path: str | Path):
    """Load 3DDFA-V3's ``face_model.npy`` (read with the restricted unpickler)."""
    path = Path(path)
    notes: list[str] = []
    try:
        data = pickled(path)
        for key in V3_REQUIRED:
            fetch(data, key, path, V3_EXPECTED)
        n = len(vertex_major(data["u"], path, "u"))
        scale = UNIT_SCALE[UNIT]
        # tri, point_buf, the landmarks and the annotation share one index base (0-based as documented)
        base = guess_base(data["tri"], path, "tri", n, 0, notes)
        source = "documented: {}" if base == 0 else "the file's triangles are {}"
        tri = triangles(data["tri"], path, "tri", n, base, guess=False)
        _follow_note(data, ("point_buf", "ldm68", "ldm106", "ldm134", "annotation", "annotation_tri"), base, 0, notes)
        mean, identity, expression = _shape_pca(data, path, n, tri, ("u", "id", "exp"), notes)
        if "point_buf" in data:
            _check_point_buf(data["point_buf"], path, n, len(tri), base, notes, source)
        albedo, albedo_basis = colour_pca(data, path, "u_alb", "alb", n, tri, notes)
        uv = None
        if "uv_coords" in data:
            uv = floats(data["uv_coords"], path, "uv_coords")
            if uv.ndim != 2 or uv.shape[0] != n or uv.shape[1] < 2:
                raise FacepartError(f"{path}: 'uv_coords' must have shape ({n}, 2 or 3), got {uv.shape}")
            uv = uv[:, :2]
        landmarks = None
        if "ldm68" in data:
            landmarks = indices(data["ldm68"], path, "ldm68", n, base, notes, source=source).ravel()
            if landmarks.shape != (68,):
                raise FacepartError(f"{path}: 'ldm68' must hold 68 vertex ids, got {landmarks.size}")
        for key in ("ldm106", "ldm134"):
            if key in data:
                indices(data[key], path, key, n, base, notes, source=source)
        annotation = read_v3_annotation(data, path, n, notes, base, source)
    finally:
        forget()
    return make_model(path, fmt="3ddfa-v3", version="3DDFA-V3 face_model.npy", units=UNIT, vertices=mean * scale,
                      triangles_=tri, identity_basis=identity, expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, uv=uv, landmarks68=landmarks,
                      region_sets=[annotation] if annotation else [], notes=notes)
