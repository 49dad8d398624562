"""Variant sampling: identity, expression, albedo, head pose and light, seeded and reproducible.

Variant ``i`` of seed ``s`` depends only on ``(s, i)``, so a run can resume
at any variant and get exactly the variants it would have had. Yaw follows a
golden-ratio sequence over the range, so any number of variants covers it
evenly, profile views included.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..data.face_model import FaceModel
from ..checks import dataclass_from_dict
from ..errors import FacepartError
from ..renderers.light import Light

GOLDEN = 0.6180339887498949


@dataclass(frozen=True)
class SamplingSettings:
    """Ranges of the variants (angles in degrees).

    Positive yaw turns the face toward the subject's left (+x), positive pitch
    tilts the chin down, positive roll tilts the head toward the subject's right shoulder.
    """

    yaw: tuple[float, float] = (-80.0, 80.0)
    pitch: tuple[float, float] = (-20.0, 20.0)
    roll: tuple[float, float] = (-10.0, 10.0)
    identity_scale: float = 1.0  # std dev of the identity coefficients (in model std devs)
    max_identity: int = 80  # identity components used at most
    expression_scale: float = 0.8  # PCA expressions: std dev
    max_expression: int = 64
    blendshape_active: float = 0.25  # blend-shape models: chance that each shape is active
    neutral_share: float = 0.2  # share of variants with a neutral expression
    albedo_scale: float = 1.0
    light_cone: float = 50.0  # light directions within this angle of frontal

    def __post_init__(self):
        for name in ("yaw", "pitch", "roll"):
            lo_hi = getattr(self, name)
            try:
                lo, hi = (float(v) for v in lo_hi)
            except (TypeError, ValueError):
                raise FacepartError(f"{name} range must be two numbers (min, max), got {lo_hi!r}") from None
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi or max(abs(lo), abs(hi)) > 180:
                raise FacepartError(f"{name} range must be finite degrees within -180..180 with min <= max, "
                                    f"got {lo_hi!r}")
            object.__setattr__(self, name, (lo, hi))
        for name in ("identity_scale", "expression_scale", "albedo_scale", "light_cone", "blendshape_active",
                     "neutral_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise FacepartError(f"sampling {name} must be a finite number >= 0, got {value!r}")
        for name in ("max_identity", "max_expression"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise FacepartError(f"sampling {name} must be a whole number >= 0, got {value!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, what: str = "sampling settings") -> "SamplingSettings":
        """From a JSON object, every value checked against its default's type (one line naming ``what``)."""
        return dataclass_from_dict(cls, d, what)


@dataclass(frozen=True)
class Variant:
    """One sampled instance of the model: coefficients, pose (degrees) and light."""

    index: int
    identity: np.ndarray  # (K_id,)
    expression: np.ndarray  # (K_exp,)
    albedo: np.ndarray  # (K_tex,)
    yaw: float
    pitch: float
    roll: float
    light: Light

    def as_dict(self) -> dict:
        return {"index": self.index, "identity": self.identity.tolist(), "expression": self.expression.tolist(),
                "albedo": self.albedo.tolist(), "yaw": self.yaw, "pitch": self.pitch, "roll": self.roll,
                "light": {"direction": np.asarray(self.light.direction).tolist(),
                          "intensity": self.light.intensity, "ambient": self.light.ambient}}

    @classmethod
    def from_dict(cls, d: dict) -> "Variant":
        light = d["light"]
        return cls(int(d["index"]), np.asarray(d["identity"], np.float32), np.asarray(d["expression"], np.float32),
                   np.asarray(d["albedo"], np.float32), float(d["yaw"]), float(d["pitch"]), float(d["roll"]),
                   Light(np.asarray(light["direction"], float), float(light["intensity"]), float(light["ambient"])))


def _uniform(rng, lo_hi) -> float:
    lo, hi = lo_hi
    return float(rng.uniform(lo, hi)) if hi > lo else float(lo)


def sample_variant(model: FaceModel, settings: SamplingSettings, seed: int, index: int) -> Variant:
    """Variant ``index`` of the run with ``seed`` (independent of every other index)."""
    rng = np.random.default_rng([seed, index])
    k_id = min(len(model.identity_basis), settings.max_identity)
    identity = (rng.standard_normal(k_id) * settings.identity_scale).astype(np.float32)

    k_exp = min(len(model.expression_basis), settings.max_expression)
    neutral = rng.random() < settings.neutral_share
    if model.expression_kind == "blendshape":
        active = rng.random(k_exp) < settings.blendshape_active
        expression = np.where(active, rng.random(k_exp), 0.0).astype(np.float32)
    else:
        expression = (rng.standard_normal(k_exp) * settings.expression_scale).astype(np.float32)
    if neutral:
        expression[:] = 0.0

    k_tex = 0 if model.albedo_basis is None else len(model.albedo_basis)
    albedo = (rng.standard_normal(k_tex) * settings.albedo_scale).astype(np.float32)

    lo, hi = settings.yaw
    phase = (0.5 + index * GOLDEN + rng.uniform(-0.05, 0.05)) % 1.0
    yaw = lo + (hi - lo) * phase

    # light from the camera side, within a cone around the view direction
    theta = np.radians(rng.uniform(0, settings.light_cone))
    phi = rng.uniform(0, 2 * np.pi)
    toward_light = np.array([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)])
    light = Light(-toward_light, float(rng.uniform(2.0, 4.0)), float(rng.uniform(0.25, 0.45)))
    return Variant(index, identity, expression, albedo, float(yaw), _uniform(rng, settings.pitch),
                   _uniform(rng, settings.roll), light)


def frontal_variant(index: int = -1) -> Variant:
    """The mean shape, neutral, facing the camera, lit from the front."""
    return Variant(index, np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32), 0.0, 0.0, 0.0,
                   Light(np.array([0.0, -0.2, -1.0]), 3.0, 0.4))


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) head rotation R = Rz(roll) @ Ry(yaw) @ Rx(pitch), degrees."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


FACE_MARGIN = 1.35  # framing radius / farthest landmark from the pivot


def head_frame(model: FaceModel, whole: bool = False) -> tuple[np.ndarray, float]:
    """Pose pivot (3,) and framing radius of the mean shape.

    With 68 landmarks the renders frame the face: the pivot is the middle of
    the landmarks' bounding box and the radius reaches ``FACE_MARGIN`` times
    the farthest landmark, so the face stays centred, in view and large at
    every pose, even for a model with neck and shoulders. Without landmarks,
    or with ``whole``, the whole rendered mesh is framed.
    """
    pts = model.vertices[np.unique(model.triangles[model.render_triangles])]  # drawn corners: no stray vertex
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    if model.landmarks68 is not None and len(model.landmarks68) and not whole:
        lm = model.vertices[model.landmarks68]
        centre = 0.5 * (lm.min(axis=0) + lm.max(axis=0))
        return centre, FACE_MARGIN * float(np.linalg.norm(lm - centre, axis=1).max())
    return centre, float(np.linalg.norm(pts - centre, axis=1).max())


def posed_vertices(model: FaceModel, variant: Variant, centre: np.ndarray) -> np.ndarray:
    """(V, 3) vertices of ``variant``: shape + expression, rotated about ``centre``."""
    v = model.shape(variant.identity, variant.expression)
    rot = rotation(variant.yaw, variant.pitch, variant.roll)
    return ((v - centre) @ rot.T + centre).astype(np.float32)
