"""The paper's clean-up of parser output, on part maps; each step can be switched off.

Steps, in the order they run:

1. ``ears``: pixels inside the ear regions (a parser's ear classes, e.g. a 19-class
   parser's, where an 11-class parser merges the ears into skin), grown by
   ``ear_margin`` pixels, get no part (-1). Parts named like ears are kept.
2. ``hair``: pixels the parser calls hair that lie over the face (inside the convex
   hull of the facial parts) get no part, and neither do part pixels within
   ``hair_margin`` of them (parsers blur the hair line).
3. ``forehead``: over each eyebrow a line is fitted to its upper edge and moved up
   until it touches the brow (the brow's upper tangent); skin pixels above the
   curve made of these lines (joined straight between the brows, extended beyond
   them) get no part.
4. ``islands``: per part, connected components (8-connected) smaller than
   ``island_share`` of that part's largest component are removed: one enclosed by a
   single label takes it (a stray eye blob in the cheek becomes skin), any other gets -1.

All functions take and return (H, W) int16 part maps (-1 = no part) and never
change their input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import cv2
import numpy as np

from ..data.parts import IGNORE, PartTable
from ..errors import FacepartError

STEPS = ("ears", "hair", "forehead", "islands")
EAR_PARTS = ("left_ear", "right_ear", "ears", "ear")
BROW_PARTS = ("left_eyebrow", "right_eyebrow")


@dataclass(frozen=True)
class CleanupOptions:
    """Which clean-up steps run, and their sizes (fractions of the image's smaller side)."""

    ears: bool = True
    hair: bool = True
    forehead: bool = True
    islands: bool = True
    ear_margin: float = 0.004
    hair_margin: float = 0.004
    island_share: float = 0.1

    def __post_init__(self):
        if not 0.0 <= self.island_share <= 1.0:
            raise FacepartError(f"island share must lie in 0..1, got {self.island_share}")
        if self.ear_margin < 0 or self.hair_margin < 0:
            raise FacepartError("clean-up margins must not be negative")

    @classmethod
    def none(cls) -> "CleanupOptions":
        return cls(ears=False, hair=False, forehead=False, islands=False)

    @classmethod
    def only(cls, *steps: str) -> "CleanupOptions":
        bad = sorted(set(steps) - set(STEPS))
        if bad:
            raise FacepartError(f"--cleanup: unknown clean-up step(s) {', '.join(repr(b) for b in bad)}; steps are "
                                f"{', '.join(STEPS)} (or all, none)")
        return replace(cls.none(), **{s: True for s in steps})

    @property
    def steps(self) -> tuple[str, ...]:
        return tuple(s for s in STEPS if getattr(self, s))

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return ", ".join(self.steps) or "none"


def parse_cleanup(text: str | None) -> CleanupOptions:
    """``"all"``, ``"none"``, or a comma list of steps (``"ears,islands"``); None = all."""
    if text is None or text.strip().lower() in ("", "all", "default"):
        return CleanupOptions()
    if text.strip().lower() == "none":
        return CleanupOptions.none()
    steps = [s.strip().lower() for s in text.split(",") if s.strip()]
    if not steps:
        raise FacepartError(f"--cleanup: no step in '{text}'; give all, none, or steps of {', '.join(STEPS)}")
    return CleanupOptions.only(*steps)


class CleanupResult(NamedTuple):
    part_map: np.ndarray  # (H, W) int16
    removed: dict  # step -> number of pixels whose label changed


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _grow(mask: np.ndarray, radius: int) -> np.ndarray:
    if radius <= 0 or not mask.any():
        return mask
    return cv2.dilate(mask.astype(np.uint8), _disk(radius)).astype(bool)


def _px(fraction: float, shape) -> int:
    return int(round(fraction * min(shape[:2])))


def _ids(parts: PartTable, names) -> list[int]:
    return [i for i, n in enumerate(parts.names) if n in names]


def remove_ears(part_map: np.ndarray, parts: PartTable, ear_mask: np.ndarray, margin_px: int = 0) -> np.ndarray:
    """Parts (other than ear parts) inside ``ear_mask`` (H, W) grown by ``margin_px`` -> -1."""
    out = part_map.copy()
    region = _grow(np.asarray(ear_mask, bool), margin_px)
    removable = (out >= 0) & ~np.isin(out, _ids(parts, EAR_PARTS))
    out[region & removable] = IGNORE
    return out


def face_hull(part_map: np.ndarray, parts: PartTable, exclude=("hair",)) -> np.ndarray:
    """(H, W) bool: the filled convex hull of all pixels of parts not in ``exclude``."""
    face = (part_map >= 0) & ~np.isin(part_map, _ids(parts, exclude))
    hull = np.zeros(part_map.shape, np.uint8)
    if face.any():
        rows, cols = np.nonzero(face)
        pts = cv2.convexHull(np.stack([cols, rows], axis=1).astype(np.int32))
        cv2.fillConvexPoly(hull, pts, 1)
    return hull.astype(bool)


def remove_hair(part_map: np.ndarray, parts: PartTable, hair_mask: np.ndarray, margin_px: int = 0) -> np.ndarray:
    """Hair pixels (``hair_mask`` (H, W)) over the face, and parts within ``margin_px`` of them -> -1."""
    out = part_map.copy()
    over_face = np.asarray(hair_mask, bool) & face_hull(part_map, parts)
    if over_face.any():
        out[_grow(over_face, margin_px) & (out >= 0)] = IGNORE
    return out


def brow_tangent(brow: np.ndarray) -> tuple[float, float, int, int] | None:
    """Upper tangent of one eyebrow mask (H, W): (slope, intercept, x_min, x_max) of ``y = a x + b``.

    The line is a least-squares fit to the brow's top pixel in each column, moved up
    until every brow pixel lies on or below it. None for fewer than 2 columns.
    """
    rows, cols = np.nonzero(brow)
    if len(cols) == 0:
        return None
    xs = np.unique(cols)
    if len(xs) < 2:
        return None
    top = np.full(brow.shape[1], np.iinfo(np.int64).max)
    np.minimum.at(top, cols, rows)
    a, _ = np.polyfit(xs.astype(float), top[xs].astype(float), 1)
    b = float(np.min(rows - a * cols))
    return float(a), b, int(xs[0]), int(xs[-1])


def forehead_cut(part_map: np.ndarray, parts: PartTable, min_pixels: int = 5) -> np.ndarray | None:
    """(W,) float: per column, the image row above which skin is forehead; None without brows.

    With two brows the curve follows each brow's upper tangent over (and beyond) it and
    runs straight between their inner ends; with one brow it is that brow's tangent.
    """
    lines = []
    for i in _ids(parts, BROW_PARTS):
        brow = part_map == i
        if brow.sum() >= min_pixels:
            t = brow_tangent(brow)
            if t is not None:
                lines.append(t)
    if not lines:
        return None
    x = np.arange(part_map.shape[1], dtype=float)
    if len(lines) == 1:
        a, b, _, _ = lines[0]
        return a * x + b
    (a1, b1, _, e1), (a2, b2, s2, _) = sorted(lines, key=lambda t: t[2] + t[3])[:2]  # image-left brow first
    cut = np.where(x <= e1, a1 * x + b1, a2 * x + b2)
    if s2 > e1:
        between = (x > e1) & (x < s2)
        y1, y2 = a1 * e1 + b1, a2 * s2 + b2
        cut[between] = y1 + (y2 - y1) * (x[between] - e1) / (s2 - e1)
    return cut


def remove_forehead(part_map: np.ndarray, parts: PartTable) -> np.ndarray:
    """Skin pixels above the eyebrows' tangent curve (:func:`forehead_cut`) -> -1."""
    out = part_map.copy()
    if "skin" not in parts.names:
        return out
    cut = forehead_cut(part_map, parts)
    if cut is None:
        return out
    rows = np.arange(part_map.shape[0], dtype=float)[:, None]
    out[(rows < cut[None, :] - 1e-6) & (out == parts.index("skin"))] = IGNORE
    return out


def remove_islands(part_map: np.ndarray, share: float = 0.1, min_pixels: int = 0, enclosed: float = 0.9
                   ) -> np.ndarray:
    """Per part, components below ``share`` of its largest component (or ``min_pixels``) are removed.

    A removed component enclosed by one label (at least ``enclosed`` of its one-pixel outer
    ring) takes that label (a stray eye blob in the cheek becomes skin); any other gets -1.
    """
    out = part_map.copy()
    ring_kernel = np.ones((3, 3), np.uint8)
    counts = np.bincount(part_map.ravel().astype(np.int64) + 1)
    for p in np.flatnonzero(counts[1:]):
        mask = (part_map == p).astype(np.uint8)
        n, comp, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if n <= 2 and min_pixels <= 0:
            continue
        areas = stats[1:, cv2.CC_STAT_AREA]
        limit = max(share * areas.max(), min_pixels)
        for k in np.flatnonzero(areas < limit) + 1:
            x, y, w, h = stats[k, :4]
            y0, y1, x0, x1 = max(y - 1, 0), min(y + h + 1, out.shape[0]), max(x - 1, 0), min(x + w + 1, out.shape[1])
            blob = comp[y0:y1, x0:x1] == k
            ring = cv2.dilate(blob.astype(np.uint8), ring_kernel).astype(bool) & ~blob
            around = part_map[y0:y1, x0:x1][ring]
            around = around[around != p]
            fill = IGNORE
            if around.size:
                values, counts = np.unique(around, return_counts=True)
                if counts.max() >= enclosed * around.size:
                    fill = int(values[counts.argmax()])
            out[y0:y1, x0:x1][blob] = fill
    return out


def clean_part_map(part_map: np.ndarray, parts: PartTable, options: CleanupOptions | None = None, *,
                   ear_mask: np.ndarray | None = None, hair_mask: np.ndarray | None = None) -> CleanupResult:
    """Run the switched-on steps on a (H, W) int16 part map.

    Args:
        part_map: (H, W) part ids, -1 = no part.
        parts: the part table the ids refer to.
        options: which steps (default: all).
        ear_mask: (H, W) bool ear pixels (from the parser's ear classes), or None: no ear step.
        hair_mask: (H, W) bool hair pixels, or None: no hair step.

    Returns:
        The cleaned map and, per step that ran, how many pixels changed.
    """
    options = options or CleanupOptions()
    out = np.asarray(part_map).astype(np.int16, copy=True)
    removed = {}

    def run(step, fn):
        nonlocal out
        new = fn(out)
        removed[step] = int((new != out).sum())
        out = new

    if options.ears and ear_mask is not None:
        run("ears", lambda m: remove_ears(m, parts, ear_mask, _px(options.ear_margin, m.shape)))
    if options.hair and hair_mask is not None:
        run("hair", lambda m: remove_hair(m, parts, hair_mask, _px(options.hair_margin, m.shape)))
    if options.forehead:
        run("forehead", lambda m: remove_forehead(m, parts))
    if options.islands:
        run("islands", lambda m: remove_islands(m, options.island_share))
    return CleanupResult(out, removed)
