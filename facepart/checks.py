"""Cheap dtype, shape and value guards with one-line messages (kornia's KORNIA_CHECK_SHAPE idea).

Every reader of user files checks what it read with these, so a file of the
wrong kind is one :class:`FacepartError` that names it and says what was
expected, never a silent cast (floats truncated to labels) or a traceback.

Shape specs are tuples: an int is a fixed size, a string a named size that
must agree across the calls sharing one ``dims`` dict, None any size.
"""

from __future__ import annotations

import numpy as np

from .errors import FacepartError

#: dtype kind -> words for messages.
KIND_NAMES = {"b": "booleans", "i": "integers", "u": "integers", "f": "floats", "c": "complex numbers",
              "U": "strings", "S": "byte strings", "O": "Python objects", "V": "raw records", "M": "dates",
              "m": "time spans"}

#: Integers beyond this cannot be vertex ids, and floats beyond it are not exact integers.
LARGEST_INDEX = 2 ** 53


def describe_kinds(kinds: str) -> str:
    names = []
    for k in kinds:
        name = KIND_NAMES.get(k, k)
        if name not in names:
            names.append(name)
    return " or ".join(names)


def as_array(value, what: str) -> np.ndarray:
    """``np.asarray(value)``, with ragged or odd values as a one-line error."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):  # ragged lists, huge ints, odd objects
        raise FacepartError(f"{what}: expected a regular array, got a ragged or mixed {type(value).__name__}") \
            from None


def check_kind(arr, kinds: str, what: str) -> np.ndarray:
    """Check that the dtype kind of ``arr`` is one of ``kinds`` (numpy kind letters, e.g. ``"iu"``)."""
    arr = as_array(arr, what)
    if arr.dtype.kind not in kinds:
        raise FacepartError(f"{what}: expected {describe_kinds(kinds)}, got {KIND_NAMES.get(arr.dtype.kind, 'values')} "
                            f"({arr.dtype})")
    return arr


def check_shape(arr, spec: tuple, what: str, dims: dict | None = None) -> np.ndarray:
    """Check ``arr`` against ``spec`` (ints fixed, strings named, None free) and return it as an array.

    Named sizes are looked up in, and recorded into, ``dims``: ``("V", "P")``
    after ``("V",)`` must have the same V.

    >>> check_shape(np.zeros((5, 3)), ("V", 3), "vertices").shape
    (5, 3)
    """
    arr = as_array(arr, what)
    dims = {} if dims is None else dims
    want = [dims.get(s, s) if isinstance(s, str) else s for s in spec]
    ok = arr.ndim == len(spec) and all(not isinstance(w, int) or w == n for w, n in zip(want, arr.shape))
    if not ok:
        text = "(" + ", ".join(str(w) for w in want) + (",)" if len(want) == 1 else ")")
        raise FacepartError(f"{what}: expected an array of shape {text}, got {tuple(arr.shape)}")
    for s, n in zip(spec, arr.shape):
        if isinstance(s, str):
            dims.setdefault(s, int(n))
    return arr


def check_array(value, kinds: str, spec: tuple, what: str, dims: dict | None = None) -> np.ndarray:
    """``value`` as an array of dtype kind in ``kinds`` and shape ``spec`` (see :func:`check_shape`)."""
    return check_shape(check_kind(value, kinds, what), spec, what, dims)


def check_finite(arr: np.ndarray, what: str) -> np.ndarray:
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise FacepartError(f"{what}: {bad} values are NaN or infinite")
    return arr


def check_range(arr: np.ndarray, lo, hi, what: str) -> np.ndarray:
    """Check that every value lies in ``lo..hi`` (inclusive; None = unbounded)."""
    if arr.size:
        low, high = arr.min(), arr.max()
        if (lo is not None and low < lo) or (hi is not None and high > hi):
            span = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
            raise FacepartError(f"{what}: values must lie in {span}, got {low}..{high}")
    return arr


def check_whole(value, what: str) -> np.ndarray:
    """(...) int64 from integers, or from floats that are whole numbers of safe size; anything else is an error.

    Booleans, complex numbers, strings, NaN, 1e30 and 2.5 are refused, never cast.
    """
    arr = check_kind(value, "iuf", what)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise FacepartError(f"{what}: expected integers, got {int(np.count_nonzero(~np.isfinite(arr)))} "
                                "NaN or infinite values")
        if arr.size and np.abs(arr).max() > LARGEST_INDEX:
            raise FacepartError(f"{what}: expected integers, got numbers as large as {np.abs(arr).max():g}")
        if not np.all(arr == np.round(arr)):
            raise FacepartError(f"{what}: expected integers, got fractions such as {arr[arr != np.round(arr)][0]:g}")
    elif arr.size and arr.dtype.kind == "u" and int(arr.max()) > LARGEST_INDEX:
        raise FacepartError(f"{what}: expected indices, got numbers as large as {int(arr.max())}")
    elif arr.size and arr.dtype.kind == "i" and max(abs(int(arr.min())), int(arr.max())) > LARGEST_INDEX:
        raise FacepartError(f"{what}: expected indices, got numbers as large as "
                            f"{max(abs(int(arr.min())), int(arr.max()))}")
    return arr.astype(np.int64)


def check_index_array(value, n: int, what: str, shape: tuple | None = None) -> np.ndarray:
    """int64 indices into ``n`` items (0-based), of ``shape`` if given (default: any)."""
    arr = check_whole(value, what)
    if shape is not None:
        check_shape(arr, shape, what)
    if arr.size and (arr.min() < 0 or arr.max() >= n):
        raise FacepartError(f"{what}: indices must lie in 0..{n - 1}, got {arr.min()}..{arr.max()}")
    return arr


def check_indices(tri: np.ndarray, n_vertices: int, what: str) -> np.ndarray:
    """Check that an (F, 3) index array is 0-based and in range."""
    tri = check_shape(tri, ("F", 3), what)
    if tri.size and (tri.min() < 0 or tri.max() >= n_vertices):
        raise FacepartError(
            f"{what}: indices must lie in 0..{n_vertices - 1}, got {tri.min()}..{tri.max()}"
        )
    return tri


def json_index_list(value, what: str) -> np.ndarray:
    """(N,) int64 from a JSON list of integers. Bools, floats (1e30, 2.5), strings and nested lists are refused.

    JSON values are checked one by one: ``np.asarray([1, True])`` would
    silently turn a boolean into an index.
    """
    if not isinstance(value, list):
        raise FacepartError(f"{what}: expected a list of vertex indices, got {_json_type(value)}")
    for x in value:
        if type(x) is not int:
            raise FacepartError(f"{what}: expected a list of integer vertex indices, got {_json_type(x)} {_clip(x)}")
        if abs(x) > LARGEST_INDEX:
            raise FacepartError(f"{what}: expected vertex indices, got the number {_clip(x)}")
    return np.array(value, dtype=np.int64).reshape(-1)


def _json_type(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", float: "a number",
            int: "an integer", type(None): "null"}.get(type(value), type(value).__name__)


def _clip(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def like_default(value, default, what: str):
    """``value`` read as the type of ``default``: bool, int (not bool), float (finite; ints accepted), str, a
    tuple of those (a JSON list of the same length), or a dataclass (a JSON object, see
    :func:`dataclass_from_dict`). Anything else is a one-line error."""
    import dataclasses

    if dataclasses.is_dataclass(default):
        return dataclass_from_dict(type(default), value, what)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)) or len(value) != len(default):
            raise FacepartError(f"{what}: expected a list of {len(default)} values, got {_clip(value)}")
        return tuple(like_default(v, d, f"{what}[{i}]") for i, (v, d) in enumerate(zip(value, default)))
    if isinstance(default, bool):
        ok = type(value) is bool
    elif isinstance(default, int):
        ok = type(value) is int and abs(value) <= LARGEST_INDEX
    elif isinstance(default, float):
        ok = type(value) in (int, float) and abs(value) <= LARGEST_INDEX and np.isfinite(value)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    else:
        ok = default is None or type(value) is type(default)
    if not ok:
        raise FacepartError(f"{what}: expected {_json_type(default).replace('a number', 'a finite number')}, "
                            f"got {_json_type(value)} {_clip(value)}")
    return value


def dataclass_from_dict(cls, data, what: str):
    """An instance of the dataclass ``cls`` (every field with a default) from a JSON object: each given field is
    checked against the type of its default (:func:`like_default`); an unknown key is an error."""
    import dataclasses

    if not isinstance(data, dict):
        raise FacepartError(f"{what}: expected a JSON object, got {_json_type(data)}")
    defaults = cls()
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = [str(k)[:40] for k in data if k not in names]
    if unknown:
        raise FacepartError(f"{what}: unknown field(s) {', '.join(unknown)}; expected {', '.join(sorted(names))}")
    values = {k: like_default(v, getattr(defaults, k), f"{what}: '{k}'") for k, v in data.items()}
    try:
        return cls(**values)
    except FacepartError as err:
        raise FacepartError(f"{what}: {err}") from None
