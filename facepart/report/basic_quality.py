"""The few quality figures the report computes itself when the run stored none.

A run that has the quality stage stores its figures under
``annotation.settings["quality"]`` and the report shows those. For older
annotations (and runs without that stage) :func:`basic_quality` computes the
simple ones from the labels and the mesh, in the same plain-dict shape: per-part
figures as ``{figure: {part: value}}`` and whole-annotation figures as scalars.
This module is deliberately small; when the quality stage offers a function
that computes its report from an annotation and a model, the report should
call that instead and this file can go.
"""

from __future__ import annotations

import numpy as np

from ..data.annotation import Annotation
from ..data.face_model import FaceModel
from ..geometry import connected_components, mirror_map

LOW_CONFIDENCE = 0.6  # a label that got less than this share of its vertex's votes is "low confidence"


def basic_quality(annotation: Annotation, model: FaceModel, low_confidence: float = LOW_CONFIDENCE) -> dict:
    """Quality figures of ``annotation`` on ``model`` (same topology), as a JSON-able dict.

    Keys: ``connected_pieces`` and ``mesh_components_touched`` ({part: int}: a part is
    clean when both are equal), ``low_confidence`` ({part: int} labelled vertices whose
    confidence is under ``low_confidence``), ``seen_unlabelled`` (vote-eligible vertices
    seen in a render but left without a part), ``mirror_agreement`` (share of labelled
    vertices whose mirror partner has the mirrored part; None when the mesh is not
    mirror-symmetric) and ``low_confidence_threshold``.
    """
    labels = annotation.labels
    parts = annotation.parts
    n = annotation.n_vertices
    mesh_piece, _ = connected_components(n, model.triangles)
    pieces, touched, low = {}, {}, {}
    for i, name in enumerate(parts.names):
        member = labels == i
        near = model.triangles[member[model.triangles].any(axis=1)]  # the only triangles with edges inside
        pieces[name] = int(connected_components(n, near, member)[1]) if member.any() else 0
        touched[name] = int(len(np.unique(mesh_piece[member])))
        low[name] = int((member & (annotation.confidence < low_confidence)).sum())
    eligible = model.vote_mask if model.vote_mask is not None else np.ones(n, bool)
    seen_unlabelled = int(((labels < 0) & (annotation.visible_count > 0) & eligible).sum())

    mirror = mirror_map(model.vertices, model.triangles)
    agreement = None
    if mirror.symmetric():
        partner = mirror.partner
        both = (labels >= 0) & (partner >= 0)
        if both.any():
            expected = parts.mirror()[labels[both]]
            agreement = round(float((labels[partner[both]] == expected).mean()), 4)
    return {
        "connected_pieces": pieces,
        "mesh_components_touched": touched,
        "low_confidence": low,
        "low_confidence_threshold": low_confidence,
        "seen_unlabelled": seen_unlabelled,
        "mirror_agreement": agreement,
        "mirror_pairs": mirror.describe(),
    }
