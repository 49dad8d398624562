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


def render_preview(model: FaceModel, labels: np.ndarray, parts: PartTable, size: int = 384,
                   renderer: Renderer | None = None) -> np.ndarray:
    """(H, 3 * size, 3) uint8 RGB: the labelled mean shape at yaw -60, 0, +60 degrees plus a legend."""
    scene = make_scene(model, size, whole=True)
    colors = parts.colorize(labels).astype(np.float32) / 255.0
    panels = []
    with renderer_for(renderer, size) as renderer:
        for yaw in PREVIEW_YAWS:
            variant = dataclasses.replace(frontal_variant(), yaw=yaw, light=PREVIEW_LIGHT)
            v = posed_vertices(model, variant, scene.centre)
            frag = renderer.render(v, scene.triangles, scene.camera, colors=colors, light=variant.light)
            img = frag.image.copy()
            img[~frag.mask] = 255
            panels.append(img)
    return np.vstack([np.hstack(panels), _legend(parts, labels, 3 * size)])


def _legend(parts: PartTable, labels: np.ndarray, width: int) -> np.ndarray:
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
