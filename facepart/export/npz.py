"""``npz``: facepart's canonical ``annotation.npz`` (votes, confidence, part table, fingerprint).

The codec itself lives in :mod:`facepart.data.annotation`; this entry adds the
export options: ``parts`` keeps a subset of the parts (the others' vertices
become unlabelled), ``rule`` sets which rule the file's ``parts.json`` view uses.
Groups cannot be stored (the file holds one part per vertex plus votes).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..data.annotation import ANNOTATION_FILE, FORMAT, Annotation, load_annotation, write_annotation_npz
from ..errors import FacepartError
from .common import check_fingerprint, npz_format
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
    return npz_format(path) == FORMAT


def read_npz(path: Path, model=None, topology=None, **_) -> Annotation:
    ann = load_annotation(path)
    check_fingerprint(ann.fingerprint, path, model, topology)
    return ann
