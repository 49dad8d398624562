"""Symmetric pooling: mirror pairs of vertices share their votes, with left and right parts swapped.

A face model's mean shape is (nearly always) mirror-symmetric about the plane
x = const, and so is the truth we want: the left eye is the mirror image of
the right eye. Parsers are not: each view sees one side better, and a parser
errs differently on each side. When the model is symmetric, every vertex
``v`` with a mirror partner ``m`` therefore gets the mean of its own votes and
of ``m``'s votes with left/right parts swapped::

    pooled[v, p] = (votes[v, p] + votes[m, mirror(p)]) / 2

``pooled[m]`` is then ``pooled[v]`` mirrored, so any per-vertex rule (the
majority rule, the graph cut's unary costs) gives a labelling that is
symmetric by construction. The mean (not the sum) keeps the table's scale and
total: unpaired vertices keep their own votes unchanged.

Pairs must be mutual (``partner[partner[v]] == v``) for that to hold, so the
nearest-mirror-image map of ``geometry.mirror_map`` is turned into a
one-to-one matching first (closest pairs first; coincident duplicate vertices,
which ICT has along seams, find each other's duplicates).

Pooling turns itself off, and says why in ``SymmetryReport.reason``, when
fewer than ``min_share`` (default 95%) of the vote-eligible vertices find a
partner within the tolerance (default: half the median edge length), e.g. on
a scan or an asymmetric identity.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .. import geometry
from ..errors import FacepartError

#: Share of the vote-eligible vertices that must have a mirror partner for pooling to apply.
DEFAULT_MIN_SHARE = 0.95


@dataclass(frozen=True)
class SymmetryReport:
    """What symmetric pooling found and did.

    Attributes:
        applied: whether the votes were pooled.
        reason: one sentence: why it was (or was not) applied.
        matched_share: share of the considered (vote-eligible) vertices that have a mutual partner.
        pairs: number of mutual pairs (a vertex on the plane paired with itself counts once).
        tolerance: metres; largest distance from a mirror image to its partner.
        plane_x: x of the fitted symmetry plane (metres).
        min_share: the share needed to apply pooling.
    """

    applied: bool
    reason: str
    matched_share: float = 0.0
    pairs: int = 0
    tolerance: float = 0.0
    plane_x: float = 0.0
    min_share: float = DEFAULT_MIN_SHARE

    def summary_line(self) -> str:
        return f"symmetric pooling: {'on' if self.applied else 'off'} ({self.reason})"

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SymmetryReport":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


class PooledVotes(NamedTuple):
    """Votes after symmetric pooling (unchanged copies when pooling is off).

    Attributes:
        votes: (V, P) float64 part votes.
        none_votes: (V,) float64 "no part" votes.
        partner: (V,) int64 mutual mirror partner of each vertex, -1 for none; all -1 when
            the model was not found symmetric. Valid whenever ``report.matched_share > 0``,
            so the quality report can measure mirror agreement even with pooling switched off.
        report: SymmetryReport.
    """

    votes: np.ndarray
    none_votes: np.ndarray
    partner: np.ndarray
    report: SymmetryReport


def mutual_mirror_pairs(vertices: np.ndarray, triangles: np.ndarray, mask: np.ndarray | None = None,
                        tolerance: float | None = None, candidates: int = 4
                        ) -> tuple[np.ndarray, geometry.MirrorMap]:
    """One-to-one mirror partners: (V,) int64 with ``partner[partner[v]] == v`` (or -1).

    The plane and tolerance come from ``geometry.mirror_map``. Each vertex's
    ``candidates`` nearest vertices to its mirror image (within the tolerance)
    are candidate pairs; pairs are accepted closest first (ties by vertex
    index: deterministic) when neither vertex is taken yet. A vertex on the
    plane may pair with itself.

    Args:
        vertices: (V, 3) mean shape, facepart's frame (+x = subject's left).
        triangles: (F, 3) 0-based.
        mask: (V,) bool, the vertices that take part (default all).
        tolerance: metres (default: half the median edge length).

    Returns:
        (V,) int64 partner (-1: none) and the ``MirrorMap`` (plane, tolerance, nearest-image share).
    """
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    n = len(v)
    mirror = geometry.mirror_map(v, triangles, tolerance=tolerance, mask=mask)
    mask = np.ones(n, bool) if mask is None else np.asarray(mask, bool)
    idx = np.flatnonzero(mask)
    partner = np.full(n, -1, np.int64)
    if len(idx) == 0:
        return partner, mirror
    images = v[idx].copy()
    images[:, 0] = 2 * mirror.plane_x - images[:, 0]
    k = min(candidates, len(idx))
    dist, near = cKDTree(v[idx]).query(images, k=k, workers=1)
    dist, near = dist.reshape(len(idx), k), near.reshape(len(idx), k)
    a = np.repeat(idx, k)
    b = idx[np.minimum(near.ravel(), len(idx) - 1)]
    d = dist.ravel()
    ok = d <= mirror.tolerance
    a, b, d = a[ok], b[ok], d[ok]
    # A pair (a, b) is the same pair as (b, a): keep each once, at its smaller distance.
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((hi, lo, d))
    taken = np.zeros(n, bool)
    for i in order:  # greedy matching, closest pairs first; ~V iterations of plain Python, a few ms
        x, y = lo[i], hi[i]
        if taken[x] or taken[y]:
            continue
        partner[x], partner[y] = y, x
        taken[x] = taken[y] = True
    return partner, mirror


def pool_mirrored(votes: np.ndarray, none_votes: np.ndarray, partner: np.ndarray, part_mirror: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each vertex's votes and its partner's votes with left/right parts swapped.

    Args:
        votes: (V, P) part votes.
        none_votes: (V,) "no part" votes.
        partner: (V,) int mutual partners (-1: none; those vertices keep their votes).
        part_mirror: (P,) int, the left/right counterpart of each part (``PartTable.mirror()``).

    Returns:
        (V, P) and (V,) float64 pooled votes.
    """
    votes = np.asarray(votes, np.float64)
    none_votes = np.asarray(none_votes, np.float64)
    part_mirror = np.asarray(part_mirror, np.int64)
    if votes.ndim != 2 or part_mirror.shape != (votes.shape[1],):
        raise FacepartError(f"votes {votes.shape} and part mirror table {part_mirror.shape} do not match")
    if np.any(part_mirror[part_mirror] != np.arange(len(part_mirror))):
        raise FacepartError(f"the part mirror table {part_mirror.tolist()} must swap parts in pairs")
    if len(partner) != len(votes) or len(none_votes) != len(votes):
        raise FacepartError(f"votes for {len(votes)} vertices, partner map for {len(partner)}, "
                            f"none votes for {len(none_votes)}")
    paired = np.flatnonzero(partner >= 0)
    if np.any(partner[partner[paired]] != paired):
        raise FacepartError("mirror partners must be mutual (partner[partner[v]] == v)")
    out = votes.copy()
    out_none = none_votes.copy()
    other = partner[paired]
    out[paired] = 0.5 * (votes[paired] + votes[other][:, part_mirror])
    out_none[paired] = 0.5 * (none_votes[paired] + none_votes[other])
    return out, out_none


