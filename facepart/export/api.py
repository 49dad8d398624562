"""Library entry points behind ``facepart export`` and ``info --export-regions``: open any annotation
file, write it in any registered format, report what was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..data.annotation import ANNOTATION_FILE, PARTS_FILE, Annotation
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import atomic_file_set, ensure_writable_dir, removing_new_dirs_on_failure
from .common import safe_name
from .meshes import SPLIT_INTO_FOLDER
from .options import ExportOptions
from .registry import EXPORTERS, export, find_importer, get_exporter
from .view import PartView

#: The file ``facepart landmarks`` always writes.
LANDMARKS_FILE = "landmarks.json"


def read_annotation(path: str | Path, format: str | None = None, model=None,
                    topology: Fingerprint | None = None) -> Annotation:
    """Open an annotation in any readable format (found by content, then suffix, or named by ``format``).

    Files that do not say which mesh they label (parts.json, csv, flame-pkl,
    meshcapade...) need ``model`` (a FaceModel) or ``topology`` (a Fingerprint);
    without either, the topology of an ``annotation.npz`` in the same folder is used.
    """
    path = Path(path)
    if not path.exists():  # before the reader: one line whatever the suffix (.ply/.obj/.glb readers opened it raw)
        raise FacepartError(f"{path}: file not found")
    exporter = find_importer(path, "annotation", format)
    if exporter.reader_needs_topology and model is None and topology is None:
        topology = sibling_topology(path)
    return exporter.read(path, model=model, topology=topology)


def sibling_topology(path: Path) -> Fingerprint | None:
    """The fingerprint of the ``annotation.npz`` beside ``path`` (a run folder's parts.json), or None."""
    sibling = path.parent / ANNOTATION_FILE
    if path.name == ANNOTATION_FILE or not sibling.is_file():
        return None
    from ..data.annotation import load_annotation

    try:
        return load_annotation(sibling).fingerprint
    except FacepartError:
        return None


def model_for(annotation: Annotation, model=None, source: str | Path | None = None, why: list | None = None):
    """``model`` if given, else the model the annotation names in its settings, loaded with the run's loader
    options (None if it cannot be loaded; then ``why``, when given, gets one line saying why). ``source``: the
    annotation's file, whose folder a relative model path may be relative to.

    The model is checked against the annotation's topology.
    """
    if model is not None:
        annotation.check_topology(model.fingerprint, f"the model {model.name}")
        return model
    from ..data.loaders import load_recorded_model

    try:
        found = load_recorded_model(annotation.settings.get("model"), source if source is not None else ".")
    except FacepartError as exc:
        if why is not None:
            why.append(str(exc).splitlines()[0])
        return None
    if found.fingerprint != annotation.fingerprint:
        if why is not None:
            where = found.meta.get("path") or found.name
            why.append(f"the model it records, {where}, is not the mesh it labels now "
                       f"({found.fingerprint.n_vertices} vertices vs {annotation.fingerprint.n_vertices}, or "
                       "re-ordered)")
        return None
    return found


@dataclass
class ExportReport:
    """What :func:`export_annotation` wrote."""

    format: str
    paths: list[Path]
    coverage: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{self.format}: wrote " + (str(self.paths[0]) if len(self.paths) == 1 else
                                         f"{len(self.paths)} files: " + ", ".join(str(p) for p in self.paths))]
        return out + self.coverage + [f"note: {n}" for n in self.notes]


def default_output(source, exporter) -> Path:
    """The format's usual file name beside ``source`` (inside it when it is a folder; here for an object)."""
    if isinstance(source, Annotation):
        return Path.cwd() / exporter.output_name
    path = Path(source)
    return (path if path.is_dir() else path.parent) / exporter.output_name


def check_suffix(target: Path, exporter, split: bool = False) -> None:
    """Refuse an output whose suffix is not the format's (``--to npz --out x.json`` would write an npz named .json).

    Folder outputs (``uvmask``, ``ply --split``) and names without a suffix are not checked."""
    suffixes = [s for s in exporter.suffixes if s]
    if not suffixes or split or not target.suffix or target.is_dir():
        return
    if target.suffix.lower() not in suffixes:
        raise FacepartError(f"{target}: the {exporter.name} format writes {' or '.join(suffixes)} files, not "
                            f"'{target.suffix}'; give an --out ending in {suffixes[0]}")


