"""The built-in ``demo`` model: a synthetic morphable head that a real face parser sees as a face.

facepart generates it itself (no file, no download). It is a demo and a test
fixture, not a face model for research. One closed mesh (a lon/lat grid,
denser on the face): a skull with a jaw and a neck, eye sockets holding
eyeballs under upper and lower lids, a brow ridge, cheekbones, a nose with
alae and nostrils, lips that meet in a mouth line (the mouth interior is a
fold of the surface behind them, which opens with the jaw), a chin and ears.
It is painted: skin, hair on the scalp, dark brows, red lips, white sclera
with an iris and a pupil, dark nostrils and mouth interior.

It has 23,938 vertices (176 x 136 grid + 2 poles), 6 identity modes (warps:
width, height, depth, nose, chin, eye spacing), 6 expression blend shapes (jaw
open, smile, blink left/right, brow raise, frown), 5 albedo modes (skin tone
x 3, lip colour, brow darkness), the 68 iBUG landmarks placed on its
features (so renders frame the face, as for ICT), and the 8 paper parts by
construction (:func:`demo_truth`), in the conventions of the common parsers:

* eyes: the eye opening (the sclera and iris seen between the lids);
* eyebrows: the painted brows;
* nose: the convex hull of the nose (bridge, tip, alae) seen from the front,
  from the bridge between the eyes down to the nostrils;
* upper / lower lip: the red lips above / below the mouth line;
* skin: the rest of the face: below the brows (the forehead is cut along the
  brows' upper edge), in front of the ears and above the jaw's lower edge;
* none (-1): forehead above the brows, scalp, ears, neck, the mouth interior.

Every vertex keeps its part under every identity, expression and pose: the
paint moves with the vertices, so the truth is where the features are painted.
Feature coordinates: ``(X, Y)`` metres on the front of the mean head, ``X`` to
the subject's left, ``Y`` up, the eye centres at ``Y = 0``.
"""

from __future__ import annotations

import functools

import numpy as np

from .face_model import FaceModel
from .parts import PartTable
from .textures import tone_basis

N_LON, N_LAT = 176, 136
EXPRESSIONS = ("jawOpen", "mouthSmile", "eyeBlink_L", "eyeBlink_R", "browRaise", "browFrown")

# -- the skull, jaw and neck (an implicit solid, star-shaped about the origin) ---------
HEAD_WIDTH = 0.074  # half width at the temples and cheeks
HEAD_TOP = 0.118  # crown above the eye line
HEAD_FRONT, HEAD_BACK = 0.094, 0.104  # half depth in front of / behind the ear line
CHIN_Y = -0.114  # lowest point of the chin
NECK_RADIUS, NECK_Z, NECK_BOTTOM = 0.054, -0.018, -0.20

# -- features (X, Y) -------------------------------------------------------------
EYE_X, EYE_W = 0.0318, 0.0136  # eye centre, half width of the opening
EYE_UP, EYE_DOWN, EYE_TILT = 0.0047, 0.0043, 0.0009  # opening above / below the corner line; outer corner lift
IRIS_R, PUPIL_R = 0.0056, 0.0022
BROW_X = (0.0140, 0.0600)  # inner and outer end
BROW_LOW = ((0.0140, 0.0160), (0.0296, 0.0225), (0.0416, 0.0222), (0.0500, 0.0195), (0.0600, 0.0155))
BROW_HIGH = ((0.0140, 0.0262), (0.0318, 0.0285), (0.0441, 0.0285), (0.0548, 0.0250), (0.0600, 0.0190))
NOSE_TOP, NOSE_TIP, SUBNASALE = 0.0045, -0.032, -0.0455
MOUTH_Y, MOUTH_W = -0.068, 0.0243  # mouth line, half width (corner)
UPPER_LIP, LOWER_LIP = 0.0090, 0.0100  # lip heights at the middle
MOUTH_FOLD = 0.0028  # half height (in the grid) of the mouth interior folded behind the lips
MOUTH_GAP = 0.0012  # the lips are parted by this much at rest: a dark line of mouth interior shows
#: the convex nose outline seen from the front (X >= 0 half; mirrored)
NOSE_HULL = ((0.0, NOSE_TOP - 0.002), (0.0187, -0.0375), (0.0170, -0.0418), (0.0142, -0.0442),
             (0.0060, -0.0452), (0.0, -0.0452))
