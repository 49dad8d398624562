"""MediaPipe FaceMesh (``mediapipe==0.10.21``, offline) as a face parser: landmark polygons -> parts.

The legacy ``mp.solutions.face_mesh`` of 0.10.21 ships its model inside the
wheel, so nothing downloads. The 478 landmarks are turned into part masks by
filling polygons (parsers.md, "Part masks from MediaPipe landmarks") in this
order, later ones overwriting earlier ones: skin -> nose -> brows -> eyes ->
upper lip -> lower lip -> mouth interior, with ``cv2.fillPoly(..., shift=2)``.
MediaPipe's LEFT is the subject's left. Ears, hair and neck fall outside the
skin polygon.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys

import numpy as np

from ..interrupts import deferred_interrupt
from ..errors import FacepartError, require
from .labelsets import TABLES

INSTALL = "pip install mediapipe==0.10.21 'numpy<2'"

#: Face-oval jaw arc, left temple 251 -> chin 152 -> right temple 21.
JAW_ARC = (251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172,
           58, 132, 93, 234, 127, 162, 21)
RIGHT_BROW_TOP = (70, 63, 105, 66, 107)
LEFT_BROW_TOP = (336, 296, 334, 293, 300)
#: The full FACE_OVAL loop (skin with the forehead).
FACE_OVAL = (10, 109, 67, 103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378,
             379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338)
LEFT_EYE = (249, 263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390)
RIGHT_EYE = (7, 33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163)
LEFT_BROW = (276, 283, 282, 295, 285) + LEFT_BROW_TOP  # lower edge + reversed upper edge
RIGHT_BROW = (46, 53, 52, 65, 55) + (107, 66, 105, 63, 70)
OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
INNER_UPPER_REV = (308, 415, 310, 311, 312, 13, 82, 81, 80, 191, 78)
INNER_LOWER_REV = (308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)
UPPER_LIP = OUTER_UPPER + INNER_UPPER_REV
LOWER_LIP = OUTER_LOWER + INNER_LOWER_REV
MOUTH_INTERIOR = tuple(reversed(INNER_UPPER_REV)) + INNER_LOWER_REV[1:-1]
#: Outer eye corners (subject's right, left), for the yaw estimate.
EYE_CORNERS = (33, 263)

LABELS = TABLES["mediapipe"]


def nose_points() -> tuple[int, ...]:
    """The 24 landmark ids of MediaPipe's own ``FACEMESH_NOSE``."""
    require("mediapipe", "the mediapipe segmenter", INSTALL)
    from mediapipe.python.solutions import face_mesh_connections as conn

    if not hasattr(conn, "FACEMESH_NOSE"):
        raise FacepartError(f"this mediapipe has no FACEMESH_NOSE; install it with: {INSTALL}")
    return tuple(sorted({i for edge in conn.FACEMESH_NOSE for i in edge}))


def polygons(keep_forehead: bool = False, inner_mouth: bool = True, nose: tuple[int, ...] | None = None
             ) -> list[tuple[str, tuple[int, ...], bool]]:
    """(canonical class, landmark ids, convex hull?) in drawing order."""
    skin = FACE_OVAL if keep_forehead else JAW_ARC + RIGHT_BROW_TOP + LEFT_BROW_TOP
    out = [("skin", skin, False), ("nose", nose if nose is not None else nose_points(), True),
           ("left_eyebrow", LEFT_BROW, False), ("right_eyebrow", RIGHT_BROW, False),
           ("left_eye", LEFT_EYE, False), ("right_eye", RIGHT_EYE, False),
           ("up_lip", UPPER_LIP, False), ("down_lip", LOWER_LIP, False)]
    if inner_mouth:
        out.append(("inner_mouth", MOUTH_INTERIOR, False))
    return out


def rasterise(points: np.ndarray, shape: tuple[int, int], keep_forehead: bool = False, inner_mouth: bool = True,
              nose: tuple[int, ...] | None = None) -> np.ndarray:
    """(N >= 468, 2) landmark pixel coordinates (x, y; pixel centres at +0.5) -> (H, W) int16 class ids."""
    import cv2

    out = np.zeros(shape, np.uint8)
    scaled = np.round((np.asarray(points, np.float64)[:, :2] - 0.5) * 4.0).astype(np.int32)
    for canon, ids, hull in polygons(keep_forehead, inner_mouth, nose):
        poly = scaled[list(ids)]
        if hull:
            poly = cv2.convexHull(poly)
        cls = int(LABELS.ids(canon)[0])
        cv2.fillPoly(out, [poly.reshape(-1, 1, 2)], cls, lineType=cv2.LINE_8, shift=2)
    return out.astype(np.int16)