def symmetric_pooling(votes: np.ndarray, none_votes: np.ndarray, vertices: np.ndarray, triangles: np.ndarray,
                      part_mirror: np.ndarray, vote_mask: np.ndarray | None = None, enabled: bool = True,
                      min_share: float = DEFAULT_MIN_SHARE, tolerance: float | None = None,
                      pairs: tuple | None = None) -> PooledVotes:
    """Pool mirror pairs' votes when the model is mirror-symmetric; report what was done.

    Args:
        votes: (V, P) part votes (int counts or float weights).
        none_votes: (V,) "no part" votes.
        vertices: (V, 3) the mean shape the votes were cast on.
        triangles: (F, 3).
        part_mirror: (P,) ``PartTable.mirror()``.
        vote_mask: (V,) bool, vertices that may receive votes: only they are paired and counted.
        enabled: False (``--no-symmetry``) leaves the votes alone; the pairs are still found
            (for the quality report's mirror agreement).
        min_share: share of vote-eligible vertices that must have a partner.
        tolerance: metres (default: half the median edge length).
        pairs: ``mutual_mirror_pairs(vertices, triangles, vote_mask, tolerance)`` when already computed.
    """
    votes = np.asarray(votes)
    n = len(votes)
    if np.asarray(vertices).shape != (n, 3):
        raise FacepartError(f"votes for {n} vertices but the mesh has {np.asarray(vertices).shape[0]}")
    partner, mirror = pairs or mutual_mirror_pairs(vertices, triangles, mask=vote_mask, tolerance=tolerance)
    considered = n if vote_mask is None else int(np.count_nonzero(vote_mask))
    matched = int(np.count_nonzero(partner >= 0))
    share = matched / considered if considered else 0.0
    pairs = int(np.count_nonzero((partner >= 0) & (partner >= np.arange(n))))
    found = (f"mirror pairs for {100 * share:.1f}% of {considered} vote-eligible vertices "
             f"within {1000 * mirror.tolerance:.2f} mm of the plane x = {1000 * mirror.plane_x:.2f} mm")
    symmetric = considered > 0 and share >= min_share
    if not enabled:
        reason = f"switched off; {found}"
    elif not symmetric:
        reason = f"the model is not mirror-symmetric: {found}, {100 * min_share:.0f}% needed"
    else:
        reason = found
    report = SymmetryReport(bool(enabled and symmetric), reason, share, pairs, mirror.tolerance,
                            mirror.plane_x, min_share)
    if not symmetric:
        partner = np.full(n, -1, np.int64)
    if report.applied:
        pooled, pooled_none = pool_mirrored(votes, none_votes, partner, part_mirror)
    else:
        pooled = np.asarray(votes, np.float64).copy()
        pooled_none = np.asarray(none_votes, np.float64).copy()
    return PooledVotes(pooled, pooled_none, partner, report)
