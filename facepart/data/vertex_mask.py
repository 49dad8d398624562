"""User-given vertex masks: which vertices may receive part votes at all.

A mask file is one of: a JSON list of vertex indices; a JSON object whose
values are index lists (e.g. a parts.json; their union is taken); a JSON list
of V booleans; a ``.npy`` of indices (integers, or floats that are whole
numbers) or of V booleans; or a text file of indices separated by white space
or commas (one per line is usual). Anything else (strings, complex numbers,
fractions, NaN, 1e30, booleans of the wrong count, an index outside the model)
is a one-line error naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..checks import check_index_array, check_shape, json_index_list
from ..errors import FacepartError
from ..io_utils import open_input, read_json_file

_INTEGER = re.compile(r"[+-]?\d{1,18}")


def read_vertex_mask(path: str | Path, n_vertices: int) -> np.ndarray:
    """(V,) bool mask from ``path`` (see the module docstring); a mask that selects nothing is an error."""
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: vertex mask file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        mask = _from_array(_read_npy(path), path, n_vertices)
    elif suffix == ".json":
        mask = _from_json(read_json_file(path, "vertex mask"), path, n_vertices)
    else:
        mask = _from_text(path, n_vertices)
    if not mask.any():
        raise FacepartError(f"{path}: the vertex mask selects no vertex; no vertex could receive a vote")
    return mask


def _read_npy(path: Path) -> np.ndarray:
    from .formats.containers import reading

    with reading(path, "vertex mask (.npy of indices or booleans)"), open_input(path) as fh:
        return np.load(fh, allow_pickle=False)


def _mask_of(indices: np.ndarray, n_vertices: int) -> np.ndarray:
    mask = np.zeros(n_vertices, bool)
    mask[indices] = True
    return mask


def _from_array(arr: np.ndarray, path: Path, n_vertices: int) -> np.ndarray:
    if arr.dtype.kind == "b":
        check_shape(arr, (n_vertices,), f"{path}: a boolean vertex mask (one per vertex)")
        return arr.copy()
    return _mask_of(check_index_array(arr.reshape(-1), n_vertices, f"{path}: vertex indices"), n_vertices)


def _from_json(data, path: Path, n_vertices: int) -> np.ndarray:
    if isinstance(data, dict):
        parts = [json_index_list(v, f"{path}: '{k}'") for k, v in data.items()]
        idx = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return _mask_of(check_index_array(idx, n_vertices, f"{path}: vertex indices"), n_vertices)
    if isinstance(data, list) and data and all(type(x) is bool for x in data):
        return _from_array(np.array(data, bool), path, n_vertices)
    if not isinstance(data, list):
        raise FacepartError(f"{path}: expected a JSON list of vertex indices, an object of index lists or "
                            f"{n_vertices} booleans")
    return _mask_of(check_index_array(json_index_list(data, f"{path}"), n_vertices, f"{path}: vertex indices"),
                    n_vertices)


def _from_text(path: Path, n_vertices: int) -> np.ndarray:
    with open_input(path, "rb", "a vertex mask file") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FacepartError(f"{path}: not a text file of vertex indices (not UTF-8 text; a .npy mask needs "
                            "the .npy suffix)") from None
    values = []
    for line_no, line in enumerate(text.splitlines(), 1):
        for token in line.split("#", 1)[0].replace(",", " ").split():
            if not _INTEGER.fullmatch(token):
                raise FacepartError(f"{path}: line {line_no}: '{token[:40]}' is not a vertex index (expected "
                                    "whole numbers)")
            values.append(int(token))
    return _mask_of(check_index_array(np.array(values, np.int64), n_vertices, f"{path}: vertex indices"),
                    n_vertices)
