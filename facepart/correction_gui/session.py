"""Opening something to correct: an ``annotation.npz``, a ``parts.json``, ``FLAME_masks.pkl``, or a model file
that carries region annotations (3DDFA-V3's ``face_model.npy``, BFM 2009 segbin, ...).

:func:`open_for_correction` returns the model, the annotation to start from,
and the folder the corrected ``annotation.npz`` / ``parts.json`` are saved to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from ..data.annotation import ANNOTATION_FILE, Annotation, load_annotation
from ..data.face_model import FaceModel
from ..data.loaders import recorded_model_settings
from ..data.parts import PAPER_PARTS, PartTable
from ..data.formats.region_files import read_region_file
from ..data.regions import RegionSet
from ..errors import FacepartError


class Session(NamedTuple):
    """What the viewer opens."""

    model: FaceModel
    annotation: Annotation
    source: Path  # the file opened
    save_dir: Path  # where Ctrl+S writes annotation.npz and parts.json
    notes: list  # lines worth telling the user


def default_save_dir(source: Path) -> Path:
    """Beside the source: its own folder for an ``annotation.npz``, else ``<stem>_corrected/``
    (never overwrite a run's annotation.npz with something opened from another file)."""
    if source.name == ANNOTATION_FILE:
        return source.parent
    return source.parent / f"{source.stem}_corrected"


def open_for_correction(path: str | Path, model: FaceModel | str | Path | None = None, out: str | Path | None = None,
                        regions: str | None = None, **load_options) -> Session:
    """Open ``path`` for correction.

    Args:
        path: an ``annotation.npz`` (or its folder), a ``parts.json`` (part name -> vertex ids),
            a region file such as ``FLAME_masks.pkl``, or a model file whose format carries region
            annotations (e.g. 3DDFA-V3's ``face_model.npy``).
        model: the face model (a loaded :class:`FaceModel` or a path). Default: the model an
            annotation records (``settings["model"]["path"]``), or the model file ``path`` itself.
            A model of another topology is refused.
        out: where to save (default: :func:`default_save_dir`).
        regions: which region set of a model to open, by name (default: the first).
        load_options: passed to :func:`facepart.data.load_model` (format=, unit=, ...).
    """
    from ..data import load_model

    path = Path(path)
    if path.is_dir() and (path / ANNOTATION_FILE).is_file():
        path = path / ANNOTATION_FILE
    if not path.exists():
        raise FacepartError(f"{path}: no such file or folder")
    notes: list[str] = []

    def given_model() -> FaceModel | None:
        if model is None or isinstance(model, FaceModel):
            return model
        return load_model(model, **load_options)

    if path.suffix.lower() == ".npz":
        annotation = load_annotation(path)
        face = given_model()
        if face is None:
            face = _recorded_model(path, annotation, load_options)
        annotation.check_topology(face.fingerprint, f"the model {face.meta.get('path', face.name)}")
    elif path.suffix.lower() == ".json":
        face = _need_model(given_model(), path)
        region_set = RegionSet(path.stem, _read_parts_json(path), str(path))
        annotation = _from_regions(region_set, face, path)
    else:
        region_set = read_region_file(path)
        if region_set is not None:  # e.g. FLAME_masks.pkl
            face = _need_model(given_model(), path)
        else:  # a model file that may carry region sets
            own = load_model(path, **load_options)
            face = given_model() or own
            if not own.region_sets:
                raise FacepartError(f"{path}: a face model without region annotations; run `facepart annotate` "
                                    "on it first, or open a parts.json / annotation.npz with --model")
            region_set = _choose_region_set(own, regions, path)
            notes.append(f"opened the region set '{region_set.name}' ({len(region_set.regions)} regions)")
        annotation = _from_regions(region_set, face, path)
    save_dir = Path(out) if out is not None else default_save_dir(path)
    recovered = sorted(save_dir.glob("unsaved-*/" + ANNOTATION_FILE)) if save_dir.is_dir() else []
    if recovered:
        notes.append(f"unsaved edits of an earlier session were kept in {recovered[-1]}; open that file to "
                     "continue from them")
    if annotation.edited is not None and annotation.edited.any():
        notes.append(f"{int(annotation.edited.sum())} vertices were already edited by hand "
                     f"({len(annotation.edit_log)} edits in the log)")
    return Session(face, annotation, path, save_dir, notes)


def _recorded_model(path: Path, annotation: Annotation, load_options: dict) -> FaceModel:
    from ..data.loaders import load_recorded_model

    recorded = annotation.settings.get("model") if isinstance(annotation.settings, dict) else None
    return load_recorded_model(recorded, path, **load_options)


def _need_model(face: FaceModel | None, path: Path) -> FaceModel:
    if face is None:
        raise FacepartError(f"{path}: holds vertex ids but no mesh; give the model with --model")
    return face


def _read_parts_json(path: Path) -> dict:
    try:
        mapping = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FacepartError(f"{path}: not a JSON file of part name -> vertex ids ({exc})") from None
    if not isinstance(mapping, dict) or not mapping:
        raise FacepartError(f"{path}: expected a JSON object of part name -> vertex ids")
    for name, idx in mapping.items():
        if not isinstance(idx, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in idx):
            raise FacepartError(f"{path}: part '{name}' is not a list of integer vertex ids")
    return mapping


def _choose_region_set(model: FaceModel, name: str | None, path: Path) -> RegionSet:
    sets = model.region_sets
    if name is None:
        return next(iter(sets.values()))
    if name not in sets:
        raise FacepartError(f"{path}: no region set '{name}'; it has {list(sets)}")
    return sets[name]


def _from_regions(region_set: RegionSet, face: FaceModel, path: Path) -> Annotation:
    """An annotation of ``face`` from a region set; the paper's part table when the names are the paper's parts."""
    region_set.check(face.n_vertices)
    names = list(region_set.regions)
    parts = PartTable.paper() if set(names) <= set(PAPER_PARTS) else PartTable.from_names(names)
    annotation = region_set.to_annotation(face.fingerprint, parts)
    annotation.settings["model"] = recorded_model_settings(face)
    return annotation
