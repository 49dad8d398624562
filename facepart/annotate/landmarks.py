"""Landmark embedding by Algorithm 1: 2D landmarks detected on many renders -> points on the model's surface.

The recipe FLAME's maintainers describe for their embeddings (Rubikplayer/flame-fitting#40), made
automatic for any model facepart loads:

1. Render seeded variants of the model (identity, optional expression, pose, light) with exact
   triangle ids (:func:`collect_hits`).
2. Run a 2D landmark detector on each render. For every landmark, read the triangle under its
   pixel from the id buffer and intersect the camera ray through the (sub-pixel) landmark with
   that triangle of the posed mesh: perspective-correct barycentric coordinates. The same
   triangle and coordinates give the landmark's point on the neutral mean shape.
3. Per landmark, trim the views whose points lie far from the geometric median, and take the
   surface point with the least summed Euclidean distance to the rest (the median snapped to the
   surface) as triangle + barycentrics (:func:`aggregate_hits`).
4. Landmarks whose point moves with the head's yaw (the jaw contour: it is where the silhouette
   is, not a fixed place on the face) are found by measuring that movement, and get one
   embedding per yaw bin as well: the "dynamic" or "marching" embedding of FLAME and eos.
5. Held-out renders check the result: the embedding projected into new views against the
   detector's own points, in units of the inter-ocular distance (NME) (:func:`check_embedding`).

:func:`embed_landmarks` runs all of it.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from .. import __version__
from ..data.face_model import FaceModel
from ..data.loaders import recorded_model_settings
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..geometry import barycentric_points, closest_point_on_triangles, ray_triangle
from ..segmenters.base import View
from ..segmenters.landmarks import Detection, LandmarkSet, get_landmark_set, make_landmark_detector
from .pipeline import Scene, make_scene, render_view
from .settings import MAX_VARIANTS, check_finite_fields, check_int_option
from .variants import SamplingSettings, posed_vertices, sample_variant
from .views import AXES_HINT

HELD_OUT_OFFSET = 2_000_000  # variant indices of the check views: never used for the embedding
MM = 1000.0  # metres -> millimetres
MIN_QUARTER_VIEWS = 5  # inlier views a quarter of the yaw range needs to show a yaw dependence


#: The finest yaw bin (degrees): finer bins hold no views of their own and only cost memory.
MIN_BIN_WIDTH = 0.1


@dataclass(frozen=True)
class LandmarkSettings:
    """Settings of one landmark embedding (everything that changes its result).

    Angles in degrees, distances in millimetres.
    """

    variants: int = 200  # renders used for the embedding
    size: int = 512  # render size, pixels
    seed: int = 0
    yaw: float = 40.0  # yaw sampled in -yaw..+yaw
    pitch: float = 10.0  # pitch in -pitch..+pitch
    roll: float = 5.0  # roll in -roll..+roll
    bin_width: float = 5.0  # yaw bins of the dynamic embedding
    expressions: bool = False  # also vary the expression (default: identities only, neutral face)
    held_out: int = 20  # renders for the NME check (0: no check)
    min_bin_views: int = 3  # a yaw bin with fewer inlier views takes its neighbour's embedding
    trim: float = 2.5  # views farther than trim x the median distance from the median are outliers...
    trim_floor_mm: float = 1.5  # ...but never closer than this
    dynamic_mm: float = 6.0  # dynamic: in a quarter of the yaw range, its point lies this far off,...
    dynamic_ratio: float = 3.0  # ...this many standard errors and at least the quarter's own spread off
    stable_mm: float = 4.0  # stable: spread at most this...
    min_share: float = 0.5  # ...and found (detected, on the model, an inlier) in this share of views

    def __post_init__(self):
        check_finite_fields(self)
        check_int_option(self.variants, "variants", 1, MAX_VARIANTS)
        check_int_option(self.size, "size", 32, 4096)
        check_int_option(self.seed, "seed", 0, 2**63 - 1)
        check_int_option(self.held_out, "held-out", 0, MAX_VARIANTS)
        check_int_option(self.min_bin_views, "min-bin-views", 1)
        for name in ("yaw", "pitch", "roll"):
            if not 0 <= getattr(self, name) <= 90:
                raise FacepartError(f"--{name} must be between 0 and 90 degrees, got {getattr(self, name):g}")
        if not MIN_BIN_WIDTH <= self.bin_width <= 180:
            raise FacepartError(f"--bin-width must be between {MIN_BIN_WIDTH:g} and 180 degrees, "
                                f"got {self.bin_width:g}")

    def sampling(self) -> SamplingSettings:
        """The variant sampling: the model's identities, pose in the ranges, neutral unless ``expressions``."""
        return SamplingSettings(yaw=(-self.yaw, self.yaw), pitch=(-self.pitch, self.pitch),
                                roll=(-self.roll, self.roll), neutral_share=0.2 if self.expressions else 1.0)

    def bin_edges(self) -> np.ndarray:
        """(B + 1,) yaw bin edges, degrees: multiples of ``bin_width`` covering -yaw..yaw."""
        w = self.bin_width
        lo, hi = np.floor(-self.yaw / w + 1e-9), np.ceil(self.yaw / w - 1e-9)
        if hi <= lo:
            hi = lo + 1
        return w * np.arange(lo, hi + 1)

    def as_dict(self) -> dict:
        return asdict(self)


# -- 1-2: per-view hits --------------------------------------------------------------------------

class HitTable(NamedTuple):
    """Where each landmark landed on the model in each embedding view.

    Attributes:
        triangle: (K, L) int64 model triangle id (index into ``model.triangles``), -1 = no hit.
        bary: (K, L, 3) float64 barycentric coordinates in that triangle.
        yaw: (K,) float64 head yaw of each view, degrees.
        found: (K,) bool, the detector found a face in the view.
        pixels: (K, L, 2) float64 the detected points (NaN where not detected or invalid).
        index: (K,) int64 variant index of each view.
    """

    triangle: np.ndarray
    bary: np.ndarray
    yaw: np.ndarray
    found: np.ndarray
    pixels: np.ndarray
    index: np.ndarray

    @property
    def hit(self) -> np.ndarray:
        """(K, L) bool: detected, valid and on the rendered model."""
        return self.triangle >= 0


def detect(detector, view: View) -> Detection | None:
    """Run ``detector`` on ``view``: its image, or its geometry for a detector with ``detect_view``."""
    if hasattr(detector, "detect_view"):
        return detector.detect_view(view)
    return detector.detect(view.fragments.image)


