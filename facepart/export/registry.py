"""The one registry of the files facepart writes for other projects and reads back.

Each format is an :class:`Exporter`: a name (``facepart export --to NAME``),
the kind of object it carries (``"annotation"`` or ``"landmarks"``), a writer,
an optional reader (an importer), the file suffixes it uses and one line of
description. A new format is one module that calls :func:`register`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, NamedTuple

from ..errors import FacepartError

KINDS = ("annotation", "landmarks")


class Exporter(NamedTuple):
    """One registered format.

    Attributes:
        name: the ``--to`` name.
        kind: what ``write`` takes and ``read`` returns: "annotation" or "landmarks".
        write: ``write(obj, path, **options) -> list[Path]`` (the files written, atomically).
        read: ``read(path, **options) -> obj``, or None when the format cannot be read back.
        suffixes: file suffixes of the format, first is the default (e.g. ``(".json",)``).
        description: one line for ``facepart formats --exports``.
    """

    name: str
    kind: str
    write: Callable[..., list]
    read: Callable[..., Any] | None
    suffixes: tuple[str, ...]
    description: str


EXPORTERS: dict[str, Exporter] = {}


def register(name: str, writer: Callable[..., list], reader: Callable[..., Any] | None = None,
             suffixes: tuple[str, ...] = (), description: str = "", kind: str = "annotation") -> Exporter:
    """Add a format to the registry (a later registration of the same name replaces it)."""
    if kind not in KINDS:
        raise ValueError(f"exporter kind must be one of {KINDS}, got {kind!r}")
    exporter = Exporter(name, kind, writer, reader, tuple(suffixes), description)
    EXPORTERS[name] = exporter
    return exporter


def get_exporter(name: str, kind: str | None = None) -> Exporter:
    """The registered format ``name`` (of ``kind``, when given), or a one-line error listing the others."""
    exporter = EXPORTERS.get(name)
    if exporter is None or (kind is not None and exporter.kind != kind):
        names = [n for n, e in EXPORTERS.items() if kind is None or e.kind == kind]
        raise FacepartError(f"unknown {kind or 'export'} format '{name}'; available: {', '.join(names)}")
    return exporter


def export(obj, to: str, path: str | Path, **options) -> list[Path]:
    """Write ``obj`` in format ``to`` at ``path``; return the files written."""
    return get_exporter(to).write(obj, Path(path), **options)