#: upper edge of the skin part between and along the brows: (|X|, Y) ...
SKIN_TOP = ((0.0, 0.0262), (0.0140, 0.0262), (0.0318, 0.0285), (0.0441, 0.0285), (0.0548, 0.0250),
            (0.0600, 0.0190), (0.0700, 0.0190))
#: ... and beyond the brows' tails, up to the temple and down in front of the ear: (azimuth, Y)
TEMPLE_LINE = ((0.70, 0.020), (0.80, 0.023), (0.90, 0.025), (1.00, 0.026), (1.10, 0.025), (1.20, 0.021),
               (1.30, 0.017), (1.40, 0.009), (1.50, 0.000), (1.60, -0.010))
#: the jaw's lower edge, where the face ends: (azimuth about the vertical axis from the chin, Y) ...
JAW_LINE = ((0.0, -0.108), (0.4, -0.102), (0.75, -0.094), (1.0, -0.088), (1.2, -0.082), (1.4, -0.074),
            (1.5, -0.064), (1.6, -0.044), (1.8, -0.020))
#: ... and its back edge: the face lies in front of this z (the ears' front)
FACE_BACK = 0.004


def _smoothstep(e0, e1, x):
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _side(x):
    """A smooth sign of X (+1 on the subject's left), so that warps do not tear the midline."""
    return np.tanh(x / 0.006)


def _gauss(x, y, cx, cy, sx, sy):
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _interp(x, points):
    px, py = np.asarray(points, float).T
    return np.interp(x, px, py)


# -- grid ------------------------------------------------------------------------------

def _inverse_cdf(density, lo, hi, n):
    """``n`` positions from ``lo`` to ``hi`` (both included) spaced by 1 / density."""
    t = np.linspace(lo, hi, 4001)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density(t[1:]) + density(t[:-1])) * np.diff(t))])
    return np.interp(np.linspace(0, cdf[-1], n), cdf, t)


def _lon_density(lon):
    a = np.abs(lon)
    return 1.0 + 4.0 * np.exp(-((a / 0.78) ** 4)) + 0.8 * _gauss(a, 0, 1.55, 0, 0.25, 1)  # face, ears


def _lat_density(lat):
    face = np.exp(-(((lat + 0.32) / 0.62) ** 4))
    eyes = _gauss(lat, 0, 0.02, 0, 0.10, 1)
    mouth = _gauss(lat, 0, -0.63, 0, 0.06, 1)
    return 1.0 + 3.2 * face + 1.5 * eyes + 3.0 * mouth


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of the vertices (radians, lon 0 = front, > 0 toward +x); (V,) each, poles last."""
    half = _inverse_cdf(_lon_density, 0.0, np.pi, N_LON // 2 + 1)
    lon = np.concatenate([-half[:0:-1], half[:-1]])  # mirror-symmetric: -pi ... 0 ... < pi
    lat = _inverse_cdf(_lat_density, -np.pi / 2, np.pi / 2, N_LAT + 2)[1:-1]
    lon_g, lat_g = np.meshgrid(lon, lat)  # (N_LAT, N_LON)
    return (np.concatenate([lon_g.ravel(), [0.0, 0.0]]), np.concatenate([lat_g.ravel(), [-np.pi / 2, np.pi / 2]]))


def _triangles() -> np.ndarray:
    idx = np.arange(N_LAT * N_LON).reshape(N_LAT, N_LON)
    right = np.roll(idx, -1, axis=1)
    a, b, c, d = idx[:-1], right[:-1], idx[1:], right[1:]
    quads = np.stack([np.stack([a, b, d], -1), np.stack([a, d, c], -1)], axis=2).reshape(-1, 3)
    south, north = N_LAT * N_LON, N_LAT * N_LON + 1
    bottom = np.stack([np.full(N_LON, south), idx[0][::-1], np.roll(idx[0][::-1], -1)], -1)
    top = np.stack([np.full(N_LON, north), idx[-1], np.roll(idx[-1], -1)], -1)
    return np.concatenate([quads, bottom, top]).astype(np.int64)


# -- the solid -------------------------------------------------------------------------

def _head_field(p):
    """< 0 inside the skull-and-face solid (a super-ellipsoid narrowed into a jaw)."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    # half width: temples and cheeks, narrowing along the jaw to the chin
    width = HEAD_WIDTH * (1.0 - 0.10 * _smoothstep(-0.03, -0.115, y)) - 0.004 * _smoothstep(0.02, 0.09, y)
    depth = np.where(z > 0, HEAD_FRONT + 0.004 * _smoothstep(-0.02, -0.09, y), HEAD_BACK)
    height = np.where(y > 0, HEAD_TOP, -CHIN_Y)
    return (np.abs(x) / width) ** 2.6 + (np.abs(z) / depth) ** 2.4 + (np.abs(y) / height) ** 3.2 - 1.0


