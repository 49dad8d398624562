"""Pieces every format module uses: the topology a reader needs, the model a writer needs, safe names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..data.topology import Fingerprint
from ..errors import FacepartError


def reader_fingerprint(path: Path, fmt: str, model=None, topology: Fingerprint | None = None) -> Fingerprint:
    """The topology for a file that does not name its own: from ``model`` or ``topology``, else an error."""
    if model is not None:
        return model.fingerprint
    if topology is not None:
        return topology
    raise FacepartError(f"{path}: a {fmt} file does not say which mesh it labels; give the model "
                        "(--model MODEL, or model= in Python)")


def check_fingerprint(found: Fingerprint, path: Path, model=None, topology: Fingerprint | None = None) -> Fingerprint:
    """``found`` (the file's own topology), checked against the model / topology the caller gave."""
    for other, what in ((model.fingerprint if model is not None else None, "the model"), (topology, "the topology")):
        if other is not None:
            found.check_matches(other, str(path), what)
    return found


def npz_format(path: Path) -> str | None:
    """The ``format`` entry of an ``.npz`` file (how facepart's own npz files say what they are), or None when
    the path is not a readable ``.npz`` with one (detection never fails)."""
    if path.suffix.lower() != ".npz" or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["format"]) if "format" in data.files else None
    except Exception:  # noqa: BLE001 - detection never fails
        return None


def writer_model(model, annotation, fmt: str):
    """The model a writer needs (geometry), checked against the annotation's topology."""
    if model is None:
        raise FacepartError(f"the {fmt} export needs the face model's geometry; give the model "
                            "(--model MODEL, or model= in Python)")
    annotation.check_topology(model.fingerprint, f"the model {model.name}")
    return model


def safe_name(name: str) -> str:
    """A part name usable as a file name or key."""
    out = re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(name)).strip("._")
    return out or "part"


def int_list(idx: np.ndarray) -> list[int]:
    return [int(i) for i in np.asarray(idx).ravel()]
