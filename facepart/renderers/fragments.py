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
        bary: (H, W, 3) float32 perspective-correct barycentric coordinates of each pixel centre in the
            triangle under it (0 on background), or None when the backend does not provide them (then
            :func:`pixel_corners` computes them from the projected corners).
        facing: (H, W) float32 cosine between the outward normal of the triangle under each pixel and
            the ray from the camera to the triangle's centroid (< 0: seen from behind; 0 on background),
            or None when the backend does not provide it.
    """

    image: np.ndarray | None
    depth: np.ndarray
    triangle_id: np.ndarray
    mask: np.ndarray
    bary: np.ndarray | None = None
    facing: np.ndarray | None = None


def visible_vertices(fragments: Fragments, triangles: np.ndarray, uv: np.ndarray, depth: np.ndarray,
                     tolerance: float, covering: np.ndarray | None = None) -> np.ndarray:
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
        covering: (F,) bool, the triangles to count as covering a pixel (default: every triangle in the
            id buffer); a caller that has them, or wants only some, passes them.
    """
    n_vertices = len(uv)
    seen = covering
    if seen is None:
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


def barycentric(points: np.ndarray, corners: np.ndarray, depth: np.ndarray | None = None) -> np.ndarray:
    """(N, 3) barycentric coordinates of ``points`` (N, 2) in the triangles ``corners`` (N, 3, 2).

    With ``depth`` (N, 3), the camera-space z of the corners, the coordinates are perspective-correct
    (they interpolate on the 3D triangle, not on its projection). Degenerate triangles get 1/3 each.
    """
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    v0, v1, v2 = b - a, c - a, points - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    ok = np.abs(den) > 1e-12
    safe = np.where(ok, den, 1)
    bary = np.empty((len(points), 3), np.result_type(points, corners))
    bary[:, 1] = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / safe
    bary[:, 2] = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / safe
    bary[:, 0] = 1 - bary[:, 1] - bary[:, 2]
    bary[~ok] = 1.0 / 3.0
    if depth is not None:
        bary /= np.maximum(depth, 1e-12)
        bary /= np.maximum(bary.sum(axis=1, keepdims=True), 1e-30)
    return bary


class PixelCorners(NamedTuple):
    """The triangle under every covered pixel of a render, its corners and where in it the pixel centre lies.

    Attributes:
        flat: (N,) int64 ``row * W + col`` of each covered pixel, in ``np.flatnonzero(fragments.mask)``
            order (read (H, W) maps with one ``ravel()[flat]``).
        triangle: (N,) int64 the id of the triangle under it.
        bary: (N, 3) float32 perspective-correct barycentric coordinates of the pixel centre in it.
        nearest: (N,) int64 the corner of largest barycentric weight (nearest to the pixel centre on the
            surface).
        width: W.
        triangles: (F, 3) the triangle array the ids index.
        facing: (N,) float32 ``fragments.facing`` at each pixel, or None when the renderer has none.

    ``rows``, ``cols`` and ``corners`` ((N, 3) vertex ids) are computed when asked for.
    """

    flat: np.ndarray
    triangle: np.ndarray
    bary: np.ndarray
    nearest: np.ndarray
    width: int
    triangles: np.ndarray
    facing: np.ndarray | None = None

    @property
    def rows(self) -> np.ndarray:
        return self.flat // self.width

    @property
    def cols(self) -> np.ndarray:
        return self.flat % self.width

    @property
    def corners(self) -> np.ndarray:
        return self.triangles[self.triangle]

    def where(self, mask: np.ndarray) -> "PixelCorners":
        """The entries of the pixels where ``mask`` (H, W) bool is set."""
        keep = np.asarray(mask, bool).ravel()[self.flat]
        return self._replace(flat=self.flat[keep], triangle=self.triangle[keep], bary=self.bary[keep],
                             nearest=self.nearest[keep], facing=None if self.facing is None else self.facing[keep])


def pixel_corners(fragments: Fragments, triangles: np.ndarray, uv: np.ndarray, depth: np.ndarray) -> PixelCorners:
    """The triangle corners under every covered pixel, from the id buffer (see :class:`PixelCorners`).

    The barycentrics are the renderer's (``fragments.bary``) when it interpolated them, else computed
    here from the projected corners.

    Args:
        triangles: (F, 3) the array ``fragments.triangle_id`` indexes.
        uv: (V, 2) projected vertices; depth: (V,) their camera-space z.
    """
    width = fragments.mask.shape[1]
    flat = np.flatnonzero(fragments.mask)
    triangle = fragments.triangle_id.ravel()[flat].astype(np.int64)
    if fragments.bary is not None:  # the renderer interpolated them
        bary, facing = _surface_rows(fragments, flat)
    else:
        facing = None if fragments.facing is None else fragments.facing.ravel()[flat]
        rows, cols = np.divmod(flat, width)
        corners = triangles[triangle]
        centres = np.stack([cols + 0.5, rows + 0.5], axis=1).astype(np.float32)
        bary = barycentric(centres, uv[corners].astype(np.float32), depth[corners].astype(np.float32))
    bary = np.asarray(bary, np.float32)
    nearest = np.asarray(triangles).ravel()[triangle * 3 + _largest_of_three(bary)]
    return PixelCorners(flat, triangle, bary, nearest, width, triangles, facing)


def _largest_of_three(values: np.ndarray) -> np.ndarray:
    """(N,) int64 ``values.argmax(axis=1)`` of (N, 3) values (the first on ties), in two comparisons
    (numpy's argmax over rows of three is about twice as slow)."""
    a, b, c = values[:, 0], values[:, 1], values[:, 2]
    column = (b > a).view(np.int8).astype(np.int64)
    column[c > np.maximum(a, b)] = 2
    return column


def _surface_rows(fragments: Fragments, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, 3) ``fragments.bary`` and (N,) ``fragments.facing`` (or None) at the flat pixel indices ``flat`` (N,).

    When both are views of one C-contiguous (H, W, 4) float32 array (the moderngl backend's surface
    target: barycentrics, then the cosine), each pixel is gathered as one 16-byte item, about 8x
    faster than numpy's row gather (which first copies the strided view whole).
    """
    bary, facing = fragments.bary, fragments.facing
    base = bary.base
    if (isinstance(base, np.ndarray) and base.dtype == np.float32 and base.flags.c_contiguous
            and base.shape == bary.shape[:2] + (4,) and bary.dtype == np.float32 and bary.shape[2] == 3
            and bary.strides == base.strides and bary.ctypes.data == base.ctypes.data):
        rows = base.reshape(-1, 4).view(np.complex128).reshape(-1)[flat].view(np.float32).reshape(-1, 4)
        same = (facing is not None and facing.base is base and facing.dtype == np.float32
                and facing.ctypes.data == base.ctypes.data + 12 and facing.strides == base.strides[:2])
        return rows[:, :3], rows[:, 3] if same else (None if facing is None else facing.ravel()[flat])
    return bary.reshape(-1, 3)[flat], None if facing is None else facing.ravel()[flat]
