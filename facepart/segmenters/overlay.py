"""Pictures of what a parser does to one image (for ``facepart segment IMAGE --out PNG``).

:func:`segment_figure` runs a :class:`~facepart.segmenters.parser.ParserSegmenter`
on an image and returns one RGB picture: the image, the parser's own classes,
and the final parts (after mapping, calibration and clean-up) over the image,
with a legend of both.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..data.parts import UNLABELLED_COLOR, PartTable
from .labelsets import LabelSet
from .parser import ParserSegmenter, Segmentation, check_image


def read_rgb(path) -> np.ndarray:
    """(H, W, 3) uint8 RGB from an image file (alpha dropped, grey expanded), or a one-line error."""
    from pathlib import Path

    from ..errors import FacepartError

    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: image file not found")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FacepartError(f"{path}: not a readable image (expected PNG, JPEG, ...)")
    return np.ascontiguousarray(img[..., ::-1])


def class_colors(labels: LabelSet) -> np.ndarray:
    """(C, 3) uint8 colours for a label set's classes (known names get facepart's part colours)."""
    from ..data.parts import KNOWN_COLORS

    rng = np.random.default_rng(11)
    out = []
    for canon in labels.canonical:
        if canon == "background":
            out.append((0, 0, 0))
        else:
            out.append(KNOWN_COLORS.get(canon) or tuple(int(v) for v in rng.integers(40, 230, 3)))
    return np.array(out, np.uint8)


def overlay_parts(image: np.ndarray, part_map: np.ndarray, parts: PartTable, alpha: float = 0.55,
                  outline: bool = True) -> np.ndarray:
    """(H, W, 3) uint8 RGB with each part (``part_map`` (H, W), -1 = none) blended in its colour."""
    image = check_image(image)
    out = image.astype(np.float32)
    has = part_map >= 0
    colors = parts.colorize(part_map).astype(np.float32)
    out[has] = (1 - alpha) * out[has] + alpha * colors[has]
    out = out.astype(np.uint8)
    if outline:
        edges = cv2.morphologyEx(part_map.astype(np.int16).astype(np.float32), cv2.MORPH_GRADIENT,
                                 np.ones((3, 3), np.uint8)) > 0
        out[edges & has] = (colors[edges & has] * 0.6).astype(np.uint8)
    return out


def color_labels(label_map: np.ndarray, labels: LabelSet) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 RGB in :func:`class_colors`."""
    return class_colors(labels)[np.asarray(label_map)]


def _legend(entries: list[tuple[str, tuple[int, int, int]]], width: int, title: str) -> np.ndarray:
    per_row = max(1, width // 210)
    rows = (len(entries) + per_row - 1) // per_row
    panel = np.full((rows * 24 + 34, width, 3), 255, np.uint8)
    cv2.putText(panel, title, (10, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    col_w = width // per_row
    for k, (text, color) in enumerate(entries):
        x, y = 10 + (k % per_row) * col_w, 30 + (k // per_row) * 24
        cv2.rectangle(panel, (x, y), (x + 14, y + 14), tuple(int(c) for c in color), -1)
        cv2.rectangle(panel, (x, y), (x + 14, y + 14), (0, 0, 0), 1)
        cv2.putText(panel, text[:28], (x + 20, y + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return panel


def figure(image: np.ndarray, seg: Segmentation | None, labels: LabelSet, parts: PartTable,
           title: str = "") -> np.ndarray:
    """(H', 3 W, 3) uint8 RGB: image | parser classes | parts over the image, plus legends."""
    image = check_image(image)
    h, w = image.shape[:2]
    if seg is None:
        panel = image.copy()
        cv2.putText(panel, "no face found", (10, max(20, h // 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2,
                    cv2.LINE_AA)
        top = np.hstack([image, panel, panel])
        legend = _legend([], 3 * w, title or "no face found")
        return np.vstack([top, legend])
    classes = color_labels(seg.label_map, labels)
    parts_img = overlay_parts(image, seg.part_map, parts)
    top = np.hstack([image, classes, parts_img])
    counts = np.bincount(seg.label_map.ravel().astype(np.int64), minlength=len(labels))
    cls_entries = [(f"{c} ({int(n)})", tuple(int(v) for v in col))
                   for c, n, col in zip(labels.classes, counts, class_colors(labels)) if n > 0]
    part_counts = np.bincount(seg.part_map.ravel().astype(np.int64) + 1, minlength=len(parts) + 1)
    part_entries = [(f"{p} ({int(part_counts[i + 1])})", tuple(int(v) for v in parts.colors[i]))
                    for i, p in enumerate(parts.names)]
    part_entries.append((f"none ({int(part_counts[0])})", UNLABELLED_COLOR))
    removed = ", ".join(f"{k} {v}" for k, v in seg.removed.items())
    return np.vstack([top,
                      _legend(cls_entries, 3 * w, f"{title}  parser classes ({labels.name})".strip()),
                      _legend(part_entries, 3 * w, "parts" + (f"  (clean-up changed: {removed} px)" if removed else ""))])


def segment_figure(segmenter: ParserSegmenter, image: np.ndarray, title: str | None = None) -> np.ndarray:
    """Run ``segmenter`` on ``image`` (H, W, 3) uint8 RGB and draw :func:`figure` of the result."""
    seg = segmenter.segment_image(image)
    return figure(image, seg, segmenter.labels, segmenter.parts, segmenter.name if title is None else title)
