"""Picks a loader for a model file or folder: the registry behind :func:`load_model`.

Each format is a :class:`ModelFormat` (a name, a one-line description, a
``detect(path)`` test and a ``load(path, **options)`` function). Formats are
tried in registration order; ``format=`` forces one.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, NamedTuple

from ..errors import FacepartError
from .face_model import FaceModel


class ModelFormat(NamedTuple):
    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[..., FaceModel]


FORMATS: dict[str, ModelFormat] = {}


def register(fmt: ModelFormat) -> ModelFormat:
    FORMATS[fmt.name] = fmt
    return fmt


def detect_format(path: Path) -> ModelFormat:
    for fmt in FORMATS.values():
        try:
            if fmt.detect(path):
                return fmt
        except (OSError, ValueError):
            continue
    if path.is_dir():
        raise FacepartError(f"{path}: no face model found in this folder (known formats: {', '.join(FORMATS)})")
    raise FacepartError(f"{path}: unknown model format (known formats: {', '.join(FORMATS)}; "
                        "use --format to force one)")


def load_model(spec: str | Path, format: str | None = None, **options) -> FaceModel:
    """Load a face model: ``"demo"`` for the built-in head, else a file or folder.

    Args:
        spec: "demo", or a path.
        format: force a format by name (see ``FORMATS``); default: detected from the file.
        options: format-specific options (e.g. ``blendshapes=``, ``unit=`` for meshes);
            None values are ignored.
    """
    options = {k: v for k, v in options.items() if v is not None}
    if str(spec) == "demo" and format in (None, "demo"):
        fmt = FORMATS["demo"]
        return fmt.load(**options)
    path = Path(spec)
    if not path.exists():
        raise FacepartError(f"{path}: no such file or folder")
    if format is not None:
        if format not in FORMATS:
            raise FacepartError(f"unknown format '{format}'; known formats: {', '.join(FORMATS)}")
        fmt = FORMATS[format]
    else:
        fmt = detect_format(path)
    accepted = inspect.signature(fmt.load).parameters
    extra = [k for k in options if k not in accepted]
    if extra:
        raise FacepartError(f"option(s) {', '.join(extra)} do not apply to the {fmt.name} format")
    if path.is_dir() != ("folder" in fmt.description):
        kind = "folder" if path.is_dir() else "file"
        raise FacepartError(f"{path}: a {kind}, but the {fmt.name} format expects "
                            f"{'a file' if path.is_dir() else 'a folder'}")
    return fmt.load(path, **options)


def _register_builtin() -> None:
    from . import ict, mesh
    from .demo_head import demo_head

    register(ModelFormat("demo", "the built-in synthetic head (no file)", lambda p: False, lambda: demo_head()))
    register(ModelFormat("ict", "ICT-FaceKit folder (generic_neutral_mesh.obj, identity*.obj, expressions)",
                         ict.is_ict_folder, ict.load_ict))
    register(ModelFormat("mesh", "a mesh file (.obj .ply .glb .gltf .off .stl) through trimesh",
                         lambda p: p.is_file() and p.suffix.lower() in mesh.MESH_SUFFIXES, mesh.load_mesh))


_register_builtin()
