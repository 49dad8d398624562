"""FLAME 2020 / 2023 ``generic_model.pkl`` / ``flame2023.pkl``, without chumpy, and ``FLAME_masks.pkl``.

``generic_model.pkl`` is a Python 2 pickle of a dict (formats.md 2f), read with
the restricted unpickler (chumpy arrays become numpy arrays):

============  =============  ====================================================
key           shape          meaning
============  =============  ====================================================
v_template    (5023, 3)      mean shape, metres
f             (9976, 3)      triangles, 0-based
shapedirs     (5023, 3, 400) 300 identity then 100 expression components
                             (chumpy), coefficient ~ N(0, 1)
posedirs      (5023, 3, 36)  pose correctives of the 4 non-root joints
J_regressor   (5, 5023)      scipy.sparse: joints from vertices
weights       (5023, 5)      skinning weights
kintree_table (2, 5)         row 0: parent of each joint (root, neck, jaw, eyes)
============  =============  ====================================================

Axes: FLAME's common convention (+y up, +z toward the viewer, +x the
subject's left) is the one facepart uses; it is assumed, not documented.

Options: ``n_shape`` (identity components, default 300); ``jaw_open``
(radians): pose the model with the jaw opened by linear blend skinning (the
bases are carried along to first order), e.g. to separate the lips; ``pose``:
the full pose, one axis-angle vector per joint in the file's order (root,
neck, jaw, eyes), e.g. ``-O 'pose=[[0,0,0],[0,0.3,0],[0.2,0,0],[0,0,0],[0,0,0]]'``;
``masks``: ``FLAME_masks.pkl`` (default: found beside the model), a dict of
region name -> vertex ids over the 5023 vertices, read as an existing region
set; its eyeballs get no votes. ``uv_obj``: FLAME's ``head_template.obj``
(default: found beside the model) for per-vertex UVs (``--texture``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError
from ..regions import RegionSet
from .arrays import floats, indices, integers, triangles
from .builder import make_model
from .containers import companion, fetch
from .pickle_cache import forget, pickled, pickled_keys
from .safe_pickle import load_pickle

EXPECTED = "a FLAME generic_model.pkl (a dict with v_template, f, shapedirs)"
REQUIRED = {"v_template", "f", "shapedirs"}
MASKS_NAMES = ("FLAME_masks.pkl",)
UV_NAMES = ("head_template.obj", "head_template_mesh.obj")
JAW = 2


def is_flame(path: Path) -> bool:
    return REQUIRED <= pickled_keys(path, (".pkl", ".pickle"))


def is_flame_masks(obj) -> bool:
    """A dict of region name -> integer index array (what FLAME_masks.pkl holds)."""
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(v, np.ndarray) and v.dtype.kind in "iu" for v in obj.values())


def read_masks(path: Path, n: int) -> RegionSet:
    """``FLAME_masks.pkl`` as a region set over ``n`` vertices."""
    data = load_pickle(path)
    if not isinstance(data, dict) or not data:
        raise FacepartError(f"{path}: expected FLAME_masks.pkl, a dict of region name -> vertex indices")
    regions = {str(k): indices(v, path, str(k), n, 0).ravel() for k, v in data.items()}
    return RegionSet("FLAME_masks", regions, str(path))


# -- linear blend skinning (FLAME's kinematic tree) ------------------------------------------

def rodrigues(rvecs: np.ndarray) -> np.ndarray:
    """(J, 3) axis-angle vectors -> (J, 3, 3) rotation matrices."""
    rvecs = np.asarray(rvecs, np.float64).reshape(-1, 3)
    angle = np.linalg.norm(rvecs, axis=1, keepdims=True)
    axis = rvecs / np.maximum(angle, 1e-12)
    x, y, z = axis.T
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=1).reshape(-1, 3, 3)
    s, c = np.sin(angle)[:, :, None], np.cos(angle)[:, :, None]
    return np.eye(3)[None] + s * k + (1 - c) * (k @ k)


def skinning_transforms(vertices: np.ndarray, pose: np.ndarray, j_regressor: np.ndarray, weights: np.ndarray,
                        parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3, 3) and (V, 3): the per-vertex linear part and translation of linear blend skinning."""
    joints = j_regressor @ vertices
    rots = rodrigues(pose)
    n_j = len(parents)
    world = np.zeros((n_j, 4, 4))
    for j in range(n_j):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = joints[j] - (joints[parents[j]] if parents[j] >= 0 else 0)
        world[j] = local if parents[j] < 0 else world[parents[j]] @ local
    rel = world.copy()
    rel[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], joints)  # relative to the rest pose
    blend = np.einsum("vj,jab->vab", weights, rel)
    return blend[:, :3, :3], blend[:, :3, 3]


