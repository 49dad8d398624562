"""2D face parsers as part segmenters.

:func:`make_parser_segmenter` builds a segmenter from a spec string:

* ``mediapipe``: MediaPipe FaceMesh landmark polygons (offline, ``mediapipe==0.10.21``);
  restricted to yaw -35..35 degrees by default.
* ``bisenet:PATH``: face-parsing.PyTorch BiSeNet weights (``79999_iter.pth``), torch.
* ``onnx:PATH``: any ONNX face parser; label table and pre-processing by options or
  a config file beside it (:mod:`facepart.segmenters.onnx_parser`).
* ``masks:DIR``: label PNGs made outside facepart (:mod:`facepart.segmenters.masks`).

* ``oracle``: a known labelling drawn into each render (:mod:`facepart.segmenters.oracle`), for tests,
  benchmarks and the demo.

:func:`make_segmenter` builds any of them, the oracle included.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Sequence

from ..errors import FacepartError
from .base import FRONTAL_INDEX, PartSegmenter, View
from .calibration import SideCalibration, calibrate_sides
from .cleanup import STEPS as CLEANUP_STEPS
from .cleanup import CleanupOptions, clean_part_map, parse_cleanup
from .labelsets import TABLES, LabelSet, PartMapping, load_label_set
from .parser import ImageParser, ParserSegmenter, Segmentation, head_yaw

#: Spec forms :func:`make_parser_segmenter` accepts (for help texts).
PARSER_SPECS = ("mediapipe", "bisenet:PATH", "onnx:PATH", "masks:DIR")
#: Spec forms :func:`make_segmenter` accepts.
SEGMENTER_SPECS = ("oracle",) + PARSER_SPECS
#: Oracle noise presets: a real parser's mistakes imitated, or exact maps.
ORACLE_NOISE = ("default", "none")
#: Yaw range (degrees) MediaPipe is restricted to unless told otherwise.
MEDIAPIPE_YAW_RANGE = (-35.0, 35.0)
DEFAULT = "default"

__all__ = [
    "PARSER_SPECS", "MEDIAPIPE_YAW_RANGE", "FRONTAL_INDEX", "TABLES", "CLEANUP_STEPS",
    "CleanupOptions", "ImageParser", "LabelSet", "PartMapping", "ParserSegmenter", "Segmentation",
    "PartSegmenter", "SideCalibration", "View", "calibrate_sides", "clean_part_map", "head_yaw", "load_label_set",
    "make_parser", "make_parser_segmenter", "make_segmenter", "parse_cleanup", "parse_spec", "SEGMENTER_SPECS",
    "ORACLE_NOISE",
]


def parse_spec(spec: str) -> tuple[str, str | None]:
    """``"bisenet:/w.pth"`` -> ``("bisenet", "/w.pth")``; ``"mediapipe"`` -> ``("mediapipe", None)``."""
    text = str(spec).strip()
    kind, sep, arg = text.partition(":")
    kind = kind.lower()
    if kind == "mediapipe" and not arg:
        return kind, None
    if kind in ("bisenet", "onnx", "masks"):
        if not arg:
            raise FacepartError(f"segmenter '{text}' needs a path: {kind}:{'DIR' if kind == 'masks' else 'PATH'}")
        return kind, arg
    raise FacepartError(f"unknown segmenter '{text}'; available: {', '.join(SEGMENTER_SPECS)}")


def make_parser(spec: str, *, labels: "str | LabelSet | None" = None, config: str | None = None,
                device: str = "cpu", keep_forehead: bool = False, **onnx_options) -> ImageParser:
    """The bare image parser of ``spec`` (no mapping, calibration or clean-up).

    Args:
        labels: label table name or file (required for ``onnx:`` unless its config names one;
            ``masks:`` defaults to ``DIR/labels.yaml``; ``bisenet:`` to ``celebamask-bisenet``).
        config: ``onnx:`` options file.
        device: torch / onnxruntime device (``cpu``, ``cuda``).
        keep_forehead: ``mediapipe``: skin up to the face oval's top.
        **onnx_options: ``onnx:`` pre-processing (:class:`~facepart.segmenters.onnx_parser.OnnxOptions`).
    """
    kind, arg = parse_spec(spec)
    if (onnx_options or config is not None) and kind != "onnx":
        given = sorted(onnx_options) + (["--parser-config"] if config is not None else [])
        raise FacepartError(f"option(s) {', '.join(given)} apply to onnx: segmenters only")
    if kind == "mediapipe":
        if labels is not None:
            raise FacepartError("the mediapipe segmenter has its own label set; --labels does not apply")
        from .mediapipe_parser import MediaPipeParser

        return MediaPipeParser(keep_forehead=keep_forehead)
    if kind == "bisenet":
        from .bisenet import BiSeNetParser

        return BiSeNetParser(arg, device=device, labels=labels)
    if kind == "onnx":
        from .onnx_parser import OnnxParser

        return OnnxParser(arg, config=config, device=device, labels=labels, **onnx_options)
    from .masks import MaskFolderParser

    return MaskFolderParser(arg, labels)


def make_parser_segmenter(spec: str, parts=None, *, labels: "str | LabelSet | None" = None,
                          config: str | None = None, device: str = "cpu",
                          cleanup: "CleanupOptions | str | None" = None, yaw_range=DEFAULT, model=None,
                          assign: Mapping[str, Sequence[str] | str] | None = None, keep_forehead: bool = False,
                          ear_parser: "str | ImageParser | None" = None, **onnx_options) -> ParserSegmenter:
    """A :class:`ParserSegmenter` for ``spec`` (``mediapipe``, ``bisenet:PATH``, ``onnx:PATH``, ``masks:DIR``).

    Args:
        parts: the run's :class:`~facepart.data.parts.PartTable` (default: the paper's 8).
        labels, config, device, keep_forehead, **onnx_options: see :func:`make_parser`.
        cleanup: :class:`CleanupOptions`, a step list such as ``"ears,islands"``, ``"none"``,
            or None for all steps (mediapipe with ``keep_forehead`` leaves the forehead step out).
        yaw_range: (min, max) degrees the parser is used in; None for no limit; by default
            :data:`MEDIAPIPE_YAW_RANGE` for mediapipe and no limit for the others.
        model: the :class:`~facepart.data.face_model.FaceModel`; its mean shape measures each
            view's yaw (without it, mediapipe's own landmark estimate is used).
        assign: part name -> canonical class name(s) voting for it, e.g. ``{"skin": ["skin", "neck"]}``.
        ear_parser: a second parser spec (e.g. ``bisenet:PATH``) whose ear classes are removed.

    The segmenter is not calibrated yet: call ``seg.calibrate(facepart.annotate.views.frontal_view(model, size, renderer))``.
    """
    kind, _ = parse_spec(spec)
    if cleanup is None:
        cleanup = CleanupOptions(forehead=not keep_forehead)
    elif isinstance(cleanup, str):
        cleanup = parse_cleanup(cleanup)  # before the parser: a typo fails before a model is loaded
    parser = make_parser(spec, labels=labels, config=config, device=device, keep_forehead=keep_forehead,
                         **onnx_options)
    if isinstance(yaw_range, str) and yaw_range == DEFAULT:
        yaw_range = MEDIAPIPE_YAW_RANGE if kind == "mediapipe" else None
    if isinstance(ear_parser, str):
        ear_parser = make_parser(ear_parser, device=device)
    reference = None if model is None else model.vertices
    return ParserSegmenter(parser, mapping=PartMapping.default(parts, assign), cleanup=cleanup,
                           yaw_range=yaw_range, reference=reference, ear_parser=ear_parser)


def make_segmenter(spec: str, parts=None, *, model=None, truth=None, noise="default", seed: int = 0,
                   garbage: float = 0.0, **parser_options) -> PartSegmenter:
    """Any segmenter from its spec: ``oracle`` or a parser (see :data:`SEGMENTER_SPECS`).

    Args:
        parts: the run's :class:`~facepart.data.parts.PartTable` (default: the paper's 8).
        model: the :class:`~facepart.data.face_model.FaceModel` (the oracle's default truth for the
            built-in demo head; parsers measure each view's yaw with it).
        truth: oracle: (V,) part ids, or a ``parts.json``/``annotation.npz`` path; default: the demo's own.
        noise: oracle: "default" (a parser's mistakes), "none" (exact maps) or an ``OracleNoise``.
        seed: oracle: noise seed.
        garbage: oracle: share of views whose part map is garbage (mirrored, shifted or wrong classes),
            on top of ``noise``, to measure robustness to a parser failing on whole views.
        **parser_options: see :func:`make_parser_segmenter` (labels, config, device, cleanup, yaw_range, ...).

    Calibrate it before a run: ``seg.calibrate(facepart.annotate.views.frontal_view(model, size))``
    (:func:`facepart.annotate_model` does).
    """
    from ..data.face_model import FaceModel
    from ..data.parts import PartTable

    if model is not None and not isinstance(model, FaceModel):
        raise FacepartError(f"make_segmenter: model= expects a loaded FaceModel (facepart.load_model(...)), got "
                            f"{type(model).__name__}")
    parts = parts or PartTable.paper()
    if str(spec).strip().lower() != "oracle":
        if truth is not None:
            raise FacepartError("--truth applies to the oracle segmenter only")
        if garbage:
            raise FacepartError("--garbage applies to the oracle segmenter only")
        return make_parser_segmenter(spec, parts, model=model, **parser_options)
    from .oracle import OracleNoise, OracleSegmenter

    unknown = {k for k, v in parser_options.items() if v is not None and k != "yaw_range"}
    if unknown:
        given = ", ".join("--parser-config" if k == "config" else f"--{k.replace('_', '-')}" for k in sorted(unknown))
        raise FacepartError(f"{given} appl{'ies' if len(unknown) == 1 else 'y'} to image parsers, not the oracle")
    if isinstance(noise, str):
        if noise not in ORACLE_NOISE:
            raise FacepartError(f"--noise must be one of {', '.join(ORACLE_NOISE)}, got '{noise}'")
        noise = OracleNoise() if noise == "default" else None
    if garbage:
        noise = dataclasses.replace(noise or OracleNoise(jitter=0.0, islands=0.0, drop_thin=0.0), garbage=garbage)
    return OracleSegmenter(_oracle_truth(truth, model, parts), parts, noise, seed=seed)


def _oracle_truth(truth, model, parts):
    import numpy as np

    if truth is None:
        from ..data.demo_head import demo_truth, is_demo

        if model is not None and is_demo(model):
            return demo_truth(parts)
        raise FacepartError("the oracle segmenter needs --truth (a parts.json or annotation.npz of this model)")
    if isinstance(truth, (str, os.PathLike)):
        from ..data.annotation import read_labels

        if model is None:
            raise FacepartError("the oracle needs the model to read --truth for it")
        return read_labels(truth, parts, model.n_vertices, model.fingerprint, f"the model {model.name}")
    return np.asarray(truth)
