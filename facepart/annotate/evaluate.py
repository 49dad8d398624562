"""Held-out Part IoU: how well an annotation reproduces the parser on renders it did not vote on.

The paper's Part IoU applied to the annotation: render held-out variants,
draw the annotation as a part map and compare it, part by part, with the
segmenter's own part map of the same render. A pixel of the model's own
surface takes the label of the nearest corner of its triangle. A pixel of
geometry that never carries a part (an eyeball) takes the label of the
nearest visible vote-eligible vertex when that is an eye: parsers call the
whole eye opening "eye", so an eye annotated as its eyelid rim still covers
it (the mirror image of how such pixels vote). Teeth and tongue stay
unlabelled, as parsers give them a class of their own (inner mouth). Intersections and unions are summed over
all views before dividing (dataset-level IoU).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..data.face_model import FaceModel
from ..interrupts import deferred_interrupt
from ..renderers.base import Renderer, renderer_for
from ..renderers.fragments import visible_vertices
from ..segmenters.base import PartSegmenter, View
from ..segmenters.oracle import nearest_corner_labels
from .vote import check_part_map
from .settings import MAX_VARIANTS, AnnotateSettings
from .views import Scene, iter_views, make_scene

#: Held-out variant indices start here: past every index a run may vote with.
HELD_OUT_OFFSET = MAX_VARIANTS
#: Parts that include what is seen through them (the eyeball in the eye opening).
OPENING_PARTS = ("left_eye", "right_eye")


class PartIoU(NamedTuple):
    names: tuple[str, ...]
    iou: np.ndarray  # (P,) float, NaN where the part appears in neither map
    intersection: np.ndarray  # (P,) int pixels
    union: np.ndarray  # (P,) int pixels
    views: int  # views compared
    skipped: int  # views the segmenter could not parse

    @property
    def mean(self) -> float:
        return float(np.nanmean(self.iou)) if np.isfinite(self.iou).any() else float("nan")

    def table(self) -> str:
        """A small plain-text table, one row per part, and the mean."""
        width = max(len(n) for n in self.names)
        rows = [f"  {n:<{width}}  {'   n/a' if np.isnan(v) else f'{v:6.3f}'}" for n, v in zip(self.names, self.iou)]
        rows.append(f"  {'mean':<{width}}  {self.mean:6.3f}   ({self.views} held-out views"
                    + (f", {self.skipped} without a face" if self.skipped else "") + ")")
        return "\n".join(rows)


def draw_annotation(view: View, labels: np.ndarray, model: FaceModel, scene: Scene,
                    openings: np.ndarray | None = None) -> np.ndarray:
    """(H, W) int16 part map of ``labels`` (V,) as seen in ``view`` (-1 off the model or unlabelled).

    ``openings``: ids of the parts that also cover the non-eligible geometry seen
    through them (default: none).
    """
    drawn = nearest_corner_labels(view, labels)
    frag = view.fragments
    foreign = frag.mask & ~scene.eligible_triangles[np.maximum(frag.triangle_id, 0)]
    if foreign.any() and openings is not None and len(openings):
        visible = visible_vertices(frag, view.triangles, view.uv, view.depth, scene.depth_tolerance)
        cand = np.flatnonzero(visible & scene.vote_mask)
        if len(cand):
            from scipy.spatial import cKDTree

            rows, cols = np.nonzero(foreign)
            tree = cKDTree(view.uv[cand])
            with deferred_interrupt():  # scipy's worker threads must not outlive the tree on Ctrl-C
                _, nearest = tree.query(np.stack([cols + 0.5, rows + 0.5], 1), workers=-1)
            fill = labels[cand[nearest]]
            take = np.isin(fill, openings)
            drawn[rows[take], cols[take]] = fill[take]
    return drawn


def part_iou(model: FaceModel, labels: np.ndarray, segmenter: PartSegmenter, settings: AnnotateSettings,
             views: int = 10, renderer: Renderer | None = None) -> PartIoU:
    """Part IoU of ``labels`` (V,) against ``segmenter`` on ``views`` held-out variants.

    The held-out variants come from the run's own sampling settings and seed,
    at indices the run never votes on.
    """
    n_parts = len(segmenter.parts)
    openings = np.array([i for i, n in enumerate(segmenter.parts.names) if n in OPENING_PARTS], np.int64)
    inter = np.zeros(n_parts, np.int64)
    union = np.zeros(n_parts, np.int64)
    compared = skipped = 0
    with renderer_for(renderer, settings.size) as renderer:
        scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
        indices = range(HELD_OUT_OFFSET, HELD_OUT_OFFSET + views)
        for _, view in iter_views(model, settings, renderer, indices, shade=segmenter.needs_image, scene=scene):
            parsed = segmenter.part_map(view)
            if parsed is None:
                skipped += 1
                continue
            parsed = check_part_map(parsed, view, n_parts, segmenter.name)
            drawn = draw_annotation(view, labels, model, scene, openings)
            on = view.fragments.mask
            for p in range(n_parts):
                a, b = (parsed == p) & on, (drawn == p) & on
                inter[p] += np.count_nonzero(a & b)
                union[p] += np.count_nonzero(a | b)
            compared += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return PartIoU(tuple(segmenter.parts.names), iou, inter, union, compared, skipped)
