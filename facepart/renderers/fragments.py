"""What a renderer returns: plain arrays, independent of the backend (like pytorch3d's Fragments)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Fragments(NamedTuple):
    """One render.

    Attributes:
        image: (H, W, 3) uint8 shaded colour, or None when shading was not asked for.
        depth: (H, W) float32 camera-space z of the visible surface, 0 on background.
        triangle_id: (H, W) int32 index into the model's triangle array, -1 on background.
        mask: (H, W) bool, True where the model covers the pixel.
    """

    image: np.ndarray | None
    depth: np.ndarray
    triangle_id: np.ndarray
    mask: np.ndarray


def visible_vertices(fragments: Fragments, triangles: np.ndarray, uv: np.ndarray, depth: np.ndarray,
                     tolerance: float) -> np.ndarray:
    """(V,) bool: vertices seen in this render.

    A vertex is visible when it is a corner of a triangle that covers at least
    one pixel, and nothing in the depth buffer at its own pixel lies more than
    ``tolerance`` (camera-space units) in front of it. The second test drops
    the hidden far corners of partly visible triangles at occluding contours
    (beside the nose, under the chin), which would otherwise collect votes
    from the surface in front of them.

    Args:
        fragments: the render.
        triangles: (F, 3) the triangle array ``fragments.triangle_id`` indexes.
        uv: (V, 2) projected vertices (pixel coordinates).
        depth: (V,) their camera-space depth.
        tolerance: allowed depth difference, e.g. a few pixel footprints.
    """
    n_vertices = len(uv)
    seen = np.zeros(len(triangles), bool)
    seen[fragments.triangle_id[fragments.mask]] = True  # O(pixels); np.unique would sort them
    visible = np.zeros(n_vertices, bool)
    visible[triangles[seen].ravel()] = True
    h, w = fragments.depth.shape
    idx = np.flatnonzero(visible)
    col = np.floor(uv[idx, 0]).astype(np.int64)
    row = np.floor(uv[idx, 1]).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    occluded = np.zeros(len(idx), bool)
    zbuf = fragments.depth[row[inside], col[inside]]
    occluded[inside] = (zbuf > 0) & (zbuf < depth[idx[inside]] - tolerance)
    visible[idx[occluded]] = False
    return visible
