"""From per-view votes to one vote table, and views that disagree with the consensus losing weight.

Summation runs in variant order in float64, so the table is the same bit for
bit however the views were computed (one process, several workers, shards).

Robustness to bad views (a parser that mirrors, shifts or mislabels a whole
image, or drops a thin part into skin): each view's votes are compared with the
consensus labels at the vertices they went to — the consensus drawn into that
view, in vote space, with no re-rendering — as an IoU per class (each part and
"none"). A view far below the others on a class loses its say on the vertices
the consensus gives that class; the table is summed again with the weights,
and this repeats a few rounds (PartDistill's backward distillation, per part,
on stored per-view votes).
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from .vote import VOTED, ViewVotes


def add_votes(table: np.ndarray, views: Sequence[ViewVotes], n_parts: int) -> None:
    """Add the votes of ``views``, in the order given, into ``table`` ((V * (P + 1),) float64, in place)."""
    for v in views:
        if len(v.vertex):
            table += np.bincount(v.vertex.astype(np.int64) * (n_parts + 1) + v.part, v.weight.astype(np.float64),
                                 minlength=table.size)


def vote_table(views: Sequence[ViewVotes], n_vertices: int, n_parts: int,
               weights: np.ndarray | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """(V, P + 1) float64 summed votes (column P: "none").

    Args:
        weights: (n_views,) scales each view, or (n_views, P + 1): scales each view's votes on the
            vertices whose consensus ``labels`` (V,) is that class (-1 = "none", column P).
    """
    order = sorted(range(len(views)), key=lambda i: views[i].index)
    table = np.zeros(n_vertices * (n_parts + 1), np.float64)
    if weights is None:
        add_votes(table, [views[i] for i in order], n_parts)
        return table.reshape(n_vertices, n_parts + 1)
    per_class = np.ndim(weights) == 2
    if per_class:
        consensus = np.where(labels < 0, n_parts, labels)
    for i in order:
        v = views[i]
        if len(v.vertex) == 0:
            continue
        w = v.weight.astype(np.float64)
        if per_class:
            w = w * weights[i][consensus[v.vertex]]
        elif weights[i] == 0:
            continue
        else:
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


def class_agreement(views: Sequence[ViewVotes], labels: np.ndarray, n_parts: int) -> np.ndarray:
    """(n_views, P + 1) IoU per class between each view's votes and ``labels`` (V,) (-1 = none) drawn at the
    vertices the view voted on; NaN where neither has the class (and for views without votes)."""
    classes = n_parts + 1
    out = np.full((len(views), classes), np.nan)
    for i, v in enumerate(views):
        if len(v.vertex) == 0:
            continue
        consensus = labels[v.vertex]
        consensus = np.where(consensus < 0, n_parts, consensus)
        w = v.weight.astype(np.float64)
        voted = np.bincount(v.part, w, minlength=classes)
        drawn = np.bincount(consensus, w, minlength=classes)
        same = v.part == consensus
        both = np.bincount(v.part[same], w[same], minlength=classes)
        union = voted + drawn - both
        present = union > 0
        out[i, present] = both[present] / union[present]
    return out


def view_agreement(views: Sequence[ViewVotes], labels: np.ndarray, n_parts: int) -> np.ndarray:
    """(n_views,) mean IoU over classes between each view's votes and ``labels`` (V,) (-1 = none) there.

    Views without votes get NaN.
    """
    per_class = class_agreement(views, labels, n_parts)
    out = np.full(len(views), np.nan)
    has = np.isfinite(per_class).any(axis=1)
    out[has] = np.nanmean(per_class[has], axis=1)
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
    view_weights: np.ndarray  # (n_views,) float64 mean weight of each view, in the order of the views given
    agreement: np.ndarray  # (n_views,) float64 mean IoU with the final consensus (NaN: no votes)
    class_weights: np.ndarray | None = None  # (n_views, P + 1) the weights per view and consensus class


def robust_consensus(views: Sequence[ViewVotes], n_vertices: int, n_parts: int, labels_of, rounds: int = 3,
                     reweight: bool = True) -> Consensus:
    """Sum the views, then ``rounds`` times: label, score each view against the labels, re-weight, sum again.

    Each view is scored per class (its IoU with the consensus on each part and on "none"), and its votes on
    the vertices the consensus gives a class are weighted by how that view did on that class compared with
    the other views (:func:`agreement_weights`): a view that mirrors the sides loses its say on both eyes
    and brows, one that misses a thin part (a parser dropping the lips into skin) on that part alone, and
    a view that gets everything wrong everywhere.

    Args:
        labels_of: ``table (V, P + 1) -> labels (V,)`` (the run's assignment rule, -1 = none).
        reweight: False sums every view with weight 1 (the agreement is still reported).
    """
    classes = n_parts + 1
    weights = np.ones((len(views), classes))
    table = vote_table(views, n_vertices, n_parts)
    labels = labels_of(table)
    for _ in range(rounds if reweight else 0):
        per_class = class_agreement(views, labels, n_parts)
        new = np.ones_like(weights)
        for c in range(classes):
            column = per_class[:, c]
            scored = np.isfinite(column)
            if scored.sum() >= 3:
                new[scored, c] = agreement_weights(column[scored])
        if np.allclose(new, weights):
            break
        weights = new
        table = vote_table(views, n_vertices, n_parts, weights, labels)
        labels = labels_of(table)
    agreement = view_agreement(views, labels, n_parts)
    return Consensus(table, weights.mean(axis=1), agreement, weights)