def export_annotation(source: str | Path | Annotation, to: str, out: str | Path | None = None, *, model=None,
                      source_format: str | None = None, **options) -> ExportReport:
    """Write ``source`` (an Annotation or any readable annotation file) in format ``to``.

    Args:
        source: an :class:`Annotation`, or a path (annotation.npz, a folder, parts.json, ...).
        to: a registered format name (``facepart formats --exports``).
        out: file (or folder) to write; default: the format's usual name beside ``source``.
        model: the FaceModel; formats with geometry (meshes, tri, uvmask, 3ddfa, preview)
            need it, index-only files need it to be read. Default: the model the annotation
            was made from, when its file is still there.
        source_format: read ``source`` as this format instead of detecting it.
        options: :class:`ExportOptions` fields (rule, parts, groups, tri_rule, split, into, size).
    """
    exporter = get_exporter(to, "annotation")
    ann = source if isinstance(source, Annotation) else read_annotation(source, source_format, model=model)
    if exporter.needs_model and (model is None) and not options.get("into"):
        why: list[str] = []
        model = model_for(ann, source=None if isinstance(source, Annotation) else source, why=why)
        if model is None:
            reason = f": {why[0]}" if why else ""
            hint = "" if "--model" in reason else "; give the model with --model MODEL"
            raise FacepartError(f"the {to} export needs the face model's geometry{reason}{hint}")
    elif model is not None:
        ann.check_topology(model.fingerprint, f"the model {model.name}")
    target = Path(out) if out is not None else default_output(source, exporter)
    if out is not None and target.is_dir() and any(exporter.suffixes) and not (
            options.get("split") and to in SPLIT_INTO_FOLDER):
        target = target / exporter.output_name  # --out an existing folder: the format's usual name inside it
    split_folder = bool(options.get("split")) and to in SPLIT_INTO_FOLDER  # obj/glb --split stay one file
    if out is None and options.get("split") and not split_folder:  # parts_split.obj: never over parts.obj,
        target = target.with_name(f"{target.stem}_split{target.suffix}")  # which alone reads back
    if split_folder and target.suffix.lower() in exporter.suffixes:
        target = target.with_suffix("")  # parts.ply --split is the folder parts/ (beside a plain parts.ply)
    check_suffix(target, exporter, split_folder)
    if out is None and target.name in (ANNOTATION_FILE, PARTS_FILE, PREVIEW_FILE) and target.exists():
        target = target.with_name(f"{target.stem}_export{target.suffix}")  # never over a run's own file
    if not isinstance(source, Annotation) and target.exists() and Path(source).exists() and \
            target.resolve() == Path(source).resolve():
        raise FacepartError(f"{target}: that is the file being exported; give another --out")
    folder = split_folder or not any(exporter.suffixes)  # a folder of files (uvmask, ply --split)
    if not any(exporter.suffixes) and target.suffix and not target.is_dir():
        raise FacepartError(f"{target}: the {to} format writes a folder of files; give --out a folder name "
                            f"(e.g. {target.with_suffix('')})")
    with removing_new_dirs_on_failure(target if folder else None):
        ensure_writable_dir(target if folder else (target.parent if str(target.parent) else Path(".")))
        notes: list[str] = []
        view_options = {k: options.get(k) for k in ("rule", "parts", "groups")}
        coverage = PartView.of(ann, ExportOptions.of(view_options)).coverage_lines()
        paths = export(ann, to, target, model=model, notes=notes, **options)
    return ExportReport(to, paths, coverage, notes)


def is_landmarks_file(path: str | Path) -> bool:
    """Whether ``path`` (a file, or a folder holding ``landmarks.json``) is a facepart landmark embedding."""
    path = Path(path)
    if path.is_dir():
        path = path / LANDMARKS_FILE
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    from .indexfiles import json_or_none

    data = json_or_none(path)
    return isinstance(data, dict) and data.get("format") == "facepart-landmarks"


