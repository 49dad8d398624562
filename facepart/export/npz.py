"""``npz``: facepart's canonical ``annotation.npz`` (votes, confidence, part table, fingerprint).

The codec itself lives in :mod:`facepart.data.annotation`; this entry adds the
export options: ``parts`` keeps a subset of the parts (the others' vertices
become unlabelled), ``rule`` sets which rule the file's ``parts.json`` view uses.
Groups cannot be stored (the file holds one part per vertex plus votes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..data.annotation import ANNOTATION_FILE, FORMAT, Annotation, load_annotation, write_annotation_npz
from ..errors import FacepartError
from .options import ExportOptions
from .view import subset_annotation


def write_npz(annotation: Annotation, path: Path, **options) -> list[Path]:
    opts = ExportOptions.of(options)
    if opts.groups:
        raise FacepartError("the npz format holds one part per vertex and its votes; --group applies to the "
                            "index-list formats (json, parts, csv, flame-pkl, meshcapade...)")
    ann = annotation
    if opts.parts is not None:
        ann = subset_annotation(ann, opts.parts)
    if opts.rule is not None and opts.rule != ann.rule:
        ann = dataclasses.replace(ann, rule=opts.rule)
    return [write_annotation_npz(ann, path)]


def is_npz(path: Path) -> bool:
    """A folder holding ``annotation.npz``, or a facepart annotation ``.npz``."""
    if path.is_dir():
        return (path / ANNOTATION_FILE).is_file()
    if not (path.is_file() and path.suffix.lower() == ".npz"):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return "format" in data.files and str(data["format"]) == FORMAT
    except Exception:  # noqa: BLE001 - detection never fails
        return False


def read_npz(path: Path, model=None, topology=None, **_) -> Annotation:
    ann = load_annotation(path)
    for other, against in ((model.fingerprint if model is not None else None, f"the model {getattr(model, 'name', '')}"),
                           (topology, "the other file's topology")):
        if other is not None:
            ann.check_topology(other, against, str(path))
    return ann
