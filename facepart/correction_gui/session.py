"""Opening something to correct: an ``annotation.npz``, a ``parts.json``, ``FLAME_masks.pkl``, or a model file
that carries region annotations (3DDFA-V3's ``face_model.npy``, BFM 2009 segbin, ...).

:func:`open_for_correction` returns the model, the annotation to start from,
and the folder the corrected ``annotation.npz`` / ``parts.json`` are saved to.
"""

from __future__ import annotations

import os
import zipfile
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

    from ..export.api import read_annotation
    from ..export.registry import detect_importer

    face = given_model()
    region_file = None if path.suffix.lower() in (".npz", ".json", ".csv") else read_region_file(path)
    if path.suffix.lower() == ".npz":
        # annotation.npz, or with --model an npz export (triangle_parts.npz)
        if path.is_file() and not zipfile.is_zipfile(path):
            raise FacepartError(f"{path}: not an annotation.npz or an npz export (not a zip archive)")
        annotation = load_annotation(path) if face is None else read_annotation(path, model=face)
        if face is None:
            face = _recorded_model(path, annotation, load_options)
        annotation.check_topology(face.fingerprint, f"the model {face.meta.get('path', face.name)}")
    elif region_file is None and (path.suffix.lower() in (".json", ".csv") or face is not None
                                  or (path.is_file() and detect_importer(path) and not _region_model_file(path))):
        # any annotation file facepart reads back (parts.json, its rich JSON, CSV, ply/obj/glb exports...);
        # with --model given, the file is the annotation, not a model
        if face is None:  # a run's parts.json: the model the annotation.npz beside it records
            face, annotation = _with_sibling_model(path, load_options, notes)
        else:
            annotation = read_annotation(path, model=face)
        annotation.settings.setdefault("model", recorded_model_settings(face))
    else:
        region_set = region_file
        if region_set is not None:  # e.g. FLAME_masks.pkl
            face = _need_model(face, path)
        else:  # a model file that may carry region sets
            _check_model_file(path, load_options)
            own = load_model(path, **load_options)
            face = face or own
            if not own.region_sets:
                raise FacepartError(f"{path}: a face model without region annotations; run `facepart annotate` "
                                    "on it first, or open a parts.json / annotation.npz with --model")
            region_set = _choose_region_set(own, regions, path)
            notes.append(f"opened the region set '{region_set.name}' ({len(region_set.regions)} regions)")
        annotation = _from_regions(region_set, face, path)
    if model is not None and isinstance(annotation.settings, dict):
        # record the model used (not the one the file named): later runs and exports then need no --model
        annotation.settings["model"] = recorded_model_settings(face)
    save_dir = Path(out) if out is not None else default_save_dir(path)
    unwritable = _unwritable(save_dir)
    if unwritable is not None:
        notes.append(f"{unwritable} is not writable: Ctrl+S would fail to save into {save_dir} "
                     "(open again with --out DIR to save elsewhere)")
    recovered = find_recovery(save_dir)
    if recovered is not None:
        notes.append(f"unsaved edits of an earlier session were kept in {recovered}; open that file to "
                     "continue from them")
    if annotation.edited is not None and annotation.edited.any():
        notes.append(f"{int(annotation.edited.sum())} vertices were already edited by hand "
                     f"({len(annotation.edit_log)} edits in the log)")
    return Session(face, annotation, path, save_dir, notes)


#: In a recovery folder written elsewhere than the save folder (it was not writable): which save folder it is for.
RECOVERY_FOR = "saves-for.txt"


def find_recovery(save_dir: Path) -> Path | None:
    """The newest unsaved-edits ``annotation.npz`` of an earlier session saving to ``save_dir``: in
    ``save_dir/unsaved-*/``, or in ``facepart-unsaved-*`` folders of the temporary folder or the current
    folder that name ``save_dir`` in their :data:`RECOVERY_FOR` (where they go when ``save_dir`` is not
    writable, see ``correction_gui.app.write_recovery``); None when there is none."""
    import tempfile

    save_dir = Path(save_dir)
    found = list(save_dir.glob("unsaved-*/" + ANNOTATION_FILE)) if save_dir.is_dir() else []
    target = str(save_dir.resolve())
    for place in {Path(tempfile.gettempdir()), Path.cwd()}:
        for npz in place.glob("facepart-unsaved-*/" + ANNOTATION_FILE):
            try:
                if (npz.parent / RECOVERY_FOR).read_text().strip() == target:
                    found.append(npz)
            except OSError:
                continue
    if not found:
        return None
    return max(found, key=lambda p: (p.stat().st_mtime, str(p)))


def _recorded_model(path: Path, annotation: Annotation, load_options: dict) -> FaceModel:
    from ..data.loaders import load_recorded_model

    recorded = annotation.settings.get("model") if isinstance(annotation.settings, dict) else None
    return load_recorded_model(recorded, path, **load_options)


def _with_sibling_model(path: Path, load_options: dict, notes: list) -> tuple[FaceModel, Annotation]:
    """The model recorded by the ``annotation.npz`` beside ``path`` and ``path`` read with it, when its vertex
    ids fit that model (with a note); else the usual request for --model."""
    from ..export.api import read_annotation

    sibling = path.parent / ANNOTATION_FILE
    if path.name == ANNOTATION_FILE or not sibling.is_file():
        _need_model(None, path)
    try:
        face = _recorded_model(sibling, load_annotation(sibling), load_options)
        annotation = read_annotation(path, model=face)
    except FacepartError as exc:
        raise FacepartError(f"{path}: holds vertex ids but no mesh, and the model {sibling} records does not "
                            f"serve ({str(exc).splitlines()[0]}); give the model with --model") from None
    notes.append(f"{path.name} has no mesh; using the model {sibling} records "
                 f"({face.meta.get('path', face.name)}), which its vertex ids fit")
    return face, annotation


def _check_model_file(path: Path, load_options: dict) -> None:
    """One line naming what ``correct`` opens when ``path`` is no face model either (a picture, a note)."""
    from ..data.loaders import detect_format

    if load_options.get("format"):
        return
    try:
        detect_format(path)
    except FacepartError as exc:
        reason = str(exc).splitlines()[0]
        reason = reason[len(str(path)) + 2:] if reason.startswith(f"{path}: ") else reason
        reason = "" if reason.startswith("unknown model format") else f" ({reason})"  # a damaged file says why
        raise FacepartError(f"{path}: not something facepart correct opens{reason}; give an annotation.npz (or "
                            "its run folder), a parts.json or another annotation export with --model, a region file "
                            "(FLAME_masks.pkl) with --model, or a model file with region annotations "
                            "(3DDFA-V3 face_model.npy)") from None


def _unwritable(save_dir: Path) -> Path | None:
    """The folder that keeps ``save_dir`` from being written (itself, or the nearest existing folder above it,
    or a file in the way), or None when saving there can work."""
    folder = Path(os.path.abspath(save_dir))
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        return folder
    return None


def _need_model(face: FaceModel | None, path: Path) -> FaceModel:
    if face is None:
        raise FacepartError(f"{path}: holds vertex ids but no mesh; give the model with --model")
    return face


def _region_model_file(path: Path) -> bool:
    """Whether ``path`` is a model file of a format that may carry region sets (3DDFA-V3's face_model.npy),
    which opens as such without --model; a mesh (an exported parts.ply) is not."""
    from ..data.loaders import detect_format

    try:
        return detect_format(path).name != "mesh"
    except FacepartError:
        return False


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
