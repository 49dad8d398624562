"""Carry an annotation to another topology: by surface projection in one face frame, or through BFM index maps.

Surface projection (:func:`transfer_by_surface`), for meshes of the same face in
the same frame (facepart's: metres, +x the subject's left, +y up, +z toward the
viewer, and the same origin):

1. each target vertex is projected onto the source surface: the closest point
   on the source triangles (not only its vertices; :func:`facepart.geometry.closest_points`).
   The surface is the one facepart renders (``FaceModel.render_triangles``): helper
   shells such as ICT's eyelashes and eye occlusion, glued onto the eyelids, are
   left out;
2. it takes the barycentric majority of the source labels at that point (the
   corners' labels weighted by the point's barycentric coordinates; "no part"
   competes like a part), and the votes there, interpolated the same way;
3. one-ring smoothing on the target: a vertex takes the label more than two
   thirds of its neighbours share (``smooth_rings`` rounds), which removes single-vertex
   islands and spikes along part borders;
4. target vertices farther than ``max_distance_mm`` from the source surface
   (default: max(10 mm, 10 x the median distance); parts of the target the source
   does not cover, e.g. a neck under a face-only source) get no label.

How far apart the surfaces are is reported (median and 95th percentile, mm);
meshes whose median distance exceeds ``max_median_mm`` are refused in one line:
they are not in the same frame (``align="landmarks"`` fits a similarity from
the 68 landmarks when both models have them).

Index maps (:func:`transfer_by_maps`): the BFM 53,490 / 53,215 / 38,365 / 35,709
maps of :mod:`facepart.data.bfm_topology`, chained as needed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.annotation import Annotation
from ..data.loaders import recorded_model_settings
from ..errors import FacepartError
from ..geometry import adjacency, closest_points

DEFAULT_MAX_MEDIAN_MM = 5.0
DEFAULT_FAR_MM = 10.0  # at least this, and at least 10 x the median distance
FRAME_CHECK_SAMPLE = 1000
#: A target vertex this close (metres) to the source's undrawn surface lies on it (the same mesh).
ON_SURFACE_M = 5e-5
SMOOTH_SHARE = 2.0 / 3.0  # a vertex takes a label more than this share of its one-ring holds


@dataclass
class TransferResult:
    """An annotation of the target model and how it was obtained."""

    annotation: Annotation
    method: str  # "surface" or "index map"
    distance_mm: np.ndarray | None = None  # (V_t,) distance of each target vertex to the source surface
    far: int = 0  # target vertices left unlabelled because they lie far from the source surface
    smoothed: int = 0  # target vertices whose label the one-ring smoothing changed
    notes: list[str] = field(default_factory=list)

    @property
    def median_mm(self) -> float:
        return float(np.median(self.distance_mm)) if self.distance_mm is not None else float("nan")

    @property
    def p95_mm(self) -> float:
        return float(np.percentile(self.distance_mm, 95)) if self.distance_mm is not None else float("nan")

    def lines(self) -> list[str]:
        ann = self.annotation
        out = []
        if self.method == "surface":
            out.append(f"surface distance target -> source: median {self.median_mm:.2f} mm, 95th percentile "
                       f"{self.p95_mm:.2f} mm, max {float(self.distance_mm.max()):.2f} mm")
            out.append(f"{self.far} target vertices farther than the cut-off got no label; one-ring smoothing "
                       f"changed {self.smoothed}")
        out += ann.summary_lines()
        return out + [f"note: {n}" for n in self.notes]


def _scores(annotation: Annotation) -> tuple[np.ndarray, np.ndarray]:
    """(V, P+1) float per-vertex part indicator (+ "none" last) and (V, P+1) votes (+ none votes)."""
    member = annotation.membership().astype(np.float64)
    none = ~member.any(axis=1)
    indicator = np.hstack([member, none[:, None].astype(np.float64)])
    votes = np.hstack([annotation.votes, annotation.none_votes[:, None]]).astype(np.float64)
    return indicator, votes


def similarity_from_landmarks(source, target) -> np.ndarray:
    """(4, 4) similarity (scale, rotation, translation) taking the target's 68 landmarks onto the source's."""
    missing = [m.name for m in (source, target) if m.landmarks68 is None]
    if missing:
        raise FacepartError(f"align='landmarks' needs 68 landmarks on both models; {' and '.join(missing)} "
                            f"{'has' if len(missing) == 1 else 'have'} none (a plain mesh file carries none: "
                            "bring it into the source's frame with --unit and -O up=/front= instead)")
    a = target.vertices[target.landmarks68].astype(np.float64)
    b = source.vertices[source.landmarks68].astype(np.float64)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    a0, b0 = a - ma, b - mb
    u, s, vt = np.linalg.svd(b0.T @ a0 / len(a))
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.diag([1.0, 1.0, d])
    rot = u @ fix @ vt
    scale = float(np.trace(np.diag(s) @ fix) / a0.var(axis=0).sum())
    out = np.eye(4)
    out[:3, :3] = scale * rot
    out[:3, 3] = mb - scale * rot @ ma
    return out


def smooth_labels(labels: np.ndarray, n_vertices: int, triangles: np.ndarray, n_labels: int,
                  rounds: int = 1) -> np.ndarray:
    """One-ring majority filter: a vertex takes the label that more than ``SMOOTH_SHARE`` of its neighbours share.

    Args:
        labels: (V,) int in 0..n_labels-1.
        rounds: how many times to apply it (0: none).
    Returns (V,) int64; single-vertex islands and spikes go, borders otherwise stay.
    """
    out = np.asarray(labels, np.int64).copy()
    if rounds <= 0:
        return out
    adj = adjacency(n_vertices, triangles)
    degree = np.asarray(adj.sum(axis=1)).ravel()
    for _ in range(rounds):
        onehot = np.zeros((n_vertices, n_labels))
        onehot[np.arange(n_vertices), out] = 1.0
        counts = np.asarray(adj @ onehot)  # (V, L) neighbours per label
        top = counts.argmax(axis=1)
        flip = (top != out) & (counts[np.arange(n_vertices), top] > SMOOTH_SHARE * degree)
        if not flip.any():  # a fixed point: further rounds change nothing
            break
        out = np.where(flip, top, out)
    return out


def check_transfer_options(smooth_rings: int = 1, max_median_mm: float | None = None,
                           max_distance_mm: float | None = None) -> None:
    """One line naming the option unless ``--smooth`` is a whole number >= 0 and ``--max-median`` and
    ``--max-distance`` (mm) are finite and > 0 (None: their defaults)."""
    from ..annotate.settings import check_int_option

    check_int_option(smooth_rings, "smooth", 0)
    for name, value in (("max-median", max_median_mm), ("max-distance", max_distance_mm)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise FacepartError(f"--{name} must be a finite distance in mm greater than 0, got {value}")


def _check_frame(median: float, p95: float, max_median_mm: float, source, target, align: str) -> None:
    if median <= max_median_mm:
        return
    ratio = _scale_ratio(source, target)
    if ratio is not None and not 0.5 < ratio < 2.0:  # sizes this far apart: a unit, not a pose
        cause = (f"it is {ratio:.3g} times the source's size: give the target's unit (--unit)")
    else:
        cause = "check the target's axes (-O up=AXIS -O front=AXIS) and origin"
    hint = (" or pass align='landmarks' (--align landmarks)" if source.landmarks68 is not None
            and target.landmarks68 is not None and align == "none" else "")
    raise FacepartError(f"{target.name} is not in the same frame as {source.name}: its vertices lie a median "
                        f"{median:.1f} mm (95th percentile {p95:.1f} mm) from the source surface, more than "
                        f"{max_median_mm:g} mm; {cause}, or align the meshes first{hint}")


def _scale_ratio(source, target) -> float | None:
    """Target size / source size (RMS distance of the vertices in a triangle from their centre), or None."""
    sizes = []
    for model in (source, target):
        pts = model.vertices[np.unique(model.triangles)].astype(np.float64)
        sizes.append(float(np.sqrt(((pts - pts.mean(axis=0)) ** 2).sum(axis=1).mean())) if len(pts) else 0.0)
    return sizes[1] / sizes[0] if sizes[0] > 0 and sizes[1] > 0 else None


def transfer_by_surface(annotation: Annotation, source, target, *, smooth_rings: int = 1,
                        max_median_mm: float | None = DEFAULT_MAX_MEDIAN_MM, max_distance_mm: float | None = None,
                        align: str = "none") -> TransferResult:
    """Labels of ``source`` (a FaceModel the annotation belongs to) carried onto ``target`` (a FaceModel).

    Args:
        smooth_rings: rounds of the one-ring majority filter on the target (0: none).
        max_median_mm: refuse when the median target-to-source distance exceeds this (None: never).
        max_distance_mm: target vertices farther than this get no label (default: max(10 mm, 10 x median)).
        align: "none", or "landmarks" (similarity fit of the 68 landmarks first).
    """
    check_transfer_options(smooth_rings, max_median_mm, max_distance_mm)
    annotation.check_topology(source.fingerprint, f"the source model {source.name}")
    notes = []
    points = target.vertices.astype(np.float64)
    if align == "landmarks":
        m = similarity_from_landmarks(source, target)
        points = points @ m[:3, :3].T + m[:3, 3]
        scale = float(np.cbrt(np.linalg.det(m[:3, :3])))
        notes.append(f"target aligned to the source by its 68 landmarks (scale {scale:.4f})")
    elif align != "none":
        raise FacepartError(f"align must be 'none' or 'landmarks', got '{align}'")
    surface = source.triangles[source.render_triangles]  # the drawn surface (not ICT's eyelashes, occlusion shells)
    hidden = np.ones(len(source.triangles), bool)
    hidden[source.render_triangles] = False
    if max_median_mm is not None and len(points) > 2 * FRAME_CHECK_SAMPLE:  # refuse early, from a sample
        sample = np.random.default_rng(0).choice(len(points), FRAME_CHECK_SAMPLE, replace=False)
        d = closest_points(source.vertices, surface, points[sample]).distance * 1000.0
        _check_frame(float(np.median(d)), float(np.percentile(d, 95)), max_median_mm, source, target, align)
    cp = closest_points(source.vertices, surface, points)
    corners = surface[cp.triangle]  # (V_t, 3)
    bary = cp.barycentric
    distance = cp.distance
    if hidden.any():
        # a target vertex lying on the source's undrawn surface (the same mesh: its lashes, occlusion shells,
        # mouth socket) takes that surface's labels (none), not those of the nearest drawn skin or eye
        near = closest_points(source.vertices, source.triangles[hidden], points)
        on_hidden = (near.distance < ON_SURFACE_M) & (cp.distance >= ON_SURFACE_M)
        on_both = (near.distance < ON_SURFACE_M) & (cp.distance < ON_SURFACE_M)
        if on_both.any():  # e.g. ICT's socket vertices coincide with eyelid vertices: the target's own faces decide
            on_hidden |= on_both & _faces_on_hidden(source, hidden, points, target.triangles, on_both)
        corners = np.where(on_hidden[:, None], source.triangles[hidden][near.triangle], corners)
        bary = np.where(on_hidden[:, None], near.barycentric, bary)
        distance = np.where(on_hidden, near.distance, distance)
    n_same = min(len(points), source.n_vertices)
    same = np.zeros(len(points), bool)  # the source vertex of the same index, where it is: that vertex (a re-export)
    same[:n_same] = np.linalg.norm(points[:n_same] - source.vertices[:n_same], axis=1) < ON_SURFACE_M
    if same.any():
        own = np.flatnonzero(same)
        corners[own] = own[:, None]
        bary[own] = (1.0, 0.0, 0.0)
        distance[own] = np.linalg.norm(points[own] - source.vertices[own], axis=1)
    dist_mm = distance * 1000.0
    median, p95 = float(np.median(dist_mm)), float(np.percentile(dist_mm, 95))
    if max_median_mm is not None:
        _check_frame(median, p95, max_median_mm, source, target, align)
    indicator, votes = _scores(annotation)
    w = bary[:, :, None]
    score = (indicator[corners] * w).sum(axis=1)  # (V_t, P+1) barycentric label weights
    carried = (votes[corners] * w).sum(axis=1)
    raw = score.argmax(axis=1)
    best = smooth_labels(raw, target.n_vertices, target.triangles, score.shape[1], smooth_rings)
    exact = (bary.max(axis=1) > 1.0 - 1e-6) & (distance < ON_SURFACE_M)  # on a source vertex: its own label
    best = np.where(exact, raw, best)
    n_parts = len(annotation.parts)
    far_mm = max_distance_mm if max_distance_mm is not None else max(DEFAULT_FAR_MM, 10.0 * median)
    far = dist_mm > far_mm
    labels = np.where((best == n_parts) | far, -1, best).astype(np.int64)
    # like a run on the target: vertices it never votes on (not drawn, teeth, sockets) carry no part
    unvoted = ~(target.vote_mask | target.eyeball_mask)
    unvoted[np.setdiff1d(np.arange(target.n_vertices), target.triangles.ravel())] = True  # in no triangle: not drawn
    outside = unvoted & (labels >= 0)
    if outside.any():
        labels[outside] = -1
        notes.append(f"{int(outside.sum())} vertices outside {target.name}'s vote-eligible surface (not drawn, "
                      "or teeth, sockets...) left without a part, as a run on it leaves them")
    part_votes = np.where(far[:, None], 0, carried[:, :n_parts]).astype(np.float32)  # weighted votes stay weights
    none_votes = np.where(far, 0, carried[:, n_parts]).astype(np.float32)
    if annotation.rule == "union":  # union membership comes from the votes: keep them consistent with the labels
        rows, cols = np.flatnonzero(labels >= 0), labels[labels >= 0]
        part_votes[rows, cols] = np.maximum(part_votes[rows, cols], np.float32(1e-3))
    confidence = np.where(far, 0.0, score[np.arange(len(best)), best]).astype(np.float32)  # barycentric share
    visible = (annotation.visible_count[corners] * bary).sum(axis=1)
    settings = transferred_settings(annotation, target, {
        "method": "surface", "from": annotation.fingerprint.as_dict(),
        "from_model": (annotation.settings.get("model") or {}).get("path") or source.name,
        "median_mm": round(median, 4), "p95_mm": round(p95, 4), "far_mm": far_mm,
        "smooth_rings": smooth_rings, "align": align})
    ann = Annotation(labels, part_votes, confidence, np.rint(visible).astype(np.int32), annotation.parts,
                     target.fingerprint, annotation.rule, settings, none_votes=none_votes)
    raw_labels = np.where((raw == n_parts) | far | unvoted, -1, raw)
    return TransferResult(ann, "surface", dist_mm, int(far.sum()), int((raw_labels != labels).sum()), notes)


def _faces_on_hidden(source, hidden: np.ndarray, points: np.ndarray, triangles: np.ndarray,
                     which: np.ndarray) -> np.ndarray:
    """(V_t,) bool: for the target vertices ``which``, whether most of their faces lie on the source's undrawn
    surface (``hidden``: (F_s,) bool) and not on its drawn one, judged at the face centroids.

    Args:
        points: (V_t, 3) target vertices in the source frame; triangles: (F_t, 3) target faces.
    """
    faces = np.flatnonzero(which[triangles].any(axis=1))
    out = np.zeros(len(points), bool)
    if len(faces) == 0:
        return out
    centroid = points[triangles[faces]].mean(axis=1)
    on_drawn = closest_points(source.vertices, source.triangles[~hidden], centroid).distance < ON_SURFACE_M
    on_undrawn = closest_points(source.vertices, source.triangles[hidden], centroid).distance < ON_SURFACE_M
    vote = on_undrawn.astype(np.float64) - on_drawn  # a face on both surfaces (coincident shells) does not count
    corners = triangles[faces].ravel()
    score = np.bincount(corners, np.repeat(vote, 3), minlength=len(points))
    out[which] = score[which] > 0
    return out


def transferred_settings(annotation: Annotation, target, record: dict) -> dict:
    """The settings of an annotation carried onto ``target``: the target model and ``record`` (how it was
    carried), with the source run's own settings and figures (quality, held-out IoU, convergence, which
    describe the source mesh) kept apart under ``transfer.source_run``, not passed off as the target's."""
    return {"model": recorded_model_settings(target),
            "transfer": {**record, "source_run": {k: v for k, v in annotation.settings.items() if k != "model"}}}


