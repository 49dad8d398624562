"""An annotation of the real ICT model to correct in tests: the landmark-based truth of ``truth.py`` with two
stray pieces added (islands), and a seeded vote table whose noise makes some vertices uncertain."""

import numpy as np

from facepart.data.annotation import Annotation
from facepart.data.parts import PartTable
from truth import ict_truth


def ict_annotation(model, seed: int = 0) -> Annotation:
    parts = PartTable.paper()
    labels = ict_truth(model, parts)
    # stray pieces to find and fix: a bit of left brow on the forehead, a bit of upper lip on the chin
    skin = np.flatnonzero(labels == parts.index("skin"))
    for part, landmark, lift in (("left_eyebrow", 27, 0.04), ("up_lip", 8, 0.012)):
        anchor = model.vertices[model.landmarks68[landmark]] + [0.0, lift, 0.0]
        near = skin[np.hypot(*(model.vertices[skin, :2] - anchor[:2]).T) < 0.004]
        top = near[model.vertices[near, 2] > model.vertices[near, 2].max() - 0.01]  # the front surface only
        labels[top] = parts.index(part)
    rng = np.random.default_rng(seed)
    has = labels >= 0
    votes = np.zeros((model.n_vertices, len(parts)), np.int32)
    votes[np.flatnonzero(has), labels[has]] = 10
    noise = rng.integers(1, 4, votes.shape) * (rng.random(votes.shape) < 0.1)  # a few stray votes
    votes += (noise * has[:, None]).astype(np.int32)
    # a patch of contested votes on the left cheek (the most forward skin vertex 4.5 cm left of the nose
    # tip, 1 cm below it): the "uncertain region" to find
    tip = model.vertices[model.landmarks68[30]]
    skin = np.flatnonzero(labels == parts.index("skin"))
    near = skin[np.hypot(model.vertices[skin, 0] - tip[0] - 0.045, model.vertices[skin, 1] - tip[1] + 0.01) < 0.003]
    center = model.vertices[near[np.argmax(model.vertices[near, 2])]]
    cheek = has & (np.linalg.norm(model.vertices - center, axis=1) < 0.012)
    votes[cheek] = 0
    votes[cheek, parts.index("skin")] = 5
    votes[cheek, parts.index("nose")] = 4
    confidence = np.where(has, votes.max(axis=1) / np.maximum(votes.sum(axis=1), 1), 0).astype(np.float32)
    settings = {"model": {"name": model.name, "format": model.meta.get("format"), "path": model.meta.get("path")}}
    return Annotation(labels, votes, confidence, has.astype(np.int32) * 5, parts, model.fingerprint,
                      settings=settings)
