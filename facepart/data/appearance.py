"""Brows and lips painted from a model's own 68 landmarks, for models that have no colour.

A 2D parser finds eyebrows and lips in photos by their colour. An untextured
render has none of these cues, and a landmark parser then places the brows
by its face prior (on the ICT model about a centimetre below where the
model's own landmarks put them). When a model has no albedo but carries the
68 iBUG landmarks, facepart paints a neutral skin with darker eyebrows (a
band hanging ``BROW_HEIGHT`` below the brow landmarks, which mark the upper
contour) and redder lips (inside the outer lip contour), in the frontal
(x, y) projection of the mean shape, on front-facing vertices only. Geometry
that never carries a part (eyeballs, teeth, tongue) seen through the eye
and lip contours gets a white sclera with an iris and pupil, and a dark
mouth interior, so the eye opening stands out as it does in a photo. Two
albedo modes vary the brow darkness and the lip colour per variant, next to
the skin-tone modes.
"""

from __future__ import annotations

import numpy as np

from .face_model import NEUTRAL_SKIN, FaceModel
from .textures import tone_basis

BROW_HEIGHT = 0.008  # metres below the upper brow contour
BROW_COLOR = np.array([0.30, 0.22, 0.17], np.float32)
LIP_COLOR = np.array([0.72, 0.40, 0.40], np.float32)
SCLERA_COLOR = np.array([0.90, 0.88, 0.85], np.float32)
IRIS_COLOR = np.array([0.30, 0.20, 0.13], np.float32)
PUPIL_COLOR = np.array([0.05, 0.04, 0.04], np.float32)
MOUTH_COLOR = np.array([0.35, 0.12, 0.12], np.float32)
IRIS_RADIUS, PUPIL_RADIUS = 0.21, 0.08  # fractions of the eye's width
RIGHT_BROW, LEFT_BROW = range(17, 22), range(22, 27)
RIGHT_EYE, LEFT_EYE = range(36, 42), range(42, 48)
OUTER_LIPS = range(48, 60)


def _brow_band(xy: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """(V,) float weight in [0, 1]: under the brow contour (K, 2) by up to BROW_HEIGHT, tapered at the ends."""
    order = np.argsort(contour[:, 0])
    cx, cy = contour[order, 0], contour[order, 1]
    inside = (xy[:, 0] >= cx[0]) & (xy[:, 0] <= cx[-1])
    top = np.interp(xy[:, 0], cx, cy)
    below = top - xy[:, 1]
    # the brow thins toward its tail (the lateral end, farthest from x = 0)
    lateral = np.abs(xy[:, 0]) - np.abs(cx).min()
    span = max(np.abs(cx).max() - np.abs(cx).min(), 1e-6)
    height = BROW_HEIGHT * (1.0 - 0.5 * np.clip(lateral / span, 0, 1))
    return (inside & (below >= -0.0005) & (below <= height)).astype(np.float32)


def _inside_polygon(xy: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(V,) bool, even-odd rule."""
    x, y = xy[:, 0], xy[:, 1]
    inside = np.zeros(len(xy), bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for i in range(len(polygon)):
        j = i - 1
        crosses = (py[i] > y) != (py[j] > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            xint = (px[j] - px[i]) * (y - py[i]) / (py[j] - py[i]) + px[i]
        inside ^= crosses & (x < xint)
    return inside


def paint_from_landmarks(model: FaceModel) -> bool:
    """Give an uncoloured ``model`` with 68 landmarks painted brows and lips; True if it did."""
    if model.albedo is not None or model.landmarks68 is None or len(model.landmarks68) != 68:
        return False
    from ..geometry import vertex_normals

    v = model.vertices
    lm = v[model.landmarks68]
    front = (vertex_normals(v, model.triangles)[:, 2] > 0.2) & model.vote_mask
    xy = v[:, :2]
    near_face = v[:, 2] > lm[:, 2].min() - 0.02
    brows = np.maximum(_brow_band(xy, lm[list(RIGHT_BROW), :2]), _brow_band(xy, lm[list(LEFT_BROW), :2]))
    brows *= front & near_face
    lips = (_inside_polygon(xy, lm[list(OUTER_LIPS), :2]) & front & near_face).astype(np.float32)

    skin = np.broadcast_to(NEUTRAL_SKIN, v.shape)
    albedo = skin * (1 - brows[:, None]) + BROW_COLOR * brows[:, None]
    albedo = albedo * (1 - lips[:, None]) + LIP_COLOR * lips[:, None]

    # what is seen through the openings: geometry drawn but never voted on
    inner = model.render_mask & ~model.vote_mask & near_face
    for eye in (RIGHT_EYE, LEFT_EYE):
        contour = lm[list(eye), :2]
        centre = contour.mean(axis=0)
        width = np.ptp(contour[:, 0])
        grown = centre + 1.3 * (contour - centre)
        ball = inner & _inside_polygon(xy, grown)
        r = np.linalg.norm(xy - centre, axis=1) / max(width, 1e-6)
        albedo[ball] = SCLERA_COLOR
        albedo[ball & (r < IRIS_RADIUS)] = IRIS_COLOR
        albedo[ball & (r < PUPIL_RADIUS)] = PUPIL_COLOR
    albedo[inner & _inside_polygon(xy, lm[list(OUTER_LIPS), :2])] = MOUTH_COLOR
    model.albedo = albedo.astype(np.float32)
    model.albedo_basis = np.concatenate([
        tone_basis(model.albedo),
        (brows[:, None] * np.array([0.08, 0.07, 0.06], np.float32))[None],  # lighter / darker brows
        (lips[:, None] * np.array([0.06, -0.05, -0.03], np.float32))[None],  # more / less red lips
    ])
    model.meta.setdefault("notes", []).append(
        f"no colour in the file: neutral skin with brows ({int((brows > 0).sum())} vertices) and lips "
        f"({int(lips.sum())} vertices) painted from the 68 landmarks")
    return True
