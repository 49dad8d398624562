"""From a summed vote table to final labels: symmetric pooling, then graph cut, then the quality report.

One call for the pipeline (``annotate``) and for re-labelling a stored vote table without rendering::

    refined = refine_labels(model, votes, none_votes, parts, smooth=0.25, symmetry=True)
    annotation.labels, annotation.confidence = refined.labels, refined.confidence
    annotation.settings["quality"] = refined.settings()   # what `facepart info` prints back
    print("\\n".join(refined.summary_lines()))

Settings: ``smooth`` (``--smooth S``; 0 = today's majority rule), ``symmetry``
(``--no-symmetry`` sets it False), ``min_piece``, ``backend``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .quality import QualityReport, quality_report
from .regularize import (DEFAULT_BACKEND, DEFAULT_CONTRAST, DEFAULT_MIN_PIECE, DEFAULT_SMOOTH, RegularizeReport,
                         regularize)
from .symmetry import SymmetryReport, symmetric_pooling


class Refined(NamedTuple):
    """Final labels and what each stage did.

    Attributes:
        labels: (V,) int64 part id, -1 = none.
        confidence: (V,) float32 share of the (pooled) votes the label got.
        votes: (V, P) float64 the votes the labels were chosen from (pooled when symmetry applied).
        none_votes: (V,) float64 likewise.
        partner: (V,) int64 mirror partners (-1: none / not symmetric).
        symmetry: SymmetryReport.
        regularize: RegularizeReport.
        quality: QualityReport.
    """

    labels: np.ndarray
    confidence: np.ndarray
    votes: np.ndarray
    none_votes: np.ndarray
    partner: np.ndarray
    symmetry: SymmetryReport
    regularize: RegularizeReport
    quality: QualityReport

    def summary_lines(self) -> list[str]:
        return [self.symmetry.summary_line(), self.regularize.summary_line(), *self.quality.summary_lines()]

    def settings(self) -> dict:
        """JSON-safe record for the annotation's settings (``settings["quality"]``)."""
        return {"symmetry": self.symmetry.as_dict(), "regularize": self.regularize.as_dict(),
                "report": self.quality.as_dict()}


def refine_labels(model, votes: np.ndarray, none_votes: np.ndarray, parts, smooth: float = DEFAULT_SMOOTH,
                  symmetry: bool = True, min_piece: float = DEFAULT_MIN_PIECE, backend: str = DEFAULT_BACKEND,
                  seen: np.ndarray | None = None, vote_mask: np.ndarray | None = None,
                  pairs: tuple | None = None, contrast: float = DEFAULT_CONTRAST) -> Refined:
    """Pool mirror pairs (when the model is symmetric and ``symmetry``), cut, and measure.

    Args:
        model: a ``FaceModel`` (its mean ``vertices``, ``triangles`` and ``vote_mask`` are used).
        votes: (V, P) part votes summed over the run.
        none_votes: (V,) "no part" votes.
        parts: the ``PartTable`` the votes are over.
        seen: (V,) bool for the quality report (default: vertices with any vote).
        vote_mask: (V,) bool, the vertices that could receive votes in the run (default ``model.vote_mask``;
            a run that lets eyeballs take eye votes passes its own).
        pairs: the mirror pairs of ``symmetry.mutual_mirror_pairs`` when already computed.
        contrast: the graph cut's contrast term (:func:`~facepart.annotate.regularize.edge_contrast`).
    """
    votes = np.asarray(votes)
    none_votes = np.asarray(none_votes)
    mask = model.vote_mask if vote_mask is None else vote_mask
    pooled = symmetric_pooling(votes, none_votes, model.vertices, model.triangles, parts.mirror(), mask,
                               enabled=symmetry, pairs=pairs)
    reg = regularize(pooled.votes, pooled.none_votes, model.vertices, model.triangles, mask,
                     smooth=smooth, min_piece=min_piece, backend=backend, contrast=contrast)
    if seen is None:
        seen = (votes.sum(axis=1) + none_votes) > 0
    quality = quality_report(reg.labels, model.triangles, parts, reg.confidence, seen, mask, pooled.partner)
    return Refined(reg.labels, reg.confidence, pooled.votes, pooled.none_votes, pooled.partner, pooled.report,
                   reg.report, quality)


