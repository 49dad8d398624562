"""Mesh-space regularisation: a multi-label graph cut over the vote table, then small pieces merged.

The majority rule labels each vertex on its own, so parser noise leaves
islands (a lip in six pieces) and ragged boundaries. Here the labels of all
vote-eligible vertices are chosen together by minimising (alpha-expansion,
Boykov, Veksler & Zabih 2001)::

    E(l) = sum_v  a_v * U(v, l_v)  +  smooth * sum_(u,v) w_uv * [l_u != l_v]

over the labels ``0..P-1`` (the parts) and ``P`` ("none": no part):

- ``U(v, l) = -log((votes[v, l] + c) / (total_v + c * (P + 1)))``, the smoothed vote
  share, with ``none_votes`` as the votes for label P and ``c = pseudo_count``
  (one pixel's vote): a vertex seen a few times has a weak opinion, one seen
  hundreds of times a firm one. ``a_v`` is the vertex's area in mm² (a third
  of its triangles').
- ``w_uv = length_uv (mm) * crease_uv``, with ``crease_uv = -log(max(theta_uv, 1 deg) / pi)``
  divided by its median over the graph, ``theta_uv`` the angle between the normals of the two
  triangles on the edge (SAMesh's smoothness term; the angle is first rescaled to the median
  edge length, since on a smooth surface it shrinks with the edge): a boundary is cheap along
  a crease (lip line, eyelid, alar groove) and dear across a flat cheek.
- times ``exp(-contrast / 2 * |s_u - s_v|^2)`` where both ends were seen, ``s`` a vertex's vote
  shares (parts and "none"): GrabCut's contrast-sensitive Potts term, in vote space. A boundary
  between two vertices whose votes clearly disagree (shares 1 and 0) costs ``e^-contrast`` as much,
  one through mixed votes nearly full price: the cut smooths where the votes are unsure and keeps
  the boundaries they draw sharply. Measured on the views of ``benchmarks/quality.py`` (50 variants): with the
  noise-free oracle on ICT, whose true boundaries are ragged at the vertex scale, agreement 99.50%
  at contrast 0 and 99.90% at the default 1 (2 and 3: 99.91%); with parser noise and 15% garbage
  views 97.17% and 97.30% (2 and 3: 97.06%); MediaPipe's held-out IoU and mirror agreement unchanged.
- So ``smooth`` is in physical units: a part boundary costs ``smooth`` per millimetre, an area
  costs its unary per mm², on a dense face and a coarse scalp alike, on any model in metres.
  A round island of radius r (mm) whose votes favour it by ``d`` per mm² is removed when
  ``r < 2 * smooth / d``; the default 0.25 cleans single ragged vertices and leaves thin parts
  (brows, lip corners) alone: islands are the next step's job.
- ``smooth`` = 0 switches all of this off: the result is exactly the majority rule.

Only vote-eligible vertices are sites, and only mesh edges join them: separate
mesh components (eyeballs, teeth) are separate pieces of the graph and are
never bridged.

**Unseen vertices** (no part and no "none" votes at all) have no unary cost, so
the cut fills them from their neighbours. Afterwards an unseen connected piece
keeps those part labels only when it is *enclosed*: every seen vertex next to
it carries a part, and the piece is at most half the seen area of the smallest of those parts on its own
mesh component (a hidden component with a few seen vertices stays unlabelled). An unseen piece that touches
an unlabelled seen vertex
(e.g. behind the ear, under the chin, toward the scalp) stays unlabelled:
nothing is invented into parts beyond holes the parts surround.

**Small pieces.** After the cut, on every mesh component, each part keeps its
largest connected piece (by area); its other pieces smaller than ``min_piece``
times the largest (default 1: all of them) are handled smallest first, each by
whichever change costs less energy: *merge* it into the label it shares the most
boundary with, or *bridge* it to the largest piece along the cheapest path (a lip
corner cut off by a thin gap of uncertain votes is joined back, a wrong island
far away is merged). Smallest first means a wrong island that cuts a part in two
goes before the part's cut-off half. Parts of a custom part table that are
legitimately in several pieces on one component (both ears as one part) need
``min_piece`` below their pieces' size ratio.

**Which graph-cut library.** Two backends compute the same expansion moves:

- ``maxflow`` (default): PyMaxflow's Boykov-Kolmogorov max-flow for each binary
  expansion move; the moves themselves are built here in vectorised numpy.
- ``gco``: gco-wrapper (pyGCO), the reference GCO v3 alpha-expansion in C++.

Measured on ICT with ``benchmarks/regularize.py`` (9 labels, expansion to convergence from the
cheapest labels, synthetic noisy votes; median of 5; a 2-core Xeon shared with other jobs, so
noisy): on all 26,719 vertices (78,850 edges) maxflow 0.48 s vs gco 1.18 s at smooth 0.25 and
0.86 vs 1.05 s at smooth 1; on the 11,248 vote-eligible vertices 0.16 vs 0.34 s and 0.16 vs
0.25 s. Same energies, identical labels. Much of gco's time is pyGCO's per-site Python
``init_label_at_site`` (0.55 s for 26,719 sites); setting the start labels through its private
ctypes handle instead brings gco level with maxflow (0.64 vs 0.70 s, 0.90 vs 0.79 s). So speed
does not decide; maxflow is chosen because it gives the same labels as fast, is GPL-3 (an OSI
licence), and has no side effects, while gco's bundled GCO v3 C++ code is licensed "for research
purposes only; commercial use not permitted", its import adds ``numpy.int``, ``numpy.float`` and
``numpy.bool`` aliases to numpy for the whole process (this module takes them back), it needs
Cython at install, and it quantises energies to 32-bit integers (here: costs x 1000).

All results are deterministic: fixed label order, no randomness.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from scipy import sparse

from .. import geometry
from ..errors import FacepartError, require

#: Default strength of the pairwise term (0 = off: the majority rule).
DEFAULT_SMOOTH = 0.25
#: Pieces of a part smaller than this share of the part's largest piece (same mesh component) are merged away.
DEFAULT_MIN_PIECE = 1.0
#: Pseudo-count added to every label's votes (in votes: one pixel's vote).
DEFAULT_PSEUDO_COUNT = 1.0
#: How much cheaper a boundary is between vertices whose votes disagree (0 = a plain Potts term).
DEFAULT_CONTRAST = 1.0
BACKENDS = ("maxflow", "gco")
DEFAULT_BACKEND = "maxflow"
_MIN_ANGLE = np.deg2rad(1.0)


_INSTALL = {"maxflow": "pip install PyMaxflow==1.3.2", "gco": "pip install gco-wrapper==3.0.9"}


class MeshGraph(NamedTuple):
    """The graph the cut runs on: vote-eligible vertices joined by mesh edges.

    Attributes:
        sites: (S,) int64 vertex ids of the sites.
        edges: (E, 2) int64 site indices (0..S-1), smaller first.
        weights: (E,) float64 boundary cost of cutting each edge (mm of boundary x crease factor;
            before ``smooth``).
        area: (S,) float64 vertex area, mm².
        component: (S,) int64 mesh component of each site (``geometry.connected_components`` ids).
    """

    sites: np.ndarray
    edges: np.ndarray
    weights: np.ndarray
    area: np.ndarray
    component: np.ndarray


def edge_dihedral_angles(vertices: np.ndarray, triangles: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(E,) float64 angle (radians) between the normals of the two triangles on each edge.

    Boundary edges (one triangle) get NaN; on non-manifold edges the first two triangles count.
    """
    tri = np.asarray(triangles, np.int64)
    normals = geometry.triangle_normals(vertices, tri)
    n = int(max(tri.max(initial=0), edges.max(initial=0))) + 1
    half = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    half.sort(axis=1)
    owner = np.tile(np.arange(len(tri)), 3)
    key = half[:, 0] * n + half[:, 1]
    order = np.lexsort((owner, key))
    key, owner = key[order], owner[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(key)))
    key_u = key[starts]
    t0 = owner[starts]
    t1 = np.where(counts > 1, owner[np.minimum(starts + 1, len(key) - 1)], -1)
    wanted = edges[:, 0].astype(np.int64) * n + edges[:, 1]
    pos = np.searchsorted(key_u, wanted)
    pos = np.minimum(pos, len(key_u) - 1)
    if len(key_u) == 0 or np.any(key_u[pos] != wanted):
        raise FacepartError("edges that no triangle has were given to edge_dihedral_angles")
    a, b = t0[pos], t1[pos]
    cos = np.einsum("ij,ij->i", normals[a], normals[np.maximum(b, 0)])
    angle = np.arccos(np.clip(cos, -1.0, 1.0))
    return np.where(b >= 0, angle, np.nan)


