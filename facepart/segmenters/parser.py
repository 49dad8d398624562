"""Image parsers and the one adapter that turns any of them into a part segmenter.

An :class:`ImageParser` only turns an image into a label map in its own
classes (its :class:`~facepart.segmenters.labelsets.LabelSet`). The
:class:`ParserSegmenter` adapter does the rest for every parser alike: maps
classes onto the run's parts (:class:`~facepart.segmenters.labelsets.PartMapping`),
applies the left/right calibration, runs the clean-up, restricts the parser
to a yaw range, and counts the views it skipped.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..data.parts import PartTable
from ..errors import FacepartError
from .base import PartSegmenter, View
from .calibration import SideCalibration, calibrate_sides, subject_left_on_image_right
from .cleanup import CleanupOptions, clean_part_map
from .labelsets import LabelSet, PartMapping

EAR_CLASSES = ("left_ear", "right_ear")


@runtime_checkable
class ImageParser(Protocol):
    """A 2D face parser: RGB image -> label map in its own classes.

    Attributes:
        name: short name, e.g. ``"mediapipe"``.
        labels: its label set (class ids index ``labels.classes``).
        max_workers: processes that may run it at once (None: any; 1 when it holds a GPU).
    """

    name: str
    labels: LabelSet
    max_workers: int | None = None

    def parse(self, image: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (H, W) int class ids, or None when no face was found."""
        ...

    def describe(self) -> str:
        """What changes its output, in one stable line."""
        return self.name

    def check_run(self, model, settings) -> None:
        """One-line ``FacepartError`` when the parser cannot serve this run (default: it can)."""
        return None

    def close(self) -> None:
        return None


class Segmentation(NamedTuple):
    """What the adapter made of one image."""

    label_map: np.ndarray  # (H, W) int16 class ids in the parser's label set
    part_map: np.ndarray  # (H, W) int16 part ids, -1 = ignore (after calibration and clean-up)
    removed: dict  # clean-up step -> pixels changed