def stored_quality(settings: dict) -> tuple[list[str], QualityReport] | None:
    """The quality section stored by ``Refined.settings()`` in an annotation's settings: (the symmetry and
    regularisation lines, the :class:`QualityReport`), or None when there is none.

    Raises:
        FacepartError, TypeError, ValueError, KeyError: a damaged section.
    """
    stored = settings.get("quality") if isinstance(settings, dict) else None
    if not isinstance(stored, dict) or "report" not in stored:
        return None
    lines = []
    if isinstance(stored.get("symmetry"), dict):
        lines.append(SymmetryReport.from_dict(stored["symmetry"]).summary_line())
    if isinstance(stored.get("regularize"), dict):
        known = RegularizeReport.__dataclass_fields__
        lines.append(RegularizeReport(**{k: v for k, v in stored["regularize"].items() if k in known}).summary_line())
    return lines, QualityReport.from_dict(stored["report"])


def stored_quality_lines(settings: dict) -> list[str]:
    """:func:`stored_quality` as text ([] if none).

    A damaged section gives one line saying so rather than an error: the rest of the file is still readable.
    """
    from ..errors import FacepartError

    try:
        found = stored_quality(settings)
        return [] if found is None else found[0] + found[1].summary_lines()
    except (FacepartError, TypeError, ValueError, KeyError) as exc:
        return [f"quality: the stored quality section is unreadable ({exc})"]


# -- warnings about a run's result (the run summary, the report page and `facepart info` print them) ------------

#: Below this median view agreement (a view's mean class IoU with the consensus) the run summary warns that the
#: part maps do not fit the renders. Measured: 0.55-0.85 for working runs (MediaPipe on the demo 0.81 and ICT
#: 0.85; the oracle with its default noise 0.64-0.78, with 15-30% garbage views 0.55-0.57), 0.19-0.20 for masks
#: mirrored left-right (demo and ICT).
LOW_VIEW_AGREEMENT = 0.35


def views_disagree(settings: dict) -> bool:
    """Whether a run's stored median view agreement is below :data:`LOW_VIEW_AGREEMENT`."""
    median = (settings.get("view_weights") or {}).get("median_agreement")
    return isinstance(median, (int, float)) and median == median and median < LOW_VIEW_AGREEMENT


def empty_part_warnings(ann) -> list[str]:
    """Warnings for an annotation that cannot be what was meant: no vertex labelled, or parts with no vertex
    (all-skin masks, a label table whose names feed no part)."""
    labelled = ann.labels >= 0
    if not labelled.any():
        return ["warning: no vertex got a part: the parser left every pixel it voted with unlabelled (check its "
                "label table, or the masks)"]
    empty = [i for i in range(len(ann.parts)) if not (ann.labels == i).any()]
    if not empty:
        return []
    names = ann.parts.names
    voted = {i: int(np.count_nonzero(ann.votes[:, i] > 0)) for i in empty}
    never = [names[i] for i in empty if voted[i] == 0]
    lost = [i for i in empty if voted[i] > 0]
    lines = [f"warning: {len(empty)} of {len(ann.parts)} parts got no vertex ({', '.join(names[i] for i in empty)})"]
    if never:
        lines[0] += (f": the parser never drew {', '.join(never)} on the model (check its label table, the masks, or "
                     "preview.png)")
    if lost:
        lines[0] += ": " if not never else "; "
        disagree = views_disagree(ann.settings)
        why = ("the views disagree on where it lies (see the warning on view agreement)" if disagree
               else "on a mesh much denser than the render each vertex gets few votes (render larger with --size), "
                    "and --smooth removes a part whose votes are weak (--smooth 0 is the plain majority rule)")
        lines[0] += (", ".join(f"{names[i]} had votes on {voted[i]} vertices" for i in lost) +
                     f" but lost them all in the assignment: {why}")
    return lines


def agreement_warning(settings: dict) -> str | None:
    """The warning line for a run whose views hardly agree with each other (see :data:`LOW_VIEW_AGREEMENT`)."""
    if not views_disagree(settings):
        return None
    median = settings["view_weights"]["median_agreement"]
    return (f"warning: the views hardly agree with each other (median agreement with the consensus {median}; "
            "working runs give 0.55-0.85): the part maps do not fit the renders. Masks mirrored left-right, "
            "shifted or resized against the renders, or made for other renders, give this; look at preview.png "
            "and at a mask over its render.")


def run_warnings(annotation) -> list[str]:
    """Every warning about ``annotation``'s result: view agreement, then parts with no vertex."""
    settings = annotation.settings if isinstance(annotation.settings, dict) else {}
    return [w for w in [agreement_warning(settings)] if w] + empty_part_warnings(annotation)