def _neck_field(p):
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    r = np.sqrt(x**2 + ((z - NECK_Z) / 1.05) ** 2) / NECK_RADIUS - 1.0
    return np.maximum(np.maximum(r, (NECK_BOTTOM - y) / NECK_RADIUS), (y + 0.02) / NECK_RADIUS)


def _solid(p):
    a, b, k = _head_field(p), _neck_field(p), 0.05  # smooth union: a rounded jaw-neck crease
    return -k * np.logaddexp(-a / k, -b / k)


def _directions(lon, lat):
    return np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)


def _base(lon, lat) -> np.ndarray:
    """(V, 3) the solid's surface along each grid direction (bisection from the origin)."""
    d = _directions(lon, lat)
    lo, hi = np.zeros(len(lon)), np.full(len(lon), 0.4)
    for _ in range(36):
        mid = 0.5 * (lo + hi)
        inside = _solid(d * mid[:, None]) < 0
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return d * (0.5 * (lo + hi))[:, None]


# -- features ----------------------------------------------------------------------------

def _eye_opening(ax, y):
    """Per vertex (|X| from the face midline, Y): u in the eye (-1 inner .. 1 outer corner), corner-line Y,
    upper and lower margin Y."""
    u = (ax - EYE_X) / EYE_W
    v = np.clip(1 - u**2, 0, None)
    corner = EYE_TILT * u
    upper = corner + EYE_UP * v**0.62 * (1 + 0.08 * u)
    lower = corner - EYE_DOWN * v**0.75
    return u, corner, upper, lower


def _mouth_weight(x):
    """1 across the mouth, 0 beyond its corners: where the mouth interior is folded behind the lips."""
    return 1.0 - _smoothstep(MOUTH_W - 0.004, MOUTH_W + 0.0015, np.abs(x))


def _lip_heights(x):
    """Upper and lower lip height at X (cupid's bow on the upper lip), 0 at the corners."""
    s = np.clip(np.abs(x) / MOUTH_W, 0, 1)
    bow = 1 + 0.10 * np.exp(-(((np.abs(x) - 0.0055) / 0.004) ** 2)) - 0.06 * np.exp(-((x / 0.002) ** 2))
    upper = UPPER_LIP * bow * (1 - s**2.2) ** 0.55
    lower = LOWER_LIP * (1 - s**2) ** 0.6
    return upper, lower