def camera_rays(camera, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) continuous pixel coordinates -> world-space ray origins (N, 3) and directions (N, 3)."""
    px = np.asarray(pixels, np.float64)
    d_cam = np.stack([(px[:, 0] - camera.cx) / camera.fx, (px[:, 1] - camera.cy) / camera.fy,
                      np.ones(len(px))], axis=1)
    rot = np.asarray(camera.rotation, np.float64)
    centre = -rot.T @ np.asarray(camera.translation, np.float64)
    return np.broadcast_to(centre, d_cam.shape), d_cam @ rot  # R^T d for each row


def facing_camera(corners: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """(N,) bool: triangles (N, 3, 3) whose outward side (the model's winding) the rays (N, 3) meet, i.e. surface
    that faces the camera; a back-facing triangle is seen from inside, through an opening of the mesh."""
    c = np.asarray(corners, np.float64)
    normals = np.cross(c[:, 1] - c[:, 0], c[:, 2] - c[:, 0])
    return np.einsum("nd,nd->n", normals, np.asarray(directions, np.float64)) < 0


def pixel_hits(view: View, pixels: np.ndarray, valid: np.ndarray, tolerance: float = 1e-4
               ) -> tuple[np.ndarray, np.ndarray]:
    """Triangle and perspective-correct barycentrics of the surface seen at each sub-pixel point.

    The triangle under the landmark's pixel comes from the id buffer; the camera ray through
    the exact sub-pixel point is intersected with it in the posed mesh. When the ray passes
    beside that triangle (the point lies near a triangle edge, off the pixel centre), the
    triangles of the 3 x 3 pixel neighbourhood are tried, nearest first; failing those, the
    barycentrics are clamped onto the pixel's triangle.

    Only surface that faces the camera counts (:func:`facing_camera`): on an open mesh (a half
    head, a face mask) the render shows the inside of the far side through the opening, and a
    landmark the detector puts there (it guesses the missing half of the face) is no hit, not a
    point inside the back of the skull. Such a landmark gets -1 unless a front-facing triangle
    of the pixel's neighbourhood meets its ray.

    Args:
        view: the render (its ``triangles`` and ``vertices`` are the posed mesh).
        pixels: (L, 2) points, pixels.
        valid: (L,) bool, points to look up.

    Returns:
        (L,) int64 ids into ``view.triangles`` (-1: invalid or background) and (L, 3) barycentrics.
    """
    frag = view.fragments
    h, w = frag.triangle_id.shape
    n = len(pixels)
    tri = np.full(n, -1, np.int64)
    bary = np.zeros((n, 3))
    px = np.asarray(pixels, np.float64)
    finite = np.isfinite(px).all(axis=1)
    col = np.where(finite, np.floor(np.nan_to_num(px[:, 0])), -1).astype(np.int64)
    row = np.where(finite, np.floor(np.nan_to_num(px[:, 1])), -1).astype(np.int64)
    ok = np.asarray(valid, bool) & finite & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    idx = np.flatnonzero(ok)
    tid = frag.triangle_id[row[idx], col[idx]].astype(np.int64)
    on = tid >= 0
    idx, tid = idx[on], tid[on]
    if not len(idx):
        return tri, bary
    verts = np.asarray(view.vertices, np.float64)
    corners = np.asarray(view.triangles)[tid]
    origins, dirs = camera_rays(view.camera, px[idx])
    front = facing_camera(verts[corners], dirs)
    _, b = ray_triangle(origins, dirs, verts[corners[:, 0]], verts[corners[:, 1]], verts[corners[:, 2]])
    inside = front & np.isfinite(b).all(axis=1) & (b.min(axis=1) >= -tolerance)
    tri[idx[front]] = tid[front]
    bary[idx[inside]] = b[inside]
    for k, t0, bk, t0_front in zip(idx[~inside], tid[~inside], b[~inside], front[~inside]):
        r0, c0 = row[k], col[k]
        window = frag.triangle_id[max(r0 - 1, 0): r0 + 2, max(c0 - 1, 0): c0 + 2].ravel()
        cand = np.unique(window[window >= 0]).astype(np.int64)
        cand = cand[cand != t0]
        best = None
        if len(cand):
            cc = np.asarray(view.triangles)[cand]
            o, d = camera_rays(view.camera, np.repeat(px[k][None], len(cand), axis=0))
            t, bb = ray_triangle(o, d, verts[cc[:, 0]], verts[cc[:, 1]], verts[cc[:, 2]])
            good = (facing_camera(verts[cc], d) & np.isfinite(t) & (t > 0) & np.isfinite(bb).all(axis=1)
                    & (bb.min(axis=1) >= -tolerance))
            if good.any():
                j = np.flatnonzero(good)[np.argmin(t[good])]
                best = (cand[j], bb[j])
        if best is None and not t0_front:  # seen through an opening: no surface facing the camera here
            tri[k] = -1
            continue
        if best is None:  # clamp onto the pixel's own triangle
            clamped = np.clip(np.nan_to_num(bk, nan=1.0 / 3.0), 0.0, None)
            best = (t0, clamped / clamped.sum() if clamped.sum() > 0 else np.full(3, 1.0 / 3.0))
        tri[k], bary[k] = best
    bary[tri >= 0] = np.clip(bary[tri >= 0], 0.0, None)
    bary[tri >= 0] /= bary[tri >= 0].sum(axis=1, keepdims=True)
    return tri, bary


def collect_hits(model: FaceModel, detector, landmark_set: LandmarkSet, settings: LandmarkSettings, renderer,
                 indices, scene: Scene | None = None, progress: Callable[[], None] | None = None) -> HitTable:
    """Render the variants ``indices``, detect, and look every landmark up on the model."""
    scene = scene or make_scene(model, settings.size)
    sampling = settings.sampling()
    rendered = model.render_triangles
    indices = list(indices)
    k, n = len(indices), len(landmark_set)
    triangle = np.full((k, n), -1, np.int64)
    bary = np.zeros((k, n, 3))
    yaw = np.zeros(k)
    found = np.zeros(k, bool)
    pixels = np.full((k, n, 2), np.nan)
    for row, i in enumerate(indices):
        variant = sample_variant(model, sampling, settings.seed, i)
        yaw[row] = variant.yaw
        view = render_view(model, variant, scene, renderer, shade=True)
        det = detect(detector, view)
        if det is not None:
            found[row] = True
            pts, ok = landmark_set.select(det.points, det.valid)
            pixels[row, ok] = pts[ok]
            tid, b = pixel_hits(view, pts, ok)
            hit = tid >= 0
            triangle[row, hit] = rendered[tid[hit]]
            bary[row, hit] = b[hit]
        if progress is not None:
            progress()
    return HitTable(triangle, bary, yaw, found, pixels, np.asarray(indices, np.int64))


# -- 3-4: aggregation ----------------------------------------------------------------------------

def _quiet(fn, *args, **kwargs):
    """``fn(*args)`` without numpy's all-NaN-slice warnings (such rows give NaN, which callers expect)."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


def geometric_median(points: np.ndarray, mask: np.ndarray, iterations: int = 60, tol: float = 1e-7) -> np.ndarray:
    """Per row, the point with the least summed Euclidean distance to the masked points (Weiszfeld).

    Args:
        points: (L, K, 3); mask: (L, K) bool. Rows without points give NaN.
    """
    p = np.asarray(points, np.float64)
    m = np.asarray(mask, bool)
    cnt = m.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.where(m[..., None], p, 0.0).sum(axis=1) / cnt[:, None]
        for _ in range(iterations):
            d = np.linalg.norm(p - centre[:, None], axis=2)
            w = np.where(m, 1.0 / np.maximum(d, 1e-9), 0.0)
            new = (w[..., None] * np.where(m[..., None], p, 0.0)).sum(axis=1) / w.sum(axis=1)[:, None]
            moved = np.linalg.norm(new - centre, axis=1)
            moved = moved[np.isfinite(moved)]  # (rows without points stay NaN)
            step = moved.max() if len(moved) else 0.0
            centre = new
            if not step > tol:
                break
    centre[cnt == 0] = np.nan
    return centre


def trimmed_median(points: np.ndarray, mask: np.ndarray, trim: float, floor: float
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Geometric median after dropping outliers: (L, 3) centres and (L, K) inlier masks.

    A point is an outlier when it lies farther than ``max(trim * median distance, floor)`` from
    the first geometric median.
    """
    centre = geometric_median(points, mask)
    d = np.linalg.norm(points - centre[:, None], axis=2)
    d_masked = np.where(mask, d, np.nan)
    limit = np.maximum(trim * np.nan_to_num(_quiet(np.nanmedian, d_masked, axis=1)), floor)
    with np.errstate(invalid="ignore"):
        inlier = mask & (d <= limit[:, None])
    return geometric_median(points, inlier), inlier


class SurfaceIndex:
    """Closest-point queries on a model's rendered surface, split into the vote-eligible part and the rest."""

    def __init__(self, model: FaceModel):
        from scipy import sparse
        from scipy.spatial import cKDTree

        self.vertices = np.asarray(model.vertices, np.float64)
        self.triangles = np.asarray(model.triangles, np.int64)
        tri_ids = model.render_triangles
        self.eligible = np.zeros(len(self.triangles), bool)
        self.eligible[tri_ids] = model.vote_mask[self.triangles[tri_ids]].any(axis=1)
        self.rendered = np.zeros(len(self.triangles), bool)
        self.rendered[tri_ids] = True
        n_v, n_t = len(self.vertices), len(self.triangles)
        rows = self.triangles[tri_ids].ravel()
        cols = np.repeat(tri_ids, 3)
        self.vertex_triangles = sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n_v, n_t))
        self._trees = {}
        for kind in (True, False):
            sel = self.rendered & (self.eligible == kind)
            verts = np.unique(self.triangles[sel]) if sel.any() else np.zeros(0, np.int64)
            self._trees[kind] = (verts, cKDTree(self.vertices[verts]) if len(verts) else None)

    def points(self, triangle: np.ndarray, bary: np.ndarray) -> np.ndarray:
        return barycentric_points(self.vertices, self.triangles, triangle, bary)

    def neighbourhood(self, triangles: np.ndarray, eligible: bool | None) -> np.ndarray:
        """Rendered triangles sharing a vertex with ``triangles`` (of one surface kind if given)."""
        verts = np.unique(self.triangles[np.asarray(triangles, np.int64)])
        ptr, ind = self.vertex_triangles.indptr, self.vertex_triangles.indices
        out = np.unique(np.concatenate([ind[ptr[v]:ptr[v + 1]] for v in verts]))
        if eligible is not None:
            keep = out[self.eligible[out] == eligible]
            out = keep if len(keep) else out
        return out

    def nearest_vertices(self, points: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """(N,) nearest rendered vertex of each point, among vertices of the surface kind ``eligible`` (N,) bool."""
        out = np.full(len(points), -1, np.int64)
        for kind in (True, False):
            sel = np.asarray(eligible, bool) == kind
            if not sel.any():
                continue
            verts, tree = self._trees[kind]
            if tree is None:
                verts, tree = self._trees[not kind]
            out[sel] = verts[tree.query(points[sel])[1]]
        return out


class _Aggregate(NamedTuple):
    triangle: np.ndarray  # (L,) int64
    bary: np.ndarray  # (L, 3)
    point: np.ndarray  # (L, 3) metres, mean shape
    vertex: np.ndarray  # (L,) int64
    spread_mm: np.ndarray  # (L,) median distance of all hits from the point
    inlier: np.ndarray  # (L, K) bool
    count: np.ndarray  # (L,) hits


def _aggregate(surface: SurfaceIndex, triangle: np.ndarray, bary: np.ndarray, hit: np.ndarray,
               settings: LandmarkSettings) -> _Aggregate:
    """Trimmed geometric median of each landmark's hits (columns of (K, L) arrays), snapped to the surface."""
    k, n = triangle.shape
    pts = np.full((k, n, 3), np.nan)
    if hit.any():
        pts[hit] = surface.points(triangle[hit], bary[hit])
    P, M = np.swapaxes(pts, 0, 1), hit.T  # (L, K, 3), (L, K)
    centre, inlier = trimmed_median(P, M, settings.trim, settings.trim_floor_mm / MM)
    out_tri = np.full(n, -1, np.int64)
    out_bary = np.full((n, 3), np.nan)
    out_pt = np.full((n, 3), np.nan)
    out_vertex = np.full(n, -1, np.int64)
    spread = np.full(n, np.nan)
    todo = np.flatnonzero(inlier.any(axis=1))
    if not len(todo):
        return _Aggregate(out_tri, out_bary, out_pt, out_vertex, spread, inlier.T, hit.sum(axis=0))
    # snap every median onto the surface near its views' triangles (of the kind most of them hit), in one batch
    cands = []
    for j in todo:
        tris = triangle[inlier[j], j]
        cands.append(surface.neighbourhood(np.unique(tris), bool(surface.eligible[tris].mean() >= 0.5)))
    sizes = np.array([len(c) for c in cands])
    cand = np.concatenate(cands)
    owner = np.repeat(todo, sizes)
    corners = surface.vertices[surface.triangles[cand]]
    b = closest_point_on_triangles(centre[owner], corners[:, 0], corners[:, 1], corners[:, 2])
    q = np.einsum("nk,nkd->nd", b, corners)
    dist = np.linalg.norm(q - centre[owner], axis=1)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = np.lexsort((dist, owner))  # per owner, nearest first; owners ascending like ``todo``
    first = order[starts]
    out_tri[todo], out_bary[todo], out_pt[todo] = cand[first], b[first], q[first]
    for j in todo:
        # the surface point with the least summed distance: the snapped median, or one of the views' own points
        views = P[j, inlier[j]]
        cost_q = np.linalg.norm(views - out_pt[j], axis=1).sum()
        costs = np.linalg.norm(views[:, None] - views[None], axis=2).sum(axis=1)
        best = int(np.argmin(costs))
        if costs[best] < cost_q:
            row = np.flatnonzero(inlier[j])[best]
            out_tri[j], out_bary[j], out_pt[j] = triangle[row, j], bary[row, j], views[best]
        spread[j] = MM * float(np.median(np.linalg.norm(P[j, M[j]] - out_pt[j], axis=1)))
    out_vertex[todo] = surface.nearest_vertices(out_pt[todo], surface.eligible[out_tri[todo]])
    return _Aggregate(out_tri, out_bary, out_pt, out_vertex, spread, inlier.T, hit.sum(axis=0))


def _quarter_drift(points_fn, hits: HitTable, static_point: np.ndarray, settings: LandmarkSettings
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Yaw dependence of each landmark: (L,) largest significant displacement (mm, 0 if none) and
    (L,) largest displacement of any well-filled quarter (mm).

    The sampled yaw range is cut in four quarters; in each, the trimmed median of the landmark's
    points is compared with its static point. A displacement counts when the quarter has at least
    :data:`MIN_QUARTER_VIEWS` inlier views and the displacement is at least ``dynamic_mm``, at least the
    quarter's own spread (median distance of its inliers from their median) and at least
    ``dynamic_ratio`` standard errors (that spread / sqrt(views)).
    """
    n = hits.triangle.shape[1]
    significant = np.zeros(n)
    largest = np.zeros(n)
    if settings.yaw <= 0:
        return significant, largest
    edges = np.linspace(-settings.yaw, settings.yaw, 5)
    which = np.clip(np.searchsorted(edges, hits.yaw, side="right") - 1, 0, 3)
    for q in range(4):
        sel = which == q
        if sel.sum() < settings.min_bin_views:
            continue
        hit = hits.hit[sel]
        pts = np.full((int(sel.sum()), n, 3), np.nan)
        pts[hit] = points_fn(hits.triangle[sel][hit], hits.bary[sel][hit])
        P, M = np.swapaxes(pts, 0, 1), hit.T
        centre, inlier = trimmed_median(P, M, settings.trim, settings.trim_floor_mm / MM)
        count = inlier.sum(axis=1)
        d_in = np.where(inlier, np.linalg.norm(P - centre[:, None], axis=2), np.nan)
        spread = MM * _quiet(np.nanmedian, d_in, axis=1)
        shift = MM * np.linalg.norm(centre - static_point, axis=1)
        full = (count >= max(settings.min_bin_views, MIN_QUARTER_VIEWS)) & np.isfinite(shift)
        spread = np.nan_to_num(spread)
        se = spread / np.sqrt(np.maximum(count, 1))
        sig = full & (shift >= settings.dynamic_mm) & (shift >= spread) & (shift >= settings.dynamic_ratio * se)
        significant = np.where(sig, np.maximum(significant, np.nan_to_num(shift)), significant)
        largest = np.where(full, np.maximum(largest, np.nan_to_num(shift)), largest)
    return significant, largest


# -- the result ------------------------------------------------------------------------------------

class LandmarkCheck(NamedTuple):
    """Held-out check: the embedding projected into new renders vs the detector on them.

    Errors are normalised by the detector's own inter-ocular (outer eye corner) distance in each
    view (NME). Dynamic landmarks use the yaw bin of each view.

    Attributes:
        groups: group names; ``all`` last.
        mean, p95: (G,) mean and 95th percentile NME per group (over landmark x view pairs).
        count: (G,) landmark x view pairs per group.
        per_landmark: (L,) mean NME of each landmark.
        dynamic_as_static: (mean, p95) NME of the dynamic landmarks had their static embedding been
            used (None without dynamic landmarks): what the per-yaw embedding buys.
        views: held-out views compared; skipped: views without a face.
        iod_px: median inter-ocular distance in pixels.
    """

    groups: tuple[str, ...]
    mean: np.ndarray
    p95: np.ndarray
    count: np.ndarray
    per_landmark: np.ndarray
    dynamic_as_static: tuple[float, float] | None
    dynamic_mean: tuple[float, float] | None
    views: int
    skipped: int
    iod_px: float

    def table(self) -> str:
        width = max(len(g) for g in self.groups + ("dynamic (per-yaw embedding)",))
        rows = [f"  {'group':<{width}}  {'mean':>6}  {'p95':>6}  {'n':>6}"]
        for g, m, p, c in zip(self.groups, self.mean, self.p95, self.count):
            rows.append(f"  {g:<{width}}  {m:6.3f}  {p:6.3f}  {int(c):6d}")
        if self.dynamic_as_static is not None and self.dynamic_mean is not None:
            rows.append(f"  {'dynamic (per-yaw embedding)':<{width}}  {self.dynamic_mean[0]:6.3f}  "
                        f"{self.dynamic_mean[1]:6.3f}")
            rows.append(f"  {'dynamic (static embedding)':<{width}}  {self.dynamic_as_static[0]:6.3f}  "
                        f"{self.dynamic_as_static[1]:6.3f}")
        rows.append(f"  ({self.views} held-out views" + (f", {self.skipped} without a face" if self.skipped else "")
                    + f"; NME = pixel error / inter-ocular distance, median {self.iod_px:.0f} px)")
        return "\n".join(rows)

    def as_dict(self) -> dict:
        def r(x):
            return None if x is None or not np.isfinite(x) else round(float(x), 5)

        return {"groups": {g: {"mean": r(m), "p95": r(p), "n": int(c)}
                           for g, m, p, c in zip(self.groups, self.mean, self.p95, self.count)},
                "dynamic_per_yaw": None if self.dynamic_mean is None else [r(x) for x in self.dynamic_mean],
                "dynamic_as_static": None if self.dynamic_as_static is None else [r(x) for x in self.dynamic_as_static],
                "views": self.views, "skipped": self.skipped, "iod_px": r(self.iod_px),
                "per_landmark": [r(x) for x in self.per_landmark]}

    @classmethod
    def from_dict(cls, d: dict) -> "LandmarkCheck":
        groups = tuple(d["groups"])
        f = (lambda x: np.nan if x is None else float(x))
        return cls(groups, np.array([f(d["groups"][g]["mean"]) for g in groups]),
                   np.array([f(d["groups"][g]["p95"]) for g in groups]),
                   np.array([int(d["groups"][g]["n"]) for g in groups]),
                   np.array([f(x) for x in d.get("per_landmark", [])]),
                   None if d.get("dynamic_as_static") is None else tuple(f(x) for x in d["dynamic_as_static"]),
                   None if d.get("dynamic_per_yaw") is None else tuple(f(x) for x in d["dynamic_per_yaw"]),
                   int(d["views"]), int(d["skipped"]), f(d.get("iod_px")))


@dataclass
class LandmarkEmbedding:
    """Where a landmark set lies on one model: static triangle + barycentrics, and per yaw bin for dynamic ones.

    Triangle ids index ``model.triangles`` (0-based); barycentrics weight its corners in their
    stored order; points are on the mean shape in metres (facepart's frame).

    Attributes:
        landmark_set: the landmarks (names, detector points, groups).
        detector: the detector's description.
        model_name, fingerprint: the model it was made for.
        triangle: (L,) int64; bary: (L, 3) float64; point: (L, 3) float64 mean-shape position.
        vertex: (L,) int64 nearest vertex of the point.
        spread_mm: (L,) median distance of the views' points from the result (all yaws), mm.
        share: (L,) share of the views with a face in which the landmark was detected on the model's
            visible surface and agreed with the result (an inlier; for a dynamic landmark, with its yaw
            bin's result).
        stable: (L,) bool, share >= min_share and spread (per-bin spread for dynamic ones) <= stable_mm.
        dynamic: (L,) bool, its point moves with yaw (see ``drift_mm``).
        drift_mm: (L,) largest displacement of its point in a quarter of the yaw range, mm.
        bin_edges: (B + 1,) yaw bin edges (degrees; positive yaw = face turned toward the subject's left).
        bin_views: (B,) views per bin.
        dyn_triangle, dyn_bary, dyn_vertex, dyn_spread_mm, dyn_filled: (B, D) per yaw bin for the D
            dynamic landmarks (in set order); ``filled`` bins had too few views and copy the nearest bin.
        views, found: views rendered, views in which the detector found a face.
        settings: the run's settings and provenance.
        check: the held-out NME check, if run.
    """

    landmark_set: LandmarkSet
    detector: str
    model_name: str
    fingerprint: Fingerprint
    triangle: np.ndarray
    bary: np.ndarray
    point: np.ndarray
    vertex: np.ndarray
    spread_mm: np.ndarray
    share: np.ndarray
    stable: np.ndarray
    dynamic: np.ndarray
    drift_mm: np.ndarray
    bin_edges: np.ndarray
    bin_views: np.ndarray
    dyn_triangle: np.ndarray
    dyn_bary: np.ndarray
    dyn_vertex: np.ndarray
    dyn_spread_mm: np.ndarray
    dyn_filled: np.ndarray
    views: int
    found: int
    settings: dict = field(default_factory=dict)
    check: LandmarkCheck | None = None

    def __len__(self) -> int:
        return len(self.triangle)

    @property
    def names(self) -> tuple[str, ...]:
        return self.landmark_set.names

    @property
    def dynamic_ids(self) -> np.ndarray:
        """(D,) set indices of the dynamic landmarks."""
        return np.flatnonzero(self.dynamic)

    @property
    def static_ids(self) -> np.ndarray:
        return np.flatnonzero(~self.dynamic)

    @property
    def embedded(self) -> np.ndarray:
        """(L,) bool: the landmark has an embedding (was found on the model at least once)."""
        return self.triangle >= 0

    @property
    def unreliable(self) -> np.ndarray:
        """(L,) bool: embedded but not stable: found in under ``min_share`` of the views with a face, or its
        views' points spread more than ``stable_mm`` (on an open mesh, a landmark of the missing half that
        a few views put on the edge of the cut). Kept, but worth a look."""
        return self.embedded & ~self.stable

    def missing_names(self) -> list[str]:
        """Names of the landmarks never found on the model (triangle -1), in set order."""
        return [self.names[j] for j in np.flatnonzero(~self.embedded)]

    def warning_lines(self) -> list[str]:
        """``warning:`` lines about landmarks never found, or found in under ``min_share`` of the views (a wide spread
        alone, normal for jaw contour points, only marks them ``stable: false``); empty when all are fine."""
        lines = []
        n = len(self)
        missing = self.missing_names()
        if missing:
            lines.append(f"warning: {len(missing)} of {n} landmarks were never found on the model's surface facing "
                         f"the camera: {name_list(missing)}; landmarks.json keeps them as triangle -1 (an open or "
                         "partial mesh, or a detector that misses them)")
        min_share = float(self.settings.get("min_share", 0.5))
        share = np.nan_to_num(self.share)
        bad = np.flatnonzero(self.embedded & (share < min_share))  # (a wide spread alone is a jaw contour point's
        if len(bad):                                                # normal state: stable: false says so, no warning)
            order = bad[np.argsort(share[bad], kind="stable")]  # fewest views first
            shown = name_list([f"{self.names[j]} ({100 * share[j]:.0f}%)" for j in order])
            lines.append(f"warning: {len(bad)} of {int(self.embedded.sum())} embedded landmarks were found in under "
                         f"{100 * min_share:.0f}% of the {self.found} views with a face: {shown}; kept, marked "
                         "stable: false in landmarks.json (an open mesh, or a point the detector guesses: look at "
                         "landmarks.png)")
        return lines

    def bin_of(self, yaw: float) -> int:
        """The yaw bin holding ``yaw`` degrees (clamped to the sampled range)."""
        b = int(np.searchsorted(self.bin_edges, yaw, side="right")) - 1
        return int(np.clip(b, 0, len(self.bin_edges) - 2))

    def bin_centres(self) -> np.ndarray:
        return 0.5 * (self.bin_edges[1:] + self.bin_edges[:-1])

    def points(self, vertices: np.ndarray, triangles: np.ndarray, yaw: float | None = None) -> np.ndarray:
        """(L, 3) landmark positions on a mesh of this topology (NaN where not embedded).

        With ``yaw`` (degrees), dynamic landmarks take their embedding for that yaw's bin.
        """
        tri, bary = self.triangle.copy(), self.bary.copy()
        if yaw is not None and self.dynamic.any():
            b = self.bin_of(yaw)
            tri[self.dynamic], bary[self.dynamic] = self.dyn_triangle[b], self.dyn_bary[b]
        out = np.full((len(tri), 3), np.nan)
        ok = tri >= 0
        out[ok] = barycentric_points(vertices, triangles, tri[ok], bary[ok])
        return out

    def summary_lines(self) -> list[str]:
        s = self.landmark_set
        ok = self.embedded
        dyn = self.dynamic_ids
        groups, gid = s.group_ids()
        lines = [f"Embedded {int(ok.sum())} of {len(self)} landmarks ({s.name}: {s.source}) on {self.model_name}: "
                 f"{int(self.stable.sum())} stable (the views agree on its point), {len(dyn)} dynamic (it moves "
                 f"with the yaw: embedded per yaw bin; a landmark may be both); faces found in {self.found} of "
                 f"{self.views} renders."]
        still = ok & ~self.dynamic
        if ok.any():
            static_spread = float(np.nanmedian(self.spread_mm[still])) if still.any() else float("nan")
            dynamic_part = (f", {np.nanmedian(self.dyn_spread_mm):.2f} mm per yaw bin over dynamic ones"
                            if len(dyn) else "")
            lines.append(f"Spread (median distance of the views' points from the result): median "
                         f"{static_spread:.2f} mm over static landmarks{dynamic_part}.")
        if len(dyn):
            by_group = {}
            for j in dyn:
                by_group.setdefault(s.groups[j], []).append(s.names[j])
            shown = "; ".join(f"{g}: {len(v)}" + (f" ({', '.join(v)})" if len(v) <= 6 else "")
                              for g, v in by_group.items())
            lines.append(f"Dynamic (point moves >= {self.settings.get('dynamic_mm', '?')} mm with yaw), "
                         f"{len(self.bin_edges) - 1} yaw bins of {self.settings.get('bin_width', '?')} deg: {shown}.")
        if self.check is not None:
            lines.append("Held-out check, NME (embedding projected into new renders vs the detector):")
            lines.append(self.check.table())
        return lines + self.warning_lines()

    # -- plain data --------------------------------------------------------------------------
    def as_dict(self) -> dict:
        """JSON-ready dict (``landmarks.json``)."""
        s = self.landmark_set
        d_index = {int(j): k for k, j in enumerate(self.dynamic_ids)}
        lms = []
        for j in range(len(self)):
            entry = {"index": j, "name": s.names[j], "group": s.groups[j], "detector_points": list(s.sources[j]),
                     "triangle": int(self.triangle[j]),
                     "barycentric": [round(float(x), 7) for x in np.nan_to_num(self.bary[j])],
                     "vertex": int(self.vertex[j]),
                     "point_mm": [round(float(x) * MM, 4) for x in np.nan_to_num(self.point[j])],
                     "spread_mm": _r(self.spread_mm[j], 3), "share": _r(self.share[j], 4),
                     "stable": bool(self.stable[j]), "dynamic": bool(self.dynamic[j]),
                     "drift_mm": _r(self.drift_mm[j], 3)}
            if j in d_index:
                k = d_index[j]
                entry["bins"] = [{"triangle": int(self.dyn_triangle[b, k]),
                                  "barycentric": [round(float(x), 7) for x in self.dyn_bary[b, k]],
                                  "vertex": int(self.dyn_vertex[b, k]), "spread_mm": _r(self.dyn_spread_mm[b, k], 3),
                                  "filled": bool(self.dyn_filled[b, k])} for b in range(len(self.bin_views))]
            lms.append(entry)
        return {"format": "facepart-landmarks", "format_version": 1, "facepart_version": __version__,
                "model": {"name": self.model_name, **self.fingerprint.as_dict()},
                "landmark_set": s.as_dict(), "detector": self.detector,
                "yaw_bins": {"edges_deg": [float(x) for x in self.bin_edges], "views": [int(x) for x in self.bin_views],
                             "convention": "positive yaw turns the face toward the subject's left (+x)"},
                "views": self.views, "found": self.found, "settings": self.settings,
                "check": None if self.check is None else self.check.as_dict(), "landmarks": lms}

    @classmethod
    def from_dict(cls, d: dict, what: str = "landmarks.json") -> "LandmarkEmbedding":
        if d.get("format") != "facepart-landmarks":
            raise FacepartError(f"{what}: not a facepart landmarks file (format {d.get('format')!r})")
        try:
            s = LandmarkSet.from_dict(d["landmark_set"])
            lms = d["landmarks"]
            n = len(lms)
            if n != len(s):
                raise FacepartError(f"{what}: {n} landmarks but the set has {len(s)}")
            edges = np.asarray(d["yaw_bins"]["edges_deg"], float)
            nb = len(edges) - 1
            dyn = np.array([bool(x["dynamic"]) for x in lms])
            dyn_ids = np.flatnonzero(dyn)
            D = len(dyn_ids)
            dt = np.full((nb, D), -1, np.int64)
            db = np.zeros((nb, D, 3))
            dv = np.full((nb, D), -1, np.int64)
            ds = np.full((nb, D), np.nan)
            dfill = np.zeros((nb, D), bool)
            for k, j in enumerate(dyn_ids):
                for b, entry in enumerate(lms[j]["bins"]):
                    dt[b, k], db[b, k], dv[b, k] = entry["triangle"], entry["barycentric"], entry["vertex"]
                    ds[b, k] = np.nan if entry["spread_mm"] is None else entry["spread_mm"]
                    dfill[b, k] = entry["filled"]
            f = (lambda x: np.nan if x is None else float(x))
            model = d["model"]
            return cls(s, str(d.get("detector", "")), str(model.get("name", "")),
                       Fingerprint.from_dict(model, "landmarks file: model"),
                       np.array([x["triangle"] for x in lms], np.int64),
                       np.array([x["barycentric"] for x in lms], float).reshape(n, 3),
                       np.array([x["point_mm"] for x in lms], float).reshape(n, 3) / MM,
                       np.array([x["vertex"] for x in lms], np.int64),
                       np.array([f(x["spread_mm"]) for x in lms]), np.array([f(x["share"]) for x in lms]),
                       np.array([bool(x["stable"]) for x in lms]), dyn, np.array([f(x["drift_mm"]) for x in lms]),
                       edges, np.asarray(d["yaw_bins"]["views"], np.int64), dt, db, dv, ds, dfill,
                       int(d["views"]), int(d["found"]), dict(d.get("settings") or {}),
                       None if d.get("check") is None else LandmarkCheck.from_dict(d["check"]))
        except FacepartError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise FacepartError(f"{what}: damaged facepart landmarks file ({type(exc).__name__}: {exc})") from None


def name_list(names, limit: int = 12) -> str:
    """``a, b, c`` for at most ``limit`` names, then ``and N more``."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _r(x, digits: int):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def _reprojection_cost(model: FaceModel, scene: Scene, posed: list[np.ndarray], pixels: np.ndarray, iod: np.ndarray,
                       tri: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """(C,) summed reprojection error (pixels / inter-ocular distance) of candidate surface points (C,) over views.

    Args:
        posed: per view, the (V, 3) posed vertices; pixels: (N_views, 2) the landmark's detections
            (NaN: none); iod: (N_views,) inter-ocular distances (NaN: unusable view).
    """
    cost = np.zeros(len(tri))
    for v, px, d in zip(posed, pixels, iod):
        if not (np.isfinite(px).all() and np.isfinite(d) and d > 0):
            continue
        uv, _ = scene.camera.project(barycentric_points(v, model.triangles, tri, bary))
        cost += np.nan_to_num(np.linalg.norm(uv - px, axis=1) / d, nan=1e6)
    return cost


def aggregate_hits(model: FaceModel, hits: HitTable, landmark_set: LandmarkSet, settings: LandmarkSettings,
                   detector: str = "", scene: Scene | None = None) -> LandmarkEmbedding:
    """Steps 3-4: the static embedding, the dynamic decision and the per-yaw-bin embedding from ``hits``.

    Per yaw bin, a dynamic landmark takes, of its bin's trimmed median (snapped to the surface), its
    static point and its bin's inlier view points, the one that reprojects best onto the bin's own
    detections (least summed pixel error / inter-ocular distance): a detector that places a hidden
    contour point where its own 3D face model projects (MediaPipe) is then not forced onto the
    silhouette, and one that follows the silhouette (a 2D contour detector) is.
    """
    surface = SurfaceIndex(model)
    scene = scene or make_scene(model, settings.size)
    sampling = settings.sampling()
    static = _aggregate(surface, hits.triangle, hits.bary, hits.hit, settings)
    found = int(hits.found.sum())
    share = static.inlier.sum(axis=0) / max(found, 1)
    significant, largest = _quarter_drift(surface.points, hits, static.point, settings)
    dynamic = (significant > 0) & (static.triangle >= 0)
    drift = np.where(significant > 0, significant, largest)

    edges = settings.bin_edges()
    nb = len(edges) - 1
    which = np.clip(np.searchsorted(edges, hits.yaw, side="right") - 1, 0, nb - 1)
    bin_views = np.bincount(which, minlength=nb)
    dyn_ids = np.flatnonzero(dynamic)
    D = len(dyn_ids)
    dt = np.full((nb, D), -1, np.int64)
    db = np.zeros((nb, D, 3))
    dv = np.full((nb, D), -1, np.int64)
    ds = np.full((nb, D), np.nan)
    counts = np.zeros((nb, D), np.int64)
    right, left = landmark_set.eye_corners
    if D:
        for b in range(nb):
            sel = np.flatnonzero(which == b)
            if not len(sel):
                continue
            tri, bary = hits.triangle[sel][:, dyn_ids], hits.bary[sel][:, dyn_ids]
            agg = _aggregate(surface, tri, bary, tri >= 0, settings)
            counts[b] = agg.inlier.sum(axis=0)
            posed = [posed_vertices(model, sample_variant(model, sampling, settings.seed, int(hits.index[k])),
                                    scene.centre) for k in sel]
            px = hits.pixels[sel]
            iod = np.linalg.norm(px[:, right] - px[:, left], axis=1)
            for k, j in enumerate(dyn_ids):
                if agg.triangle[k] < 0:
                    continue
                rows = np.flatnonzero(agg.inlier[:, k])
                cand_t = np.concatenate([[agg.triangle[k], static.triangle[j]], tri[rows, k]])
                cand_b = np.concatenate([[agg.bary[k], static.bary[j]], bary[rows, k]])
                best = int(np.argmin(_reprojection_cost(model, scene, posed, px[:, j], iod, cand_t, cand_b)))
                dt[b, k], db[b, k] = cand_t[best], cand_b[best]
                point = surface.points(dt[b, k:k + 1], db[b, k:k + 1])
                dv[b, k] = surface.nearest_vertices(point, surface.eligible[dt[b, k:k + 1]])[0]
                on = tri[:, k] >= 0
                views = surface.points(tri[on, k], bary[on, k])
                ds[b, k] = MM * float(np.median(np.linalg.norm(views - point, axis=1)))
    filled = counts < settings.min_bin_views
    centres = 0.5 * (edges[1:] + edges[:-1])
    for k in range(D):
        good = np.flatnonzero(~filled[:, k])
        if not len(good):  # too few views in every bin: the static embedding everywhere
            j = dyn_ids[k]
            dt[:, k], db[:, k], dv[:, k] = static.triangle[j], static.bary[j], static.vertex[j]
            ds[:, k] = static.spread_mm[j]
            continue
        for b in np.flatnonzero(filled[:, k]):
            src = good[np.argmin(np.abs(centres[good] - centres[b]))]
            dt[b, k], db[b, k], dv[b, k], ds[b, k] = dt[src, k], db[src, k], dv[src, k], ds[src, k]
    spread_for_stable = static.spread_mm.copy()
    if D:  # a dynamic landmark's spread and share are those of its yaw bins
        spread_for_stable[dyn_ids] = _quiet(np.nanmedian, np.where(filled, np.nan, ds), axis=0)
        share[dyn_ids] = counts.sum(axis=0) / max(found, 1)
    stable = (static.triangle >= 0) & (share >= settings.min_share) & (np.nan_to_num(spread_for_stable, nan=np.inf)
                                                                      <= settings.stable_mm)
    run = {**settings.as_dict(), "detector": detector, "facepart_version": __version__,
           "model": recorded_model_settings(model)}
    return LandmarkEmbedding(landmark_set, detector, model.name, model.fingerprint, static.triangle, static.bary,
                             static.point, static.vertex, static.spread_mm, share, stable, dynamic, drift, edges,
                             bin_views, dt, db, dv, ds, filled, len(hits.yaw), found, run)


# -- 5: the held-out check -------------------------------------------------------------------------

def check_embedding(model: FaceModel, embedding: LandmarkEmbedding, detector, settings: LandmarkSettings, renderer,
                    views: int | None = None, scene: Scene | None = None,
                    progress: Callable[[], None] | None = None) -> LandmarkCheck:
    """Project ``embedding`` into held-out renders and compare with ``detector`` there (NME per group)."""
    views = settings.held_out if views is None else views
    scene = scene or make_scene(model, settings.size)
    sampling = settings.sampling()
    s = embedding.landmark_set
    n = len(s)
    errors, static_errors = [], []
    skipped = 0
    iods = []
    right, left = s.eye_corners
    triangles = model.triangles
    for i in range(HELD_OUT_OFFSET, HELD_OUT_OFFSET + views):
        variant = sample_variant(model, sampling, settings.seed, i)
        view = render_view(model, variant, scene, renderer, shade=True)
        det = detect(detector, view)
        if progress is not None:
            progress()
        if det is None:
            skipped += 1
            continue
        pts, ok = s.select(det.points, det.valid)
        iod = float(np.linalg.norm(pts[right] - pts[left]))
        if not (ok[right] and ok[left]) or iod <= 0:
            skipped += 1
            continue
        iods.append(iod)
        for yaw, out in ((variant.yaw, errors), (None, static_errors)):
            uv, _ = view.camera.project(embedding.points(view.vertices, triangles, yaw))
            e = np.linalg.norm(uv - pts, axis=1) / iod
            out.append(np.where(ok & np.isfinite(e), e, np.nan))
    err = np.array(errors).reshape(-1, n)
    err_static = np.array(static_errors).reshape(-1, n)
    names, gid = s.group_ids()
    groups = names + ("all",)
    mean, p95, count = [], [], []
    for g in range(len(groups)):
        cols = np.ones(n, bool) if groups[g] == "all" else gid == g
        vals = err[:, cols]
        vals = vals[np.isfinite(vals)]
        mean.append(float(vals.mean()) if len(vals) else np.nan)
        p95.append(float(np.percentile(vals, 95)) if len(vals) else np.nan)
        count.append(len(vals))
    per_landmark = _quiet(np.nanmean, err, axis=0) if len(err) else np.full(n, np.nan)
    dyn = embedding.dynamic
    as_static = dyn_mean = None
    if dyn.any() and len(err):
        a, b = err[:, dyn], err_static[:, dyn]
        a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) and len(b):
            dyn_mean = (float(a.mean()), float(np.percentile(a, 95)))
            as_static = (float(b.mean()), float(np.percentile(b, 95)))
    return LandmarkCheck(groups, np.array(mean), np.array(p95), np.array(count), per_landmark, as_static, dyn_mean,
                         views - skipped, skipped, float(np.median(iods)) if iods else float("nan"))


# -- all of it -------------------------------------------------------------------------------------

def embed_landmarks(model: FaceModel, detector="mediapipe", landmark_set="68", settings: LandmarkSettings | None = None,
                    *, renderer=None, progress: Callable[[int, int], None] | None = None) -> LandmarkEmbedding:
    """Embed ``landmark_set`` on ``model`` by Algorithm 1, and check it on held-out renders.

    Args:
        model: any loaded face model.
        detector: a :class:`~facepart.segmenters.landmarks.LandmarkDetector` or a spec (``"mediapipe"``).
        landmark_set: a :class:`~facepart.segmenters.landmarks.LandmarkSet` or a built-in name
            (``"478"``, ``"68"``, ``"105"``).
        settings: :class:`LandmarkSettings` (default: 200 variants at 512 px, yaw +-40, 5-degree bins).
        renderer: a renderer of ``settings.size`` (default: a new one, closed afterwards).
        progress: called as ``progress(done, total)`` after each render (embedding and check).

    Raises:
        FacepartError: the detector found no face in any render, or no landmark on the model.
    """
    from ..renderers.base import renderer_for

    settings = settings or LandmarkSettings()
    own = isinstance(detector, str)
    if own:
        detector = make_landmark_detector(detector)
    try:
        lset = get_landmark_set(landmark_set, detector.name)
        if lset.n_detector_points != detector.n_points:
            raise FacepartError(f"landmark set '{lset.name}' picks from {lset.n_detector_points} points but detector "
                                f"'{detector.name}' gives {detector.n_points}")
        desc = detector.describe() if hasattr(detector, "describe") else detector.name
        total = settings.variants + settings.held_out
        done = [0]

        def tick():
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        t0 = time.perf_counter()
        with renderer_for(renderer, settings.size) as r:
            scene = make_scene(model, settings.size)
            hits = collect_hits(model, detector, lset, settings, r, range(settings.variants), scene, tick)
            if not hits.found.any():
                raise FacepartError(
                    f"{detector.name} found no face in any of the {settings.variants} renders of {model.name}; "
                    f"nothing to embed ({AXES_HINT}, or try a smaller --yaw)")
            if not hits.hit.any():
                raise FacepartError(f"{detector.name} found faces in {int(hits.found.sum())} renders of {model.name}, "
                                    "but no landmark fell on the model's surface")
            embedding = aggregate_hits(model, hits, lset, settings, desc, scene)
            if settings.held_out:
                embedding.check = check_embedding(model, embedding, detector, settings, r, scene=scene, progress=tick)
        embedding.settings["seconds"] = round(time.perf_counter() - t0, 2)
        return embedding
    finally:
        if own and hasattr(detector, "close"):
            detector.close()