def check_image(image, what: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 RGB image, or a one-line error."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FacepartError(f"{what}: expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


def head_yaw(vertices: np.ndarray, reference: np.ndarray) -> float:
    """Yaw in degrees of posed ``vertices`` (V, 3) relative to ``reference`` (V, 3), by Kabsch.

    Uses facepart's pose convention R = Rz(roll) Ry(yaw) Rx(pitch): yaw = asin(-R[2, 0]).
    """
    p = np.asarray(vertices, np.float64)
    q = np.asarray(reference, np.float64)
    p = p - p.mean(axis=0)
    q = q - q.mean(axis=0)
    u, _, vt = np.linalg.svd(q.T @ p)
    d = np.sign(np.linalg.det(u @ vt))
    rot = (u @ np.diag([1.0, 1.0, d]) @ vt).T  # posed = rot @ reference
    return float(np.degrees(np.arcsin(np.clip(-rot[2, 0], -1.0, 1.0))))


class ParserSegmenter(PartSegmenter):
    """Any :class:`ImageParser` as a :class:`~facepart.segmenters.base.PartSegmenter`.

    Args:
        parser: the image parser.
        parts: the run's part table (default: the paper's 8 parts); ignored when
            ``mapping`` is given.
        mapping: which classes vote for which part (default: by name).
        cleanup: clean-up steps (default: all); ``CleanupOptions.none()`` for raw output.
        calibration: a left/right result to apply (or run :meth:`calibrate`).
        yaw_range: (min, max) degrees; views of heads turned further are skipped
            (None: no limit). The yaw comes from ``reference``, else from the parser's
            own estimate (``parser.last_yaw`` after parsing) when it has one.
        reference: (V, 3) the model's mean-shape vertices, to measure each view's yaw.
        ear_parser: a second parser whose ear classes mark the ears to remove (the
            paper's use of a 19-class parser next to an 11-class one).
    """

    def __init__(self, parser: ImageParser, parts: PartTable | None = None, *, mapping: PartMapping | None = None,
                 cleanup: CleanupOptions | None = None, calibration: SideCalibration | None = None,
                 yaw_range: tuple[float, float] | None = None, reference: np.ndarray | None = None,
                 ear_parser: ImageParser | None = None):
        self.parser = parser
        self.mapping = mapping or PartMapping.default(parts)
        self.parts = self.mapping.parts
        self.cleanup = CleanupOptions() if cleanup is None else cleanup
        self.calibration = calibration
        if yaw_range is not None:
            lo, hi = (float(v) for v in yaw_range)
            if not lo < hi:
                raise FacepartError(f"yaw range must be (min, max) with min < max, got {yaw_range}")
            yaw_range = (lo, hi)
        self.yaw_range = yaw_range
        self.reference = None if reference is None else np.asarray(reference, np.float64)
        self.ear_parser = ear_parser
        self.name = parser.name
        self.needs_image = bool(getattr(parser, "needs_image", True))
        limits = [p.max_workers for p in (parser, ear_parser) if p is not None and getattr(p, "max_workers", None)]
        self.max_workers = min(limits) if limits else None
        self.live = bool(getattr(parser, "live", True))
        self.counts = {"parsed": 0, "no_face": 0, "out_of_yaw": 0}
        self._update_lut()
        if not (self._lut >= 0).any():
            raise FacepartError(f"label set '{parser.labels.name}' has no class for any of the parts "
                                f"{list(self.parts.names)}")

    @property
    def labels(self) -> LabelSet:
        return self.parser.labels

    def _update_lut(self) -> None:
        swaps = self.calibration.swaps if self.calibration is not None else ()
        self._lut = self.mapping.lut(self.labels, swaps)

    # -- the parser on one image ------------------------------------------------------

    def _parse(self, image: np.ndarray | None, index: int | None, shape: tuple[int, int]) -> np.ndarray | None:
        if hasattr(self.parser, "parse_index"):  # masks from a folder: by view index
            label_map = self.parser.parse_index(index, shape)
        else:
            label_map = self.parser.parse(check_image(image, f"{self.name} input"))
        if label_map is None:
            return None
        label_map = np.asarray(label_map)
        if label_map.shape != tuple(shape):
            raise FacepartError(f"{self.name}: label map of shape {label_map.shape}, expected {tuple(shape)}")
        if label_map.size and (label_map.min() < 0 or label_map.max() >= len(self.labels)):
            raise FacepartError(f"{self.name}: class ids {label_map.min()}..{label_map.max()} outside the "
                                f"label set '{self.labels.name}' (0..{len(self.labels) - 1})")
        return label_map.astype(np.int16, copy=False)

    def _ear_mask(self, image: np.ndarray | None, label_map: np.ndarray) -> np.ndarray | None:
        if self.ear_parser is not None and image is not None:
            ears = self.ear_parser.parse(check_image(image, f"{self.ear_parser.name} input"))
            if ears is None:
                return None
            return self.ear_parser.labels.mask(np.asarray(ears), EAR_CLASSES)
        if any(self.labels.has(c) for c in EAR_CLASSES):
            return self.labels.mask(label_map, EAR_CLASSES)
        return None

    def segment_image(self, image: np.ndarray | None, index: int | None = None,
                      shape: tuple[int, int] | None = None) -> Segmentation | None:
        """Segment one (H, W, 3) uint8 RGB image; None when the parser found no face.

        ``index``/``shape`` are for parsers that read by view index (mask folders).
        """
        if shape is None:
            shape = check_image(image).shape[:2]
        label_map = self._parse(image, index, shape)
        if label_map is None:
            return None
        part_map = self._lut[label_map]
        if not (part_map >= 0).any():
            return None  # nothing of the face: treat as not found rather than vote "none" everywhere
        hair = self.labels.mask(label_map, "hair") if self.labels.has("hair") else None
        cleaned = clean_part_map(part_map, self.parts, self.cleanup, ear_mask=self._ear_mask(image, label_map),
                                 hair_mask=hair)
        return Segmentation(label_map, cleaned.part_map, cleaned.removed)

    # -- the PartSegmenter protocol ----------------------------------------------------

    def view_yaw(self, view: View) -> float | None:
        """Head yaw (degrees) of ``view`` from the reference shape, or None without one."""
        if self.reference is None or len(self.reference) != len(view.vertices):
            return None
        return head_yaw(view.vertices, self.reference)

    def _in_yaw_range(self, yaw: float | None) -> bool:
        return self.yaw_range is None or yaw is None or self.yaw_range[0] <= yaw <= self.yaw_range[1]

    def part_map(self, view: View) -> np.ndarray | None:
        """(H, W) int16 part ids (-1 = ignore), or None when the view is skipped (no face, or yaw)."""
        if self.yaw_range is not None and not self._in_yaw_range(self.view_yaw(view)):
            self.counts["out_of_yaw"] += 1
            self.last_skip_reason = "out of yaw range"
            return None
        shape = view.fragments.triangle_id.shape
        seg = self.segment_image(view.fragments.image, view.index, shape)
        if seg is None:
            self.counts["no_face"] += 1
            self.last_skip_reason = "no mask" if getattr(self.parser, "last_missing", False) else "no face"
            return None
        if self.yaw_range is not None and self.reference is None:
            if not self._in_yaw_range(getattr(self.parser, "last_yaw", None)):
                self.counts["out_of_yaw"] += 1
                self.last_skip_reason = "out of yaw range"
                return None
        self.counts["parsed"] += 1
        return seg.part_map

    # -- calibration and reporting ----------------------------------------------------

    def calibrate(self, view: View) -> SideCalibration:
        """Check the parser's left/right on a frontal ``view`` and apply the result.

        Make the view with ``facepart.annotate.views.frontal_view``.
        """
        shape = view.fragments.triangle_id.shape
        label_map = self._parse(view.fragments.image, view.index, shape)
        face = view.fragments.mask if view.fragments.mask.any() else None
        self.calibration = calibrate_sides(label_map, self.labels,
                                           left_on_image_right=subject_left_on_image_right(view.camera),
                                           face_mask=face)
        missing = getattr(self.parser, "missing_path", None)
        if label_map is None and getattr(self.parser, "last_missing", False) and missing is not None:
            import dataclasses

            self.calibration = dataclasses.replace(self.calibration, not_found=f"no mask {missing(view.index)}")
        self._update_lut()
        return self.calibration

    def calibrate_image(self, image: np.ndarray, left_on_image_right: bool = True) -> SideCalibration:
        """:meth:`calibrate` on a plain frontal image."""
        image = check_image(image)
        label_map = self._parse(image, None, image.shape[:2])
        self.calibration = calibrate_sides(label_map, self.labels, left_on_image_right=left_on_image_right)
        self._update_lut()
        return self.calibration

    def describe(self) -> str:
        """Everything that changes this segmenter's output (stable: used in run keys)."""
        text = getattr(self.parser, "describe", lambda: self.name)()
        text += f"; labels {self.labels.name}; parts {self.mapping.describe(self.labels)}"
        text += f"; cleanup: {self.cleanup.describe()}"
        if self.cleanup.steps:
            text += (f" (ear margin {self.cleanup.ear_margin}, hair margin {self.cleanup.hair_margin}, "
                     f"island share {self.cleanup.island_share})")
        if self.ear_parser is not None:
            text += f"; ears from {getattr(self.ear_parser, 'describe', lambda: self.ear_parser.name)()}"
        if self.yaw_range is not None:
            text += f"; yaw {self.yaw_range[0]:g}..{self.yaw_range[1]:g}"
        if self.calibration is not None:
            text += "; sides swapped: " + (", ".join(l for l, _ in self.calibration.swaps) or "none")
        return text

    def check_run(self, model, settings) -> None:
        """Delegates to the parser (a mask folder checks its manifest)."""
        check = getattr(self.parser, "check_run", None)
        if check is not None:
            check(model, settings)

    def summary(self) -> list[str]:
        """Lines for the run summary: the left/right calibration (views parsed are counted by the run)."""
        return [self.calibration.summary() if self.calibration is not None
                else "left/right calibration: not run; sides taken as the label set declares"] + list(
            getattr(self.parser, "notes", lambda: [])())

    def close(self) -> None:
        for p in (self.parser, self.ear_parser):
            close = getattr(p, "close", None)
            if close is not None:
                close()