def export_landmarks(source: str | Path, to: str, out: str | Path | None = None, *, model=None,
                     **options) -> ExportReport:
    """Write the landmark embedding ``source`` (a ``landmarks.json``, or the folder of a ``facepart landmarks``
    run) in the landmark format ``to``, without embedding again.

    Args:
        out: file or folder; default: the folder of ``source``.
        model: optional; checked against the embedding's topology. Its mean shape orders eos's contours
            top to bottom (without it they are in landmark order).
    """
    from .landmarks import read_json

    exporter = get_exporter(to, "landmarks")
    given = [k for k, v in options.items() if v is not None and v is not False]
    if given:
        raise FacepartError(f"--{given[0].replace('_', '-')} applies to annotation formats, not to the landmark "
                            f"format {to}")
    path = Path(source)
    if path.is_dir():
        path = path / LANDMARKS_FILE
    if not is_landmarks_file(path):
        raise FacepartError(f"{source}: not a facepart landmarks.json; {to} is a landmark format, written from "
                            "the landmarks.json of `facepart landmarks`")
    emb = read_json(path)
    if model is not None:
        emb.fingerprint.check_matches(model.fingerprint, str(path), f"the model {model.name}")
    target = Path(out) if out is not None else path.parent
    if target.suffix:
        check_suffix(target, exporter)
        if target.exists() and target.resolve() == path.resolve():
            raise FacepartError(f"{target}: that is the file being exported; give another --out")
    paths = exporter.write(emb, target, vertices=None if model is None else model.vertices)
    return ExportReport(to, [Path(p) for p in paths])


def export_file(source: str | Path | Annotation, to: str, out: str | Path | None = None, *, model=None,
                source_format: str | None = None, **options) -> ExportReport:
    """``facepart export``: :func:`export_annotation` for the annotation formats, :func:`export_landmarks` for
    the landmark formats (``facepart formats --exports`` lists both)."""
    exporter = get_exporter(to)
    if exporter.kind == "landmarks":
        if source_format not in (None, "landmarks-json"):
            raise FacepartError(f"--from-format {source_format}: the landmark formats are written from a "
                                "landmarks.json only")
        return export_landmarks(source, to, out, model=model, **options)
    if not isinstance(source, Annotation) and source_format is None and is_landmarks_file(source):
        names = ", ".join(n for n, e in EXPORTERS.items() if e.kind == "landmarks")
        raise FacepartError(f"{source}: a landmark embedding (facepart landmarks), not an annotation; it exports "
                            f"to the landmark formats: {names}")
    return export_annotation(source, to, out, model=model, source_format=source_format, **options)


def export_region_sets(face, out_dir: str | Path, to: str = "parts") -> list[Path]:
    """Write each region set a model's files carry (3DDFA-V3 annotation, FLAME_masks...) in format ``to``.

    File names: ``<set>.parts.json`` for the ``parts`` format, else ``<set><suffix>``.
    """
    out = ensure_writable_dir(out_dir)
    exporter = get_exporter(to, "annotation")
    written = []
    for name, region_set in face.region_sets.items():
        suffix = ".parts.json" if to == "parts" else (exporter.suffixes[0] if exporter.suffixes else "")
        ann = region_set.to_annotation(face.fingerprint)
        written += export(ann, to, out / (safe_name(name) + suffix), model=face)
    return written


#: The preview a run writes beside its annotation.
PREVIEW_FILE = "preview.png"


def write_annotation_files(annotation: Annotation, out: str | Path, *, model=None, preview: bool = False,
                           renderer=None) -> list[Path]:
    """A run's output set through the registry: ``annotation.npz``, ``parts.json`` and (``preview=True``, needs
    ``model``) ``preview.png`` in the folder ``out``, written as one set: a failure (a full disk, Ctrl-C) leaves
    the previous set whole, and no file of an old set stays beside a new one."""
    folder = ensure_writable_dir(out)
    names = (ANNOTATION_FILE, PARTS_FILE, PREVIEW_FILE)
    with atomic_file_set(folder, members=names) as stage:
        export(annotation, "npz", stage / ANNOTATION_FILE)
        export(annotation, "parts", stage / PARTS_FILE)
        if preview:
            export(annotation, "preview", stage / PREVIEW_FILE, model=model, renderer=renderer)
    return [folder / n for n in names if preview or n != PREVIEW_FILE]
