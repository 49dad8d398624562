"""``preview.png``: the model's mean shape from three sides, coloured by part, with a legend."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from ..data.face_model import FaceModel
from ..data.parts import UNLABELLED_COLOR, PartTable
from ..errors import FacepartError
from ..io_utils import atomic_path
from ..renderers.base import Renderer, renderer_for
from ..renderers.light import Light
from .variants import frontal_variant, posed_vertices
from .views import make_scene

PREVIEW_YAWS = (-60.0, 0.0, 60.0)
PREVIEW_LIGHT = Light(np.array([0.2, -0.3, -1.0]), 2.0, 0.5)


def render_views(model: FaceModel, colors: np.ndarray, size: int, renderer: Renderer | None = None,
                 yaws: tuple[float, ...] = PREVIEW_YAWS, whole: bool = True) -> list[np.ndarray]:
    """One (size, size, 3) uint8 RGB render per yaw of the mean shape with per-vertex ``colors`` (V, 3) uint8,
    lit from the front on a white background; ``whole`` frames the whole mesh, otherwise the face."""
    scene = make_scene(model, size, whole=whole)
    colors = np.asarray(colors, np.float32) / 255.0
    images = []
    with renderer_for(renderer, size) as renderer:
        for yaw in yaws:
            variant = dataclasses.replace(frontal_variant(), yaw=yaw, light=PREVIEW_LIGHT)
            vertices = posed_vertices(model, variant, scene.centre)
            frag = renderer.render(vertices, scene.triangles, scene.camera, colors=colors, light=variant.light)
            image = frag.image.copy()
            image[~frag.mask] = 255
            images.append(image)
    return images


def render_preview(model: FaceModel, labels: np.ndarray, parts: PartTable, size: int = 384,
                   renderer: Renderer | None = None) -> np.ndarray:
    """(H, 3 * size, 3) uint8 RGB: the labelled mean shape at yaw -60, 0, +60 degrees plus a legend."""
    panels = render_views(model, parts.colorize(labels), size, renderer)
    return np.vstack([np.hstack(panels), part_legend(parts, labels, 3 * size)])


def part_legend(parts: PartTable, labels: np.ndarray, width: int) -> np.ndarray:
    """(H, width, 3) uint8 RGB: a white strip with each part's colour, name and vertex count (and "none")."""
    entries = [(f"{n} ({int((labels == i).sum())})", tuple(int(c) for c in parts.colors[i]))
               for i, n in enumerate(parts.names)]
    entries.append((f"none ({int((labels < 0).sum())})", UNLABELLED_COLOR))
    per_row = 4
    rows = (len(entries) + per_row - 1) // per_row
    legend = np.full((rows * 26 + 8, width, 3), 255, np.uint8)
    col_w = width // per_row
    for k, (text, color) in enumerate(entries):
        x, y = 10 + (k % per_row) * col_w, 8 + (k // per_row) * 26
        cv2.rectangle(legend, (x, y), (x + 16, y + 16), color, -1)
        cv2.rectangle(legend, (x, y), (x + 16, y + 16), (0, 0, 0), 1)
        cv2.putText(legend, text, (x + 22, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return legend


def write_png(path: str | Path, rgb: np.ndarray) -> Path:
    """Write an RGB image as PNG atomically."""
    path = Path(path)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise FacepartError(f"{path}: could not encode the image as PNG")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path
