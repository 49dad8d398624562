"""Which vertices belong to which part under an annotation's rule (data, so the annotation file can answer it).

``majority``: each vertex is in the one part of its label; ``union`` (the
paper's rule): a vertex is in every part it ever got a vote for, so parts may
overlap. :mod:`facepart.annotate.assign` computes the labels themselves.
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
