"""Shared pieces of the model loaders: reading containers, checking arrays, frames and winding.

Every check raises a one-line :class:`FacepartError` naming the file and what
was expected. Third-party readers (scipy.io, h5py, numpy) raise many exception
types on damaged files; :func:`reading` turns those, and only around the call
that parses the file, into that one error.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ...errors import FacepartError, require

#: Metres per unit.
UNIT_SCALE = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 1e-3, "um": 1e-6}


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:160]


@contextmanager
def reading(path, what: str) -> Iterator[None]:
    """Turn any exception of a third-party file parser into ``FacepartError("<path>: not a readable <what> ...")``."""
    try:
        yield
    except FacepartError:
        raise
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except MemoryError:
        raise FacepartError(f"{path}: not a readable {what} (a size field asks for more memory than there is; "
                            "is the file damaged?)") from None
    except Exception as exc:  # noqa: BLE001 - parsers of damaged files raise anything
        raise FacepartError(f"{path}: not a readable {what} ({type(exc).__name__}: {_short(exc)})") from None


def shown(keys, limit: int = 20) -> str:
    """Key names for a one-line message: printable characters only, at most ``limit`` names."""
    keys = list(keys)
    names = ["".join(c if c.isprintable() else "?" for c in str(k))[:40] for k in keys[:limit]]
    return ", ".join(names) + (", ..." if len(keys) > limit else "")


# -- containers ---------------------------------------------------------------

def read_mat(path: Path, variables: list[str] | None = None) -> dict:
    """Numeric variables of a MATLAB .mat file: level 5 via :mod:`.matfile` (never scipy's compiled reader,
    which can crash on damaged files), v7.3 via h5py (transposed back to MATLAB's order)."""
    from .matfile import loadmat5

    try:
        with reading(path, "MATLAB .mat file"):
            return loadmat5(path, variables)
    except FacepartError as err:
        if "v7.3" not in str(err):
            raise
    h5py = require("h5py", "reading MATLAB v7.3 files", "pip install h5py")
    out = {}
    with reading(path, "MATLAB v7.3 .mat file"):
        with h5py.File(path, "r") as fh:
            for key in fh.keys():
                if (variables is None or key in variables) and isinstance(fh[key], h5py.Dataset):
                    out[key] = np.asarray(fh[key]).T  # h5py gives the transpose of MATLAB's column-major arrays
    return out


def mat_variable_names(path: Path) -> set[str]:
    """Names of a .mat file's variables, reading element headers only (empty on any failure)."""
    from .matfile import variable_names

    try:
        return set(variable_names(path))
    except Exception:  # noqa: BLE001 - detection must never fail
        pass
    try:
        import h5py

        with h5py.File(path, "r") as fh:
            return set(fh.keys())
    except Exception:  # noqa: BLE001
        return set()


def fetch(data: Mapping, key: str, path, expected: str):
    """``data[key]``, or a one-line error naming the missing key and what the file should be."""
    if not isinstance(data, Mapping):
        raise FacepartError(f"{path}: expected {expected} (a dict of arrays), got {type(data).__name__}")
    if key not in data:
        raise FacepartError(f"{path}: missing '{key}'; is this {expected}? (keys: {shown(data)})")
    return data[key]


def numeric(value, path, key: str) -> np.ndarray:
    """``value`` as a numeric (bool/int/float) ndarray, or a one-line error."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and odd objects
        raise FacepartError(f"{path}: '{key}' is not an array") from None
    if arr.dtype.kind not in "biuf":
        raise FacepartError(f"{path}: '{key}' must be a numeric array, got dtype {arr.dtype}")
    return arr


def floats(value, path, key: str) -> np.ndarray:
    arr = numeric(value, path, key)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FacepartError(f"{path}: '{key}' has {int(np.count_nonzero(~np.isfinite(arr)))} NaN or infinite values")
    return arr


def integers(value, path, key: str) -> np.ndarray:
    """``value`` as an int64 array of whole numbers (floats must be whole and not huge), or a one-line error."""
    arr = numeric(value, path, key)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise FacepartError(f"{path}: '{key}' must hold whole numbers")
        if arr.size and np.abs(arr).max() > 2 ** 53:
            raise FacepartError(f"{path}: '{key}' holds numbers far too large for indices")
    elif arr.dtype.kind == "u" and arr.size and int(arr.max()) > 2 ** 62:
        raise FacepartError(f"{path}: '{key}' holds numbers far too large for indices")
    return arr.astype(np.int64)


def indices(value, path, key: str, n: int, base: int, notes: list[str] | None = None) -> np.ndarray:
    """0-based int64 indices from an index array stored ``base``-based (0 or 1), checked against ``n``.

    A file that contradicts its documented base (a 0 in a 1-based array, or
    ``n`` in a 0-based one) is read with the other base, and a note says so.
    """
    out = integers(value, path, key)
    if out.size:
        lo, hi = int(out.min()), int(out.max())
        if base == 1 and lo == 0 and hi <= n - 1:
            base = 0
            if notes is not None:
                notes.append(f"'{key}' holds a 0, so it was read as 0-based (documented: 1-based)")
        elif base == 0 and hi == n and lo >= 1:
            base = 1
            if notes is not None:
                notes.append(f"'{key}' reaches {n}, so it was read as 1-based (documented: 0-based)")
    out = out - base
    if out.size and (out.min() < 0 or out.max() >= n):
        raise FacepartError(f"{path}: '{key}' indices must lie in {base}..{n - 1 + base}, "
                            f"got {int(out.min()) + base}..{int(out.max()) + base}")
    return out


def triangles(value, path, key: str, n: int, base: int, notes: list[str] | None = None) -> np.ndarray:
    """(F, 3) 0-based triangles from an (F, 3) or (3, F) array."""
    arr = numeric(value, path, key)
    if arr.ndim == 2 and arr.shape[0] == 3 and arr.shape[1] != 3:
        arr = arr.T
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise FacepartError(f"{path}: '{key}' must be an (F, 3) triangle array, got shape {arr.shape}")
    return indices(arr, path, key, n, base, notes)


def vertex_major(value, path, key: str, n: int | None = None) -> np.ndarray:
    """(N, 3) float64 vertices from a vertex-major flat array (3N,), (3N, 1), (1, 3N), or from (N, 3)."""
    arr = floats(value, path, key)
    if arr.ndim == 2 and arr.shape[1] == 3 and (n is None or arr.shape[0] == n):
        return np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1 or (arr.ndim == 2 and 1 in arr.shape):
        flat = arr.reshape(-1)
        if flat.size and flat.size % 3 == 0 and (n is None or flat.size == 3 * n):
            return np.asarray(flat, dtype=np.float64).reshape(-1, 3)
    want = "3N values" if n is None else f"{3 * n} values (3 x {n} vertices)"
    raise FacepartError(f"{path}: '{key}' must be a flat vertex-major array of {want}, got shape {arr.shape}")


def column_basis(value, path, key: str, n: int, scale: float | np.ndarray = 1.0,
                 k_max: int | None = None) -> np.ndarray:
    """(K, N, 3) float32 basis from a (3N, K) vertex-major column basis, times ``scale`` (scalar or (K,))."""
    arr = floats(value, path, key)
    if arr.ndim == 1 and arr.size == 3 * n:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != 3 * n:
        raise FacepartError(f"{path}: '{key}' must have shape (3N, K) = ({3 * n}, K), got {arr.shape}")
    if k_max is not None:
        arr = arr[:, :k_max]
    out = np.ascontiguousarray(arr.T, dtype=np.float32).reshape(arr.shape[1], n, 3)
    scale = np.asarray(scale, dtype=np.float32)
    if scale.ndim == 1:
        if len(scale) < out.shape[0]:
            raise FacepartError(f"{path}: '{key}' has {out.shape[0]} components but only {len(scale)} "
                                "standard deviations are given for them")
        scale = scale[: out.shape[0], None, None]
    elif scale.ndim:
        raise FacepartError(f"{path}: the standard deviations of '{key}' must be a list of numbers")
    with np.errstate(over="ignore", invalid="ignore"):
        out *= scale
    if not np.all(np.isfinite(out)):
        raise FacepartError(f"{path}: '{key}' times its standard deviations is not finite (values too large)")
    return out


def per_vertex(value, path, key: str, n: int, width: int | None = None) -> np.ndarray:
    """A per-vertex array of length ``n`` ((n,), (1, n), (n, 1), or (n, width) / (width, n))."""
    arr = numeric(value, path, key)
    if width is None:
        if arr.size != n or (arr.ndim == 2 and 1 not in arr.shape) or arr.ndim > 2:
            raise FacepartError(f"{path}: '{key}' must hold one value per vertex ({n}), got shape {arr.shape}")
        return arr.reshape(-1)
    if arr.ndim == 2 and arr.shape == (n, width):
        return arr
    if arr.ndim == 2 and arr.shape == (width, n):
        return arr.T
    raise FacepartError(f"{path}: '{key}' must have shape ({n}, {width}), got {arr.shape}")


def colour_01(rgb: np.ndarray, path, key: str) -> tuple[np.ndarray, float]:
    """Colours in [0, 1] from a 0-255 or 0-1 array; returns (colours, the divisor used)."""
    scale = 255.0 if rgb.size and float(np.max(rgb)) > 1.5 else 1.0
    return rgb / scale, scale


def colour_pca(data: dict, path, mean_key: str, basis_key: str, n: int):
    """A model's colour PCA as (albedo (V, 3) in [0, 1], basis (K, V, 3)), or (None, None) without one.

    ``data[mean_key]`` is vertex-major (3N values, 0-255 or 0-1); ``data[basis_key]``
    (3N, K) is optional and scaled like the mean.
    """
    if mean_key not in data:
        return None, None
    albedo, div = colour_01(vertex_major(data[mean_key], path, mean_key, n), path, mean_key)
    basis = column_basis(data[basis_key], path, basis_key, n, 1.0 / div) if basis_key in data else None
    return albedo, basis


# -- frame and winding --------------------------------------------------------

def outward_flux(vertices: np.ndarray, triangles_: np.ndarray) -> float:
    """Sum over triangles of (area-weighted normal) . (centroid - mesh centre); > 0 for outward winding."""
    v = np.asarray(vertices, np.float64)
    a, b, c = v[triangles_[:, 0]], v[triangles_[:, 1]], v[triangles_[:, 2]]
    normals = np.cross(b - a, c - a)
    centre = v[np.unique(triangles_)].mean(axis=0)
    return float(np.einsum("ij,ij->", normals, (a + b + c) / 3.0 - centre))


def orient_outward(vertices: np.ndarray, triangles_: np.ndarray, notes: list[str]) -> np.ndarray:
    """Reverse the winding if the (documented) winding still points inward; note it."""
    if outward_flux(vertices, triangles_) < 0:
        notes.append("triangle winding reversed so that normals face outward (the file disagreed with its "
                     "documented winding)")
        return triangles_[:, [0, 2, 1]]
    return triangles_


#: 0-based iBUG 68 indices used to check a frame.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER, NOSE_TIP, CHIN = 36, 45, 30, 8


def landmark_axes(vertices: np.ndarray, landmarks68: np.ndarray) -> np.ndarray | None:
    """(3, 3) rows: the model's subject-left, up and forward directions estimated from 68 landmarks."""
    lm = np.asarray(landmarks68)
    if lm.shape != (68,):
        return None
    v = np.asarray(vertices, np.float64)
    r, l, nose, chin = v[lm[RIGHT_EYE_OUTER]], v[lm[LEFT_EYE_OUTER]], v[lm[NOSE_TIP]], v[lm[CHIN]]
    ex = l - r
    ey = (l + r) / 2 - chin
    if np.linalg.norm(ex) < 1e-12 or np.linalg.norm(ey) < 1e-12:
        return None
    ex = ex / np.linalg.norm(ex)
    ey = ey - ex * (ey @ ex)
    if np.linalg.norm(ey) < 1e-12:
        return None
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    if (nose - (l + r) / 2) @ ez < 0:  # nose behind the eyes: the landmarks describe a mirrored face
        ez = -ez
    return np.stack([ex, ey, ez])


def frame_rotation(vertices: np.ndarray, landmarks68: np.ndarray | None, notes: list[str],
                   fix: bool) -> np.ndarray | None:
    """Check the axes with 68 landmarks (right eye at -x, up +y, nose toward +z); the (3, 3) rotation to apply, or None.

    Only whole-axis rotations (multiples of 90 degrees) are returned, and only
    when the landmarks say so clearly; a model that is merely tilted is kept.
    With ``fix`` False a disagreement is only noted.
    """
    axes = None if landmarks68 is None else landmark_axes(vertices, landmarks68)
    if axes is None:
        return None
    snapped = np.zeros((3, 3))
    for i in range(3):
        j = int(np.argmax(np.abs(axes[i])))
        snapped[i, j] = np.sign(axes[i, j])
    clear = bool(np.all(np.abs(axes).max(axis=1) > 0.8)) and abs(abs(np.linalg.det(snapped)) - 1) < 1e-6
    if not clear or np.allclose(snapped, np.eye(3)):
        return None
    if np.linalg.det(snapped) < 0:
        notes.append("warning: the 68 landmarks describe a mirrored face (left and right swapped); axes kept")
        return None
    if not fix:
        notes.append("warning: the 68 landmarks suggest other axes than documented (+x subject's left, +y up, "
                     "+z toward the viewer); the model was kept as documented")
        return None
    notes.append("axes rotated into facepart's frame by the 68 landmarks (the file's documented axes disagreed)")
    return snapped


def rotate(arr: np.ndarray | None, rot: np.ndarray | None):
    """Apply a (3, 3) rotation to (..., 3) points or basis vectors (None passes through)."""
    if arr is None or rot is None:
        return arr
    return (np.asarray(arr) @ rot.T).astype(np.asarray(arr).dtype)


def plausible_unit(extent: float, declared: str, notes: list[str]) -> str:
    """``declared`` unless the model would then not be head-sized (8 cm to 80 cm); then a guessed unit."""
    from ..mesh import guess_unit

    if 0.08 <= extent * UNIT_SCALE[declared] <= 0.8 or extent == 0:
        return declared
    unit = guess_unit(extent)
    notes.append(f"the model is {extent:g} units across, not head-sized in {declared}; read as {unit}")
    return unit


def companion(path: Path, given, names: tuple[str, ...]) -> Path | None:
    """An explicitly given companion file, or the first of ``names`` found beside ``path``."""
    if given is not None:
        given = Path(given)
        if not given.is_file():
            raise FacepartError(f"{given}: file not found")
        return given
    for name in names:
        cand = path.parent / name
        if cand.is_file():
            return cand
    return None


def make_model(path: Path, *, fmt: str, version: str, units: str, vertices: np.ndarray, triangles_: np.ndarray,
               identity_basis=None, expression_basis=None, expression_kind: str = "pca",
               expression_names=(), albedo=None, albedo_basis=None, uv=None, landmarks68=None,
               render_mask=None, vote_mask=None, region_sets=None, notes: list[str] | None = None,
               fix_frame: bool = False, topology: str | None = None, extra_meta: dict | None = None,
               name: str | None = None):
    """Finish a loader: check the axes with the landmarks (rotating only if ``fix_frame``), make the
    winding outward, fill the metadata and build the :class:`FaceModel`.

    ``vertices`` and the bases must already be in metres and in the documented frame.
    """
    from ..bfm_topology import topology_name
    from ..face_model import FaceModel
    from ..textures import tone_basis

    notes = list(notes or [])
    vertices = np.asarray(vertices, np.float64)
    rot = frame_rotation(vertices, landmarks68, notes, fix_frame)
    if rot is not None:
        vertices = rotate(vertices, rot)
        identity_basis, expression_basis = rotate(identity_basis, rot), rotate(expression_basis, rot)
    triangles_ = orient_outward(vertices, np.asarray(triangles_, np.int64), notes)
    from ..regions import fix_sides

    for rs in region_sets or []:
        rs.check(len(vertices))
        rs.regions = fix_sides(rs.regions, vertices, rs.notes)
    if albedo_basis is None:  # texture variety for models without a colour PCA
        base = albedo if albedo is not None else None
        if base is None:
            from ..face_model import NEUTRAL_SKIN

            base = np.broadcast_to(NEUTRAL_SKIN, vertices.shape)
        albedo_basis = tone_basis(base)
        notes.append("no colour PCA: variants vary the skin tone (3 global modes) around "
                     + ("the model's colours" if albedo is not None else "a neutral skin shading"))
    n = len(vertices)
    meta = {"format": fmt, "version": version, "units": units, "path": str(path), "n_vertices": n,
            "topology": topology or topology_name(n), "notes": notes, **(extra_meta or {})}
    return FaceModel(
        name=name or path.stem, vertices=vertices, triangles=triangles_, identity_basis=identity_basis,
        expression_basis=expression_basis, expression_kind=expression_kind,
        expression_names=tuple(expression_names), albedo=albedo, albedo_basis=albedo_basis, uv=uv,
        landmarks68=landmarks68, render_mask=render_mask, vote_mask=vote_mask, meta=meta,
        region_sets={rs.name: rs for rs in (region_sets or [])})


_PICKLE_CACHE: dict = {}


def pickled(path: Path):
    """The object in a pickled ``.pkl``/``.npy`` file, read safely; the last one is cached so that format
    detection and loading unpickle a file once (:func:`forget` frees it)."""
    from .safe_pickle import load_npy, load_pickle

    path = Path(path)
    with reading(path, "file"):
        st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _PICKLE_CACHE:
        _PICKLE_CACHE.clear()
        _PICKLE_CACHE[key] = load_npy(path) if path.suffix.lower() == ".npy" else load_pickle(path)
    return _PICKLE_CACHE[key]


def forget() -> None:
    _PICKLE_CACHE.clear()


def pickled_keys(path: Path, suffixes: tuple[str, ...]) -> set[str]:
    """Keys of a pickled dict file with one of ``suffixes`` (empty set if it is not one).

    An unsafe or damaged pickle raises its FacepartError: that is the most
    useful message for a user who passed it.
    """
    from .safe_pickle import npy_is_pickle

    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in suffixes:
        return set()
    if path.suffix.lower() == ".npy":
        try:
            if not npy_is_pickle(path):
                return set()
        except (FacepartError, OSError):
            return set()
    obj = pickled(path)
    return {str(k) for k in obj} if isinstance(obj, dict) else set()
