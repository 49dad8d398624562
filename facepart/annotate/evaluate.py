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
#: Settings key of the stored mean, view count and 95% interval (``{"mean", "views", "interval_95"}``).
HELD_OUT_MEAN = "held_out_part_iou_mean"
#: Settings key: why the held-out Part IoU was not computed (masks made elsewhere, a merge of shards).
HELD_OUT_SKIPPED = "held_out_part_iou_skipped"


def held_out_mean_text(settings: dict) -> str | None:
    """"mean 0.767 over 10 held-out views (95% interval 0.737-0.793)" from an annotation's settings, or None
    when the run stored no (readable) mean."""
    record = settings.get(HELD_OUT_MEAN) if isinstance(settings, dict) else None
    if not isinstance(record, dict):
        return None
    try:
        text = f"mean {float(record['mean']):.3f} over {int(record['views'])} held-out views"
        span = record.get("interval_95")
        if span:
            text += f" (95% interval {float(span[0]):.3f}-{float(span[1]):.3f})"
        return text
    except (KeyError, TypeError, ValueError, IndexError):
        return None


class PartIoU(NamedTuple):
    names: tuple[str, ...]
    iou: np.ndarray  # (P,) float, NaN where the part appears in neither map
    intersection: np.ndarray  # (P,) int pixels
    union: np.ndarray  # (P,) int pixels
    views: int  # views compared
    skipped: int  # views the segmenter could not parse
    view_intersection: np.ndarray | None = None  # (views, P) int pixels, per compared view
    view_union: np.ndarray | None = None  # (views, P) int pixels, per compared view

    @property
    def mean(self) -> float:
        return _mean_iou(self.intersection, self.union)

    def interval(self, level: float = 0.95, resamples: int = 2000, seed: int = 0) -> tuple[float, float] | None:
        """(low, high) percentile-bootstrap interval of :attr:`mean` over the held-out views (views drawn with
        replacement, sums re-taken), or None with fewer than 3 views: how far the figure could move with
        another draw of held-out renders."""
        if self.view_intersection is None or self.views < 3:
            return None
        rng = np.random.default_rng(seed)
        pick = rng.integers(0, self.views, (resamples, self.views))
        inter = self.view_intersection[pick].sum(axis=1)  # (resamples, P)
        union = self.view_union[pick].sum(axis=1)
        means = np.array([_mean_iou(i, u) for i, u in zip(inter, union)])
        means = means[np.isfinite(means)]
        if not len(means):
            return None
        tail = 100 * (1 - level) / 2
        low, high = np.percentile(means, [tail, 100 - tail])
        return float(low), float(high)

    def table(self) -> str:
        """A small plain-text table, one row per part, and the mean (with its bootstrap interval)."""
        width = max(len(n) for n in self.names)
        rows = [f"  {n:<{width}}  {'   n/a' if np.isnan(v) else f'{v:6.3f}'}" for n, v in zip(self.names, self.iou)]
        # the mean and interval as stored (4 decimals), so `facepart info` prints the same 3 as this table
        span = self.interval()
        span = None if span is None else (round(span[0], 4), round(span[1], 4))
        rows.append(f"  {'mean':<{width}}  {round(self.mean, 4):6.3f}   ({self.views} held-out views"
                    + (f", {self.skipped} without a face" if self.skipped else "")
                    + (f"; 95% interval over views {span[0]:.3f}-{span[1]:.3f}" if span else "") + ")")
        return "\n".join(rows)


def _part_ious(intersection: np.ndarray, union: np.ndarray) -> np.ndarray:
    """(P,) intersection / union per part, NaN where the part is in neither map."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / np.maximum(union, 1), np.nan)


def _mean_iou(intersection: np.ndarray, union: np.ndarray) -> float:
    """Mean over parts of summed intersection / summed union (parts in neither map left out)."""
    iou = _part_ious(intersection, union)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


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
    per_view_inter, per_view_union = [], []
    skipped = 0
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
            a = np.where(on, parsed, -1).ravel()
            b = np.where(on, drawn, -1).ravel()
            count_a = np.bincount(a[a >= 0], minlength=n_parts)[:n_parts]
            count_b = np.bincount(b[b >= 0], minlength=n_parts)[:n_parts]
            same = (a == b) & (a >= 0)
            both = np.bincount(a[same], minlength=n_parts)[:n_parts]
            per_view_inter.append(both)
            per_view_union.append(count_a + count_b - both)
    view_inter = np.array(per_view_inter, np.int64).reshape(-1, n_parts)
    view_union = np.array(per_view_union, np.int64).reshape(-1, n_parts)
    inter, union = view_inter.sum(axis=0), view_union.sum(axis=0)
    return PartIoU(tuple(segmenter.parts.names), _part_ious(inter, union), inter, union, len(view_inter), skipped,
                   view_inter, view_union)