def vertex_areas(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(V,) float64 a third of the area of each vertex's triangles."""
    area = 0.5 * np.linalg.norm(geometry.triangle_normals(vertices, triangles, unit=False), axis=1)
    return np.bincount(np.asarray(triangles).ravel(), np.repeat(area / 3, 3), minlength=len(vertices))


def mesh_graph(vertices: np.ndarray, triangles: np.ndarray, mask: np.ndarray | None = None) -> MeshGraph:
    """Build the cut's graph over the vertices in ``mask`` (default: all on a triangle)."""
    v = np.asarray(vertices, np.float64)
    tri = np.asarray(triangles, np.int64)
    n = len(v)
    on_triangle = np.zeros(n, bool)
    on_triangle[tri.ravel()] = True
    mask = on_triangle if mask is None else (np.asarray(mask, bool) & on_triangle)
    sites = np.flatnonzero(mask)
    local = np.full(n, -1, np.int64)
    local[sites] = np.arange(len(sites))
    all_edges = geometry.unique_edges(tri)
    keep = mask[all_edges[:, 0]] & mask[all_edges[:, 1]]
    e = all_edges[keep]
    length = geometry.edge_lengths(v, e)
    angle = edge_dihedral_angles(v, tri, e)
    length_scale = max(float(np.median(length)) if len(length) else 1.0, 1e-12)
    # The angle between neighbouring normals shrinks with the edge length on a smooth surface:
    # rescale it to the median edge length so a dense face and a coarse scalp compare alike.
    angle = angle * np.clip(length_scale / np.maximum(length, 1e-12), 0.1, 10.0)
    crease = -np.log(np.clip(angle, _MIN_ANGLE, np.pi) / np.pi)
    inner = np.isfinite(crease)
    crease_scale = float(np.median(crease[inner])) if inner.any() else 1.0
    crease = np.where(inner, crease / crease_scale, 1.0)
    weights = 1000.0 * length * crease  # millimetres of boundary, cheaper along creases
    area = np.maximum(1e6 * vertex_areas(v, tri)[sites], 1e-3)  # square millimetres
    component, _ = geometry.connected_components(n, tri)
    return MeshGraph(sites, local[e], weights, area, component[sites])


def unary_costs(votes: np.ndarray, none_votes: np.ndarray, pseudo_count: float = DEFAULT_PSEUDO_COUNT
                ) -> tuple[np.ndarray, np.ndarray]:
    """-log smoothed vote shares.

    Args:
        votes: (V, P) part votes.
        none_votes: (V,) "no part" votes.

    Returns:
        (V, P + 1) float64 costs (column P: "none"; rows of unseen vertices are 0) and
        (V,) bool ``seen`` (any vote at all).
    """
    all_votes = np.column_stack([np.asarray(votes, np.float64), np.asarray(none_votes, np.float64)])
    if np.any(~np.isfinite(all_votes)) or np.any(all_votes < 0):
        raise FacepartError("votes must be finite and non-negative")
    total = all_votes.sum(axis=1)
    seen = total > 0
    c = float(pseudo_count)
    if c <= 0:
        raise FacepartError(f"pseudo_count must be positive, got {pseudo_count}")
    share = (all_votes + c) / (total[:, None] + c * all_votes.shape[1])
    cost = -np.log(share)
    cost -= cost.min(axis=1, keepdims=True)  # a per-vertex constant: the optimum does not change
    cost[~seen] = 0.0
    return cost, seen


def energy(unary: np.ndarray, edges: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> float:
    """E(labels) = sum of unary[s, labels[s]] + sum of weights over edges whose ends differ."""
    labels = np.asarray(labels, np.int64)
    data = float(unary[np.arange(len(labels)), labels].sum())
    return data + float(weights[labels[edges[:, 0]] != labels[edges[:, 1]]].sum())


def _expansion_maxflow(unary: np.ndarray, edges: np.ndarray, weights: np.ndarray, init: np.ndarray,
                       max_cycles: int) -> np.ndarray:
    """Alpha-expansion with PyMaxflow: one binary max-flow per label and cycle."""
    maxflow = require("maxflow", "the maxflow graph-cut backend", _INSTALL["maxflow"])
    n, n_labels = unary.shape
    labels = np.asarray(init, np.int64).copy()
    p, q = edges[:, 0], edges[:, 1]
    best = energy(unary, edges, weights, labels)
    rows = np.arange(n)
    for _ in range(max_cycles):
        improved = False
        for alpha in range(n_labels):
            lp, lq = labels[p], labels[q]
            # Binary move: y = 1 keeps the current label, y = 0 takes alpha.
            # Pair energies: E00 = 0, E01 = w[alpha != lq], E10 = w[lp != alpha], E11 = w[lp != lq].
            e01 = weights * (lq != alpha)
            e10 = weights * (lp != alpha)
            e11 = weights * (lp != lq)
            # E = (E10) y_p + (E11 - E10) y_q + (E01 + E10 - E11) (1 - y_p) y_q  (E00 = 0)
            cap_source = unary[rows, labels].copy()  # paid when y = 1 (node on the sink side)
            cap_sink = unary[:, alpha].copy()  # paid when y = 0
            np.add.at(cap_source, p, e10)
            lin_q = e11 - e10
            np.add.at(cap_source, q, np.maximum(lin_q, 0))
            np.add.at(cap_sink, q, np.maximum(-lin_q, 0))
            pair = e01 + e10 - e11  # >= 0: Potts is a metric
            g = maxflow.Graph[float](n, len(p))
            nodes = g.add_nodes(n)
            live = pair > 0
            g.add_edges(nodes[p[live]], nodes[q[live]], pair[live], np.zeros(int(live.sum())))
            g.add_grid_tedges(nodes, cap_source, cap_sink)
            g.maxflow()
            keep = g.get_grid_segments(nodes)
            proposal = np.where(keep, labels, alpha)
            e = energy(unary, edges, weights, proposal)
            if e < best - 1e-9 * max(1.0, abs(best)):
                labels, best, improved = proposal, e, True
        if not improved:
            break
    return labels


def _expansion_gco(unary: np.ndarray, edges: np.ndarray, weights: np.ndarray, init: np.ndarray,
                   max_cycles: int) -> np.ndarray:
    """Alpha-expansion with gco-wrapper (GCO v3, integer energies: costs scaled by 1000)."""
    import warnings

    import numpy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gco = require("gco", "the gco graph-cut backend", _INSTALL["gco"])
    for name, alias in (("int", int), ("float", float), ("bool", bool)):
        if numpy.__dict__.get(name) is alias:  # gco adds numpy.int/float/bool = int/float/bool: take them back
            delattr(numpy, name)
    n, n_labels = unary.shape
    scale = 1000.0
    data = np.rint(unary * scale).astype(np.intc)
    w = np.rint(weights * scale).astype(np.intc)
    g = gco.GCO()
    g.create_general_graph(n, n_labels, False)
    try:
        g.set_data_cost(np.ascontiguousarray(data))
        if len(edges):
            g.set_all_neighbors(edges[:, 0], edges[:, 1], w)
        g.set_smooth_cost((1 - np.eye(n_labels)).astype(np.intc))
        for site, label in enumerate(np.asarray(init).tolist()):
            g.init_label_at_site(site, label)
        g.expansion(max_cycles)
        return g.get_labels().astype(np.int64)
    finally:
        g.destroy_graph()


def alpha_expansion(unary: np.ndarray, edges: np.ndarray, weights: np.ndarray, init: np.ndarray | None = None,
                    backend: str = DEFAULT_BACKEND, max_cycles: int = 10) -> np.ndarray:
    """Minimise sum unary[s, l_s] + sum w_e [l_p != l_q] by alpha-expansion.

    Args:
        unary: (S, L) float64 costs.
        edges: (E, 2) int site pairs (smaller index first).
        weights: (E,) float64 non-negative Potts weights.
        init: (S,) int starting labels (default: each site's cheapest label).
        backend: "maxflow" or "gco".
        max_cycles: at most this many passes over all labels.

    Returns:
        (S,) int64 labels.
    """
    if backend not in BACKENDS:
        raise FacepartError(f"unknown graph-cut backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    unary = np.asarray(unary, np.float64)
    if len(unary) == 0:
        return np.zeros(0, np.int64)
    init = unary.argmin(axis=1) if init is None else np.asarray(init, np.int64)
    edges = np.asarray(edges, np.int64).reshape(-1, 2)
    weights = np.asarray(weights, np.float64)
    if np.any(weights < 0):
        raise FacepartError("graph-cut edge weights must be non-negative")
    run = _expansion_maxflow if backend == "maxflow" else _expansion_gco
    return run(unary, edges, weights, init, max_cycles)


@dataclass(frozen=True)
class RegularizeReport:
    """What the regularisation did (stored in the annotation's settings).

    Attributes:
        smooth: strength used (0: off, majority rule).
        backend: graph-cut library used ("" when off).
        contrast: the boundary term's contrast strength (:func:`edge_contrast`).
        changed: vertices whose label differs from the majority rule's.
        merged_pieces: small pieces merged into their surroundings.
        bridged_pieces: small pieces joined to their part's largest piece by a path.
        piece_vertices: vertices whose label those two steps changed.
        unseen_filled: unseen vertices given a part (in enclosed holes).
        seconds: wall time.
    """

    smooth: float
    backend: str = ""
    contrast: float = 0.0
    changed: int = 0
    merged_pieces: int = 0
    bridged_pieces: int = 0
    piece_vertices: int = 0
    unseen_filled: int = 0
    seconds: float = 0.0

    def summary_line(self) -> str:
        if self.smooth <= 0:
            return "mesh regularisation: off (--smooth 0: majority rule)"
        return (f"mesh regularisation: graph cut, smooth {self.smooth:g}, contrast {self.contrast:g} ({self.backend}), "
                f"{self.changed} vertices "
                f"changed from the majority rule; {self.merged_pieces} small pieces merged away and "
                f"{self.bridged_pieces} bridged on ({self.piece_vertices} vertices); {self.unseen_filled} unseen "
                f"vertices filled in enclosed holes; {self.seconds:.2f} s")

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class Regularized(NamedTuple):
    """Labels after regularisation.

    Attributes:
        labels: (V,) int64 part id, -1 = none.
        confidence: (V,) float32 the label's share of the vertex's votes (for -1 the share of
            "none"; 0 for a vertex with no votes), as in ``assign.majority``.
        report: RegularizeReport.
    """

    labels: np.ndarray
    confidence: np.ndarray
    report: RegularizeReport


def vote_confidence(votes: np.ndarray, none_votes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(V,) float32 share of each vertex's votes that its label got (-1: the "none" share)."""
    votes = np.asarray(votes, np.float64)
    none_votes = np.asarray(none_votes, np.float64)
    total = votes.sum(axis=1) + none_votes
    got = np.where(labels >= 0, votes[np.arange(len(labels)), np.maximum(labels, 0)], none_votes)
    return np.where(total > 0, got / np.where(total > 0, total, 1), 0.0).astype(np.float32)


def _pieces(edges: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from scipy import sparse  # lazily: the render workers import this module's constants
    from scipy.sparse import csgraph

    n = len(labels)
    same = labels[edges[:, 0]] == labels[edges[:, 1]]
    e = edges[same]
    graph = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return csgraph.connected_components(graph, directed=False)[1]


class _Incidence:
    """Edges incident to each site (CSR), to price a relabelling locally instead of over the whole graph."""

    def __init__(self, n: int, edges: np.ndarray):
        ends = np.concatenate([edges[:, 0], edges[:, 1]])
        ids = np.concatenate([np.arange(len(edges)), np.arange(len(edges))])
        order = np.argsort(ends, kind="stable")
        self.edge_ids = ids[order]
        self.indptr = np.searchsorted(ends[order], np.arange(n + 1))

    def of(self, sites: np.ndarray) -> np.ndarray:
        """Unique ids of the edges touching ``sites``."""
        if len(sites) == 0:
            return np.zeros(0, np.int64)
        starts, stops = self.indptr[sites], self.indptr[sites + 1]
        counts = stops - starts
        idx = np.repeat(starts - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts) + np.arange(counts.sum())
        return np.unique(self.edge_ids[idx])


def _delta(unary, edges, weights, incidence: _Incidence, lab, sites, new) -> float:
    """Energy change of setting ``lab[sites] = new`` (scalar or per site), computed on the touched edges only."""
    sites = np.asarray(sites, np.int64)
    new = np.broadcast_to(np.asarray(new, np.int64), sites.shape)
    data = float(unary[sites, new].sum() - unary[sites, lab[sites]].sum())
    eids = incidence.of(sites)
    a, b = edges[eids, 0], edges[eids, 1]
    after = lab.copy()
    after[sites] = new
    cut_before = lab[a] != lab[b]
    cut_after = after[a] != after[b]
    return data + float(weights[eids][cut_after].sum() - weights[eids][cut_before].sum())


def _bridge_path(graph: MeshGraph, unary: np.ndarray, weights: np.ndarray, labels: np.ndarray,
                 sources: np.ndarray, targets: np.ndarray, part: int, blocked: np.ndarray | None = None,
                 limit: float = np.inf, steps: sparse.csr_matrix | None = None) -> np.ndarray | None:
    """Sites of the cheapest path joining ``sources`` to ``targets`` (both excluded), or None.

    A step onto site v costs what relabelling v to ``part`` adds to its unary cost, plus twice the
    edge's boundary weight (a bridge has two sides); ``blocked`` sites cannot be on the path; paths
    dearer than ``limit`` are not searched (the search stays local).
    """
    from scipy import sparse
    from scipy.sparse import csgraph

    n = len(labels)
    e = graph.edges
    rise = np.maximum(unary[:, part] - unary[np.arange(n), labels], 0.0)
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    cost = rise[dst] + 2.0 * np.concatenate([weights, weights]) + 1e-9
    if blocked is not None:
        ok = ~blocked[dst]
        src, dst, cost = src[ok], dst[ok], cost[ok]
    g = sparse.csr_matrix((cost, (src, dst)), shape=(n, n))
    dist, pred, _ = csgraph.dijkstra(g, directed=True, indices=sources, min_only=True, return_predecessors=True,
                                     limit=limit)
    reach = targets[np.isfinite(dist[targets])]
    if len(reach) == 0:
        return None
    node = int(reach[np.lexsort((reach, dist[reach]))[0]])
    in_source = np.zeros(n, bool)
    in_source[sources] = True
    path = []
    node = int(pred[node])
    while node >= 0 and not in_source[node]:
        path.append(node)
        node = int(pred[node])
    return np.array(path, np.int64)


#: Pieces smaller than this share of their part's largest piece are merged away without trying a bridge
#: (wrong islands of a few vertices); larger ones (a lip corner cut off by a thin gap) may be bridged back.
BRIDGE_SHARE = 0.02
#: Bridges tried per pass at most (each is a bounded shortest-path search).
MAX_BRIDGES = 32
#: Passes at most (each merges or bridges every small piece not next to one just changed).
MAX_PASSES = 12
#: A piece is not merged away when that costs more than this per mm² of it (nats of vote share): its
#: votes say it is that part at least e^3 = 20 times more often than the label around it.
MAX_MERGE_COST = 3.0


def _splits_others(edges: np.ndarray, lab: np.ndarray, path: np.ndarray, part: int) -> bool:
    """True when giving ``path`` the label ``part`` cuts another label's piece in two."""
    others = np.unique(lab[path])
    others = others[others != part]
    if not len(others):
        return False
    after = lab.copy()
    after[path] = part
    before_pieces, after_pieces = _pieces(edges, lab), _pieces(edges, after)
    for label in others:
        if (len(np.unique(after_pieces[after == label])) > len(np.unique(before_pieces[lab == label]))):
            return True
    return False


def merge_small_pieces(graph: MeshGraph, labels: np.ndarray, unary: np.ndarray, weights: np.ndarray,
                       n_parts: int, min_piece: float, blocked: np.ndarray | None = None,
                       unseen: np.ndarray | None = None) -> tuple[np.ndarray, int, int, int]:
    """Leave each part one piece per mesh component: merge small pieces away, or bridge them on.

    On each mesh component, a part's pieces other than its largest (by area) that are smaller than
    ``min_piece`` times the largest are handled smallest first, whichever of two changes costs less
    energy (``unary`` + Potts ``weights``, priced on the edges they touch):

    - *merge*: the piece takes the neighbouring label it shares the most boundary weight with;
    - *bridge*: the cheapest path of sites to the largest piece takes the part (a lip corner cut
      off by a thin gap of uncertain votes is joined back instead of deleted). Only pieces of at
      least :data:`BRIDGE_SHARE` of the largest try it, at most :data:`MAX_BRIDGES` per pass, and the
      path search stops at the cost of merging.

    A piece next to one just changed waits for the next pass, so a wrong island that cuts a part in
    two goes before the part's cut-off half. A bridge may not cut another part's piece in two; a piece
    the votes hold firmly (:data:`MAX_MERGE_COST`) is not merged away; passes stop when a labelling
    comes back (a cycle) and after :data:`MAX_PASSES`.

    Args:
        graph: the cut's graph.
        labels: (S,) int site labels, ``n_parts`` = none (none pieces are never merged).
        unary: (S, L) the cut's unary costs; weights: (E,) its edge weights (with ``smooth``).
        blocked: (S,) bool, sites no bridge may cross (unseen sites that must stay unlabelled).
        unseen: (S,) bool, sites no view saw: a piece whose boundary is mostly unseen is left alone
            (the inner side of a lip, seen in no render, is no evidence that its piece is wrong).

    Returns:
        New (S,) labels, pieces merged, pieces bridged, sites changed.
    """
    lab = np.asarray(labels, np.int64).copy()
    start = lab.copy()
    e, w = graph.edges, weights
    incidence = _Incidence(len(lab), e)
    merged = bridged = 0
    visited: set[bytes] = set()
    for _ in range(MAX_PASSES):  # each pass changes at least one piece or stops
        state = hashlib.sha1(lab.tobytes()).digest()
        if state in visited:  # a cycle: a bridge of one part cut another's piece off, whose bridge cut it back
            break
        visited.add(state)
        piece = _pieces(e, lab)
        n_pieces = int(piece.max()) + 1 if len(piece) else 0
        area = np.bincount(piece, graph.area, minlength=n_pieces)
        rep = np.zeros(n_pieces, np.int64)
        rep[piece[::-1]] = np.arange(len(piece))[::-1]  # a site of each piece
        plab, pcomp = lab[rep], graph.component[rep]
        # the largest piece of each (part, mesh component) and the small ones around it, vectorised
        is_part = plab < n_parts
        key = pcomp * (n_parts + 1) + plab
        order_by_size = np.lexsort((np.arange(n_pieces), -area, key))
        first = np.ones(n_pieces, bool)
        first[1:] = key[order_by_size][1:] != key[order_by_size][:-1]
        largest_of_key = {}
        for p in order_by_size[first]:
            largest_of_key[int(key[p])] = int(p)
        largest = np.array([largest_of_key[int(k)] for k in key], np.int64)
        small = np.flatnonzero(is_part & (largest != np.arange(n_pieces)) & (area < min_piece * area[largest]))
        if not len(small):
            break
        small = small[np.lexsort((small, area[small]))]
        order = np.argsort(piece, kind="stable")
        bounds = np.searchsorted(piece[order], np.arange(n_pieces + 1))
        cross_mask = piece[e[:, 0]] != piece[e[:, 1]]
        cross, cross_w = e[cross_mask], w[cross_mask]
        # each small piece's neighbours: (piece, neighbour label) -> shared boundary weight
        pa, pb = piece[cross[:, 0]], piece[cross[:, 1]]
        touched = np.zeros(n_pieces, bool)
        changed = False
        tries = 0
        for p in small:
            if touched[p]:
                continue
            sites = order[bounds[p]:bounds[p + 1]]
            rim = np.concatenate([cross[pa == p, 1], cross[pb == p, 0]])
            rim_w = np.concatenate([cross_w[pa == p], cross_w[pb == p]])
            if len(rim) == 0:
                continue
            if unseen is not None and rim_w[unseen[rim]].sum() > 0.5 * rim_w.sum():
                touched[p] = True  # cut off by sites no view saw: no evidence that it is wrong; leave it
                continue
            score = np.bincount(lab[rim], rim_w, minlength=n_parts + 1)
            score[plab[p]] = -1.0
            target = int(np.argmax(score))
            merge_cost = _delta(unary, e, w, incidence, lab, sites, target)
            best_sites, best_label, kind_bridge = sites, target, False
            big = order[bounds[largest[p]]:bounds[largest[p] + 1]]
            if area[p] >= BRIDGE_SHARE * area[largest[p]] and tries < MAX_BRIDGES:
                tries += 1
                path = _bridge_path(graph, unary, w, lab, sites, big, int(plab[p]), blocked,
                                    limit=max(merge_cost, 0.0) * 2.0 + float(rim_w.sum()))
                if path is not None and len(path):
                    bridge_cost = _delta(unary, e, w, incidence, lab, path, int(plab[p]))
                    if bridge_cost < merge_cost and not _splits_others(e, lab, path, int(plab[p])):
                        best_sites, best_label, kind_bridge = path, int(plab[p]), True
                        touched[piece[path]] = True
            if not kind_bridge and merge_cost > MAX_MERGE_COST * float(graph.area[sites].sum()):
                touched[p] = True  # the votes hold this piece firmly (not an island of noise): leave it
                continue
            lab[best_sites] = best_label
            touched[piece[rim]] = True
            touched[p] = True
            bridged += int(kind_bridge)
            merged += int(not kind_bridge)
            changed = True
        if not changed:
            break
    return lab, merged, bridged, int(np.count_nonzero(lab != start))


def edge_contrast(votes: np.ndarray, none_votes: np.ndarray, edges: np.ndarray, contrast: float) -> np.ndarray:
    """(E,) float64 ``exp(-contrast / 2 * |s_u - s_v|^2)`` for each edge (E, 2) of vertex ids, ``s`` the (P + 1)
    vote shares of a vertex (parts, then "none"); 1 where either end has no votes, and everywhere at contrast 0."""
    if contrast == 0 or len(edges) == 0:
        return np.ones(len(edges))
    if contrast < 0 or not np.isfinite(contrast):
        raise FacepartError(f"contrast must be a number >= 0, got {contrast}")
    shares = np.column_stack([np.asarray(votes, np.float64), np.asarray(none_votes, np.float64)])
    total = shares.sum(axis=1)
    shares /= np.where(total > 0, total, 1.0)[:, None]
    u, v = edges[:, 0], edges[:, 1]
    gap = ((shares[u] - shares[v]) ** 2).sum(axis=1)
    return np.where((total[u] > 0) & (total[v] > 0), np.exp(-0.5 * contrast * gap), 1.0)


def regularize(votes: np.ndarray, none_votes: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
               vote_mask: np.ndarray | None = None, smooth: float = DEFAULT_SMOOTH,
               min_piece: float = DEFAULT_MIN_PIECE, backend: str = DEFAULT_BACKEND,
               pseudo_count: float = DEFAULT_PSEUDO_COUNT, graph: MeshGraph | None = None,
               contrast: float = DEFAULT_CONTRAST) -> Regularized:
    """Labels from votes by graph cut on the mesh (see the module docstring).

    Args:
        votes: (V, P) part votes (counts or weights), e.g. after symmetric pooling.
        none_votes: (V,) "no part" votes.
        vertices: (V, 3) the mean shape.
        triangles: (F, 3).
        vote_mask: (V,) bool, vertices that may receive votes (others stay -1).
        smooth: strength of the boundary term; 0 = the majority rule, unchanged.
        min_piece: merge pieces below this share of their part's largest piece on the same mesh component
            (0: merge nothing).
        backend: "maxflow" or "gco".
        pseudo_count: votes added to every label before taking shares.
        graph: a prebuilt ``mesh_graph(vertices, triangles, vote_mask)`` to reuse.
        contrast: boundaries between vertices whose votes disagree cost ``e^-contrast`` as much
            (:func:`edge_contrast`; 0: a plain Potts term).
    """
    from ..data.membership import majority

    start = time.perf_counter()
    votes = np.asarray(votes)
    none_votes = np.asarray(none_votes)
    n, n_parts = votes.shape
    if len(none_votes) != n or np.asarray(vertices).shape[0] != n:
        raise FacepartError(f"votes for {n} vertices, none votes for {len(none_votes)}, "
                            f"a mesh of {np.asarray(vertices).shape[0]}")
    if smooth < 0 or not np.isfinite(smooth):
        raise FacepartError(f"--smooth must be a number >= 0, got {smooth}")
    base, _ = majority(votes, none_votes)
    if vote_mask is not None:
        base = np.where(vote_mask, base, -1)
    if smooth == 0:
        return Regularized(base, vote_confidence(votes, none_votes, base), RegularizeReport(0.0))
    if backend not in BACKENDS:
        raise FacepartError(f"unknown graph-cut backend '{backend}'; choose one of {', '.join(BACKENDS)}")
    graph = graph if graph is not None else mesh_graph(vertices, triangles, vote_mask)
    cost, seen = unary_costs(votes, none_votes, pseudo_count)
    unary = cost[graph.sites] * graph.area[:, None]
    weights = smooth * graph.weights * edge_contrast(votes, none_votes, graph.sites[graph.edges], contrast)
    none = n_parts
    init = np.where(base[graph.sites] >= 0, base[graph.sites], none)
    lab = alpha_expansion(unary, graph.edges, weights, init, backend)

    seen_s = seen[graph.sites]
    # Unseen pieces that no part encloses get no part; then small pieces go, which may open or close
    # an unseen hole: so repeat until nothing changes (a few rounds at most).
    merged = bridged = changed_sites = 0
    for _ in range(4):
        lab = np.where(~seen_s & ~_enclosed_unseen(graph, lab, seen_s, none), none, lab)
        if min_piece <= 0:
            break
        lab, m, b, c = merge_small_pieces(graph, lab, unary, weights, n_parts, min_piece,
                                          blocked=~seen_s & (lab == none), unseen=~seen_s)
        merged, bridged, changed_sites = merged + m, bridged + b, changed_sites + c
        if m + b == 0:
            break
    lab = np.where(~seen_s & ~_enclosed_unseen(graph, lab, seen_s, none), none, lab)

    labels = np.full(n, -1, np.int64)
    labels[graph.sites] = np.where(lab == none, -1, lab)
    report = RegularizeReport(float(smooth), backend, float(contrast), int(np.count_nonzero(labels != base)),
                              merged, bridged, changed_sites, int(np.count_nonzero(~seen_s & (lab != none))),
                              round(time.perf_counter() - start, 2))  # as printed: a stored report reads the same
    return Regularized(labels, vote_confidence(votes, none_votes, labels), report)


#: An enclosed unseen piece larger than this share of the seen area of the smallest part around it is an inner
#: structure (an eye socket, the back of an eyeball, gums behind the lips), not a hole in the surface: no part.
MAX_ENCLOSED_SHARE = 0.5


def _enclosed_unseen(graph: MeshGraph, lab: np.ndarray, seen: np.ndarray, none: int) -> np.ndarray:
    """(S,) bool: unseen sites in a connected unseen piece whose seen neighbours all carry a part, and whose
    area is at most :data:`MAX_ENCLOSED_SHARE` of the seen area of the smallest of those parts on the piece's
    own mesh component."""
    from scipy import sparse
    from scipy.sparse import csgraph

    n = len(lab)
    e = graph.edges
    unseen = ~seen
    if not unseen.any():
        return np.zeros(n, bool)
    inner = e[unseen[e[:, 0]] & unseen[e[:, 1]]]
    g = sparse.coo_matrix((np.ones(len(inner)), (inner[:, 0], inner[:, 1])), shape=(n, n))
    piece = csgraph.connected_components(g, directed=False)[1]
    # Edges from an unseen site to a seen one: does the seen end have a part?
    cross = e[unseen[e[:, 0]] != unseen[e[:, 1]]]
    hole, rim = np.where(unseen[cross[:, 0]], cross[:, 0], cross[:, 1]), \
        np.where(unseen[cross[:, 0]], cross[:, 1], cross[:, 0])
    n_pieces = piece.max() + 1
    touches = np.bincount(piece[hole], minlength=n_pieces) > 0
    open_ = np.bincount(piece[hole], (lab[rim] == none).astype(np.float64), minlength=n_pieces) > 0
    enclosed = touches & ~open_
    # the seen area of each part on each mesh component: a hidden component (eyelashes, a socket shell) with a
    # few seen vertices is measured against what is seen of it, not against the face's whole skin
    comp = graph.component
    n_labels = none + 1
    key = comp * n_labels + lab
    seen_area = np.bincount(key[seen], graph.area[seen], minlength=(int(comp.max()) + 1) * n_labels if n else 0)
    smallest = np.full(n_pieces, np.inf)
    np.minimum.at(smallest, piece[hole], seen_area[key[rim]])
    piece_area = np.bincount(piece[unseen], graph.area[unseen], minlength=n_pieces)
    enclosed &= piece_area <= MAX_ENCLOSED_SHARE * smallest
    return unseen & enclosed[piece]
