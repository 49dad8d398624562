"""Basel Face Model 2009: ``PublicMM1/01_MorphableModel.mat``, optionally with the ``Exp_Pca.bin`` expressions.

``01_MorphableModel.mat`` (top-level variables; formats.md 2a):

=========  ==================  ===================================================
key        shape               meaning
=========  ==================  ===================================================
shapeMU    (3N, 1)             mean shape, micrometres, vertex-major x1 y1 z1 x2 ...
shapePC    (3N, K)             orthonormal shape components (K = 199)
shapeEV    (K, 1)              their standard deviations (not variances)
texMU      (3N, 1)             mean colour, 0-255
texPC      (3N, K), texEV (K, 1)  colour components and standard deviations (0-255)
tl         (F, 3)              triangles, 1-based, clockwise (reversed) winding
segbin     (N, 4)              optional 0/1 segments: nose, eyes, mouth, rest
=========  ==================  ===================================================

N = 53,490. Axes: +x subject's left, +y up, +z toward the viewer.

``Exp_Pca.bin`` (Guo et al.; read like Deep3D): int32 ``exp_dim`` (79), float32
expMU (3M), float32 expPC (exp_dim x 3M, component-major), M = 53,215 vertices
(BFM without the inner mouth, micrometres). ``std_exp.txt`` holds the 79 standard
deviations; ``BFM_exp_idx.mat['trimIndex']`` (M, 1, 1-based) says which of the
53,490 vertices they are. Like Deep3D, expMU is not used.

Options: ``topology`` 53490 (default: the file's own vertices; expressions of the
275 inner-mouth vertices follow their nearest trimmed vertex), 53215
(``trimIndex`` subset) or 35709 (``select_vertex_id.mat`` or trimIndex +
``BFM_front_idx.mat``). Companion files are found beside the .mat by their
usual names, or given as options.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FacepartError
from ..bfm_topology import FRONT_KEYPOINTS_68
from ..regions import RegionSet
from .arrays import colour_01, column_basis, floats, indices, per_vertex, planar_layout, triangles, vertex_major
from .builder import make_model
from .containers import check_regular_file, companion, fetch, mat_variable_names, read_mat, reading
from .frame import plausible_unit, UNIT_SCALE

EXPECTED = "a BFM 2009 01_MorphableModel.mat (shapeMU, shapePC, shapeEV, tl)"
REQUIRED = {"shapeMU", "shapePC", "shapeEV", "tl"}
SEGMENTS = ("nose", "eyes", "mouth", "rest")


def is_bfm2009(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".mat" and REQUIRED <= mat_variable_names(path)


def read_exp_pca(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) expMU and (K, M, 3) unscaled expPC (micrometres) of an ``Exp_Pca.bin``."""
    check_regular_file(path, "an Exp_Pca.bin file")
    with reading(path, "Exp_Pca.bin expression basis"):
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(4)
    if len(head) < 4:
        raise FacepartError(f"{path}: too short for an Exp_Pca.bin (expected int32 exp_dim, float32 expMU, expPC)")
    k = int(np.frombuffer(head, "<i4")[0])
    if not 1 <= k <= 10000:
        raise FacepartError(f"{path}: exp_dim is {k}; expected an Exp_Pca.bin starting with a small int32 (79)")
    per_vertex_bytes = 12 * (1 + k)
    if (size - 4) % per_vertex_bytes or size <= 4:
        raise FacepartError(f"{path}: {size} bytes do not fit an Exp_Pca.bin with exp_dim {k} "
                            "(4 + 4 x 3M x (1 + exp_dim) bytes); is it truncated?")
    m = (size - 4) // per_vertex_bytes
    with reading(path, "Exp_Pca.bin expression basis"):
        data = np.fromfile(path, dtype="<f4", offset=4)
    if not np.all(np.isfinite(data)):
        raise FacepartError(f"{path}: the expression basis holds NaN or infinite values")
    return data[: 3 * m].reshape(m, 3), data[3 * m:].reshape(k, m, 3)


