"""``3ddfa``: 3DDFA-V3's ``annotation`` and ``annotation_tri`` (formats.md §1.1).

Both are lists of 8 arrays in 3DDFA-V3's part order
``right_eye, left_eye, right_eyebrow, left_eyebrow, nose, up_lip, down_lip, skin``:
``annotation[i]`` the (N_i,) int64 vertex ids of part i, ``annotation_tri[i]`` the
(M_i, 3) int64 triangles (vertex-id triples, rows of the model's ``tri``) of part i,
chosen by ``tri_rule`` (default "majority": 2 of 3 corners in the part).

Two ways to write (``np.save`` of a dict, which 3DDFA-V3 reads with
``np.load(path, allow_pickle=True).item()``):

* a small file ``{"annotation": [...], "annotation_tri": [...], "facepart": {topology}}``;
* ``into=face_model.npy``: a COPY of the user's model file with both keys replaced
  (the original is never written). The copy holds only numpy arrays and builtin
  containers, so 3DDFA-V3's own loader reads it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.formats.pickle_cache import forget, pickled, pickled_keys
from ..data.formats.deep3d import V3_PARTS
from ..data.formats.safe_pickle import load_npy
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import atomic_path
from .common import check_fingerprint, reader_fingerprint
from .options import ExportOptions
from .view import PartView, annotation_from_sets

DEFAULT_TRI_RULE = "majority"


def _model_file(path: Path) -> dict:
    data = load_npy(path)
    if not isinstance(data, dict) or "tri" not in data or "u" not in data:
        raise FacepartError(f"{path}: expected 3DDFA-V3's face_model.npy (a dict with u, tri, ...)")
    return data


def _file_fingerprint(data: dict, path: Path) -> Fingerprint:
    try:
        n = int(np.asarray(data["u"]).size // 3)
        return Fingerprint.of(n, np.asarray(data["tri"], np.int64).reshape(-1, 3))
    except (TypeError, ValueError):
        raise FacepartError(f"{path}: 'u' or 'tri' is not a numeric array") from None


def write_3ddfa(annotation: Annotation, path: Path, **options) -> list[Path]:
    opts = ExportOptions.of(options)
    view = PartView.of(annotation, opts)
    missing = [p for p in V3_PARTS if p not in view.names]
    if missing:
        raise FacepartError(f"the 3ddfa format holds exactly 3DDFA-V3's 8 parts; the export lacks "
                            f"{', '.join(missing)}")
    extra = [n for n in view.names if n not in V3_PARTS]
    if extra:
        opts.note(f"3ddfa holds only 3DDFA-V3's 8 parts; left out: {', '.join(extra)}")
    path = Path(path)
    base = None
    if opts.into is not None:
        src = opts.into
        if not src.is_file():
            raise FacepartError(f"{src}: face_model.npy not found")
        if path.exists() and path.samefile(src):
            raise FacepartError(f"{path}: refusing to write into the original {src.name}; give another output path "
                                "(facepart writes a copy)")
        base = _model_file(src)
        found = _file_fingerprint(base, src)
        annotation.check_topology(found, str(src))
        triangles = np.asarray(base["tri"], np.int64).reshape(-1, 3)
    elif opts.model is not None:
        annotation.check_topology(opts.model.fingerprint, f"the model {opts.model.name}")
        triangles = opts.model.triangles
    else:
        raise FacepartError("the 3ddfa export needs the triangles for annotation_tri: give the model "
                            "(--model MODEL) or the face_model.npy to copy (--into FILE)")
    tri_rule = opts.tri_rule or DEFAULT_TRI_RULE
    tri_member = view.triangle_member(triangles, tri_rule)
    indices = view.indices()
    annotation_list = [np.ascontiguousarray(indices[p], np.int64) for p in V3_PARTS]
    tri_list = [np.ascontiguousarray(triangles[tri_member[:, view.names.index(p)]], np.int64).reshape(-1, 3)
                for p in V3_PARTS]
    if base is None:
        data = {"annotation": annotation_list, "annotation_tri": tri_list,
                "facepart": {**annotation.fingerprint.as_dict(), "parts": list(V3_PARTS), "rule": view.rule,
                             "tri_rule": tri_rule, "facepart_version": __version__}}
    else:
        data = dict(base)
        data["annotation"], data["annotation_tri"] = annotation_list, tri_list
    with atomic_path(path, suffix=".npy") as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.array(data, dtype=object), allow_pickle=True)
    return [path]


def is_3ddfa(path: Path) -> bool:
    try:
        return "annotation" in pickled_keys(path, (".npy",))
    except FacepartError:
        return False


def read_3ddfa(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    try:
        data = pickled(path) if path.suffix.lower() == ".npy" else load_npy(path)
    finally:
        forget()
    if not isinstance(data, dict) or "annotation" not in data:
        raise FacepartError(f"{path}: expected a dict with 3DDFA-V3's 'annotation' (8 vertex-index arrays)")
    value = data["annotation"]
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = list(value.reshape(-1))
    elif isinstance(value, np.ndarray) and value.ndim >= 2:
        value = list(value)
    if not isinstance(value, (list, tuple)) or len(value) != len(V3_PARTS):
        raise FacepartError(f"{path}: 'annotation' must be a list of {len(V3_PARTS)} index arrays")
    sets = {name: np.asarray(idx).ravel() for name, idx in zip(V3_PARTS, value)}
    if "u" in data and "tri" in data:
        fingerprint = check_fingerprint(_file_fingerprint(data, path), path, model, topology)
    elif isinstance(data.get("facepart"), dict) and "triangle_hash" in data["facepart"]:
        fp = data["facepart"]
        fingerprint = check_fingerprint(Fingerprint.from_dict(fp, f"{path}: 'facepart'"), path, model, topology)
    else:
        fingerprint = reader_fingerprint(path, "3DDFA-V3 annotation", model, topology)
    return annotation_from_sets(sets, fingerprint, str(path))
