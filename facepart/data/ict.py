"""ICT-FaceKit (ICT Face Model, full or Light) in its original folder layout.

A folder with ``generic_neutral_mesh.obj``, ``identity*.obj`` (each a full mesh;
mode = mesh - neutral, weight ~ N(0, 1)), expression OBJs named in
``vertex_indices.json`` (blend shape = mesh - neutral, weight in [0, 1]) and
``vertex_indices.json`` (landmarks). Whatever subset of identities and
expressions the folder holds is used. Units: centimetres, +y up, +z toward
the viewer, +x the subject's left.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..checks import check_index_array, json_index_list
from ..errors import FacepartError
from ..io_utils import read_json_file
from .face_model import FaceModel
from .obj import read_obj, read_obj_vertices, vertex_uv

NEUTRAL = "generic_neutral_mesh.obj"

#: Inclusive 0-based vertex ranges of the ICT geometries (ICT-FaceKit README).
GEOMETRY_RANGES = {
    "face": (0, 9408),
    "head_and_neck": (9409, 11247),
    "mouth_socket": (11248, 13293),
    "eye_socket_left": (13294, 13677),
    "eye_socket_right": (13678, 14061),
    "gums_and_tongue": (14062, 17038),
    "teeth": (17039, 21450),
    "eyeball_left": (21451, 23020),
    "eyeball_right": (23021, 24590),
    "lacrimal_fluid": (24591, 24998),
    "eye_blend": (24999, 25046),
    "eye_occlusion": (25047, 25350),
    "eyelashes": (25351, 26718),
}

#: Shading helpers for transparent materials, and eyelash cards: not drawn in photo-like renders.
NOT_RENDERED = ("lacrimal_fluid", "eye_blend", "eye_occlusion", "eyelashes")
#: Geometries that can carry a facial part; the rest (eyeballs, teeth, sockets) never get votes.
VOTE_ELIGIBLE = ("face", "head_and_neck")
#: Eyeballs: seen through the eye opening, they may carry the eye parts.
EYEBALLS = ("eyeball_left", "eyeball_right")

FULL_VERTEX_COUNT = 26719


def is_ict_folder(path: Path) -> bool:
    return path.is_dir() and (path / NEUTRAL).exists()  # a FIFO or folder is refused by the loader


def geometry_mask(n_vertices: int, names) -> np.ndarray:
    mask = np.zeros(n_vertices, bool)
    for name in names:
        lo, hi = GEOMETRY_RANGES[name]
        mask[lo: min(hi + 1, n_vertices)] = True
    return mask


def _deltas(files: list[Path], neutral: np.ndarray) -> np.ndarray:
    out = np.empty((len(files), *neutral.shape), np.float32)
    for i, f in enumerate(files):
        v = read_obj_vertices(f)
        if v.shape != neutral.shape:
            raise FacepartError(f"{f}: {len(v)} vertices, but {NEUTRAL} has {len(neutral)}; "
                                "all ICT meshes must share one topology")
        out[i] = v - neutral
    return out


def read_vertex_indices(path: Path, n_vertices: int) -> tuple[list[str], np.ndarray | None]:
    """The expression names and the 68 landmark vertex ids (or None) of an ICT ``vertex_indices.json``.

    Expression names must be plain file stems (no folders); landmarks must be
    vertex ids of the neutral mesh. A list of another length than 68 is not
    iBUG 68 and is left out.
    """
    info = read_json_file(path, "ICT-FaceKit vertex_indices.json")
    if not isinstance(info, dict):
        raise FacepartError(f"{path}: expected a JSON object (expressions, idx_to_landmark_verts, ...), "
                            f"got {type(info).__name__}")
    names = info.get("expressions") or []
    if not isinstance(names, list) or not all(isinstance(x, str) and x and Path(x).name == x for x in names):
        raise FacepartError(f"{path}: 'expressions' must be a list of expression file names (without .obj)")
    landmarks = info.get("idx_to_landmark_verts")
    if landmarks is None:
        return names, None
    landmarks = check_index_array(json_index_list(landmarks, f"{path}: 'idx_to_landmark_verts'"), n_vertices,
                                  f"{path}: 'idx_to_landmark_verts'")
    return names, landmarks if len(landmarks) == 68 else None


def load_ict(folder: str | Path, max_identities: int | None = None) -> FaceModel:
    """Load an ICT-FaceKit folder into facepart's frame (metres)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FacepartError(f"{folder}: expected an ICT-FaceKit folder")
    if not (folder / NEUTRAL).exists():
        raise FacepartError(f"{folder}: not an ICT-FaceKit folder (no {NEUTRAL})")
    mesh = read_obj(folder / NEUTRAL)
    neutral = mesh.vertices
    n = len(neutral)

    info_path = folder / "vertex_indices.json"
    known, landmarks = read_vertex_indices(info_path, n) if info_path.exists() else ([], None)
    identity_files = sorted(folder.glob("identity*.obj"))[:max_identities]
    expression_files = [folder / f"{name}.obj" for name in known if (folder / f"{name}.obj").is_file()]
    if not known:  # no list: every other OBJ of the folder is an expression
        skip = {NEUTRAL, *(f.name for f in identity_files)}
        expression_files = sorted(f for f in folder.glob("*.obj") if f.name not in skip)

    scale = 0.01  # cm -> m
    full = n == FULL_VERTEX_COUNT
    return FaceModel(
        name=folder.name,
        vertices=neutral * scale,
        triangles=mesh.triangles,
        identity_basis=_deltas(identity_files, neutral) * scale,
        expression_basis=_deltas(expression_files, neutral) * scale,
        expression_kind="blendshape",
        expression_names=tuple(f.stem for f in expression_files),
        uv=vertex_uv(mesh),
        landmarks68=landmarks,
        render_mask=~geometry_mask(n, NOT_RENDERED) if full else None,
        vote_mask=geometry_mask(n, VOTE_ELIGIBLE) if full else None,
        eyeball_mask=geometry_mask(n, EYEBALLS) if full else None,
        meta={"format": "ict-facekit", "units": "cm", "path": str(folder),
              "identities": len(identity_files), "expressions": len(expression_files),
              "topology": f"ICT-FaceKit ({n} vertices)" if full else None},
    )
