"""Options and helpers shared by several commands."""

from __future__ import annotations

import functools
import json
import sys

import click

from ..data.formats.frame import UNIT_SCALE
from ..errors import FacepartError
from ..segmenters.cleanup import STEPS as CLEANUP_STEPS

MODEL_OPTIONS = ("fmt", "blendshapes", "unit", "texture", "model_option")
PARSER_OPTIONS = ("labels", "parser_config", "device", "cleanup", "keep_forehead", "ear_parser")


def _removes_new_empty_out_dir(command):
    """If the command fails, remove the ``out_dir`` folders it created while they are still empty (a model
    that does not load leaves no empty folder behind; an interrupted run's checkpoint keeps its folder)."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from ..io_utils import removing_new_dirs_on_failure

        with removing_new_dirs_on_failure(kwargs.get("out_dir") or None):
            return command(*args, **kwargs)

    return wrapper


def _model_options(command):
    """Adds the model-loading options; the command receives them as one ``model_args`` dict."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        model_args = {k: kwargs.pop(k) for k in MODEL_OPTIONS}
        return command(*args, model_args=model_args, **kwargs)

    f = wrapper
    f = click.option("--model-option", "-O", "model_option", multiple=True, metavar="KEY=VALUE",
                     help="A format-specific loader option, e.g. -O topology=53215 (BFM 2009), -O jaw_open=0.2 "
                          "(FLAME), -O simplified=true (FaceVerse v2), -O up=z -O front=-y (a mesh that is not "
                          "+y up looking along +z); see docs/formats.md.")(f)
    f = click.option("--texture", type=click.Path(dir_okay=False), default=None,
                     help="A UV texture image for a model with UVs (colours are sampled per vertex).")(f)
    f = click.option("--unit", type=click.Choice(list(UNIT_SCALE)), default=None,
                     help="Mesh models: the file's unit (default: guessed from the size among m, dm, cm, mm and um; "
                          "inches are never guessed).")(f)
    f = click.option("--blendshapes", type=click.Path(file_okay=False), default=None,
                     help="Mesh models: a folder of same-topology meshes used as expressions.")(f)
    f = click.option("--format", "fmt", default=None, help="Force the model format (see `facepart formats`).")(f)
    return f


def _parse_model_options(pairs) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FacepartError(f"-O/--model-option expects KEY=VALUE, got '{pair}'")
        try:
            parsed = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            parsed = value
        if isinstance(parsed, float) and parsed != parsed or parsed in (float("inf"), float("-inf")):
            raise FacepartError(f"-O/--model-option {key.strip()}: expected a finite value, got '{value}'")
        out[key.strip()] = parsed
    return out


def _load_options(model_args: dict) -> dict:
    """The loader options (``load_model`` keywords) of the model options given on the command line."""
    options = _parse_model_options(model_args.get("model_option", ()))
    for clash in ("blendshapes", "unit", "texture"):
        if clash in options:
            raise FacepartError(f"-O/--model-option {clash}=...: use --{clash} instead")
    return dict(format=model_args.get("fmt"), blendshapes=model_args.get("blendshapes"),
                unit=model_args.get("unit"), texture=model_args.get("texture"), **options)


def _load(model, model_args: dict):
    from ..data import load_model

    return load_model(model, **_load_options(model_args))


def _parser_options(command):
    """Options of the real 2D parsers; the command receives them as one ``parser_args`` dict."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        parser_args = {k: kwargs.pop(k) for k in PARSER_OPTIONS}
        return command(*args, parser_args=parser_args, **kwargs)

    f = wrapper
    f = click.option("--ear-parser", default=None, metavar="SPEC",
                     help="A second parser with ear classes (e.g. bisenet:PATH) whose ears are removed.")(f)
    f = click.option("--keep-forehead", is_flag=True,
                     help="mediapipe: skin up to the top of the face oval (no forehead clean-up).")(f)
    f = click.option("--cleanup", default=None, metavar="STEPS",
                     help="Clean-up of parser masks: 'all' (default), 'none', or a list of "
                          + ",".join(CLEANUP_STEPS) + ".")(f)
    f = click.option("--device", default=None, help="bisenet/onnx: cpu (default) or cuda.")(f)
    f = click.option("--parser-config", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="onnx: a YAML/JSON file with input size, normalisation and label table.")(f)
    f = click.option("--labels", default=None, metavar="TABLE",
                     help="The parser's label table: a built-in name (see `facepart labelsets`) "
                          "or a YAML/JSON file.")(f)
    return f


def _segmenter_options(parser_args: dict) -> dict:
    """The parser options as :func:`facepart.make_segmenter` keywords."""
    options = {"labels": parser_args["labels"], "config": parser_args["parser_config"],
               "device": parser_args["device"], "cleanup": parser_args["cleanup"],
               "keep_forehead": parser_args["keep_forehead"], "ear_parser": parser_args["ear_parser"]}
    return {k: v for k, v in options.items() if v not in (None, False)}


def _make_parser_segmenter(spec: str, parts, face, parser_args: dict, yaw_range="default"):
    from ..segmenters import make_parser_segmenter

    return make_parser_segmenter(spec, parts, model=face, yaw_range=yaw_range, **_segmenter_options(parser_args))


def _apply_vertex_mask(face, vertex_mask):
    if vertex_mask is not None:
        from ..data.vertex_mask import read_vertex_mask

        allowed = read_vertex_mask(vertex_mask, face.n_vertices)
        face.vote_mask &= allowed
        face.eyeball_mask &= allowed
        if not face.vote_mask.any():
            raise FacepartError(f"{vertex_mask}: no vertex is left that may receive votes")


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="variant", desc=desc, file=sys.stderr, disable=None)
    return bar, (lambda done, _total: bar.update(done - bar.n))