def pose_model(vertices: np.ndarray, bases: list, pose: np.ndarray, data: dict, path: Path):
    """Pose the mean shape (with pose correctives) and carry the bases along; returns (vertices, bases)."""
    n = len(vertices)
    for key in ("J_regressor", "weights", "kintree_table"):
        fetch(data, key, path, EXPECTED + " with its skinning data")
    jreg = data["J_regressor"]
    if hasattr(jreg, "toarray"):
        jreg = jreg.toarray()
    jreg = floats(jreg, path, "J_regressor")
    weights = floats(data["weights"], path, "weights")
    tree = integers(data["kintree_table"], path, "kintree_table")
    n_j = jreg.shape[0] if jreg.ndim == 2 else 0
    if jreg.shape != (n_j, n) or weights.shape != (n, n_j) or tree.shape != (2, n_j) or n_j <= JAW:
        raise FacepartError(f"{path}: inconsistent skinning data (J_regressor {jreg.shape}, weights {weights.shape}, "
                            f"kintree_table {tree.shape}) for {n} vertices")
    parents = tree[0].copy()
    parents[0] = -1
    if np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, n_j)):
        raise FacepartError(f"{path}: kintree_table must list each joint's parent before it")
    rots = rodrigues(pose)
    posed = vertices.copy()
    if "posedirs" in data:
        posedirs = floats(data["posedirs"], path, "posedirs")
        if posedirs.shape != (n, 3, 9 * (n_j - 1)):
            raise FacepartError(f"{path}: 'posedirs' must have shape ({n}, 3, {9 * (n_j - 1)}), got {posedirs.shape}")
        posed = posed + posedirs @ (rots[1:] - np.eye(3)).reshape(-1)
    linear, shift = skinning_transforms(vertices, pose, jreg, weights, parents)
    out = np.einsum("vab,vb->va", linear, posed) + shift
    carried = [None if b is None else np.einsum("vab,kvb->kva", linear, b).astype(np.float32) for b in bases]
    return out, carried


# -- loader -------------------------------------------------------------------------------------

def _vertex_uv(obj_path: Path, n: int, notes: list[str]) -> np.ndarray | None:
    from ..obj import read_obj, vertex_uv

    mesh = read_obj(obj_path)
    if len(mesh.vertices) != n:
        notes.append(f"{obj_path.name} has {len(mesh.vertices)} vertices, not {n}: its UVs are not used")
        return None
    uv = vertex_uv(mesh)
    if uv is None:
        notes.append(f"{obj_path.name} has no texture coordinates")
    return uv


def load_flame(path: str | Path, n_shape: int = 300, jaw_open: float = 0.0, pose=None,
               masks: str | Path | None = None, uv_obj: str | Path | None = None):
    """Load a FLAME ``generic_model.pkl`` (any FLAME release with this layout) into facepart's frame."""
    path = Path(path)
    notes: list[str] = ["FLAME axes assumed: +y up, +z toward the viewer, +x the subject's left"]
    try:
        data = pickled(path)
        for key in REQUIRED:
            fetch(data, key, path, EXPECTED)
        vertices = floats(data["v_template"], path, "v_template")
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
            raise FacepartError(f"{path}: 'v_template' must have shape (N, 3), got {vertices.shape}")
        vertices = vertices.astype(np.float64)
        n = len(vertices)
        tri = triangles(data["f"], path, "f", n, 0, notes)
        dirs = floats(data["shapedirs"], path, "shapedirs")
        if dirs.ndim != 3 or dirs.shape[:2] != (n, 3):
            raise FacepartError(f"{path}: 'shapedirs' must have shape ({n}, 3, K), got {dirs.shape}")
        if not isinstance(n_shape, int) or n_shape < 0:
            raise FacepartError(f"n_shape must be a non-negative whole number, got {n_shape!r}")
        basis = np.ascontiguousarray(dirs.transpose(2, 0, 1), dtype=np.float32)
        identity, expression = basis[:n_shape], basis[n_shape:]
        if not len(expression):
            notes.append(f"shapedirs has {len(basis)} components, all read as identity (n_shape={n_shape}); "
                         "no expressions")
        version = "2023" if "2023" in path.name else ("2020" if len(basis) == 400 else f"{len(basis)} components")
        if jaw_open or pose is not None:
            tree = integers(fetch(data, "kintree_table", path, EXPECTED + " with its skinning data"), path,
                            "kintree_table")
            if tree.ndim != 2 or tree.shape[0] != 2 or tree.shape[1] <= JAW:
                raise FacepartError(f"{path}: posing needs FLAME's skinning data: 'kintree_table' must have "
                                    f"shape (2, 5), got {tree.shape}")
            full = np.zeros((tree.shape[1], 3))
            if pose is not None:
                try:
                    given = np.asarray(pose, dtype=np.float64)
                except (TypeError, ValueError):
                    given = np.zeros(0)
                if given.shape != full.shape or not np.all(np.isfinite(given)):
                    raise FacepartError(f"option pose of the flame format expects {len(full)} axis-angle vectors "
                                        f"[[x, y, z], ...] (root, neck, jaw, eyes), got {pose!r}")
                full[:] = given
            full[JAW, 0] += float(jaw_open)
            vertices, (identity, expression) = pose_model(vertices, [identity, expression], full, data, path)
            notes.append(f"posed by linear blend skinning (jaw opened by {full[JAW, 0]:.3f} rad)")
    finally:
        forget()

    region_sets, vote_mask, eyeball_mask = [], None, None
    f_masks = companion(path, masks, MASKS_NAMES)
    if f_masks is not None:
        rs = read_masks(f_masks, n)
        region_sets.append(rs)
        eyeballs = [rs.regions[k] for k in ("left_eyeball", "right_eyeball") if k in rs.regions]
        if eyeballs:
            vote_mask = np.ones(n, bool)
            vote_mask[np.concatenate(eyeballs)] = False
            eyeball_mask = ~vote_mask
            notes.append("eyeball vertices (FLAME_masks) get only the eye parts seen through the lids "
                         "(none with --no-eyeballs)")
    uv = None
    f_uv = companion(path, uv_obj, UV_NAMES)
    if f_uv is not None:
        uv = _vertex_uv(f_uv, n, notes)
    return make_model(path, fmt="flame", version=version, units="m", vertices=vertices, triangles_=tri,
                      identity_basis=identity, expression_basis=expression, uv=uv, vote_mask=vote_mask,
                      eyeball_mask=eyeball_mask,
                      region_sets=region_sets, notes=notes,
                      extra_meta={"companions": [str(p) for p in (f_masks, f_uv) if p is not None]})
