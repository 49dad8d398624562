"""Algorithm 1's voting, one view at a time: labelled pixels vote for the vertices under them.

The default path is exact and needs no search: the id buffer says which
triangle lies under each pixel, so a pixel votes for a corner of *that*
triangle — the nearest one (``vote="nearest"``) or all three by perspective-
correct barycentric weight (``vote="bary"``). A vote therefore never leaks
across an occlusion edge (lip over teeth, eyelid over eyeball), and every
corner of a seen triangle can receive votes. ``vote="knn"`` is the paper's
search (each pixel votes for its k nearest visible projected vertices, a
KD-tree), kept as the reference and for ``k > 1``.

On a mesh dense for the render (``Scene.dense``: edges under a pixel), most
visible vertices win no pixel; each of those votes with its own pixel (the
label under it, that pixel's weight), so that every seen vertex has a say.

Every vote is weighted by the view angle of its surface (``view_weight``:
cos or cos² between the triangle normal and the view ray) and votes from
surface seen at a grazing angle (cos below ``grazing``) are dropped.

Pixels on vote-eligible surface that the parser leaves unlabelled (scalp,
neck, forehead above the brows) cast a "none" vote (part id P), so under the
majority rule parts stop at their boundary. Eyeball vertices seen through
the lids (``Scene.eye_only``) take eye votes only.

A view's votes are kept as sparse (vertex, part, weight) entries: summed
over views in variant order they give the vote table, and stored per view
they let a run re-weight views that disagree with the consensus without
rendering again.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import FacepartError
from ..interrupts import deferred_interrupt
from ..renderers.fragments import visible_vertices
from ..segmenters.base import View, view_pixels
from .settings import AnnotateSettings
from .views import Scene

#: ViewVotes.status of a view that voted.
VOTED = "voted"


class ViewVotes(NamedTuple):
    """The votes of one view.

    Attributes:
        index: the variant index.
        vertex: (n,) int32 vertex ids.
        part: (n,) int16 part ids; P (the number of parts) is the "none" vote.
        weight: (n,) float32 vote weights (one pixel casts weight 1 in total, times its view-angle weight).
        visible: (m,) int32 ids of the vertices seen in this view at a usable angle (empty when skipped).
        status: :data:`VOTED`, or why the segmenter skipped the view (e.g. "no face").
    """

    index: int
    vertex: np.ndarray
    part: np.ndarray
    weight: np.ndarray
    visible: np.ndarray
    status: str = VOTED

    @classmethod
    def skipped(cls, index: int, reason: str) -> "ViewVotes":
        empty = np.zeros(0, np.int32)
        return cls(int(index), empty, np.zeros(0, np.int16), np.zeros(0, np.float32), empty, reason)


def check_part_map(part_map: np.ndarray, view: View, n_parts: int, who: str) -> np.ndarray:
    shape = view.fragments.triangle_id.shape
    part_map = np.asarray(part_map)
    if part_map.shape != shape:
        raise FacepartError(f"{who}: part map of shape {part_map.shape}, expected {shape} (the render size)")
    if part_map.dtype.kind not in "iu":
        raise FacepartError(f"{who}: part map of dtype {part_map.dtype}, expected integer part ids")
    if part_map.size and (part_map.min() < -1 or part_map.max() >= n_parts):
        raise FacepartError(f"{who}: part ids outside -1..{n_parts - 1}")
    return part_map


def view_angle_weights(view: View, scene: Scene, mode: str, grazing: float) -> np.ndarray:
    """(F_r,) float32 weight of a vote on each rendered triangle: cos or cos² of the view angle, 0 when grazing.

    The angle is between the posed triangle's outward normal and the ray from the camera to its centroid;
    back-facing triangles (seen through an opening) get 0. Only triangles the render shows are computed
    (the others get 0).
    """
    frag = view.fragments
    seen = np.zeros(len(scene.triangles), bool)
    seen[frag.triangle_id[frag.mask]] = True
    ids = np.flatnonzero(seen)
    corners = np.asarray(view.vertices, np.float32)[scene.triangles[ids]]  # (n, 3, 3)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    ray = corners.mean(axis=1) - view.camera.centre().astype(np.float32)
    cos = -(normals * ray).sum(axis=1) / np.maximum(np.linalg.norm(normals, axis=1) * np.linalg.norm(ray, axis=1),
                                                     1e-30)
    out = np.zeros(len(scene.triangles), np.float32)
    out[ids] = _angle_weight(cos, mode, grazing)
    return out


def _angle_weight(cos: np.ndarray, mode: str, grazing: float) -> np.ndarray:
    """Cosines -> vote weights: ``mode`` ("cos2", "cos", "none") of the cosine, 0 at or below ``grazing``."""
    weight = np.where(cos > grazing, cos, 0.0).astype(np.float32)
    if mode == "cos2":
        return weight * weight
    if mode == "none":
        return (weight > 0).astype(np.float32)
    return weight


def covered_angle_weights(view: View, scene: Scene, mode: str, grazing: float) -> np.ndarray:
    """(N,) float32 the view-angle weight of a vote from each covered pixel, in ``view_pixels(view)`` order:
    :func:`view_angle_weights` of the triangle under it, read from the renderer's ``fragments.facing`` when
    it has one."""
    px = view_pixels(view)
    if px.facing is not None:
        return _angle_weight(px.facing, mode, grazing)
    return view_angle_weights(view, scene, mode, grazing)[px.triangle]


def pixel_angle_weights(view: View, scene: Scene, mode: str, grazing: float) -> np.ndarray:
    """(H, W) float32 :func:`covered_angle_weights` as an image, 0 off the mesh."""
    out = np.zeros(view.fragments.mask.size, np.float32)
    out[view_pixels(view).flat] = covered_angle_weights(view, scene, mode, grazing)
    return out.reshape(view.fragments.mask.shape)


def eye_parts(part_names) -> np.ndarray:
    """Ids of the parts an eyeball may carry (names ending in ``_eye``, or ``eye``)."""
    return np.array([i for i, n in enumerate(part_names) if n == "eye" or n.endswith("_eye")], np.int64)


def view_votes(view: View, part_map: np.ndarray, scene: Scene, settings: AnnotateSettings, n_parts: int,
               eye_ids: np.ndarray | None = None) -> ViewVotes:
    """The votes of one parsed view.

    Args:
        view: the render.
        part_map: (H, W) int part id per pixel, -1 = no part.
        scene: the run's scene (triangles, vote-eligible vertices, depth tolerance).
        settings: ``vote``, ``k``, ``view_weight``, ``grazing``, ``none_votes``, ``only_on_mesh``.
        n_parts: P; the "none" vote is part P.
        eye_ids: part ids that eyeball vertices (``scene.eye_only``) may take.
    """
    frag = view.fragments
    if settings.vote == "knn":
        angle = pixel_angle_weights(view, scene, settings.view_weight, settings.grazing)
        tid = np.maximum(frag.triangle_id, 0)
        usable = angle > 0  # on the mesh, not grazing or back-facing
        visible = _usable_visible(view, scene, tid[usable])
        voting = (part_map >= 0) | (settings.none_votes & (part_map < 0) & frag.mask & scene.eligible_triangles[tid])
        if not settings.only_on_mesh:
            usable = usable | ~frag.mask
        rows, cols = np.nonzero(voting & usable)
        on_mesh = frag.mask[rows, cols]
        weight = np.where(on_mesh, angle[rows, cols], 1.0)
        parts = _part_ids(part_map[rows, cols], n_parts)
        vertex, part, weight = _knn_votes(view, scene, rows, cols, parts, weight, visible, settings.k)
        weight = np.where(_may_take(scene, vertex, part, n_parts, eye_ids), weight, 0.0)
    else:
        # every covered pixel, in a fixed order; those that may not vote get weight 0 (no compaction)
        px = view_pixels(view)
        tri = px.triangle
        weight = covered_angle_weights(view, scene, settings.view_weight, settings.grazing)
        visible = _usable_visible(view, scene, tri[weight > 0])
        labels = part_map.ravel()[px.flat]
        ok = (weight > 0) & scene.eligible_triangles[tri]
        if not settings.none_votes:
            ok &= labels >= 0
        parts = _part_ids(labels, n_parts)
        pixel_weight = np.where(ok, weight, np.float32(0))
        vertex, part, weight = _corner_votes(scene, px, parts, pixel_weight, settings.vote == "bary", n_parts, eye_ids)
        if scene.dense:
            extra = _own_pixel_votes(view, scene, px, parts, pixel_weight, vertex[weight > 0], n_parts, eye_ids)
            vertex, part, weight = (np.concatenate([a, b]) for a, b in zip((vertex, part, weight), extra))
            visible[extra[0][extra[2] > 0]] = True
    n_vertices = len(view.uv)
    flat = vertex.astype(np.int64) * (n_parts + 1) + part
    summed = np.bincount(flat, weight, minlength=n_vertices * (n_parts + 1))
    nz = np.flatnonzero(summed)
    return ViewVotes(int(view.index), (nz // (n_parts + 1)).astype(np.int32),
                     (nz % (n_parts + 1)).astype(np.int16), summed[nz].astype(np.float32),
                     np.flatnonzero(visible).astype(np.int32))


def _part_ids(labels: np.ndarray, n_parts: int) -> np.ndarray:
    """Pixel labels -> part ids with -1 ("no part") as the none vote P."""
    parts = labels.astype(np.int64)
    parts[parts < 0] = n_parts
    return parts


def _usable_visible(view: View, scene: Scene, usable_tid: np.ndarray) -> np.ndarray:
    """(V,) bool: vertices seen (depth-tested) that are corners of a triangle seen at a usable angle
    (``usable_tid``: the ids under the pixels with a non-zero view-angle weight). A vertex seen only at a
    grazing angle gets no votes, and is not counted as seen."""
    usable_triangles = np.zeros(len(scene.triangles), bool)
    usable_triangles[usable_tid] = True
    return visible_vertices(view.fragments, scene.triangles, view.uv, view.depth, scene.depth_tolerance,
                            covering=usable_triangles)


def _may_take(scene: Scene, vertex: np.ndarray, parts: np.ndarray, n_parts: int, eye_ids) -> np.ndarray:
    """bool, the shape of ``vertex`` (``parts`` broadcast against it): the vertex may take a vote for the part:
    it is vote-eligible, and an eyeball (``scene.eye_only``) takes only eye parts and "none" (part P)."""
    allowed = scene.vote_mask[vertex]
    if scene.eye_only.any():
        is_eye = parts == n_parts
        if eye_ids is not None:
            is_eye = is_eye | np.isin(parts, eye_ids)
        allowed &= ~scene.eye_only[vertex] | is_eye
    return allowed


def _corner_votes(scene: Scene, px, parts, pixel_weight, spread: bool, n_parts: int, eye_ids):
    """Each pixel of ``px`` (:class:`PixelCorners`) votes for the corners of its own triangle: the nearest,
    or all three by barycentric weight, with ``pixel_weight`` (N,) (0: no vote).

    A corner that may not take the pixel's part (not vote-eligible, or an eyeball for a non-eye part)
    gets nothing, and its share is not passed on to the other corners: a pixel on the teeth beside a
    lip corner must not vote the lip "none", and a skin pixel over an eyeball's rim must not vote skin.
    """
    corners = px.corners if spread else px.nearest
    allowed = _may_take(scene, corners, parts[:, None] if spread else parts, n_parts, eye_ids)
    if spread:
        w = np.clip(px.bary, 0.0, None)
        share = np.where(allowed, w / np.maximum(w.sum(axis=1, keepdims=True), 1e-30), 0.0)
        return corners.ravel(), np.repeat(parts, 3), (share * pixel_weight[:, None].astype(np.float64)).ravel()
    return corners, parts, np.where(allowed, pixel_weight, np.float32(0)).astype(np.float64)


def _own_pixel_votes(view: View, scene: Scene, px, parts, pixel_weight, voted: np.ndarray, n_parts: int, eye_ids):
    """On a dense mesh (``scene.dense``): each vote-eligible vertex that no pixel voted for in this view, and
    that is seen at its own pixel (covered, nothing in the depth buffer more than ``scene.depth_tolerance``
    in front of it), takes that pixel's part with that pixel's weight. (vertex, part, weight) arrays."""
    frag = view.fragments
    h, w = frag.depth.shape
    has_vote = np.zeros(len(view.uv), bool)
    has_vote[voted] = True
    cand = np.flatnonzero(scene.vote_mask & ~has_vote)
    col = np.floor(view.uv[cand, 0]).astype(np.int64)
    row = np.floor(view.uv[cand, 1]).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    cand, flat = cand[inside], row[inside] * w + col[inside]
    zbuf = frag.depth.ravel()[flat]
    seen = frag.mask.ravel()[flat] & ~((zbuf > 0) & (zbuf < view.depth[cand] - scene.depth_tolerance))
    cand, flat = cand[seen], flat[seen]
    where = np.full(h * w, -1, np.int64)  # covered pixel -> its position in px
    where[px.flat] = np.arange(len(px.flat))
    at = where[flat]
    cand, at = cand[at >= 0], at[at >= 0]
    part = parts[at]
    weight = np.where(_may_take(scene, cand, part, n_parts, eye_ids), pixel_weight[at], 0.0).astype(np.float64)
    return cand.astype(np.int64), part.astype(np.int64), weight


def _knn_votes(view: View, scene: Scene, rows, cols, parts, pixel_weight, visible, k: int):
    """Each pixel votes for its k nearest visible, eligible projected vertices (the paper's search)."""
    from scipy.spatial import cKDTree

    cand = np.flatnonzero(visible & scene.vote_mask)
    if len(cand) == 0 or len(rows) == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(0)
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    k = min(k, len(cand))
    tree = cKDTree(view.uv[cand])
    with deferred_interrupt():  # scipy's worker threads must not outlive the tree on Ctrl-C
        _, nearest = tree.query(centres, k=k, workers=-1)
    nearest = cand[np.asarray(nearest).reshape(len(centres), k)]
    return nearest.ravel(), np.repeat(parts, k), np.repeat(pixel_weight, k)