def _feature_coords(base):
    """Feature coordinates of each vertex: X, Y after closing the mouth fold, fold depth (0..1), band mask."""
    x, y = base[:, 0], base[:, 1]
    s = y - MOUTH_Y
    w = _mouth_weight(x) * _smoothstep(0.2, 0.5, base[:, 2] / HEAD_FRONT)
    reach = 0.016  # the closing of the fold fades out within this distance of the mouth line
    a, g = np.abs(s), 0.5 * MOUTH_GAP
    closed = np.sign(s) * np.where(a < MOUTH_FOLD, g * a / MOUTH_FOLD,
                                   np.where(a < reach, g + (a - MOUTH_FOLD) * (reach - g) / (reach - MOUTH_FOLD), a))
    y_feat = MOUTH_Y + (1 - w) * s + w * closed
    fold = w * np.clip(1 - (s / MOUTH_FOLD) ** 2, 0, 1)
    band = (np.abs(s) < MOUTH_FOLD) & (np.abs(x) < MOUTH_W - 0.004) & (base[:, 2] > 0.03)
    return x, y_feat, fold, band


def _nose_relief(x, y):
    """Height (toward the viewer) of the nose: bridge, tip, alae; and a dent at each nostril."""
    profile = _interp(-y, [(-0.012, 0.0), (-NOSE_TOP, 0.002), (0.0, 0.004), (0.012, 0.0095), (0.024, 0.0165),
                           (-NOSE_TIP - 0.002, 0.0225), (-NOSE_TIP, 0.0235), (0.036, 0.021), (0.040, 0.0145),
                           (0.0435, 0.006), (-SUBNASALE, 0.0), (0.05, 0.0)])
    half = _interp(-y, [(-0.012, 0.0065), (0.0, 0.0065), (0.02, 0.0085), (-NOSE_TIP, 0.0105), (0.040, 0.0105),
                        (0.046, 0.0095)])
    t = np.clip(np.abs(x) / half, 0, 1)
    ridge = profile * (1 - t**2) ** 1.6
    alae = 0.0085 * np.exp(-((np.abs(x) - 0.0135) / 0.0050) ** 2 - ((y + 0.0375) / 0.0050) ** 2)
    nostril = -0.0022 * _gauss(np.abs(x), y, 0.0068, SUBNASALE + 0.003, 0.0022, 0.0014)
    return np.maximum(ridge, alae) + nostril


def _lip_relief(x, y):
    upper, lower = _lip_heights(x)
    s = y - MOUTH_Y
    w = _mouth_weight(x)
    up = 0.0050 * w * np.clip(1 - ((s - 0.45 * upper) / np.maximum(0.65 * upper, 1e-4)) ** 2, 0, 1) ** 0.6
    down = 0.0060 * w * np.clip(1 - ((s + 0.5 * lower) / np.maximum(0.65 * lower, 1e-4)) ** 2, 0, 1) ** 0.6
    philtrum = 0.0035 * _gauss(x, y, 0, MOUTH_Y + 0.018, 0.012, 0.010)
    muzzle = 0.0075 * _gauss(x, y, 0, MOUTH_Y, 0.030, 0.020)  # the teeth arch under lips and cheeks
    sulcus = -0.0022 * _gauss(x, y, 0, MOUTH_Y - 0.0165, 0.016, 0.0035)
    chin = 0.0085 * _gauss(x, y, 0, CHIN_Y + 0.020, 0.017, 0.014)
    return up + down + philtrum + muzzle + sulcus + chin


def _eye_relief(x, y):
    """Sockets, eyeballs and lids: (height, opening mask)."""
    ax = np.abs(x)
    u, corner, upper, lower = _eye_opening(ax, y)
    r2 = (ax - EYE_X) ** 2 + (y - corner) ** 2
    ball = np.sqrt(np.clip(0.0125**2 - r2, 0, None)) - 0.0125  # eyeball cap, 0 at its front
    lid = np.sqrt(np.clip(0.0142**2 - r2, 0, None)) - 0.0125  # the lids: 1.7 mm in front of the eyeball
    opening = (np.abs(u) < 1) & (y < upper) & (y > lower)
    near = _gauss(ax, y, EYE_X, 0.0, 0.017, 0.011)  # where the lids cover the eyeball's curve
    socket = -0.0115 * _gauss(ax, y, EYE_X - 0.002, 0.003, 0.019, 0.013)
    brow_ridge = 0.0045 * _gauss(ax, y, 0.032, 0.022, 0.026, 0.008)
    cheekbone = 0.0055 * _gauss(ax, y, 0.046, -0.024, 0.014, 0.011)
    shape = np.where(opening, ball, np.maximum(lid, -0.0125 + 0.0017))
    return socket + brow_ridge + cheekbone + near * (shape + 0.0125) + 0.0005, opening


