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
    for other, what in ((model.fingerprint if model is not None else None, "the model"),
                        (topology, "the topology it is read against")):
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


#: The most vertices (and triangles) a file may claim: far above any face model, far below what would exhaust memory.
MAX_ELEMENTS = 100_000_000
#: Ids at or beyond this magnitude are refused before numpy sees them (int64 would overflow or wrap).
MAX_ID = 2 ** 62


def plain_int(value) -> bool:
    """An integer (numpy's too), not a bool or a float."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def count_field(value, where: str, what: str, minimum: int = 1) -> int:
    """``value`` as a count in ``minimum..MAX_ELEMENTS`` (an integer, not a float or a bool), or one line naming
    ``where``."""
    if not plain_int(value) or not minimum <= int(value) <= MAX_ELEMENTS:
        raise FacepartError(f"{where}: {what} must be an integer in {minimum}..{MAX_ELEMENTS}, got {value!r:.60}")
    return int(value)


def file_fingerprint(d, where: str) -> Fingerprint:
    """The topology a file states (``{"n_vertices", "n_triangles", "triangle_hash"}``), its counts checked to be
    plausible integers before anything is sized by them."""
    if not isinstance(d, dict):
        raise FacepartError(f"{where}: the topology entry needs n_vertices, n_triangles, triangle_hash")
    for key, minimum in (("n_vertices", 1), ("n_triangles", 0)):
        if key in d:
            count_field(d[key], where, f"topology {key}", minimum)
    return Fingerprint.from_dict(d, where)


def index_array(values, where: str, part: str, base: int = 0) -> np.ndarray:
    """A list of integer ids (0-based after subtracting ``base``) as int64; floats (even 2.0: ids are integers),
    bools, strings and numbers beyond int64 are refused with one line naming ``where`` and the part."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "iu":
            raise FacepartError(f"{where}: part '{part}' holds non-integer ids (dtype {values.dtype})")
        values = values.ravel().tolist()
    if not isinstance(values, (list, tuple)):
        raise FacepartError(f"{where}: part '{part}' is not a list of integer ids")
    bad = [v for v in values if not plain_int(v)][:1]  # a list: the bad value may itself be None
    if bad:
        bad = bad[0]
        raise FacepartError(f"{where}: part '{part}' holds a non-integer id ({bad!r:.40}); ids must be integers")
    big = next((v for v in values if not -MAX_ID < int(v) < MAX_ID), None)
    if big is not None:
        raise FacepartError(f"{where}: part '{part}' holds the id {str(big)[:40]}, far outside any mesh")
    return np.asarray(values, np.int64).reshape(-1) - int(base)


def unique_file_names(names, where: str, make=None, fold_case: bool = True) -> dict[str, str]:
    """Part name -> ``make(name)`` (default :func:`safe_name`), refusing two parts that would get the same name
    (case-insensitively: macOS and Windows file systems would still collide) with one line naming both."""
    make = make or safe_name
    out, seen = {}, {}
    for name in names:
        key = make(name)
        folded = key.lower() if fold_case else key
        other = seen.get(folded)
        if other is not None:
            raise FacepartError(f"{where}: parts '{other}' and '{name}' both become '{key}'; rename one of them")
        seen[folded] = name
        out[name] = key
    return out


def own_sidecar(folder: Path, sidecar: str, fmt: str) -> dict | None:
    """The JSON object a previous facepart export of kind ``fmt`` left in ``folder/sidecar`` (its manifest), or
    None when there is none, it is unreadable, or it is another program's."""
    import json

    try:
        doc = json.loads((Path(folder) / sidecar).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == fmt else None


def plain_file_names(names) -> list[str]:
    """The entries of ``names`` that are plain, visible file names in one folder (no path separator, not
    hidden): the only names a re-export may remove on the word of a manifest, which could have been edited."""
    return [n for n in names
            if isinstance(n, str) and n and "/" not in n and "\\" not in n and not n.startswith(".")]
