"""FaceVerse (LizhenWangT/FaceVerse) ``.npy`` models: v0/v1 ``faceverse_base_v*.npy``,
v2 ``faceverse_simple_v2.npy`` (full or simplified) and v3 ``faceverse_v3_*.npy``.

Each file is a pickled dict (formats.md 2e), read with the restricted unpickler.

v0 / v1 / v2:

=================  =========  ====================================================
key                shape      meaning
=================  =========  ====================================================
meanshape          (1, 3N)    mean shape, vertex-major
idBase             (3N, K)    identity basis (v0 120, v1/v2 150 columns)
exBase             (3N, K)    expression basis (v0 64, v1 74 PCA; v2 52 fitted to
                              ARKit blend shapes, read as blend shapes)
meantex, texBase   (1, 3N), (3N, K)  colour mean and basis
tri                (F, 3)     triangles, 0-based
keypoints          (68,)      landmark vertices
skinmask           (N,)       0/1 skin region
uv                 (N, 2)     integer pixel coordinates in a 200 (v0) / 199 (v1, v2)
                              pixel UV image
exp_name_list      (52,)      v2: expression names
select_id ...      (M,)       v2 simplified model: kept vertices, with ``tri_select``,
                              ``keypoints_select``, ``skinmask_select``
=================  =========  ====================================================

Axes (inferred from FaceVerse's default pose, a rotation of pi about x): y and z
point the other way than facepart's, so they are flipped; the 68 landmarks
check that and correct whole-axis rotations. Units: ~decimetres (inferred),
checked against a head's size.

v3: ``meanshape`` (N, 3), ~millimetres; FaceVerse's loader flips y and z and
swaps triangle columns 1 and 2, and so does this one. ``idBase`` (3N, 150),
``exBase_52`` (3N, 52, ARKit blend shapes, names in ``exp_name_list_52``),
``meantex``/``texBase``, ``parsing`` (a per-vertex RGB part colouring whose
legend is not documented: read as one region per colour), ``ver_inds``
(vertex ranges: face, then the two eyeballs; eyeballs get no votes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError
from ..regions import RegionSet
from .arrays import (colour_01, colour_pca, column_basis, floats, indices, integers, numeric, per_vertex, triangles,
                     vertex_major)
from .builder import make_model
from .containers import fetch
from .frame import plausible_unit, UNIT_SCALE
from .pickle_cache import forget, pickled, pickled_keys

EXPECTED = "a FaceVerse .npy model (a dict with meanshape, idBase, exBase or exBase_52, tri)"
FLIP_YZ = np.array([1.0, -1.0, -1.0])
UV_SIZE = {"v0": 200, "v1": 199, "v2": 199}


#: keys only FaceVerse v3 files have, and keys only v0-v2 files have (formats.md 2e)
V3_KEYS = {"exBase_52", "exp_name_list_52", "parsing", "uvtex", "face_mask", "ver_inds", "tri_inds",
           "mediapipe_keypoints"}
V012_KEYS = {"keypoints", "skinmask", "uv", "select_id", "tri_select", "exp_name_list"}


def is_faceverse(path: Path) -> bool:
    # a FaceVerse-like dict without its expression basis is detected too: the loader then names the missing key
    return {"meanshape", "idBase", "tri"} <= pickled_keys(path, (".npy",))


def _shape(value) -> tuple:
    try:
        return np.shape(value)
    except (TypeError, ValueError):  # ragged lists
        return ()


def detect_version(data: dict) -> str:
    """v3 by its own keys, v0-v2 by theirs; only a file with neither is told by the shape of its mean
    ((N, 3) in v3, (1, 3N) before), which a re-saved file may have changed."""
    mean = _shape(data.get("meanshape"))
    if V3_KEYS & set(data) or (not V012_KEYS & set(data) and len(mean) == 2 and mean[1] == 3 and mean[0] > 1):
        return "v3"
    if "select_id" in data or "exp_name_list" in data:
        return "v2"
    id_shape = _shape(data.get("idBase"))
    return "v0" if len(id_shape) == 2 and id_shape[1] == 120 else "v1"


def _names(value, count: int) -> tuple[str, ...]:
    try:
        names = [str(x) for x in np.asarray(value, dtype=object).ravel()]
    except (TypeError, ValueError):
        return ()
    return tuple(names) if len(names) == count else ()


def _parsing_regions(value, path, n: int) -> dict[str, np.ndarray]:
    arr = floats(value, path, "parsing")
    if arr.size != 3 * n:
        raise FacepartError(f"{path}: 'parsing' must hold an RGB colour per vertex ({3 * n} values), got {arr.shape}")
    rgb, _ = colour_01(arr.reshape(n, 3).astype(np.float64), path, "parsing")
    codes = np.round(rgb * 255).astype(np.int64)
    colours, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    return {"#%02x%02x%02x" % tuple(int(c) for c in col): np.flatnonzero(inverse == i)
            for i, col in enumerate(colours)}


def _face_range(value, path, n: int, notes: list[str]) -> np.ndarray | None:
    """Vote mask from ``ver_inds`` read as cut points (face, left eyeball, right eyeball), or None."""
    cuts = integers(value, path, "ver_inds").ravel().tolist()
    if cuts and cuts[0] != 0:
        cuts = [0] + cuts
    if cuts and cuts[-1] != n:
        cuts = cuts + [n]
    if len(cuts) != 4 or any(b <= a for a, b in zip(cuts, cuts[1:])):
        notes.append("ver_inds not understood as face / eyeball ranges; every vertex may get votes")
        return None
    mask = np.zeros(n, bool)
    mask[: cuts[1]] = True
    notes.append(f"ver_inds: vertices {cuts[1]}..{n - 1} are eyeballs: only eye votes reach them")
    return mask


def load_faceverse(path: str | Path, simplified: bool = False):
    """Load a FaceVerse v0-v3 ``.npy`` model (``simplified=True``: the v2 ``select_id`` model)."""
    path = Path(path)
    notes: list[str] = []
    try:
        data = pickled(path)
        for key in ("meanshape", "idBase", "tri"):
            fetch(data, key, path, EXPECTED)
        version = detect_version(data)
        if version == "v3":
            return _load_v3(path, data, notes)
        return _load_v012(path, data, version, simplified, notes)
    finally:
        forget()


def _load_v012(path: Path, data: dict, version: str, simplified: bool, notes: list[str]):
    mean = vertex_major(data["meanshape"], path, "meanshape")
    n = len(mean)
    unit = plausible_unit(float(np.ptp(mean, axis=0).max()), "dm", notes)
    scale = UNIT_SCALE[unit]
    flip = (FLIP_YZ * scale).astype(np.float32)
    identity = column_basis(data["idBase"], path, "idBase", n) * flip
    exp_key = "exBase"
    expression = column_basis(fetch(data, exp_key, path, EXPECTED), path, exp_key, n) * flip
    names = _names(data["exp_name_list"], len(expression)) if "exp_name_list" in data else ()
    kind = "blendshape" if version == "v2" else "pca"
    tri = triangles(data["tri"], path, "tri", n, 0, notes)
    albedo, albedo_basis = colour_pca(data, path, "meantex", "texBase", n)
    landmarks = None
    if "keypoints" in data:
        kp = indices(data["keypoints"], path, "keypoints", n, 0, notes).ravel()
        landmarks = kp if kp.size == 68 else None
    uv = None
    if "uv" in data:
        uv_px = floats(data["uv"], path, "uv")
        if uv_px.ndim != 2 or uv_px.shape != (n, 2):
            raise FacepartError(f"{path}: 'uv' must have shape ({n}, 2), got {uv_px.shape}")
        size = UV_SIZE.get(version, 199)
        uv = np.stack([uv_px[:, 0] / (size - 1), 1.0 - uv_px[:, 1] / (size - 1)], axis=1)
        notes.append(f"uv read as pixel coordinates of a {size}x{size} UV image, rows top-down (assumed)")
    regions = {}
    if "skinmask" in data:
        regions["skin"] = np.flatnonzero(per_vertex(data["skinmask"], path, "skinmask", n) > 0.5)

    vertices = mean * FLIP_YZ * scale
    if simplified:
        if "select_id" not in data:
            raise FacepartError(f"{path}: simplified=True needs the v2 keys select_id and tri_select")
        keep = indices(data["select_id"], path, "select_id", n, 0, notes).ravel()
        m = len(keep)
        tri = triangles(fetch(data, "tri_select", path, "a FaceVerse v2 file"), path, "tri_select", m, 0, notes)
        vertices, identity, expression = vertices[keep], identity[:, keep], expression[:, keep]
        if albedo is not None:
            albedo, albedo_basis = albedo[keep], (None if albedo_basis is None else albedo_basis[:, keep])
        uv = None if uv is None else uv[keep]
        landmarks = None
        if "keypoints_select" in data:
            kp = indices(data["keypoints_select"], path, "keypoints_select", m, 0, notes).ravel()
            landmarks = kp if kp.size == 68 else None
        regions = {}
        if "skinmask_select" in data:
            regions["skin"] = np.flatnonzero(per_vertex(data["skinmask_select"], path, "skinmask_select", m) > 0.5)
        version += " simplified"
    region_sets = [RegionSet("FaceVerse skinmask", regions, str(path))] if regions else []
    return make_model(path, fmt="faceverse", version=version, units=unit, vertices=vertices, triangles_=tri,
                      identity_basis=identity, expression_basis=expression, expression_kind=kind,
                      expression_names=names, albedo=albedo, albedo_basis=albedo_basis, uv=uv, landmarks68=landmarks,
                      region_sets=region_sets, notes=notes, fix_frame=True)


def _load_v3(path: Path, data: dict, notes: list[str]):
    mean = vertex_major(data["meanshape"], path, "meanshape")
    n = len(mean)
    unit = plausible_unit(float(np.ptp(mean, axis=0).max()), "mm", notes)
    scale = UNIT_SCALE[unit]
    flip = (FLIP_YZ * scale).astype(np.float32)
    identity = column_basis(data["idBase"], path, "idBase", n) * flip
    exp_key = "exBase" if "exBase" in data and "exBase_52" not in data else "exBase_52"
    expression = column_basis(fetch(data, exp_key, path, EXPECTED), path, exp_key, n) * flip
    names = _names(data["exp_name_list_52"], len(expression)) if "exp_name_list_52" in data else ()
    # FaceVerse v3's own loader swaps triangle columns 1 and 2
    tri = triangles(data["tri"], path, "tri", n, 0, notes)[:, [0, 2, 1]]
    albedo = albedo_basis = None
    if "meantex" in data:
        tex = numeric(data["meantex"], path, "meantex")
        if tex.size == 3 * n:
            albedo, div = colour_01(tex.reshape(n, 3).astype(np.float64), path, "meantex")
            if "texBase" in data:
                albedo_basis = column_basis(data["texBase"], path, "texBase", n, 1.0 / div)
        else:
            notes.append(f"meantex has {tex.size} values, not one colour per vertex (a UV texture?); not used")
    vote_mask = _face_range(data["ver_inds"], path, n, notes) if "ver_inds" in data else None
    region_sets = []
    if "parsing" in data:
        region_sets.append(RegionSet("FaceVerse v3 parsing colours", _parsing_regions(data["parsing"], path, n),
                                     str(path), ["FaceVerse does not document which part each colour is"]))
    if "face_mask" in data:
        fm = numeric(data["face_mask"], path, "face_mask")
        if fm.size == n:
            region_sets.append(RegionSet("FaceVerse v3 face_mask", {"face": np.flatnonzero(fm.ravel() > 0.5)},
                                         str(path)))
    return make_model(path, fmt="faceverse", version="v3", units=unit, vertices=mean * FLIP_YZ * scale,
                      triangles_=tri, identity_basis=identity, expression_basis=expression,
                      expression_kind="blendshape", expression_names=names, albedo=albedo, albedo_basis=albedo_basis,
                      vote_mask=vote_mask, eyeball_mask=None if vote_mask is None else ~vote_mask,
                      region_sets=region_sets, notes=notes)