@contextlib.contextmanager
def _quiet_native_stderr():
    """Silence what MediaPipe's C++ side prints to fd 2 while its graph starts (absl/TFLite banners)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)


class FaceMeshRunner:
    """One MediaPipe FaceMesh graph (static images, one face): image -> (478, 3) landmarks in pixels.

    The one place facepart starts FaceMesh; the part parser (:class:`MediaPipeParser`) and the
    landmark detector (:mod:`facepart.segmenters.landmarks`) both run it.

    Args:
        refine_landmarks: FaceMesh's attention refinement around eyes and lips (478 points, else 468).
        min_confidence: FaceMesh detection confidence.
        what: what needs it, for the missing-package message.
    """

    def __init__(self, refine_landmarks: bool = True, min_confidence: float = 0.5,
                 what: str = "the mediapipe segmenter"):
        mp = require("mediapipe", what, INSTALL)
        solutions = getattr(mp, "solutions", None)
        if solutions is None or not hasattr(solutions, "face_mesh"):
            raise FacepartError(f"mediapipe {getattr(mp, '__version__', '?')} has no bundled FaceMesh "
                                f"(mp.solutions.face_mesh); install it with: {INSTALL}")
        self.refine_landmarks = bool(refine_landmarks)
        self.min_confidence = float(min_confidence)
        self.version = getattr(mp, "__version__", "?")
        self.n_points = 478 if self.refine_landmarks else 468
        with _quiet_native_stderr():  # graph start-up banners; one blank run lets the threads finish them
            self._mesh = solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                      refine_landmarks=self.refine_landmarks,
                                                      min_detection_confidence=self.min_confidence)
            self._mesh.process(np.zeros((64, 64, 3), np.uint8))
        self._started = False

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (478, 3) float landmarks in pixels (x, y, z; z on the x scale), or None.

        x and y are continuous pixel coordinates: pixel (row r, column c) covers [c, c+1) x [r, r+1).
        """
        if self._mesh is None:
            raise FacepartError("this FaceMesh runner was closed")
        h, w = image.shape[:2]
        with deferred_interrupt():  # the graph's threads finish before Ctrl-C lands
            if not self._started:  # until the first face, runs print start-up warnings from C++
                with _quiet_native_stderr():
                    result = self._mesh.process(np.ascontiguousarray(image))
            else:
                result = self._mesh.process(np.ascontiguousarray(image))
        faces = result.multi_face_landmarks
        self._started = self._started or bool(faces)
        if not faces:
            return None
        pts = np.array([(p.x, p.y, p.z) for p in faces[0].landmark], np.float64)
        return pts * np.array([w, h, w], np.float64)

    def close(self) -> None:
        mesh, self._mesh = getattr(self, "_mesh", None), None
        if mesh is not None:
            mesh.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class MediaPipeParser:
    """FaceMesh landmarks -> label map in :data:`LABELS` (the ``mediapipe`` label set).

    Args:
        keep_forehead: skin up to the full face oval instead of stopping at the brows.
        inner_mouth: label the mouth interior (ignored by the default part mapping).
        refine_landmarks: FaceMesh's attention refinement around eyes and lips.
        min_confidence: FaceMesh detection confidence.

    After each :meth:`parse`, ``last_landmarks`` holds the (478, 3) landmarks in pixels
    (z on the x scale) and ``last_yaw`` the head yaw estimated from them (degrees,
    positive = turned toward the subject's left), or None when no face was found.
    """

    name = "mediapipe"
    labels = LABELS
    needs_image = True

    def __init__(self, keep_forehead: bool = False, inner_mouth: bool = True, refine_landmarks: bool = True,
                 min_confidence: float = 0.5):
        self._args = dict(keep_forehead=keep_forehead, inner_mouth=inner_mouth, refine_landmarks=refine_landmarks,
                          min_confidence=min_confidence)
        self._runner = FaceMeshRunner(refine_landmarks, min_confidence)
        self.keep_forehead = keep_forehead
        self.inner_mouth = inner_mouth
        self.refine_landmarks = refine_landmarks
        self.min_confidence = float(min_confidence)
        self.version = self._runner.version
        self._nose = nose_points()
        self.last_landmarks: np.ndarray | None = None
        self.last_yaw: float | None = None

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (478, 3) float landmarks in pixels (x, y, z), or None."""
        return self._runner.landmarks(image)

    @staticmethod
    def yaw_from_landmarks(points: np.ndarray) -> float:
        """Head yaw (degrees) from the outer eye corners' depth difference (rough beyond +-45)."""
        r, l = points[EYE_CORNERS[0]], points[EYE_CORNERS[1]]
        return float(np.degrees(np.arctan2(l[2] - r[2], l[0] - r[0])))

    def parse(self, image: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (H, W) int16 class ids of :data:`LABELS`, or None (no face)."""
        pts = self.landmarks(image)
        self.last_landmarks = pts
        if pts is None:
            self.last_yaw = None
            return None
        self.last_yaw = self.yaw_from_landmarks(pts)
        return rasterise(pts, image.shape[:2], self.keep_forehead, self.inner_mouth, self._nose)

    def describe(self) -> str:
        return (f"mediapipe FaceMesh {self.version} (refine={self.refine_landmarks}, "
                f"min confidence {self.min_confidence:g}, forehead {'kept' if self.keep_forehead else 'cut at the brows'})")

    def __reduce__(self):
        """Pickled (for worker processes) as the arguments it was made with; the copy rebuilds its session."""
        return (functools.partial(type(self), **self._args), ())

    def close(self) -> None:
        runner = getattr(self, "_runner", None)
        if runner is not None:
            runner.close()
