"""The label-render ("oracle") segmenter: a known per-vertex labelling drawn as a part map.

Each pixel takes the label of the corner of its triangle nearest to the pixel
centre in the image. An optional, seeded noise model imitates a real
parser's mistakes: boundary jitter, small wrong islands, and thin parts
(eyes, brows, lips) dropped into skin. Tests and benchmarks use it when no
real parser runs; the noise-free version shows what the voting itself loses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..checks import check_shape
from ..data.parts import IGNORE, PartTable
from ..errors import FacepartError
from ..renderers.fragments import pixel_corners
from .base import PartSegmenter, View


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
    """

    jitter: float = 0.008
    islands: float = 3.0
    island_radius: tuple[float, float] = (0.005, 0.02)
    drop_thin: float = 0.1
    thin_area: float = 0.03

    def as_dict(self) -> dict:
        return asdict(self)


def nearest_corner_labels(view: View, labels: np.ndarray) -> np.ndarray:
    """(H, W) int16: per pixel, the label of the corner of its triangle nearest to the pixel centre
    (the corner of largest barycentric weight), from the id buffer."""
    out = np.full(view.fragments.triangle_id.shape, IGNORE, np.int16)
    rows, cols, corners, bary = pixel_corners(view.fragments, view.triangles, view.uv, view.depth)
    out[rows, cols] = labels[corners[np.arange(len(corners)), bary.argmax(axis=1)]]
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
        dx = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC)
        dy = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC)
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        out = cv2.remap(out, gx + dx, gy + dy, interpolation=cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=IGNORE)
    present = np.flatnonzero(np.bincount(out[out >= 0].ravel())).tolist()  # O(pixels), no sort
    if skin is not None and noise.drop_thin > 0 and face.any():
        for p in present:
            if p != skin and (out == p).sum() < noise.thin_area * face.sum() and rng.random() < noise.drop_thin:
                out[out == p] = skin
    if present and noise.islands > 0 and face.any():
        rows, cols = np.nonzero(face)
        for _ in range(rng.poisson(noise.islands)):
            i = rng.integers(len(rows))
            r = max(1, int(round(rng.uniform(*noise.island_radius) * size)))
            cv2.circle(out, (int(cols[i]), int(rows[i])), r, int(rng.choice(present)), thickness=-1)
    return out


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
        return add_noise(clean, self.noise, rng, self._skin)

    def describe(self) -> str:
        return "oracle (exact)" if self.noise is None else f"oracle with noise {self.noise.as_dict()}"
