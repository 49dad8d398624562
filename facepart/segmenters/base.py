"""What a part segmenter sees and returns.

A :class:`View` is one rendered variant; a part segmenter turns it into a
part map: (H, W) int16, the id of a part of the run's part table per pixel,
-1 (``IGNORE``) where no part should vote (background, hair, inner mouth...).
Image parsers only look at ``view.image``; the oracle reads the geometry.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..data.parts import PartTable
from ..errors import FacepartError
from ..renderers.camera import Camera
from ..renderers.fragments import Fragments, PixelCorners, pixel_corners


class View(NamedTuple):
    """One rendered variant.

    Attributes:
        index: variant index in the run.
        fragments: the render (image, depth, triangle ids, mask).
        camera: the camera it was rendered with.
        vertices: (V, 3) posed vertices, world frame.
        uv: (V, 2) their projections, pixel coordinates.
        depth: (V,) their camera-space depth.
        triangles: (F, 3) the triangle array ``fragments.triangle_id`` indexes.
        pixels: the triangle corners under every covered pixel (:class:`PixelCorners`), computed once
            per render for the oracle and the vote; None when not computed.
    """

    index: int
    fragments: Fragments
    camera: Camera
    vertices: np.ndarray
    uv: np.ndarray
    depth: np.ndarray
    triangles: np.ndarray
    pixels: PixelCorners | None = None


def view_pixels(view: "View") -> PixelCorners:
    """``view.pixels``, computed when the view does not carry them."""
    if view.pixels is not None:
        return view.pixels
    return pixel_corners(view.fragments, view.triangles, view.uv, view.depth)


#: View index of the frontal calibration render (also its file name in mask folders).
FRONTAL_INDEX = -1


@runtime_checkable
class PartSegmenter(Protocol):
    """Anything that turns a view into a part map over ``parts``.

    Required: ``name``, ``parts``, ``needs_image`` and :meth:`part_map`. The rest are
    optional features with defaults here; subclass this Protocol to inherit them.

    Attributes:
        name: short name for summaries.
        parts: the part table the part ids refer to.
        needs_image: False when the segmenter reads geometry, not pixels (the renderer
            may then skip the shaded colour pass).
        yaw_range: (min, max) degrees of head yaw the segmenter is reliable in, or None.
        max_workers: how many processes may run it at once (None: any; 1 for a parser
            that holds a GPU).
        last_skip_reason: why the last :meth:`part_map` returned None (e.g. "no face").
        live: False for maps made elsewhere for a fixed set of renders (the masks segmenter): it cannot
            parse the held-out renders of the Part IoU check.
    """

    name: str
    parts: PartTable
    needs_image: bool
    yaw_range: tuple[float, float] | None = None
    max_workers: int | None = None
    last_skip_reason: str | None = None
    live: bool = True

    def part_map(self, view: View) -> np.ndarray | None:
        """(H, W) int part ids (-1 = ignore), or None when the view cannot be used (no face)."""
        ...

    def describe(self) -> str:
        """Everything that changes this segmenter's output, in one stable line (part of run keys)."""
        return self.name

    def calibrate(self, view: View):
        """Check the segmenter on a frontal ``view`` (e.g. its left/right convention); return what was
        found (an object with ``summary()``), or None when there is nothing to calibrate."""
        return None

    def check_run(self, model, settings) -> None:
        """Raise a one-line ``FacepartError`` when this segmenter cannot serve a run of ``model`` with
        ``settings`` (e.g. masks made for another model, seed or size)."""
        return None

    def summary(self) -> list[str]:
        """Lines for the run summary (views parsed and skipped, calibration)."""
        return []

    def close(self) -> None:
        """Free what the segmenter holds (sessions, graphs)."""
        return None


#: What a segmenter must have; the rest of :class:`PartSegmenter` has defaults.
REQUIRED_SEGMENTER = ("name", "parts", "needs_image", "part_map")


class _WithDefaults(PartSegmenter):
    """A duck-typed segmenter (it has the required members but does not subclass :class:`PartSegmenter`) with the
    protocol's defaults for what it lacks; its own members win."""

    def __init__(self, inner, parts: PartTable):
        self.inner, self.parts = inner, parts
        self.name, self.needs_image = str(inner.name), bool(inner.needs_image)
        self.yaw_range = getattr(inner, "yaw_range", None)
        self.max_workers = getattr(inner, "max_workers", None)
        self.live = bool(getattr(inner, "live", True))

    @property
    def last_skip_reason(self):
        return getattr(self.inner, "last_skip_reason", None)

    def part_map(self, view):
        return self.inner.part_map(view)

    def _own(self, method: str, *args, default=None):
        fn = getattr(self.inner, method, None)
        return fn(*args) if callable(fn) else default

    def describe(self) -> str:
        return self._own("describe", default=self.name)

    def calibrate(self, view):
        return self._own("calibrate", view)

    def check_run(self, model, settings) -> None:
        self._own("check_run", model, settings)

    def summary(self) -> list[str]:
        return self._own("summary", default=[])

    def close(self) -> None:
        self._own("close")


def as_segmenter(segmenter) -> PartSegmenter:
    """``segmenter`` itself when it subclasses :class:`PartSegmenter`; a duck-typed one (the required members,
    ``parts`` a :class:`PartTable` or a list of part names) wrapped with the protocol's defaults; else one
    clear line naming what is missing."""
    if isinstance(segmenter, type):
        raise FacepartError(f"segmenter: got the class {segmenter.__name__}, not an instance of it")
    missing = [m for m in REQUIRED_SEGMENTER if not hasattr(segmenter, m)]
    if missing:
        raise FacepartError(f"segmenter: {type(segmenter).__name__} has no {', '.join(missing)}; a segmenter needs "
                            f"{', '.join(REQUIRED_SEGMENTER)} (subclass facepart.segmenters.PartSegmenter to get "
                            "the rest)")
    parts = segmenter.parts
    if not isinstance(parts, PartTable):
        if isinstance(parts, (list, tuple)) and parts and all(isinstance(p, str) for p in parts):
            parts = PartTable.from_names(list(parts))
        else:
            raise FacepartError(f"segmenter: {type(segmenter).__name__}.parts must be a PartTable or a list of part "
                                f"names, got {type(parts).__name__}")
    if PartSegmenter in type(segmenter).__mro__ and parts is segmenter.parts:
        return segmenter
    return _WithDefaults(segmenter, parts)
