"""User-given vertex masks: which vertices may receive part votes at all.

A mask file is one of: a JSON list of vertex indices; a JSON object whose
values are index lists (e.g. a parts.json; their union is taken); a ``.npy``
of indices (integers) or of V booleans; or a text file of indices, one per line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FacepartError


def read_vertex_mask(path: str | Path, n_vertices: int) -> np.ndarray:
    """(V,) bool mask from ``path`` (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: vertex mask file not found")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                data = [i for v in data.values() for i in v]
            arr = np.asarray(data)
        else:
            arr = np.loadtxt(path, dtype=np.int64, ndmin=1)
    except (ValueError, OSError, json.JSONDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise FacepartError(f"{path}: not a vertex mask (indices or {n_vertices} booleans): {exc}") from None
    arr = np.asarray(arr).ravel()
    if arr.dtype == bool:
        if arr.size != n_vertices:
            raise FacepartError(f"{path}: {arr.size} booleans, expected one per vertex ({n_vertices})")
        return arr.copy()
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise FacepartError(f"{path}: vertex indices must be integers")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_vertices):
        raise FacepartError(f"{path}: indices must lie in 0..{n_vertices - 1}, got {arr.min()}..{arr.max()}")
    mask = np.zeros(n_vertices, bool)
    mask[arr] = True
    return mask
