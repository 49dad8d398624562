"""Pickled model files, read once: format detection and loading share one unpickled object."""

from __future__ import annotations

from pathlib import Path

from ...errors import FacepartError
from .containers import reading
from .safe_pickle import load_npy, load_pickle, npy_is_pickle

_PICKLE_CACHE: dict = {}


def pickled(path: Path):
    """The object in a pickled ``.pkl``/``.npy`` file, read safely; the last one is cached so that format
    detection and loading unpickle a file once (:func:`forget` frees it)."""
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
