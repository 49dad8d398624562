"""What the editor needs to know about the screen: a camera, a depth image, and which vertices they show.

No window here: the Open3D viewer turns its camera and depth buffer into a
:class:`ScreenView`; tests build one from facepart's own renderer. Coordinates
are pixels of the 3D view (x right, y down, pixel (row r, column c) covers
``[c, c+1) x [r, r+1)``), as in :class:`facepart.renderers.Camera`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..renderers.camera import Camera

#: OpenGL camera (y up, looking along -z) -> OpenCV camera (y down, looking along +z).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def camera_from_gl(view: np.ndarray, projection: np.ndarray, width: int, height: int) -> Camera:
    """A :class:`Camera` from OpenGL matrices (Open3D's ``get_view_matrix``/``get_projection_matrix``).

    Args:
        view: (4, 4) world -> eye (OpenGL: the camera looks along -z, y up).
        projection: (4, 4) perspective projection to clip space.
        width, height: the viewport in pixels.
    """
    view = np.asarray(view, np.float64)
    p = np.asarray(projection, np.float64)
    rotation = _GL_TO_CV @ view[:3, :3]
    translation = _GL_TO_CV @ view[:3, 3]
    fx, fy = 0.5 * width * p[0, 0], 0.5 * height * p[1, 1]
    cx, cy = 0.5 * width * (1.0 - p[0, 2]), 0.5 * height * (1.0 + p[1, 2])
    near = p[2, 3] / (p[2, 2] - 1.0) if p[2, 2] != 1.0 else 0.01
    far = p[2, 3] / (p[2, 2] + 1.0) if p[2, 2] != -1.0 else 100.0
    return Camera(fx, fy, cx, cy, int(width), int(height), rotation, translation,
                  znear=float(abs(near)), zfar=float(abs(far)) if np.isfinite(far) else 100.0)


def look_at_pose(target: np.ndarray, direction: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(center, eye, up) for a camera ``distance`` away from ``target`` along ``direction`` (toward the eye).

    "Up" is +y unless the direction is nearly vertical: then -z seen from above the head and +z from below
    the chin, as if the camera had tilted there from the front view (the face stays upright, the subject's
    left on the image's right, never mirrored).
    """
    d = np.asarray(direction, np.float64)
    norm = np.linalg.norm(d)
    d = np.array([0.0, 0.0, 1.0]) if norm < 1e-12 else d / norm
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.95 else np.array([0.0, 0.0, -np.sign(d[1])])
    target = np.asarray(target, np.float64)
    return target, target + distance * d, up


#: Named views: direction from the head toward the eye (+x is the subject's left).
VIEW_DIRECTIONS = {"front": (0.0, 0.0, 1.0), "left": (1.0, 0.0, 0.0), "right": (-1.0, 0.0, 0.0)}


@dataclass
class ScreenView:
    """One view of the mesh: its camera and depth image.

    Attributes:
        camera: the 3D view's camera (pixels of the view, not of the window).
        depth: (H, W) float32 camera-space z of the nearest surface, ``inf`` (or 0) on background.
    """

    camera: Camera
    depth: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        depth = np.asarray(self.depth, np.float32)
        if depth.shape != (self.camera.height, self.camera.width):
            raise ValueError(f"depth image {depth.shape} does not match the camera "
                             f"({self.camera.height}, {self.camera.width})")
        self.depth = np.where((depth > 0) & np.isfinite(depth), depth, np.inf).astype(np.float32)

    def project(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(V, 2) pixel coordinates and (V,) camera z of ``vertices`` (cached for the same array)."""
        key = ("project", id(vertices))
        if key not in self._cache:  # the cache holds the array too, so its id cannot be reused
            self._cache[key] = (vertices, self.camera.project(vertices))
        return self._cache[key][1]

    def tolerance(self, z: np.ndarray) -> np.ndarray:
        """Allowed depth difference for a vertex at depth ``z``: 1.5 mm plus three pixel footprints."""
        return 1.5e-3 + 3.0 * np.abs(z) / max(self.camera.fx, 1e-9)

    def in_frame(self, vertices: np.ndarray) -> np.ndarray:
        """(V,) bool: in front of the camera and inside the image."""
        uv, z = self.project(vertices)
        w, h = self.camera.width, self.camera.height
        with np.errstate(invalid="ignore"):
            return (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)

    def visible(self, vertices: np.ndarray, shown: np.ndarray) -> np.ndarray:
        """(V,) bool: ``shown`` vertices in the image and not behind the surface the depth image holds."""
        key = ("visible", id(vertices), id(shown))
        if key in self._cache:
            return self._cache[key][2]
        uv, z = self.project(vertices)
        ok = self.in_frame(vertices) & shown
        idx = np.flatnonzero(ok)
        col = uv[idx, 0].astype(np.int64)
        row = uv[idx, 1].astype(np.int64)
        front = self.depth[row, col]
        out = np.zeros(len(vertices), bool)
        out[idx] = front >= z[idx] - self.tolerance(z[idx])
        self._cache[key] = (vertices, shown, out)
        return out

    def depth_at(self, x: float, y: float) -> float:
        """Depth under the view pixel ``(x, y)`` (``inf`` off the mesh or outside the view)."""
        c, r = int(np.floor(x)), int(np.floor(y))
        if 0 <= r < self.depth.shape[0] and 0 <= c < self.depth.shape[1]:
            return float(self.depth[r, c])
        return float("inf")

    def unproject(self, x: float, y: float, z: float) -> np.ndarray:
        """(3,) world point at view pixel ``(x, y)`` and camera depth ``z``."""
        cam = self.camera
        pc = np.array([(x - cam.cx) / cam.fx * z, (y - cam.cy) / cam.fy * z, z])
        return np.asarray(cam.rotation, np.float64).T @ (pc - np.asarray(cam.translation, np.float64))


def headlight(vertices: np.ndarray, normals: np.ndarray, eye: np.ndarray, up: np.ndarray | None = None,
              ambient: float = 0.3) -> np.ndarray:
    """(V,) float32 Lambert shading in [ambient, 1] from a point light just above the camera at ``eye``.

    For drawing unlit (fast on software renderers) with the shape still readable: vertex colours
    are multiplied by this. ``up`` (default +y) lifts the light a little above the eye.
    """
    eye = np.asarray(eye, np.float64)
    to_eye = eye - np.asarray(vertices, np.float64)
    if up is not None:
        to_eye += 0.15 * np.linalg.norm(to_eye, axis=1).mean() * np.asarray(up, np.float64)
    to_eye /= np.maximum(np.linalg.norm(to_eye, axis=1, keepdims=True), 1e-12)
    lambert = np.clip(np.einsum("ij,ij->i", np.asarray(normals, np.float64), to_eye), 0.0, 1.0)
    return (ambient + (1.0 - ambient) * lambert).astype(np.float32)


def points_in_polygon(points: np.ndarray, polygon: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N,) bool: which ``points`` (N, 2) pixels lie inside ``polygon`` (K, 2) (a lasso; K >= 3).

    The polygon is rasterised once (OpenCV, even-odd fill) and each point looks up its pixel,
    so the cost does not grow with the number of lasso points.
    """
    import cv2

    poly = np.asarray(polygon, np.float64)
    if len(poly) < 3:
        return np.zeros(len(points), bool)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32).reshape(-1, 1, 2)], 1)
    pts = np.asarray(points, np.float64)
    col = np.floor(pts[:, 0]).astype(np.int64)
    row = np.floor(pts[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    out = np.zeros(len(pts), bool)
    out[inside] = mask[row[inside], col[inside]] > 0
    return out
