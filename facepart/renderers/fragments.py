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


def visible_vertices(fragments: Fragments, triangles: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) bool: vertices that are a corner of a triangle seen in at least one pixel."""
    seen_tris = np.unique(fragments.triangle_id[fragments.mask])
    visible = np.zeros(n_vertices, bool)
    visible[triangles[seen_tris].ravel()] = True
    return visible
