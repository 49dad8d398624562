"""A test-defined part labelling of the ICT model, from its 68 landmarks (iBUG order, 0-based).

Each vertex of the narrow face takes the part of the landmark nearest to it along the surface
(geodesic distance on the vote-eligible mesh, so the lower lip does not reach across the mouth to
the upper one) when it lies within that part's radius, skin otherwise; pieces of a part other than
its largest are given to the label around them, so every part is one connected piece, as a person
would paint it.
"""

import numpy as np
from scipy.sparse import csgraph

from facepart import geometry
from facepart.data.parts import PartTable

LANDMARK_PART = {
    **{i: "skin" for i in range(0, 17)},
    **{i: "right_eyebrow" for i in range(17, 22)},
    **{i: "left_eyebrow" for i in range(22, 27)},
    **{i: "nose" for i in range(27, 36)},
    **{i: "right_eye" for i in range(36, 42)},
    **{i: "left_eye" for i in range(42, 48)},
    **{i: "up_lip" for i in (49, 50, 51, 52, 53, 61, 62, 63)},
    **{i: "down_lip" for i in (55, 56, 57, 58, 59, 65, 66, 67)},
}
RADIUS = {"nose": 0.012, "skin": 0.0}  # metres; others use DEFAULT_RADIUS
DEFAULT_RADIUS = 0.007
NARROW_FACE = 6706  # ICT vertices 0..6705 are the narrow face area


def geodesic_landmark_labels(model, parts: PartTable | None = None) -> np.ndarray:
    """(V,) labels: the part of the landmark nearest along the surface (within that part's radius) on the
    narrow face, skin elsewhere on it, -1 off it; pieces not yet cleaned up."""
    parts = parts or PartTable.paper()
    n = model.n_vertices
    face = np.zeros(n, bool)
    face[:NARROW_FACE] = True
    face &= model.vote_mask
    w = geometry.adjacency(n, model.triangles, model.vertices)
    w = w.multiply(face[:, None]).multiply(face[None, :]).tocsr()
    lm_ids = np.array(sorted(LANDMARK_PART))
    seeds = model.landmarks68[lm_ids]
    dist, _, source = csgraph.dijkstra(w, directed=False, indices=seeds, min_only=True, return_predecessors=True)
    seed_part = {int(s): LANDMARK_PART[int(lm)] for s, lm in zip(seeds, lm_ids)}
    labels = np.full(n, -1, np.int64)
    labels[face] = parts.index("skin")
    for v in np.flatnonzero(face & np.isfinite(dist)):
        part = seed_part[int(source[v])]
        if part != "skin" and dist[v] < RADIUS.get(part, DEFAULT_RADIUS):
            labels[v] = parts.index(part)
    return labels


def ict_truth(model, parts: PartTable | None = None) -> np.ndarray:
    """(V,) labels: near a landmark (along the surface) -> its part, elsewhere on the narrow face -> skin,
    else -1; one connected piece per part."""
    labels = geodesic_landmark_labels(model, parts)
    n = model.n_vertices
    face = labels >= 0
    adjacency = geometry.adjacency(n, model.triangles)
    for _ in range(10):  # stray pieces take the label most of their neighbours have
        changed = False
        for lab in np.unique(labels[face]):
            piece, count = geometry.connected_components(n, model.triangles, face & (labels == lab))
            for k in range(1, count):
                members = piece == k
                rim = geometry.grow(adjacency, members) & ~members & face
                if rim.any():
                    labels[members] = np.bincount(labels[rim] + 1).argmax() - 1
                    changed = True
        if not changed:
            break
    return labels
