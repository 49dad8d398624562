"""The built-in ``demo`` model: a synthetic morphable head with a known part labelling.

facepart generates it itself (no file, no download). It is a demo and a test
fixture, not a face model for research: a deformed ellipsoid with a nose, brow
ridges, eye sockets and lips, ~6.4k vertices, 6 identity modes, 6 expression
blend shapes (jaw open, smile, blink left/right, brow raise, frown), 3 albedo
modes, and the 8 paper parts by construction (``demo_truth()``).

Surface coordinates: longitude ``lon`` (0 = front, > 0 toward the subject's
left, +x) and latitude ``lat`` (> 0 up), both in radians.
"""

from __future__ import annotations

import numpy as np

from .face_model import FaceModel
from .parts import PartTable

N_LON, N_LAT = 100, 64
RADII = np.array([0.075, 0.105, 0.092])  # metres: half width, half height, half depth

EXPRESSIONS = ("jawOpen", "mouthSmile", "eyeBlink_L", "eyeBlink_R", "browRaise", "browFrown")


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Longitude/latitude of the vertices, denser on the face; (V,) each, poles last."""
    u = np.linspace(-1, 1, N_LON, endpoint=False)
    lon = np.pi * (0.35 * u + 0.65 * u**3)
    w = np.linspace(-1, 1, N_LAT + 2)[1:-1]
    lat = 0.5 * np.pi * (0.45 * w + 0.55 * w**3)
    lon_g, lat_g = np.meshgrid(lon, lat)  # (N_LAT, N_LON)
    lon_all = np.concatenate([lon_g.ravel(), [0.0, 0.0]])
    lat_all = np.concatenate([lat_g.ravel(), [-np.pi / 2, np.pi / 2]])
    return lon_all, lat_all


def _triangles() -> np.ndarray:
    idx = np.arange(N_LAT * N_LON).reshape(N_LAT, N_LON)
    right = np.roll(idx, -1, axis=1)
    a, b, c, d = idx[:-1], right[:-1], idx[1:], right[1:]
    quads = np.stack([np.stack([a, b, d], -1), np.stack([a, d, c], -1)], axis=2).reshape(-1, 3)
    south, north = N_LAT * N_LON, N_LAT * N_LON + 1
    bottom = np.stack([np.full(N_LON, south), idx[0][::-1], np.roll(idx[0][::-1], -1)], -1)
    top = np.stack([np.full(N_LON, north), idx[-1], np.roll(idx[-1], -1)], -1)
    return np.concatenate([quads, bottom, top]).astype(np.int64)


def _bump(lon, lat, c_lon, c_lat, s_lon, s_lat):
    return np.exp(-0.5 * (((lon - c_lon) / s_lon) ** 2 + ((lat - c_lat) / s_lat) ** 2))


def _ellipse(lon, lat, c_lon, c_lat, r_lon, r_lat):
    return ((lon - c_lon) / r_lon) ** 2 + ((lat - c_lat) / r_lat) ** 2 <= 1.0


def _relief(lon, lat) -> np.ndarray:
    """Radial offset (metres) that carves the face features into the ellipsoid."""
    front = np.cos(np.clip(lon, -np.pi / 2, np.pi / 2)) ** 2
    nose_ridge = 0.022 * _bump(lon, lat, 0.0, -0.02, 0.07, 0.14) + 0.008 * _bump(lon, lat, 0.0, 0.12, 0.05, 0.06)
    alae = 0.006 * (_bump(lon, lat, 0.12, -0.12, 0.05, 0.04) + _bump(lon, lat, -0.12, -0.12, 0.05, 0.04))
    sockets = -0.008 * (_bump(lon, lat, 0.38, 0.12, 0.13, 0.07) + _bump(lon, lat, -0.38, 0.12, 0.13, 0.07))
    brows = 0.004 * (_bump(lon, lat, 0.38, 0.26, 0.16, 0.03) + _bump(lon, lat, -0.38, 0.26, 0.16, 0.03))
    lips = 0.006 * _bump(lon, lat, 0.0, -0.33, 0.22, 0.03) + 0.005 * _bump(lon, lat, 0.0, -0.41, 0.2, 0.03)
    mouth_line = -0.002 * _bump(lon, lat, 0.0, -0.365, 0.25, 0.008)
    chin = 0.008 * _bump(lon, lat, 0.0, -0.62, 0.25, 0.1)
    return front * (nose_ridge + alae + sockets + brows + lips + mouth_line + chin)


def _surface(lon, lat, radii=RADII) -> np.ndarray:
    d = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], -1)
    return d * (np.asarray(radii) + _relief(lon, lat)[:, None] * 1.0)


def _regions(lon, lat) -> dict[str, np.ndarray]:
    """Boolean vertex masks of the 8 parts, by construction."""
    nose_half_width = 0.05 + 0.2 * np.clip(0.2 - lat, 0, None)
    r = {
        "left_eye": _ellipse(lon, lat, 0.38, 0.12, 0.15, 0.055),
        "right_eye": _ellipse(lon, lat, -0.38, 0.12, 0.15, 0.055),
        "left_eyebrow": (np.abs(lat - 0.26 - 0.04 * np.cos((lon - 0.38) * 4)) < 0.03) & (np.abs(lon - 0.38) < 0.2),
        "right_eyebrow": (np.abs(lat - 0.26 - 0.04 * np.cos((lon + 0.38) * 4)) < 0.03) & (np.abs(lon + 0.38) < 0.2),
        "nose": (lat < 0.2) & (lat > -0.2) & (np.abs(lon) < nose_half_width),
        "up_lip": (lat >= -0.365) & (lat < -0.3 - 0.1 * lon**2) & (np.abs(lon) < 0.3),
        "down_lip": (lat < -0.365) & (lat > -0.44 + 0.2 * lon**2) & (np.abs(lon) < 0.3),
    }
    face = (np.abs(lon) < 1.05) & (lat > -0.85 + 0.25 * lon**2) & (lat < 0.62)
    r["skin"] = face & ~np.any(np.stack(list(r.values())), axis=0)
    return r


def demo_truth(parts: PartTable | None = None) -> np.ndarray:
    """(V,) int64 true part id of each demo vertex (-1 outside the face: scalp, back, neck)."""
    parts = parts or PartTable.paper()
    lon, lat = _grid()
    labels = np.full(lon.shape, -1, np.int64)
    for name, mask in _regions(lon, lat).items():
        if name in parts.names:
            labels[mask] = parts.index(name)
    return labels


def demo_head() -> FaceModel:
    """Build the synthetic demo head (deterministic)."""
    lon, lat = _grid()
    base = _surface(lon, lat)
    regions = _regions(lon, lat)

    # identity modes: one std dev each, a few millimetres
    ident = [
        _surface(lon, lat, RADII * [1.08, 1, 1]) - base,  # width
        _surface(lon, lat, RADII * [1, 1.07, 1]) - base,  # height
        _surface(lon, lat, RADII * [1, 1, 1.07]) - base,  # depth
    ]
    radial = base / np.linalg.norm(base, axis=1, keepdims=True)
    ident.append(radial * 0.006 * _bump(lon, lat, 0.0, -0.02, 0.07, 0.14)[:, None])  # nose size
    ident.append(radial * 0.004 * _bump(lon, lat, 0.0, -0.62, 0.35, 0.12)[:, None])  # chin
    ident.append(np.stack([np.zeros_like(lon), 0.005 * _bump(lon, lat, 0, -0.38, 0.3, 0.1), np.zeros_like(lon)], -1))

    # expressions: blend-shape displacements at weight 1
    up = np.array([0.0, 1.0, 0.0])
    below_mouth = np.clip((-0.365 - lat) / 0.05, 0, 1) * (np.abs(lon) < 0.9) * np.cos(np.clip(lon, -1.5, 1.5))
    jaw = -0.018 * below_mouth[:, None] * up + radial * 0.0 * below_mouth[:, None]
    corners = _bump(lon, lat, 0.3, -0.365, 0.12, 0.06) + _bump(lon, lat, -0.3, -0.365, 0.12, 0.06)
    smile = corners[:, None] * (0.006 * up + 0.004 * np.stack([np.sign(lon), 0 * lon, 0 * lon], -1))
    blink = []
    for side in (0.38, -0.38):
        eye = _bump(lon, lat, side, 0.14, 0.13, 0.05) * (lat > 0.10)
        blink.append(-0.006 * eye[:, None] * up)
    brow_band = _bump(lon, lat, 0.38, 0.26, 0.2, 0.06) + _bump(lon, lat, -0.38, 0.26, 0.2, 0.06)
    raise_ = 0.006 * brow_band[:, None] * up
    frown = -0.004 * brow_band[:, None] * up + 0.003 * brow_band[:, None] * np.stack([-np.sign(lon), 0 * lon, 0 * lon], -1)
    expr = [jaw, smile, blink[0], blink[1], raise_, frown]

    # albedo: skin with darker brows, red lips, white eyes with dark irises
    albedo = np.tile(np.array([0.85, 0.66, 0.55]), (len(lon), 1))
    albedo[regions["left_eyebrow"] | regions["right_eyebrow"]] = [0.25, 0.17, 0.12]
    albedo[regions["up_lip"] | regions["down_lip"]] = [0.75, 0.35, 0.35]
    for name, side in (("left_eye", 0.38), ("right_eye", -0.38)):
        albedo[regions[name]] = [0.92, 0.92, 0.9]
        albedo[_ellipse(lon, lat, side, 0.12, 0.05, 0.05)] = [0.2, 0.15, 0.1]
    hair = (lat > 0.62) | (np.abs(lon) > 1.9)
    albedo[hair] = [0.2, 0.15, 0.1]
    lip = (regions["up_lip"] | regions["down_lip"]).astype(float)[:, None]
    brow = (regions["left_eyebrow"] | regions["right_eyebrow"]).astype(float)[:, None]
    tone = ~hair[:, None] * np.array([0.08, 0.07, 0.06])
    albedo_basis = np.stack([tone * np.ones_like(albedo), lip * [0.08, -0.04, -0.04], brow * [0.05, 0.04, 0.03]])

    return FaceModel(
        name="demo",
        vertices=base,
        triangles=_triangles(),
        identity_basis=np.stack(ident),
        expression_basis=np.stack(expr),
        expression_kind="blendshape",
        expression_names=EXPRESSIONS,
        albedo=albedo,
        albedo_basis=albedo_basis,
        meta={"format": "demo (built-in synthetic head)", "units": "m", "path": "demo"},
    )