def _ear_relief(base):
    """Outward (along X) height of the ears: a rim around a hollow concha, on each side of the head."""
    x, y, z = base[:, 0], base[:, 1], base[:, 2]
    ey, ez = (y + 0.012) / 0.031, (z + 0.006) / 0.019
    r = np.sqrt(ey**2 + ez**2)
    ear = 0.016 * np.clip(1 - r**2, 0, 1) ** 0.5 - 0.007 * np.clip(1 - (r / 0.55) ** 2, 0, 1)
    return ear * _smoothstep(0.04, 0.06, np.abs(x))


def _hair_weight(base):
    """(V,) 0 (skin) .. 1 (hair) on the scalp, with a soft hairline a few millimetres wide."""
    lon = np.arctan2(base[:, 0], base[:, 2])
    line = _interp(np.abs(lon), [(0.0, 0.072), (0.55, 0.066), (0.95, 0.045), (1.25, 0.030), (1.45, 0.030),
                                 (1.75, 0.026), (2.3, -0.050), (np.pi, -0.060)])
    return _smoothstep(line - 0.003, line + 0.005, base[:, 1])


@functools.lru_cache(maxsize=1)
def _build() -> "_Build":
    """The one (deterministic) build, shared by :func:`demo_head` and :func:`demo_truth`; read it, never write."""
    return _Build()


class _Build:
    """Everything the model, its truth and its paint are made from."""

    def __init__(self):
        self.lon, self.lat = _grid()
        base = _base(self.lon, self.lat)
        front = _smoothstep(0.015, 0.045, base[:, 2])  # features live on the front of the head
        x, y_feat, fold, band = _feature_coords(base)
        eye_h, opening = _eye_relief(x, y_feat)
        relief = front * (eye_h + _nose_relief(x, y_feat) + _lip_relief(x, y_feat))
        vertices = base.copy()
        vertices[:, 1] = np.where(front > 0, y_feat, base[:, 1])
        vertices[:, 2] += relief - 0.012 * fold * front
        ear = _ear_relief(base)
        vertices[:, 0] += np.sign(x) * ear
        self.ear = ear > 0.0005
        self.base, self.vertices, self.front = base, vertices, front
        self.x, self.y = x, y_feat
        self.band, self.opening = band & (front > 0.5), opening & (front > 0.5)

    def regions(self) -> dict[str, np.ndarray]:
        """Boolean vertex masks of the 8 parts, by construction."""
        x, y, ax = self.x, self.y, np.abs(self.x)
        on_face = self.front > 0.5
        eye = self.opening
        inside_brow = (ax > BROW_X[0]) & (ax < BROW_X[1])
        lo, hi = _interp(ax, BROW_LOW), _interp(ax, BROW_HIGH)
        brow = on_face & inside_brow & (y > lo) & (y < hi)
        hull = np.asarray(NOSE_HULL)
        nose = on_face & _inside_convex(np.stack([ax, y], -1), np.concatenate([hull, hull[::-1] * [-1, 1]]))
        upper, lower = _lip_heights(x)
        s = y - MOUTH_Y
        lips = on_face & ~self.band & (ax < MOUTH_W)
        up_lip = lips & (s >= 0) & (s < upper)
        down_lip = lips & (s < 0) & (s > -lower)
        # the face: below the brows' upper edge, in front of the ears, above the jaw's lower edge
        azimuth = np.arctan2(np.abs(self.base[:, 0]), self.base[:, 2])
        top = np.where(azimuth < TEMPLE_LINE[0][0], _interp(ax, SKIN_TOP), _interp(azimuth, TEMPLE_LINE))
        face = ((self.base[:, 1] > _interp(azimuth, JAW_LINE)) & (self.base[:, 2] > FACE_BACK) & (y < top)
                & ~self.ear)
        r = {"left_eye": eye & (x > 0), "right_eye": eye & (x < 0),
             "left_eyebrow": brow & (x > 0), "right_eyebrow": brow & (x < 0),
             "nose": nose & ~eye, "up_lip": up_lip, "down_lip": down_lip}
        taken = np.any(np.stack(list(r.values())), axis=0) | self.band
        r["skin"] = face & ~taken
        return r


