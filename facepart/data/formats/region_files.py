"""Stand-alone region files: a pickled dict of region name -> vertex ids (FLAME_masks.pkl)."""

from __future__ import annotations

from pathlib import Path

from ..regions import RegionSet
from .flame import is_flame_masks
from .pickle_cache import forget, pickled


def read_region_file(path) -> RegionSet | None:
    """A stand-alone region file (a pickled dict of name -> vertex ids, e.g. ``FLAME_masks.pkl``), or None
    if ``path`` is not one. Read with the restricted unpickler."""
    path = Path(path)
    if path.suffix.lower() not in (".pkl", ".pickle") or not path.is_file():
        return None
    try:
        obj = pickled(path)
        if not is_flame_masks(obj):
            return None
        return RegionSet(path.stem, {str(k): v for k, v in obj.items()}, str(path))
    finally:
        forget()
