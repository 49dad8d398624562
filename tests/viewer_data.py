"""An annotation of the real ICT model to correct in tests: the landmark-based truth of ``truth.py``, with a
seeded vote table whose noise makes some vertices uncertain."""

import numpy as np

from facepart.data.annotation import Annotation
from facepart.data.parts import PartTable
from truth import ict_truth


def ict_annotation(model, seed: int = 0) -> Annotation:
    parts = PartTable.paper()
    labels = ict_truth(model, parts)
    rng = np.random.default_rng(seed)
    has = labels >= 0
    votes = np.zeros((model.n_vertices, len(parts)), np.int32)
    votes[np.flatnonzero(has), labels[has]] = 10
    votes += (rng.integers(0, 4, votes.shape) * has[:, None]).astype(np.int32)
    # a patch of contested votes on the left cheek: the "uncertain region" to find
    cheek = has & (np.linalg.norm(model.vertices - model.vertices[model.landmarks68[13]] * [0.8, 1, 1], axis=1) < 0.012)
    votes[cheek] = 0
    votes[cheek, parts.index("skin")] = 5
    votes[cheek, parts.index("nose")] = 4
    confidence = np.where(has, votes.max(axis=1) / np.maximum(votes.sum(axis=1), 1), 0).astype(np.float32)
    settings = {"model": {"name": model.name, "format": model.meta.get("format"), "path": model.meta.get("path")}}
    return Annotation(labels, votes, confidence, has.astype(np.int32) * 5, parts, model.fingerprint,
                      settings=settings)
