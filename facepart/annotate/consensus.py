"""From per-view votes to one vote table, and views that disagree with the consensus losing weight.

Summation runs in variant order in float64, so the table is the same bit for
bit however the views were computed (one process, several workers, shards).

Robustness to bad views (a parser that mirrors, shifts or mislabels a whole
image): each view's votes are compared with the consensus labels at the
vertices they went to — the consensus drawn into that view, in vote space,
with no re-rendering — as a mean IoU over the classes (parts and "none").
Views far below the typical agreement lose weight, the table is summed again
with the weights, and this repeats a few rounds (PartDistill's backward
distillation, on stored per-view votes).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .vote import VOTED, ViewVotes


def vote_table(views: Sequence[ViewVotes], n_vertices: int, n_parts: int,
               weights: np.ndarray | None = None) -> np.ndarray:
    """(V, P + 1) float64 summed votes (column P: "none"); ``weights`` (n_views,) scales each view."""
    order = sorted(range(len(views)), key=lambda i: views[i].index)
    table = np.zeros(n_vertices * (n_parts + 1), np.float64)
    for i in order:
        v = views[i]
        if len(v.vertex) == 0:
            continue
        w = v.weight.astype(np.float64)
        if weights is not None:
            if weights[i] == 0:
                continue
            w = w * weights[i]
        table += np.bincount(v.vertex.astype(np.int64) * (n_parts + 1) + v.part, w,
                             minlength=table.size)
    return table.reshape(n_vertices, n_parts + 1)


def visible_count(views: Sequence[ViewVotes], n_vertices: int) -> np.ndarray:
    """(V,) int32: in how many voted views each vertex was seen."""
    seen = [v.visible for v in views if v.status == VOTED and len(v.visible)]
    if not seen:
        return np.zeros(n_vertices, np.int32)
    return np.bincount(np.concatenate(seen), minlength=n_vertices).astype(np.int32)


def view_agreement(views: Sequence[ViewVotes], labels: np.ndarray, n_parts: int) -> np.ndarray:
    """(n_views,) mean IoU over classes between each view's votes and ``labels`` (V,) (-1 = none) there.

    Views without votes get NaN.
    """
    classes = n_parts + 1
    out = np.full(len(views), np.nan)
    for i, v in enumerate(views):
        if len(v.vertex) == 0:
            continue
        consensus = labels[v.vertex]
        consensus = np.where(consensus < 0, n_parts, consensus)
        w = v.weight.astype(np.float64)
        voted = np.bincount(v.part, w, minlength=classes)
        drawn = np.bincount(consensus, w, minlength=classes)
        both = np.bincount(v.part[v.part == consensus], w[v.part == consensus], minlength=classes)
        union = voted + drawn - both
        present = union > 0
        out[i] = float(np.mean(both[present] / union[present])) if present.any() else np.nan
    return out


def agreement_weights(agreement: np.ndarray) -> np.ndarray:
    """(n,) view weights in [0, 1] from agreements: 1 down to two robust deviations below the median,
    falling linearly to 0 at four. NaN (no votes) gives 0."""
    ok = np.isfinite(agreement)
    if ok.sum() < 3:
        return ok.astype(np.float64)
    med = float(np.median(agreement[ok]))
    mad = float(np.median(np.abs(agreement[ok] - med)))
    scale = 1.4826 * mad + 0.02
    z = np.where(ok, (med - agreement) / scale, np.inf)
    return np.clip(1.0 - (z - 2.0) / 2.0, 0.0, 1.0)


class Consensus(NamedTuple):
    """The re-weighted vote table and how each view fared."""

    table: np.ndarray  # (V, P + 1) float64
    view_weights: np.ndarray  # (n_views,) float64, in the order of the views given
    agreement: np.ndarray  # (n_views,) float64 mean IoU with the final consensus (NaN: no votes)


def robust_consensus(views: Sequence[ViewVotes], n_vertices: int, n_parts: int, labels_of, rounds: int = 3,
                     reweight: bool = True) -> Consensus:
    """Sum the views, then ``rounds`` times: label, score each view against the labels, re-weight, sum again.

    Args:
        labels_of: ``table (V, P + 1) -> labels (V,)`` (the run's assignment rule, -1 = none).
        reweight: False sums every view with weight 1 (the agreement is still reported).
    """
    weights = np.ones(len(views))
    table = vote_table(views, n_vertices, n_parts)
    for _ in range(rounds if reweight else 0):
        agreement = view_agreement(views, labels_of(table), n_parts)
        new = agreement_weights(agreement)
        if np.allclose(new, weights):
            break
        weights = new
        table = vote_table(views, n_vertices, n_parts, weights)
    agreement = view_agreement(views, labels_of(table), n_parts)
    return Consensus(table, weights, agreement)