def read_std_exp(path: Path, k: int) -> np.ndarray:
    import warnings

    check_regular_file(path, "a std_exp.txt file")
    with reading(path, "std_exp.txt (expression standard deviations)"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty file is reported below
        std = np.loadtxt(path, dtype=np.float64).reshape(-1)
    if std.size < k or not np.all(np.isfinite(std)) or np.any(std < 0):
        raise FacepartError(f"{path}: expected {k} non-negative standard deviations, got {std.size} values")
    return std[:k]


def read_mat_index(path: Path, key: str, n_parent: int, notes: list[str]) -> np.ndarray:
    """A Deep3D 1-based index file (``trimIndex``, ``idx``, ``select_id``) as 0-based int64."""
    data = read_mat(path)
    return indices(fetch(data, key, path, f"a Deep3D index file with '{key}'"), path, key, n_parent, 1, notes).ravel()


def _subset_triangles(tri: np.ndarray, kept: np.ndarray, n: int) -> np.ndarray:
    new_id = np.full(n, -1, np.int64)
    new_id[kept] = np.arange(len(kept))
    out = new_id[tri]
    return out[(out >= 0).all(axis=1)]


def _fill_missing(basis: np.ndarray, known: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Give each vertex outside ``known`` the basis vectors of its nearest ``known`` vertex."""
    from scipy.spatial import cKDTree

    missing = np.setdiff1d(np.arange(len(vertices)), known)
    if len(missing):
        _, nearest = cKDTree(vertices[known]).query(vertices[missing])
        basis[:, missing] = basis[:, known[nearest]]
    return basis


def load_bfm2009(path: str | Path, topology: int | str | None = None, exp_pca: str | Path | None = None,
                 std_exp: str | Path | None = None, exp_idx: str | Path | None = None,
                 front_idx: str | Path | None = None, select_idx: str | Path | None = None,
                 expressions: bool = True):
    """Load ``01_MorphableModel.mat`` (see the module docstring) into facepart's frame."""
    path = Path(path)
    notes: list[str] = []
    data = read_mat(path)
    for key in REQUIRED:
        fetch(data, key, path, EXPECTED)
    n = len(vertex_major(data["shapeMU"], path, "shapeMU"))
    # tl is 1-based and wound the wrong way round (eos): swap the 2nd and 3rd corners
    tri = triangles(data["tl"], path, "tl", n, 1, notes)[:, [0, 2, 1]]
    # a mean or basis stored planar (MATLAB's V(:) of an (N, 3) array) is read so, with a note
    planar = planar_layout(data["shapeMU"], path, "shapeMU", n, tri, notes)
    mu = vertex_major(data["shapeMU"], path, "shapeMU", n, planar)
    unit = plausible_unit(float(np.ptp(mu, axis=0).max()), "um", notes)
    scale = UNIT_SCALE[unit]
    ev = floats(data["shapeEV"], path, "shapeEV").reshape(-1)
    identity = column_basis(data["shapePC"], path, "shapePC", n, ev * scale,
                            planar=planar_layout(data["shapePC"], path, "shapePC", n, tri, notes))

    albedo = albedo_basis = None
    if "texMU" in data and "texPC" in data and "texEV" in data:
        tex_mu = vertex_major(data["texMU"], path, "texMU", n,
                              planar_layout(data["texMU"], path, "texMU", n, tri, notes))
        albedo, div = colour_01(tex_mu, path, "texMU")
        tex_ev = floats(data["texEV"], path, "texEV").reshape(-1)
        albedo_basis = column_basis(data["texPC"], path, "texPC", n, tex_ev / div,
                                    planar=planar_layout(data["texPC"], path, "texPC", n, tri, notes))

    region_sets = []
    if "segbin" in data:
        seg = per_vertex(data["segbin"], path, "segbin", n, 4).astype(bool)
        region_sets.append(RegionSet("BFM 2009 segbin", {name: np.flatnonzero(seg[:, i])
                                                         for i, name in enumerate(SEGMENTS)}, str(path)))

    # -- companions: expression basis and index maps ---------------------------------------
    used = []
    trim = front = select = None
    f_trim = companion(path, exp_idx, ("BFM_exp_idx.mat",))
    if f_trim is not None:
        trim = read_mat_index(f_trim, "trimIndex", n, notes)
        used.append(str(f_trim))
    f_front = companion(path, front_idx, ("BFM_front_idx.mat",))
    if f_front is not None and trim is not None:
        front = read_mat_index(f_front, "idx", len(trim), notes)
        used.append(str(f_front))
    f_select = companion(path, select_idx, ("select_vertex_id.mat",))
    if f_select is not None:
        select = read_mat_index(f_select, "select_id", n, notes)
        used.append(str(f_select))
    elif front is not None:
        select = trim[front]

    vertices = mu * scale
    expression = None
    f_exp = companion(path, exp_pca, ("Exp_Pca.bin",)) if expressions else None
    if f_exp is not None:
        f_std = companion(path, std_exp, ("std_exp.txt",))
        try:
            _, exp_pc = read_exp_pca(f_exp)
        except FacepartError as exc:
            if exp_pca is not None:  # asked for by name: its error is the answer
                raise
            raise FacepartError(f"{exc} (found beside the model; -O expressions=false loads the model "
                                "without it)") from None
        m = exp_pc.shape[1]
        if f_std is None:
            msg = f"{f_exp}: the expression basis needs std_exp.txt (its standard deviations) beside it"
            if exp_pca is not None:
                raise FacepartError(msg)
            notes.append(msg + "; expressions not loaded")
        elif m == n:
            expression = exp_pc * (read_std_exp(f_std, len(exp_pc)) * scale).astype(np.float32)[:, None, None]
        elif trim is not None and m == len(trim):
            expression = np.zeros((len(exp_pc), n, 3), np.float32)
            expression[:, trim] = exp_pc * (read_std_exp(f_std, len(exp_pc)) * scale).astype(np.float32)[:, None, None]
            expression = _fill_missing(expression, trim, vertices)
            notes.append(f"Exp_Pca.bin covers {m} of the {n} vertices; the others follow their nearest covered vertex")
        else:
            msg = (f"{f_exp}: the expression basis has {m} vertices; mapping it onto {n} needs BFM_exp_idx.mat "
                   f"with {m} entries")
            if exp_pca is not None:
                raise FacepartError(msg)
            notes.append(msg + "; expressions not loaded")
        if expression is not None:
            used += [str(f_exp), str(f_std)]

    # -- topology -------------------------------------------------------------------------
    want = None if topology is None else str(topology)
    kept = None
    if want in (None, str(n), "full"):
        kept = None
    elif want in ("53215", "trim"):
        if trim is None:
            raise FacepartError(f"{path}: topology 53215 needs BFM_exp_idx.mat (trimIndex) beside the model "
                                "or as exp_idx=")
        kept = trim
    elif want in ("35709", "front"):
        if select is None:
            raise FacepartError(f"{path}: topology 35709 needs select_vertex_id.mat, or BFM_exp_idx.mat and "
                                "BFM_front_idx.mat, beside the model")
        kept = select
    elif want == "53490":
        raise FacepartError(f"{path}: topology 53490 is the full BFM 2009 mesh, but this file has {n} vertices; "
                            "leave the topology out to use the file's own vertices")
    else:
        raise FacepartError(f"{path}: unknown BFM 2009 topology '{topology}'; use 53490 (full), 53215 or 35709")

    landmarks = None
    if select is not None and len(select) == 35709:  # Deep3D's 68 keypoints live on the 35,709 front vertices
        lm_full = select[FRONT_KEYPOINTS_68 - 1]
        if kept is None:
            landmarks = lm_full
        else:
            pos = np.full(n, -1, np.int64)
            pos[kept] = np.arange(len(kept))
            landmarks = pos[lm_full] if np.all(pos[lm_full] >= 0) else None

    if kept is not None:
        tri = _subset_triangles(tri, kept, n)
        vertices = vertices[kept]
        identity = identity[:, kept]
        expression = None if expression is None else expression[:, kept]
        if albedo is not None:
            albedo, albedo_basis = albedo[kept], albedo_basis[:, kept]
        region_sets = [rs.subset(kept, n) for rs in region_sets]
        notes.append(f"restricted to {len(kept)} of the {n} vertices; triangles are those of the full mesh whose "
                     "three corners are kept")
        if len(tri) == 0:
            raise FacepartError(f"{path}: no triangle of the model lies inside the {len(kept)}-vertex subset")

    return make_model(path, fmt="bfm2009", version="2009", units=unit, vertices=vertices, triangles_=tri,
                      identity_basis=identity, expression_basis=expression, albedo=albedo,
                      albedo_basis=albedo_basis, landmarks68=landmarks, region_sets=region_sets, notes=notes,
                      extra_meta={"companions": used})
