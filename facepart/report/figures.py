"""The report's plots (matplotlib, Agg backend, no display), returned as PNG bytes."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np

from ..data.annotation import Annotation
from ..errors import FacepartError, require

DPI = 100


def _pyplot():
    matplotlib = require("matplotlib", "facepart report", "pip install matplotlib==3.11.2")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    plt = _pyplot()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=DPI)
    finally:
        plt.close(fig)
    return buf.getvalue()


def confidence_figure(annotation: Annotation, threshold: float, bins: int = 20) -> bytes:
    """PNG: the confidence of labelled vertices, stacked by part (left) and per part as a cumulative share (right).

    Confidence is the share of a vertex's votes that its label got; the dashed
    line is ``threshold``. On the right, the height of a part's curve at the
    line is the share of its vertices under the threshold.
    """
    plt = _pyplot()
    parts = annotation.parts
    labels, conf = annotation.labels, annotation.confidence
    colors = parts.colors.astype(np.float64) / 255.0
    present = [i for i in range(len(parts)) if (labels == i).any()]
    fig, (ax_hist, ax_cdf) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    edges = np.linspace(0.0, 1.0, bins + 1)
    if present:
        ax_hist.hist([conf[labels == i] for i in present], bins=edges, stacked=True,
                     color=[colors[i] for i in present], label=[parts.names[i] for i in present],
                     edgecolor="white", linewidth=0.3)
    ax_hist.axvline(threshold, color="0.2", linestyle="--", linewidth=1)
    ax_hist.set(xlim=(0, 1), xlabel="confidence (share of the vertex's votes its part got)",
                ylabel="labelled vertices", title="All labelled vertices, stacked by part")
    for i in present:
        c = np.sort(conf[labels == i])
        share = np.arange(1, len(c) + 1) / len(c)
        ax_cdf.step(np.concatenate([[0.0], c, [1.0]]), np.concatenate([[0.0], share, [1.0]]),
                    where="post", color=colors[i], linewidth=1.6, label=parts.names[i])
    ax_cdf.axvline(threshold, color="0.2", linestyle="--", linewidth=1)
    ax_cdf.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence", ylabel="share of the part's vertices",
               title="Per part: share with confidence at most x")
    if present:
        ax_cdf.legend(fontsize=7, loc="upper left", frameon=False)
    for ax in (ax_hist, ax_cdf):
        ax.grid(alpha=0.3)
    return _png(fig)


def convergence_figure(points: Sequence[Sequence[float]]) -> bytes:
    """PNG: the share of labels that agree with the final labels after each number of variants.

    Args:
        points: (N, 2) ``[variants_done, share]`` pairs with share in [0, 1].
    """
    plt = _pyplot()
    data = parse_convergence(points)
    fig, ax = plt.subplots(figsize=(6.4, 3.4), constrained_layout=True)
    ax.plot(data[:, 0], 100 * data[:, 1], marker="o", markersize=3, color="#1f5fa8", linewidth=1.5)
    ax.axhline(100, color="0.5", linewidth=0.8, linestyle=":")
    ax.set(xlabel="variants rendered", ylabel="labels equal to the final ones (%)",
           title="Convergence: agreement with the final labels")
    low = float(100 * data[:, 1].min())
    ax.set_ylim(max(0.0, low - 0.05 * (100 - low) - 0.5), 100.5)
    ax.grid(alpha=0.3)
    return _png(fig)


def parse_convergence(points) -> np.ndarray:
    """(N, 2) float64 ``[variants_done, share]`` sorted by variants; a clear error for anything else."""
    try:
        data = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise FacepartError("settings['convergence'] is not a list of [variants, share] pairs") from None
    if data.ndim != 2 or data.shape[1] != 2 or len(data) == 0 or not np.isfinite(data).all():
        raise FacepartError(f"settings['convergence'] should be a list of [variants, share] pairs, got shape "
                            f"{data.shape}")
    return data[np.argsort(data[:, 0], kind="stable")]