def _inside_convex(points, polygon):
    """(N,) bool: points (N, 2) inside the convex polygon (K, 2), either winding."""
    a = polygon
    b = np.roll(polygon, -1, axis=0)
    cross = ((b[:, 0] - a[:, 0])[None] * (points[:, 1:2] - a[None, :, 1])
             - (b[:, 1] - a[:, 1])[None] * (points[:, 0:1] - a[None, :, 0]))
    return np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)


def demo_truth(parts: PartTable | None = None) -> np.ndarray:
    """(V,) int64 true part id of each demo vertex (-1 for no part: forehead, scalp, ears, neck, mouth)."""
    parts = parts or PartTable.paper()
    regions = _build().regions()
    labels = np.full(len(regions["skin"]), -1, np.int64)
    for name, mask in regions.items():
        if name in parts.names:
            labels[mask] = parts.index(name)
    return labels


def _paint(build: _Build, regions: dict[str, np.ndarray]) -> np.ndarray:
    skin = np.array([0.86, 0.67, 0.56])
    albedo = np.tile(skin, (len(build.x), 1))
    y, ax = build.y, np.abs(build.x)
    blush = _gauss(ax, y, 0.045, -0.035, 0.015, 0.015)[:, None] * build.front[:, None]
    albedo = albedo * (1 - 0.10 * blush) + 0.10 * blush * np.array([0.90, 0.50, 0.45])
    hair = _hair_weight(build.base)[:, None]
    albedo = (1 - hair) * albedo + hair * np.array([0.17, 0.12, 0.09])
    albedo[regions["left_eyebrow"] | regions["right_eyebrow"]] = [0.24, 0.16, 0.11]
    albedo[regions["up_lip"] | regions["down_lip"]] = [0.74, 0.33, 0.33]
    albedo[build.band] = [0.30, 0.09, 0.09]
    eye = build.opening
    _, corner, _, _ = _eye_opening(ax, y)
    r = np.sqrt((ax - EYE_X) ** 2 + (y - corner) ** 2)
    albedo[eye] = [0.93, 0.92, 0.89]
    albedo[eye & (r < IRIS_R)] = [0.33, 0.22, 0.13]
    albedo[eye & (r < PUPIL_R)] = [0.04, 0.03, 0.03]
    nostril = (((ax - 0.0068) / 0.0030) ** 2 + ((y - SUBNASALE - 0.0028) / 0.0018) ** 2 < 1) & (build.front > 0.5)
    albedo[nostril] = [0.28, 0.14, 0.12]
    return albedo


def _identity_modes(build: _Build) -> np.ndarray:
    """(6, V, 3) smooth warps of the mean shape, one std dev each (a few millimetres)."""
    v = build.vertices
    x, y, z = v[:, 0], v[:, 1], v[:, 2]
    zero = np.zeros_like(x)
    nose = _nose_relief(build.x, build.y) * build.front
    chin = _smoothstep(-0.07, -0.115, y) * build.front
    eyes = _gauss(np.abs(x), y, EYE_X, 0.0, 0.02, 0.02)
    return np.stack([
        np.stack([0.07 * x, zero, zero], -1),  # width
        np.stack([zero, 0.06 * y, zero], -1),  # height
        np.stack([zero, zero, 0.06 * z], -1),  # depth
        np.stack([0.10 * x * _smoothstep(0.0, 0.006, nose), zero, 0.22 * nose], -1),  # nose size
        np.stack([zero, -0.005 * chin, 0.004 * chin], -1),  # chin length and projection
        np.stack([0.0025 * _side(x) * eyes, zero, zero], -1),  # eye spacing
    ])


