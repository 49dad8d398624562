"""A test-defined part labelling of the ICT model, from its 68 landmarks (iBUG order, 0-based)."""

import numpy as np
from scipy.spatial import cKDTree

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


def ict_truth(model, parts: PartTable | None = None) -> np.ndarray:
    """(V,) labels: near a landmark -> its part, elsewhere on the narrow face -> skin, else -1."""
    parts = parts or PartTable.paper()
    lm_ids = np.array(sorted(LANDMARK_PART))
    tree = cKDTree(model.vertices[model.landmarks68[lm_ids]])
    labels = np.full(model.n_vertices, -1, np.int64)
    face = np.arange(NARROW_FACE)
    labels[face] = parts.index("skin")
    dist, nearest = tree.query(model.vertices[face])
    for (d, j, v) in zip(dist, nearest, face):
        part = LANDMARK_PART[int(lm_ids[j])]
        if part != "skin" and d < RADIUS.get(part, DEFAULT_RADIUS):
            labels[v] = parts.index(part)
    return labels
