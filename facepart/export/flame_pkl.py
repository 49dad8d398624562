"""``flame-pkl``: a pickled dict of part name -> int64 vertex-index array, the layout of FLAME_masks.pkl.

Written with protocol 2 and nothing but a ``dict``, ``str`` keys and numpy
``int64`` arrays, so ``pickle.load(open(f, "rb"), encoding="latin1")`` reads it
in any Python with numpy (2 or 3, no facepart, no chumpy). Read back through
facepart's restricted unpickler (:mod:`facepart.data.formats.safe_pickle`).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..data.annotation import Annotation
from ..data.formats.safe_pickle import load_pickle
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import write_bytes_atomic
from .common import reader_fingerprint
from .options import ExportOptions
from .view import PartView, annotation_from_sets


def write_flame_pkl(annotation: Annotation, path: Path, **options) -> list[Path]:
    view = PartView.of(annotation, ExportOptions.of(options))
    masks = {str(n): np.ascontiguousarray(idx, dtype=np.int64) for n, idx in view.indices().items()}
    write_bytes_atomic(path, pickle.dumps(masks, protocol=2))
    return [Path(path)]


def read_flame_pkl(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    data = load_pickle(path)
    if not isinstance(data, dict) or not data or not all(
            isinstance(v, np.ndarray) and v.dtype.kind in "iu" for v in data.values()):
        raise FacepartError(f"{path}: expected a FLAME_masks-style pickle: a dict of name -> integer index array")
    sets = {str(k): np.asarray(v).ravel() for k, v in data.items()}
    return annotation_from_sets(sets, reader_fingerprint(path, "FLAME-style mask pickle", model, topology), str(path))
