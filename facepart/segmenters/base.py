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
from ..renderers.fragments import Fragments


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
    """

    index: int
    fragments: Fragments
    camera: Camera
    vertices: np.ndarray
    uv: np.ndarray
    depth: np.ndarray
    triangles: np.ndarray


@runtime_checkable
class PartSegmenter(Protocol):
    """Anything that turns a view into a part map over ``parts``."""

    name: str
    parts: PartTable
    needs_image: bool  # False: the renderer may skip the shaded colour pass

    def part_map(self, view: View) -> np.ndarray:
        """(H, W) int16 part ids, -1 = ignore."""
        ...
