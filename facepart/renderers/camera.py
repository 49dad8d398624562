"""Pinhole camera in OpenCV convention (x right, y down, z forward), pixel centres at +0.5.

A world point X projects to ``u = fx * Xc / Zc + cx``, ``v = fy * Yc / Zc + cy`` with
``Xc = R @ X + t``; pixel (row r, column c) covers ``[c, c+1) x [r, r+1)``.
Renderers draw with exactly this projection, so projected vertices line up
with rendered pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FacepartError


@dataclass(frozen=True)
class Camera:
    """Intrinsics, extrinsics (world -> camera) and image size."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    rotation: np.ndarray  # (3, 3) world -> camera
    translation: np.ndarray  # (3,)
    znear: float = 0.01
    zfar: float = 100.0

    @classmethod
    def looking_at(cls, target: np.ndarray, radius: float, size: int | tuple[int, int], fill: float = 0.85,
                   distance_in_radii: float = 6.0) -> "Camera":
        """A camera on the +z side of ``target`` looking toward -z (the face looks at it).

        ``radius`` (metres) is framed to ``fill`` of the half image height.
        """
        width, height = (size, size) if np.isscalar(size) else size
        if not (np.isfinite(radius) and radius > 0):
            raise FacepartError(f"cannot frame the model: its framing radius is {radius:g} m "
                                "(are all its points at one spot?)")
        distance = distance_in_radii * radius
        f = fill * 0.5 * min(width, height) * distance / radius
        rot = np.diag([1.0, -1.0, -1.0])  # world +y up, +z to camera -> camera y down, z forward
        eye = np.asarray(target, float) + [0.0, 0.0, distance]
        return cls(f, f, width / 2.0, height / 2.0, int(width), int(height), rot, -rot @ eye,
                   znear=distance - 3 * radius if distance > 3.5 * radius else 0.01 * radius,
                   zfar=distance + 3 * radius)

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world -> (N, 3) camera coordinates."""
        return np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) world points -> (N, 2) pixel coordinates (u, v) and (N,) depth z."""
        pc = self.to_camera(points)
        z = pc[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([self.fx * pc[:, 0] / z + self.cx, self.fy * pc[:, 1] / z + self.cy], axis=1)
        return uv, z

    def centre(self) -> np.ndarray:
        """(3,) float64 the camera centre in world coordinates."""
        return -np.asarray(self.rotation, np.float64).T @ np.asarray(self.translation, np.float64)

    def opengl_pose(self) -> np.ndarray:
        """(4, 4) camera-to-world pose in OpenGL convention (y up, looking along -z)."""
        cv_to_gl = np.diag([1.0, -1.0, -1.0])
        pose = np.eye(4)
        pose[:3, :3] = self.rotation.T @ cv_to_gl
        pose[:3, 3] = self.centre()
        return pose

    def as_dict(self) -> dict:
        return {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy, "width": self.width,
                "height": self.height, "rotation": np.asarray(self.rotation).tolist(),
                "translation": np.asarray(self.translation).tolist(), "znear": self.znear, "zfar": self.zfar}

    @classmethod
    def from_dict(cls, d: dict) -> "Camera":
        d = dict(d)
        d["rotation"] = np.asarray(d["rotation"], float)
        d["translation"] = np.asarray(d["translation"], float)
        return cls(**d)
