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
    """

    name: str
    parts: PartTable
    needs_image: bool
    yaw_range: tuple[float, float] | None = None
    max_workers: int | None = None
    last_skip_reason: str | None = None

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
