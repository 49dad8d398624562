"""The label-render ("oracle") segmenter: a known per-vertex labelling drawn as a part map.

Each pixel takes the label of the corner of its triangle nearest to the pixel
centre in the image. An optional, seeded noise model imitates a real
parser's mistakes: boundary jitter, small wrong islands, and thin parts
(eyes, brows, lips) dropped into skin; and, to measure robustness to bad
views, a share of *garbage* views whose whole map is mirrored, shifted or
given the wrong classes. Tests and benchmarks use it when no real parser
runs; the noise-free version shows what the voting itself loses.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..checks import check_shape
from ..data.parts import IGNORE, PartTable
from ..errors import FacepartError
from .base import PartSegmenter, View, view_pixels


#: The kinds of garbage view :class:`OracleNoise` can make.
GARBAGE_KINDS = ("mirror", "shift", "wrong_class")
#: sqrt(2) - 1: the low-discrepancy step that picks the garbage views (independent of the
#: golden-ratio step that spreads the variants' yaw, so garbage views come at every yaw).
_GARBAGE_STEP = 0.41421356237309515


@dataclass(frozen=True)
class OracleNoise:
    """Parser-like errors, sizes as fractions of the image size (so they scale with --size).

    Attributes:
        jitter: amplitude of a smooth random displacement of the part boundaries.
        islands: mean number of wrong blobs per image (Poisson).
        island_radius: (min, max) blob radius.
        drop_thin: chance that each thin part (less than ``thin_area`` of the face) is
            labelled as skin instead.
        thin_area: area share under which a part counts as thin.
        garbage: share of views whose whole map is garbage (0 = none). Which views are garbage
            follows a seeded low-discrepancy sequence over the view index, so any run of ``n``
            consecutive views holds ``garbage * n`` of them to within three views (measured up to n = 3000).
        garbage_kinds: the kinds to choose from, uniformly and seeded per view (see
            :func:`make_garbage`): ``mirror`` (the map flipped left-right), ``shift`` (moved by
            10-25% of the image size) and ``wrong_class`` (every part id replaced by another).
    """

    jitter: float = 0.008
    islands: float = 3.0
    island_radius: tuple[float, float] = (0.005, 0.02)
    drop_thin: float = 0.1
    thin_area: float = 0.03
    garbage: float = 0.0
    garbage_kinds: tuple[str, ...] = GARBAGE_KINDS

    def __post_init__(self):
        if not 0.0 <= self.garbage <= 1.0:
            raise FacepartError(f"oracle noise: garbage must be a share in 0..1, got {self.garbage}")
        kinds = tuple(self.garbage_kinds)
        unknown = [k for k in kinds if k not in GARBAGE_KINDS]
        if unknown or not kinds:
            raise FacepartError(f"oracle noise: garbage kinds must be some of {', '.join(GARBAGE_KINDS)}, "
                                f"got {', '.join(map(str, kinds)) or 'none'}")
        object.__setattr__(self, "garbage_kinds", kinds)

    def as_dict(self) -> dict:
        """The settings; the garbage ones only when there is garbage (so older run keys still match)."""
        d = asdict(self)
        if self.garbage == 0:
            del d["garbage"], d["garbage_kinds"]
        return d


def garbage_kind(noise: OracleNoise | None, seed: int, index: int) -> str | None:
    """The garbage kind of view ``index`` in a run with ``seed``, or None for a regular view.

    View ``index`` is garbage when ``frac(u + index * (sqrt 2 - 1)) < noise.garbage``, with ``u``
    drawn from ``seed``; its kind is drawn from ``(seed, index)``. Both depend only on the seed
    and the index, so a resumed run gets the same garbage views.
    """
    if noise is None or noise.garbage <= 0:
        return None
    offset = np.random.default_rng([seed, 2]).random()
    if (offset + index * _GARBAGE_STEP) % 1.0 >= noise.garbage:
        return None
    rng = np.random.default_rng([seed, index, 2])
    return str(noise.garbage_kinds[rng.integers(len(noise.garbage_kinds))])


def make_garbage(part_map: np.ndarray, kind: str, rng: np.random.Generator, n_parts: int) -> np.ndarray:
    """(H, W) part map -> a garbage version of ``kind`` (a new array; -1 stays -1 except where shifted in).

    ``mirror`` flips it left-right (left and right parts land on the wrong side); ``shift`` moves it
    by 10-25% of the image size in a random direction, filling with -1; ``wrong_class`` replaces
    every part id by a different one (a random derangement of the ``n_parts`` ids).
    """
    if kind == "mirror":
        return np.ascontiguousarray(part_map[:, ::-1])
    if kind == "shift":
        h, w = part_map.shape
        step = rng.uniform(0.10, 0.25) * min(h, w)
        angle = rng.uniform(0, 2 * np.pi)
        dy, dx = int(round(step * np.sin(angle))), int(round(step * np.cos(angle)))
        out = np.full_like(part_map, IGNORE)
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
            part_map[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
        return out
    if kind == "wrong_class":
        if n_parts < 2:
            return part_map.copy()
        perm = rng.permutation(n_parts)
        while np.any(perm == np.arange(n_parts)):  # a derangement: no part keeps its id
            perm = rng.permutation(n_parts)
        lut = np.concatenate([perm, [IGNORE]]).astype(part_map.dtype)  # index -1 -> IGNORE
        return lut[part_map]
    raise FacepartError(f"unknown garbage kind '{kind}'; available: {', '.join(GARBAGE_KINDS)}")


def nearest_corner_labels(view: View, labels: np.ndarray) -> np.ndarray:
    """(H, W) int16: per pixel, the label of the corner of its triangle nearest to the pixel centre
    (the corner of largest barycentric weight), from the id buffer."""
    out = np.full(view.fragments.triangle_id.shape, IGNORE, np.int16)
    px = view_pixels(view)
    out.ravel()[px.flat] = labels[px.nearest]
    return out


def add_noise(part_map: np.ndarray, noise: OracleNoise, rng: np.random.Generator, skin: int | None) -> np.ndarray:
    """Apply ``noise`` to a (H, W) part map (a new array is returned)."""
    h, w = part_map.shape
    size = min(h, w)
    out = part_map.copy()
    face = out >= 0
    if noise.jitter > 0:
        amp = noise.jitter * size
        coarse = rng.standard_normal((2, 6, 6)).astype(np.float32) * amp
        dx, dy = np.moveaxis(cv2.resize(np.ascontiguousarray(coarse.transpose(1, 2, 0)), (w, h),
                                        interpolation=cv2.INTER_CUBIC), 2, 0)  # both fields in one call
        gx, gy = _pixel_grid(h, w)
        out = cv2.remap(out, gx + dx, gy + dy, interpolation=cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    counts = np.bincount(out[out >= 0].ravel())  # O(pixels), no sort
    present = np.flatnonzero(counts).tolist()
    face_area = int(np.count_nonzero(face))
    if skin is not None and noise.drop_thin > 0 and face_area:
        for p in present:
            if p != skin and counts[p] < noise.thin_area * face_area and rng.random() < noise.drop_thin:
                out[out == p] = skin
    if present and noise.islands > 0 and face_area:
        blobs = rng.poisson(noise.islands)
        if blobs:
            on_face = np.flatnonzero(face)
            for _ in range(blobs):
                row, col = divmod(int(on_face[rng.integers(len(on_face))]), w)
                r = max(1, int(round(rng.uniform(*noise.island_radius) * size)))
                cv2.circle(out, (col, row), r, int(rng.choice(present)), thickness=-1)
    return out


@functools.lru_cache(maxsize=4)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 column and row of every pixel (read-only, shared between calls)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


class OracleSegmenter(PartSegmenter):
    """Renders ``labels`` (V,) (-1 = no part) as part maps, optionally with noise.

    Args:
        labels: (V,) int part id per vertex of the model, -1 = no part.
        parts: the part table the ids refer to.
        noise: parser-like errors, or None for exact maps.
        seed: noise seed; view ``i`` uses ``(seed, i)``, so runs are reproducible.
    """

    name = "oracle"
    needs_image = False

    def __init__(self, labels: np.ndarray, parts: PartTable, noise: OracleNoise | None = None, seed: int = 0):
        self.labels = check_shape(labels, ("V",), "oracle labels").astype(np.int16)
        if self.labels.max(initial=-1) >= len(parts):
            raise FacepartError(f"oracle labels go up to {self.labels.max()}, but there are {len(parts)} parts")
        self.parts = parts
        self.noise = noise
        self.seed = seed
        self._skin = parts.names.index("skin") if "skin" in parts.names else None

    def part_map(self, view: View) -> np.ndarray:
        clean = nearest_corner_labels(view, self.labels)
        if self.noise is None:
            return clean
        rng = np.random.default_rng([self.seed, view.index, 1])
        out = add_noise(clean, self.noise, rng, self._skin)
        kind = self.garbage_kind(view.index)
        if kind is not None:
            out = make_garbage(out, kind, np.random.default_rng([self.seed, view.index, 3]), len(self.parts))
        return out

    def garbage_kind(self, index: int) -> str | None:
        """The garbage kind of view ``index`` (None: a regular view)."""
        return garbage_kind(self.noise, self.seed, index)

    def describe(self) -> str:
        return "oracle (exact)" if self.noise is None else f"oracle with noise {self.noise.as_dict()}"
