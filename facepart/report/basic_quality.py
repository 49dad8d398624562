"""The quality figures the report shows for an annotation whose run stored none (older files, imports).

It is the run's own quality report (:func:`facepart.annotate.quality.quality_report`) computed from the
labels and the mesh, stored the way a run stores it (``{"report": ...}``), so the page shows one kind
of quality table whatever made the file.
"""

from __future__ import annotations

from ..annotate.quality import LOW_CONFIDENCE, quality_report
from ..annotate.symmetry import mutual_mirror_pairs
from ..data.annotation import Annotation
from ..data.face_model import FaceModel


def basic_quality(annotation: Annotation, model: FaceModel, low_confidence: float = LOW_CONFIDENCE) -> dict:
    """``{"report": QualityReport.as_dict()}`` of ``annotation`` on ``model`` (same topology)."""
    mask = model.vote_mask | model.eyeball_mask
    partner, mirror = mutual_mirror_pairs(model.vertices, model.triangles, mask=mask)
    if (partner[mask] >= 0).mean() < 0.95:  # not mirror-symmetric: no mirror agreement to report
        partner = partner * 0 - 1
    # labels only (no render data): no low-confidence counts, and no vertex counted as never seen (as "Where to
    # look" counts its holes)
    confidence = annotation.confidence if annotation.has_votes else None
    seen = annotation.visible_count > 0 if annotation.has_votes else None
    report = quality_report(annotation.labels, model.triangles, annotation.parts, confidence,
                            seen, mask, partner, threshold=low_confidence)
    return {"report": report.as_dict()}
