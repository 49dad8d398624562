"""Synthetic vote tables on the real ICT mesh, for the mesh-space quality stages (symmetry, graph cut, report).

``geodesic_truth`` labels ICT from its 68 landmarks like ``truth.ict_truth``, but by geodesic (mesh-edge)
distance, so every part is a connected region; the few fragments it still leaves (a brow in two, skin pockets)
are marked IGNORE: they get no votes and are not scored. ``noisy_votes`` then simulates a parser run over it,
with seeded errors of the kinds the real pipeline shows.
"""

from __future__ import annotations

import numpy as np

from facepart import geometry
from facepart.data.parts import PartTable
from truth import geodesic_landmark_labels

IGNORE = -2  # fragment of the truth: no votes, not scored


def geodesic_truth(model, parts: PartTable | None = None) -> np.ndarray:
    """(V,) labels: part of the geodesically nearest landmark within its radius, skin elsewhere on the
    narrow face, -1 off it, IGNORE on every piece of a label but its largest (within vote-eligible vertices)."""
    labels = geodesic_landmark_labels(model, parts)
    n = model.n_vertices
    eligible = model.vote_mask
    for lab in np.unique(labels[eligible]):
        piece, _ = geometry.connected_components(n, model.triangles, eligible & (labels == lab))
        labels[piece > 0] = IGNORE  # piece 0 is the largest
    return labels


def noisy_votes(model, truth: np.ndarray, seed: int, parts: PartTable | None = None, views: int = 20,
                jitter: int = 3, islands: int = 12, mirror_error: bool = True, unseen_back: bool = True,
                eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """A seeded simulated run: (V, P) votes, (V,) none votes and a dict of what was planted.

    - boundary jitter: in each view every vertex votes for the truth at the end of a random walk of
      0..jitter steps (0..jitter+2 on the side the view favours; 70% of views favour the subject's left,
      so errors are not mirror-symmetric);
    - ``islands`` wrong patches (1-2 rings) where 70% of the votes go to one wrong part;
    - ``mirror_error``: a patch of the LEFT eyebrow where 60% of the votes say right_eyebrow (a parser
      swapping sides), so the majority rule labels it right_eyebrow;
    - ``unseen_back``: vertices behind the ears (z below the ear landmarks' mean) get no votes at all;
      and the nose tip with its 1-ring gets none either (an unseen hole in a part).
    """
    parts = parts or PartTable.paper()
    rng = np.random.default_rng(seed)
    n, n_parts = model.n_vertices, len(parts)
    eligible = (model.vote_mask if eligible is None else np.asarray(eligible, bool)) & (truth != IGNORE)
    adj = geometry.adjacency(n, model.triangles)
    indptr, indices = adj.indptr, adj.indices
    idx = np.flatnonzero(eligible)
    left = model.vertices[idx, 0] > 0
    votes = np.zeros((n, n_parts))
    none_votes = np.zeros(n)
    for _ in range(views):
        favour_left = rng.random() < 0.7
        steps = np.where(left == favour_left, rng.integers(0, jitter + 3, len(idx)),
                         rng.integers(0, jitter + 1, len(idx)))
        cur = idx.copy()
        for s in range(int(steps.max())):
            deg = indptr[cur + 1] - indptr[cur]
            nxt = indices[indptr[cur] + rng.integers(0, np.maximum(deg, 1))]
            move = (s < steps) & (deg > 0) & eligible[nxt]
            cur = np.where(move, nxt, cur)
        lab = truth[cur]
        np.add.at(votes, (idx[lab >= 0], lab[lab >= 0]), 1.0)
        np.add.at(none_votes, idx[lab < 0], 1.0)
    planted = {"islands": []}
    face = np.flatnonzero(eligible & (truth >= 0))
    for s in rng.choice(face, islands, replace=False):
        patch = np.zeros(n, bool)
        patch[s] = True
        patch = geometry.grow(adj, patch, int(rng.integers(1, 3))) & eligible
        wrong = int(rng.choice([p for p in range(n_parts) if p != truth[s]]))
        votes[patch] *= 0.3
        none_votes[patch] *= 0.3
        votes[patch, wrong] += 0.7 * views
        planted["islands"].append((np.flatnonzero(patch), wrong))
    if mirror_error:
        brow = np.flatnonzero(eligible & (truth == parts.index("left_eyebrow")))
        patch = np.zeros(n, bool)
        patch[brow[np.argmax(model.vertices[brow, 0])]] = True  # the brow's outer end
        patch = geometry.grow(adj, patch, 2) & eligible & (truth == parts.index("left_eyebrow"))
        votes[patch] *= 0.4
        votes[patch, parts.index("right_eyebrow")] += 0.6 * views
        planted["mirror_error"] = np.flatnonzero(patch)
    if unseen_back:
        ears = model.vertices[model.landmarks68[[0, 16]], 2].mean()
        back = eligible & (model.vertices[:, 2] < ears)
        hole = np.zeros(n, bool)
        hole[model.landmarks68[30]] = True  # the nose tip
        hole = geometry.grow(adj, hole, 1) & eligible
        votes[back | hole] = 0
        none_votes[back | hole] = 0
        planted["unseen_back"] = np.flatnonzero(back)
        planted["unseen_hole"] = np.flatnonzero(hole)
    votes[~eligible] = 0
    none_votes[~eligible] = 0
    return votes, none_votes, planted
