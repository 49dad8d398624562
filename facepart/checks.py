"""Cheap shape and value guards with one-line messages (kornia's KORNIA_CHECK_SHAPE idea)."""

from __future__ import annotations

import numpy as np

from .errors import FacepartError


def check_shape(arr, spec: tuple, what: str) -> np.ndarray:
    """Check ``arr`` against ``spec`` (ints fixed, strings or None free) and return it as an array.

    >>> check_shape(np.zeros((5, 3)), ("V", 3), "vertices").shape
    (5, 3)
    """
    arr = np.asarray(arr)
    ok = arr.ndim == len(spec) and all(
        not isinstance(s, int) or s == n for s, n in zip(spec, arr.shape)
    )
    if not ok:
        want = "(" + ", ".join(str(s) for s in spec) + ")"
        raise FacepartError(f"{what}: expected an array of shape {want}, got {tuple(arr.shape)}")
    return arr


def check_finite(arr: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise FacepartError(f"{what}: {bad} values are NaN or infinite")
    return arr


def check_indices(tri: np.ndarray, n_vertices: int, what: str) -> np.ndarray:
    """Check that an (F, 3) index array is 0-based and in range."""
    tri = check_shape(tri, ("F", 3), what)
    if tri.size and (tri.min() < 0 or tri.max() >= n_vertices):
        raise FacepartError(
            f"{what}: indices must lie in 0..{n_vertices - 1}, got {tri.min()}..{tri.max()}"
        )
    return tri
