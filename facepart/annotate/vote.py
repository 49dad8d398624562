"""Algorithm 1's voting: every labelled pixel votes for its k nearest visible projected vertices.

One extension of the paper: pixels on the model's own surface that the
parser leaves unlabelled (scalp, neck, forehead above the brows) cast a
"none" vote the same way. Under the ``majority`` rule a vertex that is mostly
seen as "none" stays unlabelled, so parts stop at their true boundary
instead of bleeding onto every vertex that caught a stray vote. The
``union`` rule (the paper's) ignores "none" votes.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree


def vote(part_map: np.ndarray, uv: np.ndarray, candidates: np.ndarray, n_parts: int, k: int = 1,
         pixel_mask: np.ndarray | None = None, none_mask: np.ndarray | None = None) -> np.ndarray:
    """Votes of one view.

    Args:
        part_map: (H, W) int part id per pixel, -1 = no part.
        uv: (V, 2) projected vertices, pixel coordinates (pixel centres at +0.5).
        candidates: (V,) bool, vertices that may receive votes (visible and eligible).
        n_parts: P.
        k: each pixel votes for its k nearest candidates (one vote each).
        pixel_mask: (H, W) bool, pixels whose part label may vote (e.g. where the mesh
            was drawn), or None for all.
        none_mask: (H, W) bool, pixels whose -1 label casts a "none" vote, or None for none.

    Returns:
        (V, P + 1) int32 vote counts of this view; column P holds the "none" votes.
    """
    n_vertices = len(uv)
    votes = np.zeros((n_vertices, n_parts + 1), np.int32)
    voting = part_map >= 0
    if pixel_mask is not None:
        voting &= pixel_mask
    if none_mask is not None:
        voting |= (part_map < 0) & none_mask
    cand = np.flatnonzero(candidates)
    if not voting.any() or len(cand) == 0:
        return votes
    rows, cols = np.nonzero(voting)
    parts = part_map[rows, cols].astype(np.int64)
    parts[parts < 0] = n_parts
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    k = min(k, len(cand))
    _, nearest = cKDTree(uv[cand]).query(centres, k=k, workers=-1)
    nearest = cand[nearest.reshape(len(centres), k)]
    flat = (nearest * (n_parts + 1) + parts[:, None]).ravel()
    votes += np.bincount(flat, minlength=n_vertices * (n_parts + 1)).reshape(votes.shape).astype(np.int32)
    return votes
