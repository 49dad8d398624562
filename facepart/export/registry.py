"""The one registry of the files facepart writes for other projects and reads back.

Each format is an :class:`Exporter`: a name (``facepart export --to NAME``),
the kind of object it carries (``"annotation"`` or ``"landmarks"``), a writer,
an optional reader (an importer), the file suffixes it uses and one line of
description. A new format is one module that calls :func:`register`.

Writers have one signature, ``write(obj, path, **options) -> list[Path]``, and
write atomically. ``options`` of the annotation kind are described by
:class:`facepart.export.options.ExportOptions`; an exporter that lists the
option names it takes (``options=``) gets a one-line error for any other.
Readers are ``read(path, **options) -> obj``; :func:`find_importer` picks the
reader of a file by its content (``detect``) and then by its suffix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..errors import FacepartError

KINDS = ("annotation", "landmarks")

#: options every annotation writer accepts (see ExportOptions)
COMMON_OPTIONS = {"annotation": ("rule", "parts", "groups", "model", "notes")}


class Exporter(NamedTuple):
    """One registered format.

    Attributes:
        name: the ``--to`` name.
        kind: what ``write`` takes and ``read`` returns: "annotation" or "landmarks".
        write: ``write(obj, path, **options) -> list[Path]`` (the files written, atomically).
        read: ``read(path, **options) -> obj``, or None when the format cannot be read back.
        suffixes: file suffixes of the format, first is the default (e.g. ``(".json",)``).
        description: one line for ``facepart formats --exports``.
        options: the format's own option names beyond the kind's common ones, or None
            (then any option is passed through unchecked).
        needs_model: the writer needs the face model's geometry (``model=FaceModel``).
        detect: ``detect(path) -> bool``: whether a file is this format by its content
            (used before suffixes when importing), or None.
        default_name: file (or folder) name used when no output path is given.
        reader_needs_topology: reading needs the model (or its fingerprint) because the
            file does not say which mesh it labels.
        files: the file names the writer puts into a folder it is given (a landmark run removes
            those of a format it skips, so that no stale file stays beside the new set).
        holds_missing: the format has a place for an entry that was never found (a landmark
            with triangle -1); writers without it refuse such objects.
    """

    name: str
    kind: str
    write: Callable[..., list]
    read: Callable[..., Any] | None
    suffixes: tuple[str, ...]
    description: str
    options: tuple[str, ...] | None = None
    needs_model: bool = False
    detect: Callable[[Path], bool] | None = None
    default_name: str | None = None
    reader_needs_topology: bool = False
    files: tuple[str, ...] = ()
    holds_missing: bool = False

    @property
    def output_name(self) -> str:
        return self.default_name or f"{self.name}{self.suffixes[0] if self.suffixes else ''}"


EXPORTERS: dict[str, Exporter] = {}


def register(name: str, writer: Callable[..., list], reader: Callable[..., Any] | None = None,
             suffixes: tuple[str, ...] = (), description: str = "", kind: str = "annotation", *,
             options: tuple[str, ...] | None = None, needs_model: bool = False,
             detect: Callable[[Path], bool] | None = None, default_name: str | None = None,
             reader_needs_topology: bool = False, files: tuple[str, ...] = (),
             holds_missing: bool = False) -> Exporter:
    """Add a format to the registry (a later registration of the same name replaces it)."""
    if kind not in KINDS:
        raise ValueError(f"exporter kind must be one of {KINDS}, got {kind!r}")
    exporter = Exporter(name, kind, writer, reader, tuple(suffixes), description,
                        None if options is None else tuple(options), needs_model, detect, default_name,
                        reader_needs_topology, tuple(files), holds_missing)
    EXPORTERS[name] = exporter
    return exporter


def get_exporter(name: str, kind: str | None = None) -> Exporter:
    """The registered format ``name`` (of ``kind``, when given), or a one-line error listing the others."""
    exporter = EXPORTERS.get(name)
    if exporter is None or (kind is not None and exporter.kind != kind):
        names = [n for n, e in EXPORTERS.items() if kind is None or e.kind == kind]
        raise FacepartError(f"unknown {kind or 'export'} format '{name}'; available: {', '.join(names)}")
    return exporter


def check_options(exporter: Exporter, options: dict) -> None:
    """One-line error for an option ``exporter`` does not take (naming the formats that do)."""
    if exporter.options is None:
        return
    allowed = set(COMMON_OPTIONS.get(exporter.kind, ())) | set(exporter.options)
    for key, value in options.items():
        if key in allowed or value is None or value is False:
            continue
        takers = [e.name for e in EXPORTERS.values() if e.options is not None and key in e.options]
        where = f" (it applies to {', '.join(takers)})" if takers else ""
        raise FacepartError(f"option '{key.replace('_', '-')}' does not apply to the {exporter.name} format{where}")


def export(obj, to: str, path: str | Path, **options) -> list[Path]:
    """Write ``obj`` in format ``to`` at ``path``; return the files written."""
    exporter = get_exporter(to)
    check_options(exporter, options)
    return exporter.write(obj, Path(path), **options)


def detect_importer(path: str | Path, kind: str = "annotation") -> Exporter | None:
    """The registered reader of ``kind`` that recognises ``path`` (a file, or a folder of files) by its content,
    not by its suffix; None when none does."""
    path = Path(path)
    for exporter in EXPORTERS.values():
        if exporter.kind == kind and exporter.read is not None and exporter.detect is not None:
            try:
                if exporter.detect(path):
                    return exporter
            except (OSError, ValueError):
                continue
    return None


def find_importer(path: str | Path, kind: str = "annotation", format: str | None = None) -> Exporter:
    """The registered reader for ``path``: ``format`` if given, else by content, else by suffix."""
    path = Path(path)
    if format is not None:
        exporter = get_exporter(format, kind)
        if exporter.read is None:
            raise FacepartError(f"the {format} format cannot be read back (it is written for other programs only)")
        return exporter
    detected = detect_importer(path, kind)
    if detected is not None:
        return detected
    readable = [e for e in EXPORTERS.values() if e.kind == kind and e.read is not None]
    suffix = "".join(path.suffixes[-1:]).lower()
    for exporter in readable:
        if suffix and suffix in exporter.suffixes:
            return exporter
    names = ", ".join(f"{e.name} ({' '.join(x for x in e.suffixes if x) or 'a folder'})" for e in readable)
    if not path.exists():
        raise FacepartError(f"{path}: file not found")
    raise FacepartError(f"{path}: not {'an' if kind[:1] in 'aeiou' else 'a'} {kind} file facepart can read; "
                        f"readable formats: {names}")
