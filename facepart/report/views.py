"""Renders of the annotated mean shape for the report: by part, and where to look closer."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..annotate.preview import render_views as preview_views
from ..data.annotation import Annotation
from ..data.face_model import FaceModel
from ..data.parts import UNLABELLED_COLOR
from ..geometry import connected_components

#: The five views, as one would walk around the subject from its right to its left: yaw (degrees) -> caption.
#: A positive yaw turns the face so that its right side (-x) faces the camera (see ``variants.rotation``).
VIEWS = {90.0: "right profile", 45.0: "right three-quarter", 0.0: "front", -45.0: "left three-quarter",
         -90.0: "left profile"}
VIEW_YAWS = tuple(VIEWS)

#: Colours of the "where to look" renders (RGB), in drawing order (later ones win).
FLAG_COLORS = {
    "not_voted": (205, 205, 205),  # outside the model's vote mask (eyeballs, teeth...)
    "outside": UNLABELLED_COLOR,  # seen, no part, in the big unlabelled region around the face (scalp, neck)
    "never_seen": (35, 35, 35),  # vote-eligible, never visible in any render
    "low_confidence": (255, 120, 0),  # labelled, but its part got under the threshold of its votes
    "holes": (230, 0, 230),  # seen, no part, and cut off from the big unlabelled region: gaps in the face
}
FADE = 0.6  # how far confident part colours are faded toward white in the "where to look" renders


class Flags(NamedTuple):
    """(V,) bool masks of the vertices the report draws attention to (disjoint)."""

    not_voted: np.ndarray
    outside: np.ndarray
    never_seen: np.ndarray
    low_confidence: np.ndarray
    holes: np.ndarray


def flag_vertices(annotation: Annotation, model: FaceModel, low_confidence: float) -> Flags:
    """Sort the vertices worth a look into :class:`Flags`.

    Unlabelled vote-eligible vertices form connected pieces on the mesh. On each
    mesh component the largest such piece is taken as the region around the
    face that no parser labels (scalp, neck, the back of the head); the other
    pieces are holes in the labelling.
    """
    n = annotation.n_vertices
    labelled = annotation.labels >= 0
    eligible = model.vote_mask if model.vote_mask is not None else np.ones(n, bool)
    if model.eyeball_mask is not None:  # eyeball vertices that took an eye label are flagged like the rest (their
        eligible = eligible | (model.eyeball_mask & labelled)  # low confidence too, as the quality table counts it)
    # a file without render data (parts.json, csv): nothing is known about visibility
    seen = annotation.visible_count > 0 if annotation.has_votes else np.ones(n, bool)
    unlabelled = eligible & ~labelled
    near = model.triangles[unlabelled[model.triangles].any(axis=1)]  # the only triangles with edges inside
    piece, count = connected_components(n, near, unlabelled)
    component, _ = connected_components(n, model.triangles)
    largest = np.zeros(count, bool)
    if count:
        sizes = np.bincount(piece[unlabelled], minlength=count)
        piece_component = np.empty(count, np.int64)
        piece_component[piece[unlabelled]] = component[unlabelled]
        order = np.lexsort((-sizes, piece_component))  # by mesh component, then largest first
        first = np.r_[True, piece_component[order][1:] != piece_component[order][:-1]]
        largest[order[first]] = True
    in_largest = unlabelled & largest[np.maximum(piece, 0)]
    low = annotation.confidence < low_confidence if annotation.has_votes else np.zeros(n, bool)  # no votes: unknown
    return Flags(~eligible, unlabelled & seen & in_largest, unlabelled & ~seen,
                 eligible & labelled & low, unlabelled & seen & ~in_largest)


def flag_colors(annotation: Annotation, flags: Flags) -> np.ndarray:
    """(V, 3) uint8: faded part colours, with the flagged vertices in :data:`FLAG_COLORS`."""
    base = annotation.parts.colorize(annotation.labels).astype(np.float32)
    colors = (1 - FADE) * base + FADE * 245.0
    for name, color in FLAG_COLORS.items():
        colors[getattr(flags, name)] = color
    return colors.astype(np.uint8)


def render_views(model: FaceModel, colors: np.ndarray, size: int, renderer=None,
                 yaws: tuple[float, ...] = VIEW_YAWS, whole: bool = True) -> list[np.ndarray]:
    """One (size, size, 3) uint8 RGB render per yaw of the mean shape with per-vertex ``colors`` (V, 3) uint8,
    posed and lit like ``preview.png`` (:func:`facepart.annotate.preview.render_views`)."""
    return preview_views(model, colors, size, renderer, yaws, whole)
