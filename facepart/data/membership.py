"""Which vertices belong to which part under an annotation's rule (data, so the annotation file can answer it).

``majority``: each vertex is in the one part of its label (:func:`majority`:
its most-voted part); ``union`` (the paper's rule): a vertex is in every part
it ever got a vote for, so parts may overlap.
"""

from __future__ import annotations

import numpy as np

RULES = ("majority", "union")


def union(votes: np.ndarray) -> np.ndarray:
    """(V, P) votes -> (V, P) bool membership: a vertex is in every part it ever got a vote for."""
    return votes > 0


def membership(votes: np.ndarray, labels: np.ndarray, rule: str) -> np.ndarray:
    """(V, P) bool membership under ``rule`` ("majority" uses ``labels``, "union" the votes)."""
    if rule == "union":
        return union(votes)
    out = np.zeros(votes.shape, bool)
    has = labels >= 0
    out[np.flatnonzero(has), labels[has]] = True
    return out


def majority(votes: np.ndarray, none_votes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Most-voted part per vertex.

    Args:
        votes: (V, P) part votes.
        none_votes: (V,) votes for "no part", or None.

    Returns:
        (V,) int64 label (-1 when the vertex got no part vote, or more "none" votes
        than votes for its best part) and (V,) float32 confidence: the label's share
        of all the vertex's votes (for -1, the share of "none").
        Ties go to the lower part id; a tie with "none" goes to the part.
    """
    none_votes = np.zeros(len(votes), votes.dtype) if none_votes is None else none_votes
    total = votes.sum(axis=1) + none_votes
    best = votes.max(axis=1) if votes.shape[1] else np.zeros(len(votes), votes.dtype)
    has_part = (best > 0) & (best >= none_votes)
    labels = np.where(has_part, votes.argmax(axis=1), -1).astype(np.int64)
    top = np.where(has_part, best, none_votes)
    confidence = np.where(total > 0, top / np.where(total > 0, total, 1), 0.0).astype(np.float32)
    return labels, confidence
