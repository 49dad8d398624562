"""Checks for the arrays a model file holds: numeric, finite, whole, in range, of the documented shape.

Every check returns a normalised array or raises a one-line
:class:`FacepartError` naming the file and the key (what was expected).
"""

from __future__ import annotations

import numpy as np

from ...checks import check_kind, check_whole
from ...errors import FacepartError


def numeric(value, path, key: str) -> np.ndarray:
    """``value`` as a numeric (bool/int/float) ndarray, or a one-line error."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and odd objects
        raise FacepartError(f"{path}: '{key}' is not an array") from None
    return check_kind(arr, "biuf", f"{path}: '{key}'")


def floats(value, path, key: str) -> np.ndarray:
    arr = numeric(value, path, key)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise FacepartError(f"{path}: '{key}' has {int(np.count_nonzero(~np.isfinite(arr)))} NaN or infinite values")
    return arr


def integers(value, path, key: str) -> np.ndarray:
    """``value`` as an int64 array of whole numbers (floats must be whole and not huge), or a one-line error."""
    return check_whole(numeric(value, path, key), f"{path}: '{key}'")


def guess_base(value, path, key: str, n: int, base: int, notes: list[str] | None = None,
               source: str = "documented: {}") -> int:
    """The index base (0 or 1) of an index array (or a list of arrays read together) documented ``base``-based.

    A file that contradicts its documented base (a 0 in a 1-based array, or
    ``n`` in a 0-based one) is read with the other base, and a note says so.
    Arrays that share one convention (a region set's parts) are passed together,
    so that they are all read with the same base. ``source`` says in the note where ``base`` came from
    (a format string for "0-based" / "1-based").
    """
    parts = value if isinstance(value, list) else [value]
    arrs = [integers(v, path, key) for v in parts]
    arrs = [a for a in arrs if a.size]
    if not arrs:
        return base
    lo, hi = min(int(a.min()) for a in arrs), max(int(a.max()) for a in arrs)
    if base == 1 and lo == 0 and hi <= n - 1:
        if notes is not None:
            notes.append(f"'{key}' holds a 0, so it was read as 0-based ({source.format('1-based')})")
        return 0
    if base == 0 and hi == n and lo >= 1:
        if notes is not None:
            notes.append(f"'{key}' reaches {n}, so it was read as 1-based ({source.format('0-based')})")
        return 1
    return base


def indices(value, path, key: str, n: int, base: int, notes: list[str] | None = None,
            guess: bool = True, source: str = "documented: {}") -> np.ndarray:
    """0-based int64 indices from an index array stored ``base``-based (0 or 1), checked against ``n``.

    With ``guess`` the base is checked against the values (:func:`guess_base`);
    without it (the caller decided the base, e.g. for several arrays together) it is used as given.
    """
    out = integers(value, path, key)
    if guess:
        base = guess_base(out, path, key, n, base, notes, source)
    out = out - base
    if out.size and (out.min() < 0 or out.max() >= n):
        raise FacepartError(f"{path}: '{key}' indices must lie in {base}..{n - 1 + base}, "
                            f"got {int(out.min()) + base}..{int(out.max()) + base}")
    return out


def triangles(value, path, key: str, n: int, base: int, notes: list[str] | None = None,
              guess: bool = True) -> np.ndarray:
    """(F, 3) 0-based triangles from an (F, 3) or (3, F) array."""
    arr = numeric(value, path, key)
    if arr.ndim == 2 and arr.shape[0] == 3 and arr.shape[1] != 3:
        arr = arr.T
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise FacepartError(f"{path}: '{key}' must be an (F, 3) triangle array, got shape {arr.shape}")
    return indices(arr, path, key, n, base, notes, guess)


def vertex_major(value, path, key: str, n: int | None = None, planar: bool = False) -> np.ndarray:
    """(N, 3) float64 vertices from a vertex-major flat array (3N,), (3N, 1), (1, 3N), or from (N, 3).

    ``planar``: the flat array is stored x1..xN, y1..yN, z1..zN (see :func:`planar_layout`).
    """
    arr = floats(value, path, key)
    if arr.ndim == 2 and arr.shape[1] == 3 and (n is None or arr.shape[0] == n):
        return np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1 or (arr.ndim == 2 and 1 in arr.shape):
        flat = arr.reshape(-1)
        if flat.size and flat.size % 3 == 0 and (n is None or flat.size == 3 * n):
            flat = np.asarray(flat, dtype=np.float64)
            return flat.reshape(3, -1).T.copy() if planar else flat.reshape(-1, 3)
    want = "3N values" if n is None else f"{3 * n} values (3 x {n} vertices)"
    raise FacepartError(f"{path}: '{key}' must be a flat vertex-major array of {want}, got shape {arr.shape}")


def _flat_field(value, n: int) -> np.ndarray | None:
    """One 3N-value column of a flat mean ((3N,), (3N, 1), (1, 3N)) or basis ((3N, K): its strongest of the
    first three columns), or None when the array is not flat."""
    try:
        arr = np.asarray(value)  # no copy: a basis can be hundreds of MB, only three columns are looked at
    except (TypeError, ValueError):
        return None
    if arr.dtype.kind not in "biuf":
        return None
    if arr.ndim == 1 and arr.size == 3 * n:
        return arr.astype(np.float64)
    if arr.ndim == 2 and arr.shape == (1, 3 * n):
        return arr[0].astype(np.float64)
    if arr.ndim == 2 and arr.shape[0] == 3 * n and arr.shape[1] >= 1:
        head = arr[:, :3].astype(np.float64)
        return head[:, int(np.argmax(np.abs(head).sum(axis=0)))]
    return None


def _edge_ratio(points: np.ndarray, edges: np.ndarray, pairs: np.ndarray) -> float:
    """Median triangle-edge length over the median distance of random vertex pairs (small: a coherent shape)."""
    if not np.all(np.isfinite(points)):
        return np.inf
    spread = float(np.median(np.linalg.norm(points[pairs[:, 0]] - points[pairs[:, 1]], axis=1)))
    if spread <= 0:
        return np.inf
    return float(np.median(np.linalg.norm(points[edges[:, 0]] - points[edges[:, 1]], axis=1))) / spread


def planar_layout(value, path, key: str, n: int, tri: np.ndarray, notes: list[str] | None = None) -> bool:
    """Whether a flat array of 3N values (a mean, or a (3N, K) basis) is stored planar, x1..xN, y1..yN, z1..zN
    (MATLAB's ``V(:)`` of an (N, 3) array), rather than vertex-major as documented.

    The triangles decide: read the right way, a shape (or a basis component) is coherent, its triangle
    edges far shorter than the distances between random vertices; read the wrong way it is scrambled.
    Planar is chosen only when it is clearly the coherent reading (a note says so).
    """
    field = _flat_field(value, n)
    tri = np.asarray(tri)
    if field is None or n < 4 or tri.ndim != 2 or len(tri) == 0:
        return False
    edges = tri[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    edges = edges[:: max(1, len(edges) // 100000)]
    pairs = np.random.default_rng(0).integers(0, n, size=(20000, 2))
    interleaved = _edge_ratio(field.reshape(-1, 3), edges, pairs)
    planar = _edge_ratio(field.reshape(3, -1).T, edges, pairs)
    if not (planar < 0.5 and planar * 2 < interleaved):
        return False
    if notes is not None:
        notes.append(f"'{key}' is stored planar (x1..xN, y1..yN, z1..zN, MATLAB's V(:)), not vertex-major: only "
                     "that reading gives short triangle edges; read planar")
    return True


def column_basis(value, path, key: str, n: int, scale: float | np.ndarray = 1.0,
                 k_max: int | None = None, planar: bool = False) -> np.ndarray:
    """(K, N, 3) float32 basis from a (3N, K) vertex-major column basis, times ``scale`` (scalar or (K,)).

    ``planar``: the rows are x1..xN, y1..yN, z1..zN (see :func:`planar_layout`).
    """
    arr = floats(value, path, key)
    if arr.ndim == 1 and arr.size == 3 * n:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != 3 * n:
        raise FacepartError(f"{path}: '{key}' must have shape (3N, K) = ({3 * n}, K), got {arr.shape}")
    if k_max is not None:
        arr = arr[:, :k_max]
    if planar:
        out = np.ascontiguousarray(arr.reshape(3, n, arr.shape[1]).transpose(2, 1, 0), dtype=np.float32)
    else:
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


def colour_pca(data: dict, path, mean_key: str, basis_key: str, n: int, tri: np.ndarray | None = None,
               notes: list[str] | None = None):
    """A model's colour PCA as (albedo (V, 3) in [0, 1], basis (K, V, 3)), or (None, None) without one.

    ``data[mean_key]`` is vertex-major (3N values, 0-255 or 0-1); ``data[basis_key]``
    (3N, K) is optional and scaled like the mean. With the triangles ``tri``, each is
    read planar when it is stored that way (:func:`planar_layout`).
    """
    if mean_key not in data:
        return None, None
    planar = tri is not None and planar_layout(data[mean_key], path, mean_key, n, tri, notes)
    albedo, div = colour_01(vertex_major(data[mean_key], path, mean_key, n, planar), path, mean_key)
    basis = None
    if basis_key in data:
        planar = tri is not None and planar_layout(data[basis_key], path, basis_key, n, tri, notes)
        basis = column_basis(data[basis_key], path, basis_key, n, 1.0 / div, planar=planar)
    return albedo, basis
