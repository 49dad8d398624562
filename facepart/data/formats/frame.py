"""Frame and winding: bring a model into facepart's frame (+x subject's left, +y up, +z toward the viewer,
metres, outward winding), checked with its 68 landmarks."""

from __future__ import annotations

import numpy as np

from ...errors import FacepartError

#: Metres per unit.
UNIT_SCALE = {"m": 1.0, "dm": 0.1, "cm": 0.01, "mm": 1e-3, "um": 1e-6, "in": 0.0254}


def guess_unit(extent: float) -> str:
    """The unit under which a head of this bounding-box size is 8 cm to 80 cm across ("m" if none fits)."""
    for unit in ("m", "dm", "cm", "mm", "um"):
        if 0.08 <= extent * UNIT_SCALE[unit] <= 0.8:
            return unit
    return "m"


def outward_flux(vertices: np.ndarray, triangles_: np.ndarray) -> float:
    """Sum over triangles of (area-weighted normal) . (centroid - mesh centre); > 0 for outward winding."""
    v = np.asarray(vertices, np.float64)
    a, b, c = v[triangles_[:, 0]], v[triangles_[:, 1]], v[triangles_[:, 2]]
    normals = np.cross(b - a, c - a)
    centre = v[np.unique(triangles_)].mean(axis=0)
    return float(np.einsum("ij,ij->", normals, (a + b + c) / 3.0 - centre))


def orient_outward(vertices: np.ndarray, triangles_: np.ndarray, notes: list[str],
                   why: str = "the file disagreed with its documented winding") -> np.ndarray:
    """Reverse the winding if it points inward (renders would shade the face from behind and drop every vote
    as back-facing); note it, with ``why``."""
    if len(triangles_) and outward_flux(vertices, triangles_) < 0:
        notes.append(f"triangle winding reversed so that normals face outward ({why})")
        return triangles_[:, [0, 2, 1]]
    return triangles_


#: Axis names a file's up and front directions may be given as.
AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def parse_axis(text: str, what: str) -> np.ndarray:
    """(3,) unit vector of an axis name: x, y, z, +x, ..., -z. One line for anything else."""
    name = str(text).strip().lower()
    sign, axis = (-1.0, name[1:]) if name.startswith("-") else (1.0, name.removeprefix("+"))
    if axis not in AXES:
        raise FacepartError(f"{what}: expected an axis (x, y, z, -x, -y or -z), got '{text}'")
    return sign * np.asarray(AXES[axis])


def axes_rotation(up: str = "y", front: str = "z") -> np.ndarray:
    """(3, 3) rotation taking a file whose head points ``up`` and whose face looks along ``front`` into
    facepart's frame (+y up, +z toward the viewer, +x = up x front, the subject's left): ``v @ R.T``."""
    u, f = parse_axis(up, "up"), parse_axis(front, "front")
    if abs(float(u @ f)) > 0.5:
        raise FacepartError(f"up ({up}) and front ({front}) must be different axes, not the same or opposite "
                            "(one not given is up=y or front=z: give both, e.g. -O up=z -O front=-y)")
    return np.stack([np.cross(u, f), u, f])


#: 0-based iBUG 68 indices used to check a frame.
RIGHT_EYE_OUTER, LEFT_EYE_OUTER, NOSE_TIP, CHIN = 36, 45, 30, 8


def landmark_axes(vertices: np.ndarray, landmarks68: np.ndarray) -> np.ndarray | None:
    """(3, 3) rows: the model's subject-left, up and forward directions estimated from 68 landmarks."""
    lm = np.asarray(landmarks68)
    if lm.shape != (68,):
        return None
    v = np.asarray(vertices, np.float64)
    r, l, nose, chin = v[lm[RIGHT_EYE_OUTER]], v[lm[LEFT_EYE_OUTER]], v[lm[NOSE_TIP]], v[lm[CHIN]]
    ex = l - r
    ey = (l + r) / 2 - chin
    if np.linalg.norm(ex) < 1e-12 or np.linalg.norm(ey) < 1e-12:
        return None
    ex = ex / np.linalg.norm(ex)
    ey = ey - ex * (ey @ ex)
    if np.linalg.norm(ey) < 1e-12:
        return None
    ey /= np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    if (nose - (l + r) / 2) @ ez < 0:  # nose behind the eyes: the landmarks describe a mirrored face
        ez = -ez
    return np.stack([ex, ey, ez])


def frame_rotation(vertices: np.ndarray, landmarks68: np.ndarray | None, notes: list[str],
                   fix: bool) -> np.ndarray | None:
    """Check the axes with 68 landmarks (right eye at -x, up +y, nose toward +z); the (3, 3) rotation to apply, or None.

    Only whole-axis rotations (multiples of 90 degrees) are returned, and only
    when the landmarks say so clearly; a model that is merely tilted is kept.
    With ``fix`` False a disagreement is only noted.
    """
    axes = None if landmarks68 is None else landmark_axes(vertices, landmarks68)
    if axes is None:
        return None
    snapped = np.zeros((3, 3))
    for i in range(3):
        j = int(np.argmax(np.abs(axes[i])))
        snapped[i, j] = np.sign(axes[i, j])
    clear = bool(np.all(np.abs(axes).max(axis=1) > 0.8)) and abs(abs(np.linalg.det(snapped)) - 1) < 1e-6
    if not clear or np.allclose(snapped, np.eye(3)):
        return None
    if np.linalg.det(snapped) < 0:
        notes.append("warning: the 68 landmarks describe a mirrored face (left and right swapped); axes kept")
        return None
    if not fix:
        notes.append("warning: the 68 landmarks suggest other axes than documented (+x subject's left, +y up, "
                     "+z toward the viewer); the model was kept as documented")
        return None
    notes.append("axes rotated into facepart's frame by the 68 landmarks (the file's documented axes disagreed)")
    return snapped


def rotate(arr: np.ndarray | None, rot: np.ndarray | None):
    """Apply a (3, 3) rotation to (..., 3) points or basis vectors (None passes through)."""
    if arr is None or rot is None:
        return arr
    return (np.asarray(arr) @ rot.T).astype(np.asarray(arr).dtype)


def plausible_unit(extent: float, declared: str, notes: list[str]) -> str:
    """``declared`` unless the model would then not be head-sized (8 cm to 80 cm); then a guessed unit."""
    if 0.08 <= extent * UNIT_SCALE[declared] <= 0.8 or extent == 0:
        return declared
    unit = guess_unit(extent)
    notes.append(f"the model is {extent:g} units across, not head-sized in {declared}; read as {unit}")
    return unit
