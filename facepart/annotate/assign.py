"""From a vote table to parts: the paper's ``union`` rule and the default ``majority`` rule."""

from __future__ import annotations

import numpy as np

# the rules live with the annotation file; re-exported here
from ..data.membership import RULES, majority, membership, union  # noqa: F401


def majority_labels(table: np.ndarray) -> np.ndarray:
    """(V,) labels of a (V, P + 1) table whose last column is "none" (the plain majority rule)."""
    return majority(table[:, :-1], table[:, -1])[0]


class Assignment:
    """The run's rule for turning a (V, P + 1) vote table (last column "none") into labels.

    ``quick_labels`` (the majority of the symmetrically pooled votes) is what the view re-weighting
    compares views with; ``final`` adds the graph cut and measures the result (:mod:`.refine`).
    The mirror pairs are found once per run.
    """

    def __init__(self, model, parts, settings, vote_mask: np.ndarray | None = None):
        self.model, self.parts, self.settings = model, parts, settings
        self.vote_mask = model.vote_mask if vote_mask is None else vote_mask
        self._pairs = None

    @property
    def pairs(self):
        if self._pairs is None:
            from .symmetry import mutual_mirror_pairs

            self._pairs = mutual_mirror_pairs(self.model.vertices, self.model.triangles, mask=self.vote_mask)
        return self._pairs

    def pooled(self, table: np.ndarray):
        from .symmetry import symmetric_pooling

        return symmetric_pooling(table[:, :-1], table[:, -1], self.model.vertices, self.model.triangles,
                                 self.parts.mirror(), self.vote_mask, enabled=self.settings.symmetry,
                                 pairs=self.pairs)

    def quick_labels(self, table: np.ndarray) -> np.ndarray:
        if not self.settings.symmetry:
            return majority_labels(table)
        pooled = self.pooled(table)
        return majority(pooled.votes, pooled.none_votes)[0]

    def final(self, table: np.ndarray, seen: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
        """(V,) labels, (V,) confidence and the report for the annotation's settings (``{"quality": ...}``)."""
        from .refine import refine_labels

        refined = refine_labels(self.model, table[:, :-1], table[:, -1], self.parts, smooth=self.settings.smooth,
                                symmetry=self.settings.symmetry, seen=seen, vote_mask=self.vote_mask,
                                pairs=self.pairs, contrast=self.settings.contrast)
        return refined.labels, refined.confidence, {"quality": refined.settings()}


def assign_labels(model, parts, settings, vote_mask: np.ndarray | None = None) -> Assignment:
    """The :class:`Assignment` of a run with ``settings``."""
    return Assignment(model, parts, settings, vote_mask)
