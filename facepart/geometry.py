"""Mesh geometry that every layer shares: normals, edges, adjacency, connected pieces, mirror symmetry.

Plain numpy/scipy over (V, 3) vertices and (F, 3) 0-based triangles; no
rendering and no files, so data loaders, voting, the viewer and the exporters
all call the same functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse


def triangle_normals(vertices: np.ndarray, triangles: np.ndarray, unit: bool = True) -> np.ndarray:
    """(F, 3) float64 triangle normals (outward for counter-clockwise winding); area-scaled unless ``unit``."""
    v = np.asarray(vertices, np.float64)[triangles]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    if unit:
        norm = np.linalg.norm(n, axis=1, keepdims=True)
        n = n / np.where(norm > 0, norm, 1)
    return n


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V, 3) float32 area-weighted unit vertex normals (zero for vertices on no triangle)."""
    face_n = triangle_normals(vertices, triangles, unit=False)
    corners = np.asarray(triangles).T.ravel()  # every triangle adds its normal to its three corners
    weights = np.tile(face_n, (3, 1))
    n = len(vertices)
    normals = np.stack([np.bincount(corners, weights[:, c], minlength=n) for c in range(3)], axis=1)
    norm = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.where(norm > 0, norm, 1)).astype(np.float32)


def unique_edges(triangles: np.ndarray) -> np.ndarray:
    """(E, 2) int64 undirected edges of ``triangles`` (F, 3), each once, smaller index first, sorted."""
    tri = np.asarray(triangles, np.int64)
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    lo, hi = e.min(axis=1), e.max(axis=1)
    n = int(hi.max(initial=0)) + 1
    keys = np.unique(lo * n + hi)  # one integer per edge: much faster than np.unique(axis=0)
    return np.stack([keys // n, keys % n], axis=1)


def edge_lengths(vertices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(E,) float64 lengths of ``edges`` (E, 2)."""
    v = np.asarray(vertices, np.float64)
    return np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)


def adjacency(n_vertices: int, triangles: np.ndarray, vertices: np.ndarray | None = None) -> "sparse.csr_matrix":
    """(V, V) symmetric CSR vertex adjacency: 1 per edge, or the edge length when ``vertices`` is given."""
    from scipy import sparse  # scipy only where a graph is needed: render workers start faster

    e = unique_edges(triangles)
    w = np.ones(len(e)) if vertices is None else np.maximum(edge_lengths(vertices, e), 1e-12)
    a = sparse.coo_matrix((w, (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    return (a + a.T).tocsr()


def connected_components(n_vertices: int, triangles: np.ndarray, mask: np.ndarray | None = None
                         ) -> tuple[np.ndarray, int]:
    """Connected pieces of the vertex subgraph induced by ``mask`` (V,) bool (default: every vertex).

    Two vertices are connected when an edge of ``triangles`` joins them and both are in ``mask``.

    Returns:
        (V,) int64 piece id per vertex (-1 outside ``mask``), numbered by decreasing size,
        and the number of pieces.
    """
    from scipy import sparse
    from scipy.sparse import csgraph

    mask = np.ones(n_vertices, bool) if mask is None else np.asarray(mask, bool)
    e = unique_edges(triangles)
    e = e[mask[e[:, 0]] & mask[e[:, 1]]]
    graph = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    _, comp = csgraph.connected_components(graph, directed=False)
    comp = np.where(mask, comp, -1)
    ids, counts = np.unique(comp[mask], return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    relabel = np.full(n_vertices + 1, -1, np.int64)
    relabel[order] = np.arange(len(order))
    return np.where(mask, relabel[np.maximum(comp, 0)], -1), len(order)


def grow(adjacency_matrix: "sparse.spmatrix", selected: np.ndarray, rings: int = 1) -> np.ndarray:
    """(V,) bool ``selected`` grown by ``rings`` rings of neighbours (negative ``rings`` shrinks it)."""
    sel = np.asarray(selected, bool).copy()
    a = adjacency_matrix
    for _ in range(abs(rings)):
        if rings > 0:
            sel = sel | (a @ sel.astype(np.float64) > 0)
        else:
            sel = sel & ~(a @ (~sel).astype(np.float64) > 0)
    return sel


class MirrorMap(NamedTuple):
    """Mirror symmetry of a mesh about a plane x = ``plane_x`` (the face's left/right plane).

    Attributes:
        partner: (V,) int64 the vertex nearest to each vertex's mirror image, -1 when
            none lies within ``tolerance``.
        distance: (V,) float64 distance from the mirror image to that vertex (metres).
        plane_x: x of the symmetry plane.
        tolerance: the largest distance accepted for a pair.
        matched_share: share of the vertices that have a partner.
    """

    partner: np.ndarray
    distance: np.ndarray
    plane_x: float
    tolerance: float
    matched_share: float

    def symmetric(self, min_share: float = 0.95) -> bool:
        """True when at least ``min_share`` of the vertices have a mirror partner."""
        return self.matched_share >= min_share

    def describe(self) -> str:
        return (f"mirror pairs for {100 * self.matched_share:.1f}% of vertices within "
                f"{1000 * self.tolerance:.2f} mm (plane x = {1000 * self.plane_x:.2f} mm)")


def mirror_map(vertices: np.ndarray, triangles: np.ndarray, tolerance: float | None = None,
               mask: np.ndarray | None = None) -> MirrorMap:
    """Find each vertex's mirror partner across the plane x = const (facepart's frame: +x is the subject's left).

    The plane is fitted (two rounds: mean x, then the median midpoint of the matched pairs).

    Args:
        vertices: (V, 3) mean shape.
        triangles: (F, 3), for the default tolerance: half the median edge length.
        tolerance: metres; a mirror image farther than this from every vertex has no partner.
        mask: (V,) bool, vertices that take part (default all); others get -1.
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    n = len(v)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
    idx = np.flatnonzero(mask)
    if tolerance is None:
        e = unique_edges(triangles)
        tolerance = 0.5 * float(np.median(edge_lengths(v, e))) if len(e) else 1e-3
    tree = cKDTree(v[idx])
    plane = float(v[idx, 0].mean()) if len(idx) else 0.0
    partner = np.full(n, -1, np.int64)
    distance = np.full(n, np.inf)
    for _ in range(2):
        mirrored = v[idx].copy()
        mirrored[:, 0] = 2 * plane - mirrored[:, 0]
        dist, nearest = tree.query(mirrored, workers=1)
        ok = dist <= tolerance
        if ok.sum() >= max(3, 0.05 * len(idx)):
            plane = float(np.median(0.5 * (v[idx[ok], 0] + v[idx[nearest[ok]], 0])))
    partner[idx] = np.where(ok, idx[nearest], -1)
    distance[idx] = dist
    share = float(ok.mean()) if len(idx) else 0.0
    return MirrorMap(partner, distance, plane, float(tolerance), share)


class ClosestPoints(NamedTuple):
    """The closest point on a triangle mesh to each of N query points.

    Attributes:
        triangle: (N,) int64 id of the triangle the closest point lies on.
        barycentric: (N, 3) float64 weights of that triangle's three corners (sum 1, all >= 0).
        point: (N, 3) float64 the closest point itself.
        distance: (N,) float64 distance from the query to it.
    """

    triangle: np.ndarray
    barycentric: np.ndarray
    point: np.ndarray
    distance: np.ndarray


def closest_point_on_triangles(points: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N, 3) barycentric weights of the closest point to ``points[i]`` on triangle ``(a[i], b[i], c[i])``.

    All inputs (N, 3). Exact (Voronoi regions of vertices, edges and face, after
    Ericson, *Real-Time Collision Detection* 5.1.5); degenerate triangles fall back
    to their closest corner or edge.
    """
    p, a, b, c = (np.asarray(x, np.float64) for x in (points, a, b, c))
    ab, ac, ap = b - a, c - a, p - a
    bp, cp = p - b, p - c

    def dot(x, y):
        return np.einsum("ij,ij->i", x, y)

    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2

    def ratio(num, den):
        return np.clip(num / np.where(den != 0, den, 1.0), 0.0, 1.0)

    out = np.empty((len(p), 3))
    denom = va + vb + vc
    v, w = ratio(vb, denom), ratio(vc, denom)
    out[:] = np.stack([1 - v - w, v, w], axis=1)  # inside the face
    # edges and corners, lowest priority first so that the checks earlier in Ericson's order win
    region_bc = (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)
    t = ratio(d4 - d3, (d4 - d3) + (d5 - d6))
    out[region_bc] = np.stack([np.zeros_like(t), 1 - t, t], axis=1)[region_bc]
    region_ac = (vb <= 0) & (d2 >= 0) & (d6 <= 0)
    t = ratio(d2, d2 - d6)
    out[region_ac] = np.stack([1 - t, np.zeros_like(t), t], axis=1)[region_ac]
    out[(d6 >= 0) & (d5 <= d6)] = (0.0, 0.0, 1.0)
    region_ab = (vc <= 0) & (d1 >= 0) & (d3 <= 0)
    t = ratio(d1, d1 - d3)
    out[region_ab] = np.stack([1 - t, t, np.zeros_like(t)], axis=1)[region_ab]
    out[(d3 >= 0) & (d4 <= d3)] = (0.0, 1.0, 0.0)
    out[(d1 <= 0) & (d2 <= 0)] = (1.0, 0.0, 0.0)
    bad = ~np.isfinite(out).all(axis=1) | (denom == 0) & ~((d1 <= 0) & (d2 <= 0))
    if bad.any():  # degenerate (zero-area) triangles: best of the three corners and three edges
        out[bad] = _closest_on_degenerate(p[bad], a[bad], b[bad], c[bad])
    return out


def _closest_on_degenerate(p, a, b, c) -> np.ndarray:
    corners = np.stack([a, b, c], axis=1)  # (N, 3, 3)
    best = np.full(len(p), np.inf)
    out = np.zeros((len(p), 3))
    for i, j in ((0, 1), (1, 2), (2, 0)):
        e = corners[:, j] - corners[:, i]
        ee = np.einsum("ij,ij->i", e, e)
        t = np.clip(np.einsum("ij,ij->i", p - corners[:, i], e) / np.where(ee > 0, ee, 1.0), 0, 1)
        q = corners[:, i] + t[:, None] * e
        d = np.linalg.norm(p - q, axis=1)
        better = d < best
        best = np.where(better, d, best)
        w = np.zeros((len(p), 3))
        w[:, i], w[:, j] = 1 - t, t
        out[better] = w[better]
    return out


def closest_points(vertices: np.ndarray, triangles: np.ndarray, points: np.ndarray, k: int = 16,
                   max_k: int = 1024, chunk: int = 8192) -> ClosestPoints:
    """The closest point on the surface ``(vertices (V, 3), triangles (F, 3))`` to each of ``points`` (N, 3).

    Every triangle is covered by sample points (centroids of a regular subdivision)
    no farther than ``h`` from any of its points; a KD-tree over the samples gives
    candidate triangles, whose exact closest points are computed. A query is
    settled when its k-th nearest sample lies beyond (best distance + h), which
    proves no other triangle is closer; otherwise k doubles, up to ``max_k``
    (beyond that, rare for queries near the surface, the best candidate is kept).
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64)
    pts = np.asarray(points, np.float64)
    if len(tri) == 0:
        raise ValueError("closest_points needs at least one triangle")
    corners = v[tri]  # (F, 3, 3)
    centroid = corners.mean(axis=1)
    radius = np.linalg.norm(corners - centroid[:, None], axis=2).max(axis=1)  # covering radius of the centroid
    h0 = max(float(np.median(radius)), 1e-12)
    level = np.clip(np.ceil(radius / h0), 1, 16).astype(np.int64)
    sample_xyz, sample_tri, cover = [], [], np.zeros(len(tri))
    for n in np.unique(level):
        ids = np.flatnonzero(level == n)
        uv = [((3 * i + 1) / (3 * n), (3 * j + 1) / (3 * n)) for i in range(n) for j in range(n - i)]
        uv += [((3 * i + 2) / (3 * n), (3 * j + 2) / (3 * n)) for i in range(n) for j in range(n - 1 - i)]
        uv = np.array(uv)  # (S, 2) weights of corners b and c
        c = corners[ids]
        pos = c[:, None, 0] + uv[None, :, :1] * (c[:, None, 1] - c[:, None, 0]) \
            + uv[None, :, 1:] * (c[:, None, 2] - c[:, None, 0])
        sample_xyz.append(pos.reshape(-1, 3))
        sample_tri.append(np.repeat(ids, len(uv)))
        cover[ids] = radius[ids] / n
    sample_xyz, sample_tri = np.concatenate(sample_xyz), np.concatenate(sample_tri)
    h = float(cover.max())
    tree = cKDTree(sample_xyz)

    n_pts = len(pts)
    best_tri = np.zeros(n_pts, np.int64)
    best_w = np.zeros((n_pts, 3))
    best_d = np.full(n_pts, np.inf)
    todo = np.arange(n_pts)
    kk = min(k, len(sample_xyz))
    while len(todo):
        unsettled = []
        for start in range(0, len(todo), chunk):
            q_ids = todo[start:start + chunk]
            dist, nearest = tree.query(pts[q_ids], k=kk, workers=1)
            dist, nearest = dist.reshape(len(q_ids), -1), nearest.reshape(len(q_ids), -1)
            pair = np.unique(np.repeat(np.arange(len(q_ids)), kk) * len(tri) + sample_tri[nearest].ravel())
            r, t = pair // len(tri), pair % len(tri)  # unique (query row, candidate triangle) pairs, sorted by row
            w = closest_point_on_triangles(pts[q_ids[r]], corners[t, 0], corners[t, 1], corners[t, 2])
            d = np.linalg.norm(pts[q_ids[r]] - np.einsum("ij,ijk->ik", w, corners[t]), axis=1)
            order = np.lexsort((d, r))
            first = order[np.r_[True, r[order][1:] != r[order][:-1]]]  # the nearest candidate of each row
            sel = q_ids[r[first]]
            better = d[first] < best_d[sel]
            best_d[sel[better]], best_tri[sel[better]], best_w[sel[better]] = \
                d[first][better], t[first][better], w[first][better]
            if kk < len(sample_xyz):  # no unseen triangle can be closer than (k-th sample distance - h)
                unsettled.append(q_ids[dist[:, -1] - h < best_d[q_ids]])
        todo = np.concatenate(unsettled) if unsettled else np.zeros(0, np.int64)
        if kk >= min(max_k, len(sample_xyz)):
            break
        kk = min(kk * 2, max_k, len(sample_xyz))
    point = np.einsum("ij,ijk->ik", best_w, corners[best_tri])
    return ClosestPoints(best_tri, best_w, point, best_d)


# -- points on triangles -----------------------------------------------------------------------

def barycentric_points(vertices: np.ndarray, triangles: np.ndarray, triangle_ids: np.ndarray,
                       barycentrics: np.ndarray) -> np.ndarray:
    """(N, 3) float64 points ``sum_i b[n, i] * vertices[triangles[t[n], i]]``.

    Args:
        vertices: (V, 3); triangles: (F, 3); triangle_ids: (N,) into ``triangles``;
        barycentrics: (N, 3) weights of the triangles' corners in their stored order.
    """
    corners = np.asarray(vertices, np.float64)[np.asarray(triangles)[np.asarray(triangle_ids, np.int64)]]
    return np.einsum("nk,nkd->nd", np.asarray(barycentrics, np.float64), corners)


def ray_triangle(origins: np.ndarray, directions: np.ndarray, a: np.ndarray, b: np.ndarray,
                 c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where rays meet the planes of triangles (Moller-Trumbore, no culling), pairwise.

    Args:
        origins, directions: (N, 3) rays (directions need not be unit).
        a, b, c: (N, 3) triangle corners.

    Returns:
        (N,) ray parameter t (NaN for a ray parallel to its triangle) and (N, 3) barycentric
        coordinates of the hit point w.r.t. (a, b, c); some are negative when the ray passes
        beside the triangle.
    """
    o, d = np.asarray(origins, np.float64), np.asarray(directions, np.float64)
    a, b, c = (np.asarray(x, np.float64) for x in (a, b, c))
    e1, e2 = b - a, c - a
    p = np.cross(d, e2)
    det = np.einsum("nd,nd->n", e1, p)
    scale = np.maximum(np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1) * np.linalg.norm(d, axis=1), 1e-300)
    ok = np.abs(det) > 1e-12 * scale
    inv = np.where(ok, 1.0 / np.where(ok, det, 1.0), np.nan)
    s = o - a
    u = np.einsum("nd,nd->n", s, p) * inv
    q = np.cross(s, e1)
    v = np.einsum("nd,nd->n", d, q) * inv
    t = np.einsum("nd,nd->n", e2, q) * inv
    return t, np.stack([1.0 - u - v, u, v], axis=1)
