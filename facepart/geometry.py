"""Mesh geometry that every layer shares: normals, edges, adjacency, connected pieces, mirror symmetry.

Plain numpy/scipy over (V, 3) vertices and (F, 3) 0-based triangles; no
rendering and no files, so data loaders, voting, the viewer and the exporters
all call the same functions.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph


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
    """(E, 2) int64 undirected edges of ``triangles`` (F, 3), each once, smaller index first."""
    tri = np.asarray(triangles, np.int64)
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    e.sort(axis=1)
    return np.unique(e, axis=0)


def edge_lengths(vertices: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(E,) float64 lengths of ``edges`` (E, 2)."""
    v = np.asarray(vertices, np.float64)
    return np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1)


def adjacency(n_vertices: int, triangles: np.ndarray, vertices: np.ndarray | None = None) -> sparse.csr_matrix:
    """(V, V) symmetric CSR vertex adjacency: 1 per edge, or the edge length when ``vertices`` is given."""
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


def grow(adjacency_matrix: sparse.spmatrix, selected: np.ndarray, rings: int = 1) -> np.ndarray:
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


def closest_points_on_triangles(points: np.ndarray, a: np.ndarray, b: np.ndarray,
                                c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Closest point of triangle (a, b, c) to each point, pairwise (Ericson, Real-Time Collision Detection 5.1.5).

    Args:
        points, a, b, c: (N, 3).

    Returns:
        (N, 3) closest points and (N, 3) their barycentric coordinates w.r.t. (a, b, c)
        (non-negative, rows summing to 1).
    """
    p = np.asarray(points, np.float64)
    a, b, c = (np.asarray(x, np.float64) for x in (a, b, c))
    n = len(p)
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = np.einsum("nd,nd->n", ab, ap), np.einsum("nd,nd->n", ac, ap)
    bp = p - b
    d3, d4 = np.einsum("nd,nd->n", ab, bp), np.einsum("nd,nd->n", ac, bp)
    cp = p - c
    d5, d6 = np.einsum("nd,nd->n", ab, cp), np.einsum("nd,nd->n", ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    bary = np.zeros((n, 3))
    done = np.zeros(n, bool)

    def take(mask, w):
        nonlocal done
        m = mask & ~done
        bary[m] = w[m]
        done |= m

    with np.errstate(divide="ignore", invalid="ignore"):
        one, zero = np.ones(n), np.zeros(n)
        take((d1 <= 0) & (d2 <= 0), np.stack([one, zero, zero], 1))  # vertex a
        take((d3 >= 0) & (d4 <= d3), np.stack([zero, one, zero], 1))  # vertex b
        t = d1 / (d1 - d3)
        take((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t, t, zero], 1))  # edge ab
        take((d6 >= 0) & (d5 <= d6), np.stack([zero, zero, one], 1))  # vertex c
        t = d2 / (d2 - d6)
        take((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t, zero, t], 1))  # edge ac
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        take((va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0), np.stack([zero, 1 - t, t], 1))  # edge bc
        denom = va + vb + vc
        v_, w_ = vb / denom, vc / denom
        take(np.ones(n, bool), np.stack([1 - v_ - w_, v_, w_], 1))  # inside the face
    bary = np.nan_to_num(bary, nan=1.0 / 3.0)  # degenerate triangles: their centroid
    closest = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    return closest, bary
