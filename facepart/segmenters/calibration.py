"""Left/right calibration: does a parser's "left" mean the subject's left?

Parsers disagree (formats.md 3.6). Before a run, facepart renders the model
frontally (``facepart.annotate.views.frontal_view``), lets the parser segment it, and for each
left/right pair of classes compares the mean image x of their pixels. In
facepart's frame the subject's left (+x) is on the IMAGE RIGHT of a frontal
render (camera on +z); a pair whose "left" class lies on the image left is
*swapped*, and the adapter then maps it onto the other side's part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .labelsets import LR_PAIRS, LabelSet

from .base import FRONTAL_INDEX  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class PairCheck:
    """Evidence for one left/right pair (canonical names, as the label set declares them).

    ``status``: ``"ok"`` (as declared), ``"swapped"``, ``"missing"`` (the parser has no
    such classes or found no pixels of them) or ``"ambiguous"`` (both on the same spot).
    x values are mean image columns in pixels.
    """

    left: str
    right: str
    status: str
    left_x: float | None = None
    right_x: float | None = None
    left_pixels: int = 0
    right_pixels: int = 0
    centre_x: float | None = None

    @property
    def swapped(self) -> bool:
        return self.status == "swapped"

    def describe(self) -> str:
        name = self.left.replace("left_", "")
        if self.status == "missing":
            return f"{name}: not checked (no pixels)"
        xs = []
        if self.left_pixels:
            xs.append(f"'{self.left}' at x={self.left_x:.0f}")
        if self.right_pixels:
            xs.append(f"'{self.right}' at x={self.right_x:.0f}")
        if not (self.left_pixels and self.right_pixels) and self.centre_x is not None:
            xs.append(f"face centre x={self.centre_x:.0f}")
        return f"{name}: {self.status} ({', '.join(xs)})"


@dataclass(frozen=True)
class SideCalibration:
    """Result of a left/right check on a frontal image.

    Attributes:
        checks: one :class:`PairCheck` per left/right pair.
        left_on_image_right: where the subject's left was expected (True in facepart's frame).
        found: False when the parser found no face in the frontal image (nothing checked).
    """

    checks: tuple[PairCheck, ...]
    left_on_image_right: bool = True
    found: bool = True
    eyes_row: float | None = None
    mouth_row: float | None = None
    not_found: str = "no face found in the frontal render"

    @property
    def upside_down(self) -> bool:
        """True when the parser put the eyes and brows below the lips: the model is upside down in the render."""
        return self.eyes_row is not None and self.mouth_row is not None and self.eyes_row > self.mouth_row

    @property
    def swaps(self) -> tuple[tuple[str, str], ...]:
        """Canonical (left, right) pairs the parser has the wrong way round."""
        return tuple((c.left, c.right) for c in self.checks if c.swapped)

    def pair(self, left: str) -> PairCheck | None:
        return next((c for c in self.checks if c.left == left), None)

    def summary(self) -> str:
        """One line for the run summary."""
        if not self.found:
            return f"left/right calibration: {self.not_found}; sides taken as declared"
        verdict = "swapped " + ", ".join(l.replace("left_", "") for l, _ in self.swaps) if self.swaps \
            else "as declared"
        return (f"left/right calibration ({'subject left = image right' if self.left_on_image_right else 'subject left = image left'}): "
                f"{verdict}; " + "; ".join(c.describe() for c in self.checks))

    def as_dict(self) -> dict:
        return {"found": self.found, "left_on_image_right": self.left_on_image_right,
                "eyes_row": self.eyes_row, "mouth_row": self.mouth_row,
                "swaps": [list(s) for s in self.swaps],
                "checks": [c.__dict__ for c in self.checks]}


def calibrate_sides(label_map: np.ndarray | None, labels: LabelSet, *, left_on_image_right: bool = True,
                    face_mask: np.ndarray | None = None, min_separation: float = 0.01) -> SideCalibration:
    """Decide, per left/right pair, whether ``labels``' declared sides hold on a frontal image.

    Args:
        label_map: (H, W) int class ids of the parser on a frontal image, or None (no face).
        labels: the parser's label set.
        left_on_image_right: True when the subject's left is on the image right
            (facepart's frontal renders).
        face_mask: (H, W) bool, where the face is (for a pair with only one side found);
            default: every pixel the parser does not call background.
        min_separation: both sides of a pair closer than this share of the width: "ambiguous".
    """
    if label_map is None:
        return SideCalibration(tuple(PairCheck(l, r, "missing") for l, r in LR_PAIRS), left_on_image_right, False)
    label_map = np.asarray(label_map)
    width = label_map.shape[1]
    cols = np.arange(width, dtype=np.float64)[None, :] + 0.5
    if face_mask is None:
        face_mask = ~labels.mask(label_map, "background")
    centre = float(np.broadcast_to(cols, label_map.shape)[face_mask].mean()) if face_mask.any() else width / 2.0
    sign = 1.0 if left_on_image_right else -1.0  # expected sign of (left_x - right_x)

    checks = []
    for left, right in LR_PAIRS:
        ml, mr = labels.mask(label_map, left), labels.mask(label_map, right)
        nl, nr = int(ml.sum()), int(mr.sum())
        xl = float(np.broadcast_to(cols, ml.shape)[ml].mean()) if nl else None
        xr = float(np.broadcast_to(cols, mr.shape)[mr].mean()) if nr else None
        if nl and nr:
            d = sign * (xl - xr)
            status = "ambiguous" if abs(d) < min_separation * width else ("ok" if d > 0 else "swapped")
        elif nl or nr:
            # one side only: which side of the face centre is it on?
            d = sign * ((xl - centre) if nl else (centre - xr))
            status = "ambiguous" if abs(d) < min_separation * width else ("ok" if d > 0 else "swapped")
        else:
            status = "missing"
        checks.append(PairCheck(left, right, status, xl, xr, nl, nr, centre))
    eyes_row, mouth_row = (_mean_row(labels.mask(label_map, names)) for names in (UPPER_CLASSES, LOWER_CLASSES))
    return SideCalibration(tuple(checks), left_on_image_right, True, eyes_row, mouth_row)


#: Classes above the nose and below it, for the upright check.
UPPER_CLASSES = ("left_eye", "right_eye", "left_eyebrow", "right_eyebrow")
LOWER_CLASSES = ("up_lip", "down_lip", "inner_mouth")


def _mean_row(mask: np.ndarray) -> float | None:
    """Mean image row (pixels, 0 = top) of ``mask`` (H, W) bool, or None when it is empty."""
    rows = np.nonzero(mask)[0]
    return float(rows.mean()) + 0.5 if len(rows) else None


def subject_left_on_image_right(camera) -> bool:
    """True when the model's +x (the subject's left) points to the image right for ``camera``."""
    return bool(np.asarray(camera.rotation)[0, 0] > 0)
