"""2D landmark detectors and the landmark sets facepart embeds on a face model.

A :class:`LandmarkDetector` turns an RGB render into the pixel positions of
its points: (N, 2) plus an (N,) validity, or None when it finds no face.
A :class:`LandmarkSet` picks the landmarks to embed from a detector's points
(each landmark is one detector point, or the mean of two) and names and
groups them. Built in: MediaPipe FaceMesh (``mediapipe``, 478 points with
the iris refinement) and three sets of its points:

* ``478``: all of them;
* ``68``: the iBUG/Multi-PIE 68 points, from the published MediaPipe->dlib table
  :data:`IBUG68_FROM_MEDIAPIPE`;
* ``105``: the MediaPipe points FLAME's own MediaPipe embedding holds
  (:data:`FLAME_MEDIAPIPE_105`, the ``landmark_indices`` of
  ``mediapipe_landmark_embedding.npz``), in that file's order.

Pixel coordinates are continuous: pixel (row r, column c) covers
[c, c+1) x [r, r+1), as :class:`~facepart.renderers.camera.Camera` projects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..errors import FacepartError
from .base import View

# -- published index lists (facts, written down with their sources) --------------------------------

#: iBUG-68 landmark k (0-based) -> the MediaPipe FaceMesh point(s) whose mean stands for it.
#: Source: Peizhi Yan, "Mediapipe_2_Dlib_Landmarks" (github.com/PeizhiYan/Mediapipe_2_Dlib_Landmarks,
#: ``mediapipe2dlib/mp2dlib.py``, ``mp2dlib_correspondence``, 2024-09-18), one row per dlib point;
#: rows with two ids are averaged there too. Order: jaw 0-16 (subject's right ear -> chin -> left ear),
#: right brow 17-21, left brow 22-26, nose bridge 27-30, nose base 31-35, right eye 36-41,
#: left eye 42-47, outer lips 48-59, inner lips 60-67.
IBUG68_FROM_MEDIAPIPE: tuple[tuple[int, ...], ...] = (
    (127,), (234,), (93,), (132, 58), (58, 172), (136,), (150,), (176,), (152,), (400,), (379,), (365,),
    (397, 288), (361,), (323,), (454,), (356,),
    (70,), (63,), (105,), (66,), (107,),
    (336,), (296,), (334,), (293,), (300,),
    (168, 6), (197, 195), (5,), (4,),
    (75,), (97,), (2,), (326,), (305,),
    (33,), (160,), (158,), (133,), (153,), (144,),
    (362,), (385,), (387,), (263,), (373,), (380,),
    (61,), (39,), (37,), (0,), (267,), (269,), (291,), (321,), (314,), (17,), (84,), (91,),
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)

#: The 105 MediaPipe points of FLAME's MediaPipe landmark embedding, in the file's order: the
#: ``landmark_indices`` array of ``mediapipe_landmark_embedding.npz`` (FLAME download page; see
#: Rubikplayer/flame-fitting#40, #44), as written down by EMOCA (github.com/radekd91/emoca,
#: ``gdl/layers/losses/MediaPipeLandmarkLosses.py``, ``EMBEDDING_INDICES``, "loaded from
#: mediapipe_landmark_embedding.npz"). Brows 20, eyes 32, nose 13, lips 40; no face contour.
FLAME_MEDIAPIPE_105: tuple[int, ...] = (
    276, 282, 283, 285, 293, 295, 296, 300, 334, 336, 46, 52, 53, 55, 63, 65, 66, 70, 105, 107,
    249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
    7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
    168, 6, 197, 195, 5, 4, 129, 98, 97, 2, 326, 327, 358,
    0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191,
    267, 269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415,
)

#: MediaPipe point groups (the points of mediapipe 0.10.21's ``FACEMESH_*`` connection sets;
#: iris centres 468 (right) and 473 (left) with their rings). A point in none is "other".
MEDIAPIPE_GROUPS: dict[str, tuple[int, ...]] = {
    "contour": (10, 21, 54, 58, 67, 93, 103, 109, 127, 132, 136, 148, 149, 150, 152, 162, 172, 176, 234, 251,
                284, 288, 297, 323, 332, 338, 356, 361, 365, 377, 378, 379, 389, 397, 400, 454),
    "brows": (46, 52, 53, 55, 63, 65, 66, 70, 105, 107, 276, 282, 283, 285, 293, 295, 296, 300, 334, 336),
    "eyes": (7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
             249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466),
    "nose": (1, 2, 4, 5, 6, 19, 45, 48, 64, 94, 97, 98, 115, 168, 195, 197, 220, 275, 278, 294, 326, 327, 344,
             440),
    "lips": (0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267,
             269, 270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415),
    "iris": tuple(range(468, 478)),
}
#: Order of the landmark groups in tables.
GROUP_ORDER = ("contour", "brows", "eyes", "nose", "lips", "iris", "other")
#: MediaPipe outer eye corners: subject's right, subject's left (for inter-ocular distances).
MEDIAPIPE_OUTER_EYE_CORNERS = (33, 263)

IBUG68_GROUPS = (("contour", range(0, 17)), ("brows", range(17, 27)), ("nose", range(27, 36)),
                 ("eyes", range(36, 48)), ("lips", range(48, 68)))
_IBUG68_NAMES = ([f"jaw_{i}" for i in range(17)] + [f"right_brow_{i}" for i in range(5)]
                 + [f"left_brow_{i}" for i in range(5)] + [f"nose_bridge_{i}" for i in range(4)]
                 + [f"nose_base_{i}" for i in range(5)] + [f"right_eye_{i}" for i in range(6)]
                 + [f"left_eye_{i}" for i in range(6)] + [f"outer_lip_{i}" for i in range(12)]
                 + [f"inner_lip_{i}" for i in range(8)])


# -- landmark sets ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class LandmarkSet:
    """Which landmarks to embed, taken from a detector's points.

    Attributes:
        name: the set's name (``--set``), e.g. ``"68"``.
        detector: the detector whose points it picks (e.g. ``"mediapipe"``).
        n_detector_points: how many points that detector gives.
        names: L landmark names.
        sources: L tuples of detector point ids; a landmark is the mean of its points.
        groups: L group names (``contour``, ``brows``, ``eyes``, ``nose``, ``lips``, ``iris``, ``other``).
        eye_corners: set indices of the subject's right and left outer eye corners (NME normaliser).
        source: where the index list comes from.
    """

    name: str
    detector: str
    n_detector_points: int
    names: tuple[str, ...]
    sources: tuple[tuple[int, ...], ...]
    groups: tuple[str, ...]
    eye_corners: tuple[int, int]
    source: str

    def __post_init__(self):
        n = len(self.names)
        if len(self.sources) != n or len(self.groups) != n:
            raise FacepartError(f"landmark set '{self.name}': names, sources and groups differ in length")
        ids = [i for s in self.sources for i in s]
        if any(not s for s in self.sources) or min(ids) < 0 or max(ids) >= self.n_detector_points:
            raise FacepartError(f"landmark set '{self.name}': detector point ids must be in "
                                f"0..{self.n_detector_points - 1}")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def single_sources(self) -> np.ndarray | None:
        """(L,) detector point ids when every landmark is one point, else None."""
        if all(len(s) == 1 for s in self.sources):
            return np.array([s[0] for s in self.sources], np.int64)
        return None

    def select(self, points: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Detector (N, 2) points and (N,) validity -> the set's (L, 2) points and (L,) validity."""
        points = np.asarray(points, np.float64)
        valid = np.asarray(valid, bool)
        out = np.empty((len(self), 2))
        ok = np.empty(len(self), bool)
        for k, src in enumerate(self.sources):
            idx = list(src)
            out[k] = points[idx].mean(axis=0)
            ok[k] = bool(valid[idx].all())
        return out, ok

    def group_ids(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(distinct group names, (L,) int group id per landmark); :data:`GROUP_ORDER` first, others as seen."""
        seen = dict.fromkeys(self.groups)
        names = tuple(g for g in GROUP_ORDER if g in seen) + tuple(g for g in seen if g not in GROUP_ORDER)
        lookup = {n: i for i, n in enumerate(names)}
        return names, np.array([lookup[g] for g in self.groups], np.int64)

    def as_dict(self) -> dict:
        return {"name": self.name, "detector": self.detector, "n_detector_points": self.n_detector_points,
                "names": list(self.names), "sources": [list(s) for s in self.sources], "groups": list(self.groups),
                "eye_corners": list(self.eye_corners), "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "LandmarkSet":
        return cls(str(d["name"]), str(d["detector"]), int(d["n_detector_points"]), tuple(d["names"]),
                   tuple(tuple(int(i) for i in s) for s in d["sources"]), tuple(d["groups"]),
                   (int(d["eye_corners"][0]), int(d["eye_corners"][1])), str(d.get("source", "")))


def _mediapipe_group(point: int) -> str:
    for group, ids in MEDIAPIPE_GROUPS.items():
        if point in ids:
            return group
    return "other"


def mediapipe_set(name: str = "478") -> LandmarkSet:
    """A built-in set of MediaPipe FaceMesh points: ``"478"``, ``"68"`` or ``"105"``."""
    name = str(name)
    if name in ("478", "mediapipe"):
        ids = range(478)
        return LandmarkSet("478", "mediapipe", 478, tuple(f"mp{i}" for i in ids), tuple((i,) for i in ids),
                           tuple(_mediapipe_group(i) for i in ids), MEDIAPIPE_OUTER_EYE_CORNERS,
                           "MediaPipe FaceMesh with refine_landmarks (468 mesh points + 10 iris points)")
    if name in ("68", "ibug68"):
        groups = [""] * 68
        for group, rng in IBUG68_GROUPS:
            for k in rng:
                groups[k] = group
        return LandmarkSet("68", "mediapipe", 478, tuple(_IBUG68_NAMES), IBUG68_FROM_MEDIAPIPE, tuple(groups),
                           (36, 45), "iBUG-68 from MediaPipe: PeizhiYan/Mediapipe_2_Dlib_Landmarks "
                           "mp2dlib_correspondence (pairs averaged)")
    if name in ("105", "flame105"):
        ids = FLAME_MEDIAPIPE_105
        groups = ("brows",) * 20 + ("eyes",) * 32 + ("nose",) * 13 + ("lips",) * 40  # the file's blocks
        return LandmarkSet("105", "mediapipe", 478, tuple(f"mp{i}" for i in ids), tuple((i,) for i in ids), groups,
                           (ids.index(MEDIAPIPE_OUTER_EYE_CORNERS[0]), ids.index(MEDIAPIPE_OUTER_EYE_CORNERS[1])),
                           "FLAME mediapipe_landmark_embedding.npz landmark_indices (as listed by EMOCA)")
    raise FacepartError(f"unknown landmark set '{name}'; available: {', '.join(LANDMARK_SETS)}")


#: Built-in sets: name -> (detector, one-line description).
LANDMARK_SETS = {
    "478": ("mediapipe", "all 478 MediaPipe FaceMesh points (468 + iris)"),
    "68": ("mediapipe", "iBUG-68 (dlib / 300-W order) from MediaPipe points"),
    "105": ("mediapipe", "the 105 MediaPipe points of FLAME's mediapipe_landmark_embedding.npz"),
}


def get_landmark_set(name: str | LandmarkSet, detector: str = "mediapipe") -> LandmarkSet:
    """The built-in set ``name`` for ``detector`` (a :class:`LandmarkSet` passes through)."""
    if isinstance(name, LandmarkSet):
        return name
    if detector != "mediapipe":
        raise FacepartError(f"no built-in landmark sets for detector '{detector}'")
    return mediapipe_set(str(name))


# -- detectors -------------------------------------------------------------------------------------

class Detection(NamedTuple):
    """A detector's answer for one image.

    Attributes:
        points: (N, 2) float64 pixel coordinates (x, y).
        valid: (N,) bool, False where the point is not usable (outside the image, occluded...).
    """

    points: np.ndarray
    valid: np.ndarray


@runtime_checkable
class LandmarkDetector(Protocol):
    """Anything that finds a face's landmarks in an RGB image.

    Attributes:
        name: short name, e.g. ``"mediapipe"``.
        n_points: N, the number of points it returns.

    A detector that reads the render's geometry instead of its pixels (the test
    oracle) implements ``detect_view(view) -> Detection | None`` as well; the
    embedding calls that when it exists.
    """

    name: str
    n_points: int

    def detect(self, image: np.ndarray) -> Detection | None:
        """(H, W, 3) uint8 RGB -> a :class:`Detection` of N points, or None when no face was found."""
        ...


class MediaPipeLandmarks:
    """MediaPipe FaceMesh (``mediapipe==0.10.21``, offline) as a landmark detector: 478 points.

    A point is valid when it lies inside the image (FaceMesh always returns all
    points of a face it finds, also those it cannot see: the embedding trims those).
    """

    name = "mediapipe"

    def __init__(self, refine_landmarks: bool = True, min_confidence: float = 0.5):
        from .mediapipe_parser import FaceMeshRunner

        self._runner = FaceMeshRunner(refine_landmarks, min_confidence, what="the mediapipe landmark detector")
        self.n_points = self._runner.n_points
        self.version = self._runner.version

    def detect(self, image: np.ndarray) -> Detection | None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise FacepartError(f"landmark detector: expected an (H, W, 3) uint8 RGB image, got {image.shape} "
                                f"{image.dtype}")
        pts = self._runner.landmarks(image)
        if pts is None:
            return None
        h, w = image.shape[:2]
        xy = pts[:, :2]
        valid = np.isfinite(xy).all(axis=1) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        return Detection(xy, valid)

    def describe(self) -> str:
        return (f"mediapipe FaceMesh {self.version} ({self.n_points} points, "
                f"min confidence {self._runner.min_confidence:g})")

    def close(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.close()


class OracleLandmarkDetector:
    """Projects known surface points of the model into each render: a detector with a known answer.

    For tests and for checking a set-up: it reads the view's geometry (``detect_view``), not
    its pixels. Point k is ``sum_j weights[k, j] * vertices[vertex_ids[k, j]]`` of the posed
    mesh; it is valid when it lies in the image and nothing in the depth buffer hides it.

    Args:
        vertex_ids: (N, 3) int vertex ids (e.g. a triangle's corners).
        weights: (N, 3) float weights (e.g. barycentric coordinates, rows summing to 1).
        noise_px: standard deviation of Gaussian noise added to every point, pixels.
        seed: seed of the noise (each view's noise depends on the seed and the view index).
        depth_tolerance: a point counts as hidden when the depth buffer at its pixel lies more
            than this (metres) in front of it.
    """

    name = "oracle"

    def __init__(self, vertex_ids: np.ndarray, weights: np.ndarray, noise_px: float = 0.0, seed: int = 0,
                 depth_tolerance: float = 0.002):
        self.vertex_ids = np.asarray(vertex_ids, np.int64)
        self.weights = np.asarray(weights, np.float64)
        if self.vertex_ids.ndim != 2 or self.vertex_ids.shape != self.weights.shape:
            raise FacepartError("oracle detector: vertex_ids and weights must both be (N, K)")
        self.n_points = len(self.vertex_ids)
        self.noise_px = float(noise_px)
        self.seed = int(seed)
        self.depth_tolerance = float(depth_tolerance)

    def detect(self, image: np.ndarray) -> Detection | None:
        raise FacepartError("the oracle landmark detector reads the render's geometry: call detect_view(view)")

    def detect_view(self, view: View) -> Detection | None:
        points3d = np.einsum("nk,nkd->nd", self.weights, np.asarray(view.vertices, np.float64)[self.vertex_ids])
        uv, z = view.camera.project(points3d)
        if self.noise_px > 0:
            rng = np.random.default_rng([self.seed, view.index])
            uv = uv + rng.normal(0.0, self.noise_px, uv.shape)
        h, w = view.fragments.depth.shape
        col, row = np.floor(uv[:, 0]).astype(np.int64), np.floor(uv[:, 1]).astype(np.int64)
        inside = (col >= 0) & (col < w) & (row >= 0) & (row < h) & np.isfinite(uv).all(axis=1)
        valid = inside.copy()
        zbuf = view.fragments.depth[row[inside], col[inside]]
        valid[inside] = (zbuf > 0) & (zbuf > z[inside] - self.depth_tolerance)
        if not valid.any():
            return None
        return Detection(uv, valid)

    def describe(self) -> str:
        return f"oracle ({self.n_points} known surface points, noise {self.noise_px:g} px)"

    def close(self) -> None:
        pass


#: Detector specs :func:`make_landmark_detector` accepts.
DETECTORS = ("mediapipe",)


def make_landmark_detector(spec: str = "mediapipe") -> LandmarkDetector:
    """The built-in detector ``spec`` (``mediapipe``)."""
    kind = str(spec).strip().lower()
    if kind == "mediapipe":
        return MediaPipeLandmarks()
    raise FacepartError(f"unknown landmark detector '{spec}'; available: {', '.join(DETECTORS)}")
