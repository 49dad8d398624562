"""``landmarks.png``: the embedded landmarks on the model's mean shape, coloured by their spread.

Three panels (the head turned to each end of the sampled yaw range, and frontal): static
landmarks are dots, dynamic ones short tracks through their per-yaw-bin points around the
panel's own yaw (``TRACK_BINS`` bins either side; a ringed dot marks the panel's bin), so each
track shows where the landmark sits at that yaw and which way it moves as the head turns. The
colour is the spread (median distance of the views' points from the result): green is tight,
red is loose. Only points the panel's depth buffer shows are drawn.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from ..data.face_model import FaceModel
from ..geometry import barycentric_points
from ..renderers.light import Light
from .landmarks import LandmarkEmbedding
from .pipeline import make_scene
from .variants import frontal_variant, posed_vertices

FIGURE_LIGHT = Light(np.array([0.2, -0.3, -1.0]), 2.2, 0.55)
TRACK_BINS = 2  # bins either side of the panel's yaw drawn as a dynamic landmark's track
RAMP = np.array([[40, 170, 60], [235, 200, 40], [215, 40, 40]], float)  # green -> yellow -> red


def spread_colour(spread_mm: np.ndarray, vmax: float) -> np.ndarray:
    """(N,) spreads -> (N, 3) uint8 RGB on the green-yellow-red ramp over 0..vmax (grey for NaN)."""
    t = np.clip(np.nan_to_num(np.asarray(spread_mm, float), nan=-1.0) / vmax, 0.0, 1.0) * 2.0
    lo = np.minimum(t.astype(int), 1)
    f = (t - lo)[:, None]
    out = (1 - f) * RAMP[lo] + f * RAMP[lo + 1]
    out[np.isnan(np.asarray(spread_mm, float))] = (150, 150, 150)
    return out.astype(np.uint8)


def _visible(frag, uv: np.ndarray, z: np.ndarray, tolerance: float) -> np.ndarray:
    h, w = frag.depth.shape
    ok = np.isfinite(uv).all(axis=1)
    col = np.floor(np.nan_to_num(uv[:, 0], nan=-1)).astype(int)
    row = np.floor(np.nan_to_num(uv[:, 1], nan=-1)).astype(int)
    ok &= (col >= 0) & (col < w) & (row >= 0) & (row < h)
    vis = np.zeros(len(uv), bool)
    zb = frag.depth[row[ok], col[ok]]
    vis[ok] = (zb > 0) & (zb >= z[ok] - tolerance)
    return vis


def panel_yaws(embedding: LandmarkEmbedding) -> tuple[float, ...]:
    reach = float(min(max(abs(embedding.bin_edges[0]), abs(embedding.bin_edges[-1])), 45.0))
    return (-reach, 0.0, reach) if reach >= 10 else (0.0,)


def render_landmark_figure(model: FaceModel, embedding: LandmarkEmbedding, size: int = 448,
                           renderer=None) -> np.ndarray:
    """(H, n_panels * size, 3) uint8 RGB: the landmarks on the mean shape, with a legend."""
    from ..renderers.base import renderer_for

    scene = make_scene(model, size)
    grey = np.full((model.n_vertices, 3), 0.8, np.float32)
    vmax = 2.0 * float(embedding.settings.get("stable_mm", 4.0))
    static = embedding.embedded & ~embedding.dynamic
    dyn = embedding.dynamic_ids
    tol = 3.0 * float(np.linalg.norm(scene.camera.translation)) / scene.camera.fx
    dot_colours = spread_colour(embedding.spread_mm, vmax)
    radius = max(2, size // 150)
    panels = []
    with renderer_for(renderer, size) as renderer:
        for yaw in panel_yaws(embedding):
            variant = dataclasses.replace(frontal_variant(), yaw=yaw, light=FIGURE_LIGHT)
            v = posed_vertices(model, variant, scene.centre)
            frag = renderer.render(v, scene.triangles, scene.camera, colors=grey, light=variant.light)
            img = np.ascontiguousarray(frag.image.copy())
            img[~frag.mask] = 255
            # dynamic landmarks: a track through their per-bin points, a ringed dot at this yaw's bin
            this_bin = embedding.bin_of(yaw)
            for k, j in enumerate(dyn):
                pts = barycentric_points(v, model.triangles, embedding.dyn_triangle[:, k], embedding.dyn_bary[:, k])
                uv, z = scene.camera.project(pts)
                vis = _visible(frag, uv, z, tol)
                colours = spread_colour(embedding.dyn_spread_mm[:, k], vmax)
                lo, hi = max(this_bin - TRACK_BINS, 0), min(this_bin + TRACK_BINS, len(pts) - 1)
                for b in range(lo, hi):
                    if vis[b] and vis[b + 1]:
                        cv2.line(img, _px(uv[b]), _px(uv[b + 1]), _c(colours[b]), max(1, radius // 2 + 1), cv2.LINE_AA)
                if vis[this_bin]:
                    cv2.circle(img, _px(uv[this_bin]), radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
                    cv2.circle(img, _px(uv[this_bin]), radius, _c(colours[this_bin]), -1, cv2.LINE_AA)
            # static landmarks: dots
            pts = embedding.points(v, model.triangles)
            uv, z = scene.camera.project(np.nan_to_num(pts))
            vis = _visible(frag, uv, z, tol) & static
            for j in np.flatnonzero(vis):
                cv2.circle(img, _px(uv[j]), radius + 1, (30, 30, 30), -1, cv2.LINE_AA)
                cv2.circle(img, _px(uv[j]), radius, _c(dot_colours[j]), -1, cv2.LINE_AA)
            cv2.putText(img, f"yaw {yaw:+.0f}", (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
            panels.append(img)
    row = np.hstack(panels)
    return np.vstack([row, _legend(embedding, row.shape[1], vmax)])


def _px(p) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _c(rgb) -> tuple[int, int, int]:
    return int(rgb[0]), int(rgb[1]), int(rgb[2])


def _legend(embedding: LandmarkEmbedding, width: int, vmax: float) -> np.ndarray:
    legend = np.full((78, width, 3), 255, np.uint8)
    x0, bar_w = 12, min(260, width // 3)
    ramp = spread_colour(np.linspace(0, vmax, bar_w), vmax)
    legend[10:24, x0:x0 + bar_w] = ramp[None]
    font = cv2.FONT_HERSHEY_SIMPLEX
    black = (0, 0, 0)
    cv2.putText(legend, "0", (x0, 38), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(legend, f"{vmax:g} mm", (x0 + bar_w - 30, 38), font, 0.4, black, 1, cv2.LINE_AA)
    cv2.putText(legend, "spread", (x0 + bar_w // 2 - 20, 38), font, 0.4, black, 1, cv2.LINE_AA)
    s = embedding.landmark_set
    text = (f"{s.name} landmarks on {embedding.model_name}: {int(embedding.stable.sum())} stable, "
            f"{len(embedding.dynamic_ids)} dynamic (tracks: +-{TRACK_BINS} yaw bins of "
            f"{embedding.bin_edges[1] - embedding.bin_edges[0]:g} deg around the panel's yaw), dots static")
    cv2.putText(legend, text, (x0 + bar_w + 16, 21), font, 0.42, black, 1, cv2.LINE_AA)
    if embedding.check is not None:
        c = embedding.check
        i = c.groups.index("all")
        cv2.putText(legend, f"held-out NME: mean {c.mean[i]:.3f}, p95 {c.p95[i]:.3f} ({c.views} views)",
                    (x0 + bar_w + 16, 41), font, 0.42, black, 1, cv2.LINE_AA)
    cv2.putText(legend, f"detector: {embedding.detector}"[:140], (x0, 64), font, 0.4, (70, 70, 70), 1, cv2.LINE_AA)
    return legend
