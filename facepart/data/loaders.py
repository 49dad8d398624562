"""Picks a loader for a model file or folder: the registry behind :func:`load_model`.

Each format is a :class:`ModelFormat` (a name, a one-line description, a
``detect(path)`` test and a ``load(path, **options)`` function). Formats are
tried in registration order; ``format=`` forces one.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Callable, NamedTuple

from ..errors import FacepartError
from .face_model import FaceModel


#: Loader options the command line sets with their own flags (the others come from ``-O KEY=VALUE``).
CLI_MODEL_OPTIONS = ("blendshapes", "unit", "texture")


class ModelFormat(NamedTuple):
    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[..., FaceModel]
    folder: bool = False  # the format is a folder of files, not one file


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
    from .formats.explain import explain_container

    if path.is_dir():
        damaged = ""
        for f in sorted(path.iterdir())[:50]:  # a model file there that cannot be read says why
            if f.is_file() and f.suffix.lower() in (".mat", ".h5", ".pkl", ".npy", ".npz"):
                what = explain_container(f)
                if what and ("cannot be parsed" in what or what.startswith("an empty file")):
                    damaged = f"; {f.name} is {what}"
                    break
        raise FacepartError(f"{path}: no face model found in this folder{damaged} (known formats: "
                            f"{', '.join(FORMATS)})")

    what = explain_container(path)
    if what and ("cannot be parsed" in what or what.startswith("an empty file")):  # damaged, not unknown
        raise FacepartError(f"{path}: {what}")
    raise FacepartError(f"{path}: unknown model format{' (' + what + ')' if what else ''} "
                        f"(known formats: {', '.join(FORMATS)}; use --format to force one)")


def load_model(spec: str | Path, format: str | None = None, **options) -> FaceModel:
    """Load a face model: ``"demo"`` for the built-in head, else a file or folder.

    Args:
        spec: "demo", or a path.
        format: force a format by name (see ``FORMATS``); default: detected from the file.
        options: format-specific options (e.g. ``blendshapes=``, ``unit=`` for meshes;
            ``topology=`` for BFM 2009; see each format's module); None values are ignored.
            ``texture=IMG`` (any format whose model has UVs) gives the model the per-vertex
            colours of a UV texture image; an OBJ's own material texture is used when it is not given.
    """
    if isinstance(spec, FaceModel):  # already loaded (a script passing what it has)
        if format is not None or any(v is not None for v in options.values()):
            raise FacepartError(f"load_model: {spec.name} is already loaded; loader options apply to a path")
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise FacepartError(f"load_model: expected \"demo\" or a path, got {type(spec).__name__}")
    options = {k: v for k, v in options.items() if v is not None}
    recorded = _recordable(format, options)
    texture = options.pop("texture", None)
    model = _load_model(spec, format, options)
    model.meta["load_options"] = recorded
    own = texture is None  # the OBJ's own material texture, if any: a broken one costs the colour, not the mesh
    texture = texture if texture is not None else model.meta.get("material_texture")
    if texture is not None:
        from .textures import apply_texture

        try:
            apply_texture(model, texture)
        except FacepartError as err:
            if not own:
                raise
            model.meta.pop("material_texture", None)
            model.meta.setdefault("notes", []).append(f"no colour from the OBJ's materials: {err}")
            texture = None
    if texture is None:
        from .appearance import paint_from_landmarks

        paint_from_landmarks(model)
    if not model.meta.get("topology"):
        from .topology import topology_name

        name = topology_name(model.n_vertices)
        if name:
            model.meta["topology"] = f"{name} (by its vertex count)"
    return model


def _recordable(format: str | None, options: dict) -> dict:
    """The options of a :func:`load_model` call as JSON values (a run records them, so that export, report and
    the viewer load the model the same way); file paths made absolute."""
    import json

    out = {} if format is None else {"format": format}
    for key, value in options.items():
        if key == "texture" and isinstance(value, (str, Path)):
            value = os.path.abspath(value)
        if hasattr(value, "tolist"):
            value = value.tolist()
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        out[key] = value
    return out


def recorded_model_settings(model: FaceModel) -> dict:
    """What a run records of its model, for :func:`load_recorded_model`: name, format, the
    path as given and as an absolute path, and the loader options (axes, topology, unit...)."""
    path = model.meta.get("path")
    out = {"name": model.name, "format": model.meta.get("format"), "path": path}
    if path and path != "demo":
        out["abspath"] = os.path.abspath(path)
    if model.meta.get("load_options"):
        out["options"] = dict(model.meta["load_options"])
    return out


def load_recorded_model(recorded: dict, source: str | Path, **overrides) -> FaceModel:
    """Load the model a run recorded (an annotation's ``settings["model"]``: path, absolute path, format, loader
    options), for the annotation at ``source``.

    The path is tried as recorded (from the current folder), then as the absolute path of the run, then
    from the annotation's folder. ``overrides`` (loader options given now) take precedence over the
    recorded ones. One clear line when nothing is recorded or the file is gone.
    """
    source = Path(source)
    recorded = recorded if isinstance(recorded, dict) else {}
    spec = recorded.get("path") or ("demo" if recorded.get("name") == "demo" else None)
    if not spec:
        raise FacepartError(f"{source}: the annotation does not record its model's path; pass --model")
    if spec != "demo":
        folder = source if source.is_dir() else source.parent
        candidates = [Path(spec), Path(recorded.get("abspath") or spec), folder / spec]
        found = next((c for c in candidates if os.path.exists(c)), None)
        if found is None:
            raise FacepartError(f"{source}: the model it was made from ({spec}) was not found; pass --model")
        spec = str(found)
    options = dict(recorded.get("options") or {}) if isinstance(recorded.get("options"), dict) else {}
    if "format" not in options and recorded.get("format") in FORMATS:  # (meta formats are not all registry names)
        options["format"] = recorded["format"]
    options.update({k: v for k, v in overrides.items() if v is not None})
    return load_model(spec, **options)


def _load_model(spec, format, options) -> FaceModel:
    if format is not None and format not in FORMATS:  # the name first: a wrong name is the mistake to report
        raise FacepartError(f"unknown format '{format}'; known formats: {', '.join(FORMATS)}")
    if str(spec) == "demo" and format in (None, "demo"):
        fmt = FORMATS["demo"]
        return fmt.load(**_checked_options(fmt, options))
    if format == "demo":
        raise FacepartError(f"--format demo is the built-in head, which has no file: give the model as 'demo', "
                            f"not {spec}")
    if not str(spec).strip():
        raise FacepartError("the model path is empty; give 'demo', a model file or a folder")
    path = Path(spec)
    if not path.exists():
        if path.is_symlink():
            raise FacepartError(f"{path}: a symbolic link that leads to no file (a loop, or its target is gone)")
        raise FacepartError(f"{path}: no such file or folder")
    if not path.is_dir():
        from ..io_utils import check_regular_file

        check_regular_file(path, "a face model file")  # a FIFO or a device would block detection forever
    fmt = FORMATS[format] if format is not None else detect_format(path)
    options = _checked_options(fmt, options)
    if path.is_dir() != fmt.folder:
        kind = "folder" if path.is_dir() else "file"
        raise FacepartError(f"{path}: a {kind}, but the {fmt.name} format expects "
                            f"{'a file' if path.is_dir() else 'a folder'}")
    return fmt.load(path, **options)


def _checked_options(fmt: ModelFormat, options: dict) -> dict:
    """``options`` the loader of ``fmt`` takes, each checked against its default's type; one line for any other."""
    accepted = dict(inspect.signature(fmt.load).parameters)
    if fmt.name != "demo":
        accepted.pop(next(iter(accepted)), None)  # the model's path: not an option
    extra = [k for k in options if k not in accepted or accepted[k].kind is inspect.Parameter.POSITIONAL_ONLY]
    if extra:
        given = ", ".join(f"--{k}" if k in CLI_MODEL_OPTIONS else f"-O {k}=..." for k in extra)
        raise FacepartError(f"{given} do{'es' if len(extra) == 1 else ''} not apply to the {fmt.name} format"
                            + ("" if fmt.folder or fmt.name != "demo" else " (the built-in head takes no options)"))
    return {k: _coerce(fmt.name, k, v, accepted[k].default) for k, v in options.items()}


def _coerce(fmt: str, name: str, value, default):
    """Check an option's value against the type of its default (bool, int, float); others pass through."""
    kind = type(default)
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        if isinstance(value, bool):
            return value
    elif kind in (int, float):
        try:
            out = kind(value)
            if isinstance(value, bool) or not math.isfinite(float(out)) or (kind is int and float(value) != out):
                raise ValueError
            return out
        except (TypeError, ValueError, OverflowError):
            pass
    else:
        return value
    raise FacepartError(f"option {name} of the {fmt} format expects a {kind.__name__}"
                        f"{' (finite)' if kind is float else ''}, got {value!r}")


def _register_builtin() -> None:
    from . import ict, mesh
    from .demo_head import demo_head
    from .formats import bfm2009, bfm2017, deep3d, faceverse, flame, tddfa_v2

    register(ModelFormat("demo", "the built-in synthetic head (no file)", lambda p: False, lambda: demo_head()))
    register(ModelFormat("ict", "ICT-FaceKit folder (generic_neutral_mesh.obj, identity*.obj, expressions)",
                         ict.is_ict_folder, ict.load_ict, folder=True))
    # file formats recognised by the keys inside the file
    register(ModelFormat("bfm2009", "BFM 2009 01_MorphableModel.mat (+ Exp_Pca.bin, BFM_exp_idx.mat beside it)",
                         bfm2009.is_bfm2009, bfm2009.load_bfm2009))
    register(ModelFormat("deep3d", "Deep3D BFM_model_front.mat / ascust BFM09_model_info.mat (35,709 vertices)",
                         deep3d.is_deep3d, deep3d.load_deep3d))
    register(ModelFormat("bfm2017", "BFM 2017/2019 statismo .h5 (model2017-1_bfm_nomouth.h5, model2019_*.h5)",
                         bfm2017.is_bfm2017, bfm2017.load_bfm2017))
    register(ModelFormat("3ddfa-v3", "3DDFA-V3 face_model.npy (35,709 vertices, with its part annotation)",
                         deep3d.is_3ddfa_v3, deep3d.load_3ddfa_v3))
    register(ModelFormat("faceverse", "FaceVerse v0-v3 .npy (faceverse_base_v1.npy, faceverse_simple_v2.npy, "
                         "faceverse_v3_*.npy)", faceverse.is_faceverse, faceverse.load_faceverse))
    register(ModelFormat("3ddfa-v2", "3DDFA_V2 bfm_noneck_v3.pkl (+ tri.pkl, param_mean_std_62d_120x120.pkl beside it)",
                         tddfa_v2.is_3ddfa_v2, tddfa_v2.load_3ddfa_v2))
    register(ModelFormat("flame", "FLAME 2020/2023 generic_model.pkl / flame2023.pkl (+ FLAME_masks.pkl beside it)",
                         flame.is_flame, flame.load_flame))
    register(ModelFormat("mesh", "a mesh file (.obj .ply .glb .gltf .off .stl) through trimesh",
                         lambda p: p.is_file() and p.suffix.lower() in mesh.MESH_SUFFIXES, mesh.load_mesh))


_register_builtin()