def _expressions(build: _Build) -> np.ndarray:
    """(6, V, 3) blend-shape displacements at weight 1."""
    v = build.vertices
    x, y = build.x, build.y
    ax, front = np.abs(x), build.front
    n = len(x)
    base_s = build.base[:, 1] - MOUTH_Y  # grid height above the mouth line (the fold opens along it)

    # jaw open: everything below the mouth turns about the jaw hinge; the fold stretches into a mouth
    reach = np.where(ax < MOUTH_W, MOUTH_FOLD, MOUTH_FOLD + 0.03 * _smoothstep(MOUTH_W, MOUTH_W + 0.02, ax))
    below = _smoothstep(reach, -reach, base_s) * (1 - _smoothstep(0.05, 0.075, ax))
    below *= _smoothstep(0.01, 0.045, build.base[:, 2]) * _smoothstep(CHIN_Y - 0.03, CHIN_Y, build.base[:, 1])
    theta = 0.16
    jaw = np.stack([np.zeros(n), -theta * (v[:, 2] + 0.01), theta * (v[:, 1] + 0.01) * 0.6], -1) * below[:, None]

    corners = _gauss(ax, y, MOUTH_W, MOUTH_Y, 0.010, 0.010) * front
    smile = corners[:, None] * np.stack([0.004 * _side(x), 0.005 * np.ones(n), -0.002 * np.ones(n)], -1)

    blink = []
    u, corner, upper, lower = _eye_opening(ax, y)
    # the upper lid comes down over the opening (a little past the lower lid, so no gap is left), rows above
    # the margin follow less and less up to the crease; the eyeball's front goes back and down behind it
    lid_drop = (upper - lower) + 0.0012 * np.clip(1 - u**2, 0, None)
    above = (y >= upper) * np.clip(1 - (y - upper - 0.0015) / 0.008, 0, 1)
    for side in (1, -1):
        in_eye = (np.abs(u) < 1.15) & (np.sign(x) == side) & (front > 0.5)
        down = np.where(build.opening, y - lower, lid_drop * above) * in_eye
        back = np.where(build.opening, 0.005, 0.0) * in_eye
        blink.append(np.stack([np.zeros(n), -down, -back], -1))

    brow_band = _gauss(ax, y, 0.036, 0.022, 0.028, 0.012) * front
    raise_ = np.stack([np.zeros(n), 0.006 * brow_band, np.zeros(n)], -1)
    frown = np.stack([-0.003 * _side(x) * brow_band, -0.004 * brow_band, 0.001 * brow_band], -1)
    return np.stack([jaw, smile, blink[0], blink[1], raise_, frown])


