"""3DDFA_V2 ``configs/bfm_noneck_v3.pkl`` (+ ``configs/tri.pkl``, ``param_mean_std_62d_120x120.pkl``).

``bfm_noneck_v3.pkl`` is a pickled dict (formats.md 2c; shapes inferred from the
code and the file size, not read):

=========  ===========  =========================================================
key        shape        meaning
=========  ===========  =========================================================
u          (3N, 1)      mean shape, vertex-major, BFM 2009 units (micrometres)
w_shp      (3N, 40)     shape basis (3DDFA_V2 uses the first 40 columns)
w_exp      (3N, 10)     expression basis (first 10 columns)
tri        (F, 3)       triangles; ignored in favour of tri.pkl for this file
keypoints  (204,)       68 landmarks as indices into the flat 3N array (x, y, z)
=========  ===========  =========================================================

N = 38,365. ``tri.pkl`` is a (3, 76073) int32, 0-based array. The 62-d
parameters of ``param_mean_std_62d_120x120.pkl`` are 12 pose + 40 shape + 10
expression values; their ``std`` is one standard deviation of each coefficient,
so the bases are scaled by it. Without that file the bases' scale is unknown
and is guessed (noted). The axes are assumed to be BFM's, and checked (and
corrected by whole-axis rotations) with the 68 landmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError
from .arrays import column_basis, floats, indices, triangles, vertex_major
from .builder import make_model
from .containers import companion, fetch
from .frame import plausible_unit, UNIT_SCALE
from .pickle_cache import forget, pickled, pickled_keys
from .safe_pickle import load_pickle

EXPECTED = "a 3DDFA_V2 bfm_noneck_v3.pkl (a dict with u, w_shp, w_exp, tri, keypoints)"
REQUIRED = {"u", "w_shp", "w_exp"}
SHAPE_DIM, EXP_DIM, POSE_DIM = 40, 10, 12


def is_3ddfa_v2(path: Path) -> bool:
    return REQUIRED <= pickled_keys(path, (".pkl", ".pickle"))


def _keypoint_vertices(value, path, n: int, notes: list[str]) -> np.ndarray:
    kp = indices(value, path, "keypoints", 3 * n, 0, notes).ravel()
    if kp.size == 68:
        return kp
    if kp.size != 204:
        raise FacepartError(f"{path}: 'keypoints' must hold 204 indices into the flat 3N array, got {kp.size}")
    kp = kp.reshape(68, 3)
    if not np.all(kp[:, 0] % 3 == 0) or not np.array_equal(kp - kp[:, :1], np.tile([0, 1, 2], (68, 1))):
        raise FacepartError(f"{path}: 'keypoints' must list x, y, z of each landmark vertex (3v, 3v+1, 3v+2)")
    return kp[:, 0] // 3


def _scaled_basis(value, path, key: str, n: int, unit_scale: float, first_rms: float,
                  notes: list[str]) -> np.ndarray:
    """A basis without known standard deviations: if its columns are orthonormal (unscaled PCA), scale
    component k to move vertices by first_rms / sqrt(k + 1) metres RMS; otherwise take it as already scaled."""
    basis = column_basis(value, path, key, n)
    norms = np.sqrt((basis.astype(np.float64) ** 2).sum(axis=(1, 2)))
    if not np.allclose(norms, 1.0, atol=0.05):
        notes.append(f"'{key}' taken as already scaled by its standard deviations (no param_mean_std file)")
        return basis * np.float32(unit_scale)
    rms = norms / np.sqrt(n)  # RMS vertex displacement of a unit coefficient, file units
    target = first_rms / np.sqrt(np.arange(1, len(basis) + 1))  # metres
    notes.append(f"'{key}' is orthonormal and no param_mean_std_62d_120x120.pkl is beside the model: its scale "
                 f"was guessed ({first_rms * 1000:.0f} mm RMS for the first component)")
    return (basis * (target / np.maximum(rms, 1e-30)).astype(np.float32)[:, None, None]).astype(np.float32)


def load_3ddfa_v2(path: str | Path, tri: str | Path | None = None, param_std: str | Path | None = None):
    """Load 3DDFA_V2's ``bfm_noneck_v3.pkl`` (read with the restricted unpickler)."""
    path = Path(path)
    notes: list[str] = []
    used = []
    try:
        data = pickled(path)
        for key in REQUIRED:
            fetch(data, key, path, EXPECTED)
        u = vertex_major(data["u"], path, "u")
        n = len(u)
        unit = plausible_unit(float(np.ptp(u, axis=0).max()), "um", notes)
        scale = UNIT_SCALE[unit]

        f_std = companion(path, param_std, ("param_mean_std_62d_120x120.pkl",))
        std = None
        if f_std is not None:
            params = load_pickle(f_std)
            std = floats(fetch(params, "std", f_std, "a 3DDFA_V2 param_mean_std pickle (mean, std)"), f_std, "std")
            std = std.reshape(-1)
            if std.size != POSE_DIM + SHAPE_DIM + EXP_DIM:
                raise FacepartError(f"{f_std}: 'std' must hold 62 values (12 pose, 40 shape, 10 expression), "
                                    f"got {std.size}")
            used.append(str(f_std))
            # 3DDFA_V2 uses the first 40 shape and 10 expression columns; a file with fewer uses what it has
            identity = column_basis(data["w_shp"], path, "w_shp", n, std[POSE_DIM:POSE_DIM + SHAPE_DIM] * scale,
                                    SHAPE_DIM)
            expression = column_basis(data["w_exp"], path, "w_exp", n, std[POSE_DIM + SHAPE_DIM:] * scale, EXP_DIM)
        else:
            identity = _scaled_basis(data["w_shp"], path, "w_shp", n, scale, 0.003, notes)
            expression = _scaled_basis(data["w_exp"], path, "w_exp", n, scale, 0.002, notes)

        f_tri = companion(path, tri, ("tri.pkl",))
        if f_tri is not None:
            tris = triangles(load_pickle(f_tri), f_tri, "tri.pkl", n, 0, notes)
            used.append(str(f_tri))
        elif "tri" in data:
            tris = triangles(data["tri"], path, "tri", n, 0, notes)
            if path.name == "bfm_noneck_v3.pkl":
                notes.append("tri.pkl not found beside the model: used the pickle's own 'tri' (3DDFA_V2 replaces "
                             "it with configs/tri.pkl for bfm_noneck_v3)")
        else:
            raise FacepartError(f"{path}: no triangles: the pickle has no 'tri' and no tri.pkl is beside it")
        landmarks = _keypoint_vertices(data["keypoints"], path, n, notes) if "keypoints" in data else None
    finally:
        forget()
    version = "3DDFA_V2 bfm_noneck_v3" if n == 38365 else "3DDFA_V2 BFM"
    return make_model(path, fmt="3ddfa-v2", version=version, units=unit, vertices=u * scale, triangles_=tris,
                      identity_basis=identity, expression_basis=expression, landmarks68=landmarks, notes=notes,
                      fix_frame=True, extra_meta={"companions": used})