def transfer_by_maps(annotation: Annotation, maps, target) -> TransferResult:
    """Labels carried through BFM index maps (paths or :class:`~facepart.data.bfm_topology.IndexMap`)."""
    from ..data.bfm_topology import IndexMap, read_index_map
    from ..data.bfm_topology import transfer_annotation as carry

    maps = [m if isinstance(m, IndexMap) else read_index_map(m) for m in maps]
    ann = carry(annotation, maps, target.fingerprint)
    ann.settings = transferred_settings(annotation, target, {
        "method": "index map", "maps": [m.source for m in maps], "from": annotation.fingerprint.as_dict(),
        "from_model": (annotation.settings.get("model") or {}).get("path")})
    notes = [f"{int((ann.labels >= 0).sum())} of {ann.n_vertices} target vertices labelled through "
             f"{len(maps)} map(s)"]
    return TransferResult(ann, "index map", notes=notes)


def transfer(annotation: Annotation, target, *, source=None, via=None, out: str | Path | None = None,
             **options) -> TransferResult:
    """Carry ``annotation`` to ``target`` (a FaceModel) by index maps (``via``) or by surface projection.

    ``source`` is the annotation's model (default: the model named in its settings).
    With ``out``, the result is written there as ``annotation.npz`` + ``parts.json``.
    """
    if via:
        result = transfer_by_maps(annotation, via, target)
    else:
        if source is None:
            from .api import model_for

            source = model_for(annotation)
            if source is None:
                raise FacepartError("surface transfer needs the source model's geometry: give the model the "
                                    "annotation was made for (--from MODEL)")
        result = transfer_by_surface(annotation, source, target, **options)
    if out is not None:
        from .api import write_annotation_files

        result.notes.append("wrote " + ", ".join(str(p) for p in write_annotation_files(result.annotation, out)))
    return result


def transfer_file(annotation, target, out: str | Path, *, source=None, via=None, source_format: str | None = None,
                  **options) -> TransferResult:
    """:func:`transfer` for an annotation given as a file (any readable format) or object; writes ``out``.

    ``source`` (the annotation's model) is needed to read index-only files and for
    surface transfer; by default it is the model named in the annotation's settings.
    """
    if not isinstance(annotation, Annotation):
        from .api import read_annotation

        annotation = read_annotation(annotation, source_format, model=source)
    return transfer(annotation, target, source=source, via=via, out=out, **options)