def _landmarks68(build: _Build) -> np.ndarray:
    """(68,) vertex ids of the iBUG 68 points, placed on the constructed features (subject's right first)."""
    x, y = build.x, build.y
    base = build.base
    face = (build.front > 0.5) & ~build.band
    azimuth = np.arctan2(base[:, 0], base[:, 2])

    def nearest(px, py, where=face):
        idx = np.flatnonzero(where)
        return int(idx[np.argmin((x[idx] - px) ** 2 + (y[idx] - py) ** 2)])

    jaw_side = ((1.40, 0.000), (1.40, -0.020), (1.36, -0.040), (1.26, -0.062), (1.10, -0.078), (0.85, -0.090),
                (0.55, -0.098), (0.28, -0.104))
    side = base[:, 2] > FACE_BACK
    jaw = []
    for a, jy in [(-a, jy) for a, jy in jaw_side] + [(0.0, -0.106)] + list(jaw_side[::-1]):
        idx = np.flatnonzero(side & (np.abs(azimuth - a) < 0.06))
        jaw.append(int(idx[np.argmin(np.abs(base[idx, 1] - jy))]))
    brow_x = np.linspace(BROW_X[1] - 0.002, BROW_X[0] + 0.002, 5)  # outer -> inner
    brow_y = _interp(brow_x, BROW_HIGH) - 0.002
    brows = [nearest(-bx, by) for bx, by in zip(brow_x, brow_y)] + [nearest(bx, by) for bx, by in
                                                                      zip(brow_x[::-1], brow_y[::-1])]
    nose = [nearest(0, NOSE_TOP - 0.004), nearest(0, -0.011), nearest(0, -0.022), nearest(0, NOSE_TIP)]
    nose += [nearest(sx, SUBNASALE + 0.0015) for sx in (-0.010, -0.005, 0.0, 0.005, 0.010)]

    def eye(sign):
        pts = []
        for u, edge in ((1, 0), (0.35, 1), (-0.35, 1), (-1, 0), (-0.35, -1), (0.35, -1)):  # outer, upper, inner, lower
            ex = EYE_X + u * EYE_W * 0.97
            _, corner, upper, lower = _eye_opening(np.abs(ex), 0.0)
            pts.append(nearest(sign * ex, {0: corner, 1: upper, -1: lower}[edge]))
        return pts if sign < 0 else [pts[i] for i in (3, 2, 1, 0, 5, 4)]  # left eye starts at its inner corner

    up, low = _lip_heights(np.array([0.0, 0.008, 0.016]))
    up, low = 0.85 * up, 0.85 * low  # on the lips, just inside their outer edge
    outer = ([nearest(-MOUTH_W + 0.002, MOUTH_Y + 0.001)] + [nearest(sx * px, MOUTH_Y + h) for sx, px, h in
                                            ((-1, 0.016, up[2]), (-1, 0.008, up[1]), (1, 0.0, up[0]),
                                             (1, 0.008, up[1]), (1, 0.016, up[2]))]
             + [nearest(MOUTH_W - 0.002, MOUTH_Y + 0.001)] + [nearest(sx * px, MOUTH_Y - h) for sx, px, h in
                                             ((1, 0.016, low[2]), (1, 0.008, low[1]), (1, 0.0, low[0]),
                                              (-1, 0.008, low[1]), (-1, 0.016, low[2]))])
    g = 0.5 * MOUTH_GAP + 0.0004
    inner = ([nearest(-MOUTH_W + 0.003, MOUTH_Y)] + [nearest(px, MOUTH_Y + g) for px in (-0.010, 0.0, 0.010)]
             + [nearest(MOUTH_W - 0.003, MOUTH_Y)] + [nearest(px, MOUTH_Y - g) for px in (0.010, 0.0, -0.010)])
    out = jaw + brows + nose + eye(-1) + eye(1) + outer + inner
    assert len(out) == 68
    return np.asarray(out, np.int64)


def demo_head() -> FaceModel:
    """Build the synthetic demo head (deterministic, no file)."""
    build = _build()
    regions = build.regions()
    albedo = _paint(build, regions)
    lips = (regions["up_lip"] | regions["down_lip"]).astype(np.float32)[:, None]
    brows = (regions["left_eyebrow"] | regions["right_eyebrow"]).astype(np.float32)[:, None]
    skin_like = (1 - _hair_weight(build.base)) * ~build.opening
    tone = tone_basis(albedo) * skin_like[None, :, None]
    albedo_basis = np.concatenate([tone, [lips * [0.07, -0.04, -0.03]], [brows * [0.05, 0.04, 0.03]]])
    return FaceModel(
        name="demo",
        vertices=build.vertices,
        triangles=_triangles(),
        identity_basis=_identity_modes(build),
        expression_basis=_expressions(build),
        expression_kind="blendshape",
        expression_names=EXPRESSIONS,
        albedo=albedo,
        albedo_basis=albedo_basis,
        landmarks68=_landmarks68(build),
        meta={"format": "demo (built-in synthetic head)", "units": "m", "path": "demo"},
    )


def is_demo(model: FaceModel) -> bool:
    """True for the built-in demo head (whose truth :func:`demo_truth` knows)."""
    return str(model.meta.get("format", "")).startswith("demo") and model.n_vertices == len(demo_truth())
