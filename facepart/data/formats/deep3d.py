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
from .arrays import colour_pca, column_basis, floats, indices, numeric, per_vertex, triangles, vertex_major
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


def _check_point_buf(value, path, n: int, n_tri: int, base: int, notes: list[str]) -> None:
    """point_buf: (N, k) incident-triangle ids, with n_tri (+base) as padding."""
    arr = numeric(value, path, "point_buf")
    if arr.ndim != 2 or arr.shape[0] != n:
        raise FacepartError(f"{path}: 'point_buf' must have shape ({n}, 8), got {arr.shape}")
    indices(arr, path, "point_buf", n_tri + 1, base, notes)


def load_deep3d(path: str | Path, recentre: bool = True):
    """Load a Deep3D ``BFM_model_front.mat`` or ascust ``BFM09_model_info.mat``."""
    path = Path(path)
    notes: list[str] = []
    data = read_mat(path)
    for key in DEEP3D_REQUIRED:
        fetch(data, key, path, DEEP3D_EXPECTED)
    mean = vertex_major(data["meanshape"], path, "meanshape")
    n = len(mean)
    scale = UNIT_SCALE[UNIT]
    if recentre:
        mean = mean - mean.mean(axis=0)
    identity = column_basis(data["idBase"], path, "idBase", n, scale)
    expression = column_basis(data["exBase"], path, "exBase", n, scale) if "exBase" in data else None
    tri = triangles(data["tri"], path, "tri", n, 1, notes)
    if "point_buf" in data:
        _check_point_buf(data["point_buf"], path, n, len(tri), 1, notes)

    albedo, albedo_basis = colour_pca(data, path, "meantex", "texBase", n)

    landmarks = None
    if "keypoints" in data:
        landmarks = indices(data["keypoints"], path, "keypoints", n, 1, notes).ravel()
        if landmarks.shape != (68,):
            raise FacepartError(f"{path}: 'keypoints' must hold 68 vertex ids, got {landmarks.size}")

    masks = {}
    if "frontmask2_idx" in data:
        masks["frontmask2"] = indices(data["frontmask2_idx"], path, "frontmask2_idx", n, 1, notes).ravel()
    if "skinmask" in data:
        masks["skinmask"] = np.flatnonzero(per_vertex(data["skinmask"], path, "skinmask", n) > 0.5)
    regions = [RegionSet("Deep3D masks", masks, str(path))] if masks else []

    version = "ascust BFM09_model_info" if "model_info" in path.name else "Deep3D BFM_model_front"
    return make_model(path, fmt="deep3d", version=version, units=UNIT, vertices=mean * scale, triangles_=tri,
                      identity_basis=identity, expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, landmarks68=landmarks, region_sets=regions, notes=notes,
                      extra_meta={"recentred": recentre})


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


def read_v3_annotation(data: dict, path: Path, n: int, notes: list[str]) -> RegionSet | None:
    """3DDFA-V3's ``annotation`` (8 vertex-index arrays) as a region set with facepart's part names."""
    if "annotation" not in data:
        return None
    parts = _index_list(data["annotation"], path, "annotation", len(V3_PARTS))
    regions = {name: indices(idx, path, f"annotation[{i}]", n, 0, notes).ravel()
               for i, (name, idx) in enumerate(zip(V3_PARTS, parts))}
    rs_notes = []
    if "annotation_tri" in data:
        tris = _index_list(data["annotation_tri"], path, "annotation_tri", len(V3_PARTS))
        counts = [len(triangles(t, path, f"annotation_tri[{i}]", n, 0, notes)) if np.size(t) else 0
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
        mean = vertex_major(data["u"], path, "u")
        n = len(mean)
        scale = UNIT_SCALE[UNIT]
        identity = column_basis(data["id"], path, "id", n, scale)
        expression = column_basis(data["exp"], path, "exp", n, scale)
        tri = triangles(data["tri"], path, "tri", n, 0, notes)
        if "point_buf" in data:
            _check_point_buf(data["point_buf"], path, n, len(tri), 0, notes)
        albedo, albedo_basis = colour_pca(data, path, "u_alb", "alb", n)
        uv = None
        if "uv_coords" in data:
            uv = floats(data["uv_coords"], path, "uv_coords")
            if uv.ndim != 2 or uv.shape[0] != n or uv.shape[1] < 2:
                raise FacepartError(f"{path}: 'uv_coords' must have shape ({n}, 2 or 3), got {uv.shape}")
            uv = uv[:, :2]
        landmarks = None
        if "ldm68" in data:
            landmarks = indices(data["ldm68"], path, "ldm68", n, 0, notes).ravel()
            if landmarks.shape != (68,):
                raise FacepartError(f"{path}: 'ldm68' must hold 68 vertex ids, got {landmarks.size}")
        for key in ("ldm106", "ldm134"):
            if key in data:
                indices(data[key], path, key, n, 0, notes)
        annotation = read_v3_annotation(data, path, n, notes)
    finally:
        forget()
    return make_model(path, fmt="3ddfa-v3", version="3DDFA-V3 face_model.npy", units=UNIT, vertices=mean * scale,
                      triangles_=tri, identity_basis=identity, expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, uv=uv, landmarks68=landmarks,
                      region_sets=[annotation] if annotation else [], notes=notes)
