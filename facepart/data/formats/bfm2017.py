"""Basel Face Model 2017 / 2019: statismo HDF5 files (``model2017-1_bfm_nomouth.h5``, ``model2019_*.h5``).

Groups ``shape``, ``color`` and ``expression`` (formats.md 2d), each with:

===========================  ========  ================================================
dataset                      shape     meaning
===========================  ========  ================================================
<g>/model/mean               (3N,)     mean, vertex-major; millimetres (colour in [0, 1])
<g>/model/pcaBasis           (3N, K)   orthonormal components
<g>/model/pcaVariance        (K,)      variances (so a component times sqrt(variance)
                                       is one standard deviation)
<g>/representer/cells        (3, F)    triangles, 0-based (transposed on read)
<g>/representer/points       (3, N)    reference points (not needed)
===========================  ========  ================================================

The expression model's mean is a deformation added to the shape mean (as eos
does). Axes are Basel's: +x subject's left, +y up, +z toward the viewer.
Needs h5py (``pip install h5py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError, require
from .arrays import colour_01, column_basis, floats, numeric, triangles, vertex_major
from .builder import make_model
from .containers import check_regular_file, fetch, reading
from .frame import plausible_unit, UNIT_SCALE

EXPECTED = "a BFM 2017/2019 statismo .h5 file (shape/model/mean, pcaBasis, pcaVariance, representer/cells)"
H5_SUFFIXES = (".h5", ".hdf5")


def is_bfm2017(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() not in H5_SUFFIXES:
        return False
    try:
        import h5py

        with h5py.File(path, "r") as fh:
            return "shape/model/mean" in fh and "shape/model/pcaBasis" in fh
    except Exception:  # noqa: BLE001 - detection never fails: a damaged file is reported by the loader
        return False


GROUPS = ("shape", "color", "expression")
DATASETS = tuple(f"{g}/model/{k}" for g in GROUPS for k in ("mean", "pcaBasis", "pcaVariance")) + (
    "shape/representer/cells", "version/majorVersion", "version/minorVersion")


def read_statismo(path: Path) -> dict[str, np.ndarray]:
    """The datasets facepart uses (``DATASETS``) that the file has, as arrays."""
    h5py = require("h5py", "reading BFM 2017/2019 .h5 models", "pip install h5py")
    out = {}
    check_regular_file(path, "an HDF5 file")
    with reading(path, "HDF5 file"):
        with h5py.File(path, "r") as fh:
            for name in DATASETS:
                if name in fh and isinstance(fh[name], h5py.Dataset):
                    out[name] = np.asarray(fh[name][()])
    return out


def _pca(data: dict, group: str, path: Path, n: int | None):
    """(mean (N, 3), basis (K, N, 3) scaled by sqrt(variance)) of one statismo group, file units."""
    mean = vertex_major(fetch(data, f"{group}/model/mean", path, EXPECTED), path, f"{group}/model/mean", n)
    n = len(mean)
    var = floats(fetch(data, f"{group}/model/pcaVariance", path, EXPECTED), path,
                 f"{group}/model/pcaVariance").reshape(-1)
    if np.any(var < 0):
        raise FacepartError(f"{path}: '{group}/model/pcaVariance' holds negative variances")
    basis = floats(fetch(data, f"{group}/model/pcaBasis", path, EXPECTED), path, f"{group}/model/pcaBasis")
    if basis.ndim == 2 and basis.shape == (len(var), 3 * n) and basis.shape[0] != basis.shape[1]:
        basis = basis.T
    if basis.ndim != 2 or basis.shape[1] != len(var):
        raise FacepartError(f"{path}: '{group}/model/pcaBasis' must have shape ({3 * n}, {len(var)}), "
                            f"got {basis.shape}")
    return mean, column_basis(basis, path, f"{group}/model/pcaBasis", n, np.sqrt(var))


def load_bfm2017(path: str | Path, expressions: bool = True):
    """Load a BFM 2017/2019 statismo HDF5 model into facepart's frame."""
    path = Path(path)
    notes: list[str] = []
    data = read_statismo(path)
    mean, identity = _pca(data, "shape", path, None)
    n = len(mean)
    unit = plausible_unit(float(np.ptp(mean, axis=0).max()), "mm", notes)
    scale = UNIT_SCALE[unit]
    tri = triangles(fetch(data, "shape/representer/cells", path, EXPECTED), path, "shape/representer/cells", n, 0,
                    notes)
    expression = None
    if expressions and "expression/model/mean" in data:
        exp_mean, expression = _pca(data, "expression", path, n)
        mean = mean + exp_mean
        expression *= np.float32(scale)
        notes.append("the expression model's mean deformation is added to the shape mean (as eos does)")
    albedo = albedo_basis = None
    if "color/model/mean" in data:
        col_mean, col_basis = _pca(data, "color", path, n)
        albedo, div = colour_01(col_mean, path, "color/model/mean")
        albedo_basis = col_basis / np.float32(div)
    statismo = None
    if "version/majorVersion" in data and "version/minorVersion" in data:
        parts = [numeric(data[f"version/{k}"], path, k).ravel() for k in ("majorVersion", "minorVersion")]
        statismo = ".".join(str(p[0].item()) for p in parts if p.size)
    version = "2019" if "2019" in path.name else "2017"
    return make_model(path, fmt="bfm2017", version=version, units=unit, vertices=mean * scale, triangles_=tri,
                      identity_basis=identity * np.float32(scale), expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, notes=notes, extra_meta={"statismo_version": statismo})
