"""Writers of layout-exact model files for the format tests (no tests here).

Each writer takes the :class:`Source` geometry (the ICT face, in facepart's
frame and metres) and writes a small file in the exact documented layout of one
format (docs: /work/shared/docs/formats.md sections 0 and 2): its keys, shapes,
dtypes, flattening, index base, winding, units and axes. The tests then check
that the loader gives the source back.
"""

from __future__ import annotations

import pickle
import struct
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

RIGHT_EYE_OUTER, LEFT_EYE_OUTER, NOSE_TIP = 36, 45, 30
FACE_END = 9408  # ICT face geometry: vertices 0..9408

#: 3DDFA-V3's annotation order
V3_ORDER = ("right_eye", "left_eye", "right_eyebrow", "left_eyebrow", "nose", "up_lip", "down_lip", "skin")


@dataclass
class Source:
    vertices: np.ndarray  # (N, 3) float64 metres, facepart frame
    triangles: np.ndarray  # (F, 3) int64 0-based, outward
    pcs: np.ndarray  # (3N, K) orthonormal identity components (vertex-major)
    std: np.ndarray  # (K,) their standard deviations, metres
    exp_pcs: np.ndarray  # (3N, E) orthonormal expression components
    exp_std: np.ndarray  # (E,) metres
    colours: np.ndarray  # (N, 3) in [0, 1]
    landmarks: np.ndarray  # (68,) 0-based
    parts: dict  # 3DDFA-V3 part name -> vertex ids (8 parts, disjoint)

    @property
    def n(self) -> int:
        return len(self.vertices)

    def identity(self) -> np.ndarray:
        """(K, N, 3) identity basis scaled by std (what a loader should return), metres."""
        return (self.pcs * self.std).T.reshape(-1, self.n, 3)

    def expression(self) -> np.ndarray:
        return (self.exp_pcs * self.exp_std).T.reshape(-1, self.n, 3)


def _orthonormal(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    flat = deltas.reshape(len(deltas), -1).T.astype(np.float64)  # (3N, K), vertex-major
    q, r = np.linalg.qr(flat)
    return q, np.abs(np.diag(r)) / np.sqrt(flat.shape[0] / 3) * 3  # a plausible std per component


def _parts(vertices: np.ndarray, lm: np.ndarray) -> dict:
    groups = {"right_eye": range(36, 42), "left_eye": range(42, 48), "right_eyebrow": range(17, 22),
              "left_eyebrow": range(22, 27), "nose": range(27, 36), "up_lip": [48, 49, 50, 51, 52, 53, 54],
              "down_lip": [54, 55, 56, 57, 58, 59, 48]}
    centres = {k: vertices[lm[list(v)]].mean(axis=0) for k, v in groups.items()}
    radius = {"nose": 0.02, "up_lip": 0.012, "down_lip": 0.012}
    labels = np.full(len(vertices), 7)  # skin
    for i, name in enumerate(V3_ORDER[:7]):
        d = np.linalg.norm(vertices - centres[name], axis=1)
        labels[d < radius.get(name, 0.01)] = i
    return {name: np.flatnonzero(labels == i) for i, name in enumerate(V3_ORDER)}


def make_source(ict_model) -> Source:
    n = FACE_END + 1
    v = ict_model.vertices[:n].astype(np.float64)
    tri = ict_model.triangles[(ict_model.triangles < n).all(axis=1)]
    pcs, std = _orthonormal(ict_model.identity_basis[:6, :n])
    exp_pcs, exp_std = _orthonormal(ict_model.expression_basis[:5, :n])
    normals = np.zeros_like(v)
    np.add.at(normals, tri[:, 0], np.cross(v[tri[:, 1]] - v[tri[:, 0]], v[tri[:, 2]] - v[tri[:, 0]]))
    colours = 0.5 + 0.4 * normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    lm = ict_model.landmarks68
    return Source(v, tri, pcs, std, exp_pcs, exp_std, np.clip(colours, 0, 1), lm, _parts(v, lm))


@pytest.fixture(scope="session")
def face_source(ict_model) -> Source:
    return make_source(ict_model)


def flat(points: np.ndarray) -> np.ndarray:
    """(N, 3) -> (3N, 1) vertex-major x1 y1 z1 x2 ..."""
    return np.asarray(points).reshape(-1, 1)


# -- BFM 2009 ------------------------------------------------------------------------------------

def write_bfm2009(folder: Path, src: Source, segbin: bool = True) -> Path:
    import scipy.io

    um = 1e6
    data = {
        "shapeMU": (flat(src.vertices) * um).astype(np.float32),
        "shapePC": src.pcs.astype(np.float32),
        "shapeEV": (src.std * um).reshape(-1, 1).astype(np.float32),
        "texMU": (flat(src.colours) * 255).astype(np.float32),
        "texPC": src.pcs.astype(np.float32),
        "texEV": np.full((src.pcs.shape[1], 1), 10.0, np.float32),
        "tl": (src.triangles[:, [0, 2, 1]] + 1).astype(np.float64),  # 1-based, reversed winding
    }
    if segbin:
        seg = np.zeros((src.n, 4), np.float64)
        seg[src.parts["nose"], 0] = 1
        seg[np.concatenate([src.parts["left_eye"], src.parts["right_eye"]]), 1] = 1
        seg[np.concatenate([src.parts["up_lip"], src.parts["down_lip"]]), 2] = 1
        seg[seg.sum(axis=1) == 0, 3] = 1
        data["segbin"] = seg
    path = folder / "01_MorphableModel.mat"
    scipy.io.savemat(path, data)
    return path


def write_exp_pca(folder: Path, src: Source, trim: np.ndarray) -> None:
    """Exp_Pca.bin over the ``trim`` vertices (0-based ids), std_exp.txt, BFM_exp_idx.mat (1-based)."""
    import scipy.io

    m = len(trim)
    pcs = src.exp_pcs.reshape(src.n, 3, -1)[trim].reshape(3 * m, -1)  # (3M, E)
    k = pcs.shape[1]
    with open(folder / "Exp_Pca.bin", "wb") as fh:
        fh.write(struct.pack("<i", k))
        fh.write(np.zeros(3 * m, "<f4").tobytes())  # expMU (unused)
        fh.write(pcs.T.astype("<f4").tobytes())  # component-major (k, 3M)
    np.savetxt(folder / "std_exp.txt", src.exp_std * 1e6)
    scipy.io.savemat(folder / "BFM_exp_idx.mat", {"trimIndex": (trim + 1).reshape(-1, 1).astype(np.uint16)})


# -- Deep3D / 3DDFA-V3 --------------------------------------------------------------------------

def point_buf(tri: np.ndarray, n: int, base: int) -> np.ndarray:
    """(N, 8) incident triangles, padded with F (+ base)."""
    out = np.full((n, 8), len(tri), np.int64)
    fill = np.zeros(n, np.int64)
    for t, corners in enumerate(tri):
        for v in corners:
            if fill[v] < 8:
                out[v, fill[v]] = t
                fill[v] += 1
    return out + base


DEEP3D_OFFSET = np.array([0.1, -0.2, 0.3])  # the file is not centred (dm)


def write_deep3d(path: Path, src: Source, compress: bool = False) -> Path:
    import scipy.io

    dm = 10.0
    front = np.concatenate([src.parts[p] for p in ("nose", "up_lip", "down_lip", "left_eye", "right_eye")])
    scipy.io.savemat(path, {
        "meanshape": (flat(src.vertices * dm + DEEP3D_OFFSET).T).astype(np.float32),  # (1, 3N)
        "idBase": (src.pcs * src.std * dm).astype(np.float32),
        "exBase": (src.exp_pcs * src.exp_std * dm).astype(np.float32),
        "meantex": (flat(src.colours).T * 255).astype(np.float32),
        "texBase": (src.pcs * 20.0).astype(np.float32),
        "tri": (src.triangles + 1).astype(np.float32),
        "point_buf": point_buf(src.triangles, src.n, 1).astype(np.float32),
        "keypoints": (src.landmarks + 1).reshape(1, 68).astype(np.float32),
        "frontmask2_idx": (np.sort(front) + 1).reshape(-1, 1).astype(np.float32),
        "skinmask": np.isin(np.arange(src.n), src.parts["skin"]).reshape(1, -1).astype(np.float32),
    }, do_compression=compress)
    return path


def v3_dict(src: Source, image_sides: bool = False) -> dict:
    dm = 10.0
    order = list(V3_ORDER)
    if image_sides:  # "right" meaning the image's right (the subject's left)
        order = [n.replace("right", "\0").replace("left", "right").replace("\0", "left") for n in order]
    annotation = [src.parts[name].astype(np.int64) for name in order]
    ann_tri = [src.triangles[np.isin(src.triangles, idx).all(axis=1)] for idx in annotation]
    return {
        "u": flat(src.vertices * dm).astype(np.float32),
        "id": (src.pcs * src.std * dm).astype(np.float32),
        "exp": (src.exp_pcs * src.exp_std * dm).astype(np.float32),
        "u_alb": (flat(src.colours) * 255).astype(np.float32),
        "alb": (src.pcs * 20.0).astype(np.float32),
        "point_buf": point_buf(src.triangles, src.n, 0),
        "tri": src.triangles.astype(np.int64),
        "uv_coords": np.c_[(src.vertices[:, :2] - src.vertices[:, :2].min(0)) / np.ptp(src.vertices[:, :2], 0),
                           np.zeros(src.n)].astype(np.float32),
        "ldm68": src.landmarks.astype(np.int64),
        "ldm106": np.resize(src.landmarks, 106).astype(np.int64),
        "ldm134": np.resize(src.landmarks, 134).astype(np.int64),
        "annotation": annotation,
        "annotation_tri": ann_tri,
        "parallel": [np.resize(src.landmarks, 5) for i in range(33)],
    }


def write_3ddfa_v3(path: Path, src: Source, image_sides: bool = False) -> Path:
    np.save(path, v3_dict(src, image_sides), allow_pickle=True)
    return path


# -- 3DDFA_V2 ----------------------------------------------------------------------------------

def write_3ddfa_v2(folder: Path, src: Source, with_tri_pkl: bool = True, with_params: bool = True) -> Path:
    um = 1e6
    kp = (3 * src.landmarks[:, None] + np.arange(3)).reshape(-1)  # (204,) into the flat 3N array
    data = {
        "u": (flat(src.vertices) * um).astype(np.float32),
        "w_shp": src.pcs.astype(np.float32),
        "w_exp": src.exp_pcs.astype(np.float32),
        "tri": src.triangles[: len(src.triangles) // 2].T.astype(np.int32),  # stale: tri.pkl replaces it
        "keypoints": kp.astype(np.int64),
    }
    path = folder / "bfm_noneck_v3.pkl"
    path.write_bytes(pickle.dumps(data, protocol=2))
    if with_tri_pkl:
        (folder / "tri.pkl").write_bytes(pickle.dumps(src.triangles.T.astype(np.int32), protocol=2))
    if with_params:
        k, e = src.pcs.shape[1], src.exp_pcs.shape[1]
        std = np.ones(62, np.float32)
        std[12:12 + k] = src.std * um
        std[52:52 + e] = src.exp_std * um
        (folder / "param_mean_std_62d_120x120.pkl").write_bytes(
            pickle.dumps({"mean": np.zeros(62, np.float32), "std": std}, protocol=2))
    return path


def v2_expected_identity(src: Source) -> np.ndarray:
    """3DDFA_V2 keeps 40 shape columns; the source has fewer, padded here with zero std."""
    return src.identity()


# -- BFM 2017 ------------------------------------------------------------------------------------

def write_bfm2017(path: Path, src: Source) -> Path:
    import h5py

    mm = 1e3
    with h5py.File(path, "w") as fh:
        for group, mean, pcs, std in (
            ("shape", src.vertices * mm, src.pcs, src.std * mm),
            ("expression", np.zeros_like(src.vertices), src.exp_pcs, src.exp_std * mm),
            ("color", src.colours, src.pcs, np.full(src.pcs.shape[1], 0.05)),
        ):
            fh[f"{group}/model/mean"] = mean.reshape(-1).astype(np.float32)
            fh[f"{group}/model/pcaBasis"] = pcs.astype(np.float32)
            fh[f"{group}/model/pcaVariance"] = (std ** 2).astype(np.float32)
            fh[f"{group}/model/noiseVariance"] = np.float32(0.0)
            fh[f"{group}/representer/cells"] = src.triangles.T.astype(np.uint32)  # (3, F), 0-based
            fh[f"{group}/representer/points"] = (src.vertices * mm).T.astype(np.float32)  # (3, N)
            fh[f"{group}/representer"].attrs["datasetType"] = "POLYGON_MESH"
        fh["version/majorVersion"] = np.int32(0)
        fh["version/minorVersion"] = np.int32(9)
    return path


# -- FaceVerse ----------------------------------------------------------------------------------

FLIP = np.array([1.0, -1.0, -1.0])


def faceverse_v12_dict(src: Source, simplified_keep: np.ndarray | None = None) -> dict:
    dm = 10.0
    raw = src.vertices * FLIP * dm  # y and z point the other way; decimetres
    flip_basis = np.tile(FLIP, src.n)[:, None]
    d = {
        "meanshape": flat(raw).T.astype(np.float32),  # (1, 3N)
        "idBase": (src.pcs * src.std * dm * flip_basis).astype(np.float32),
        "exBase": (src.exp_pcs * src.exp_std * dm * flip_basis).astype(np.float32),
        "meantex": (flat(src.colours).T * 255).astype(np.float32),
        "texBase": (src.pcs * 20.0).astype(np.float32),
        "tri": src.triangles.astype(np.int64),
        "point_buf": point_buf(src.triangles, src.n, 0),
        "keypoints": src.landmarks.astype(np.int64),
        "skinmask": np.isin(np.arange(src.n), src.parts["skin"]).astype(np.float32),
        "uv": np.round((src.vertices[:, :2] - src.vertices[:, :2].min(0)) / np.ptp(src.vertices[:, :2], 0)
                       * 198).astype(np.int64),
    }
    if simplified_keep is not None:
        keep = simplified_keep
        new_id = np.full(src.n, -1)
        new_id[keep] = np.arange(len(keep))
        tri = new_id[src.triangles]
        tri = tri[(tri >= 0).all(axis=1)]
        lm_ok = np.all(new_id[src.landmarks] >= 0)
        d.update({"select_id": keep.astype(np.int64), "tri_select": tri.astype(np.int64),
                  "keypoints_select": new_id[src.landmarks] if lm_ok else np.arange(68),
                  "skinmask_select": d["skinmask"][keep], "point_buf_select": point_buf(tri, len(keep), 0),
                  "exp_name_list": np.array([f"exp{i}" for i in range(src.exp_pcs.shape[1])])})
    return d


def faceverse_v3_dict(src: Source) -> dict:
    mm = 1000.0
    raw = src.vertices * FLIP * mm
    flip_basis = np.tile(FLIP, src.n)[:, None]
    colours = np.zeros((src.n, 3))
    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [255, 0, 255], [0, 255, 255],
                        [128, 0, 0], [200, 200, 200]])
    for i, name in enumerate(V3_ORDER):
        colours[src.parts[name]] = palette[i]
    return {
        "meanshape": raw.astype(np.float32),  # (N, 3)
        "idBase": (src.pcs * src.std * mm * flip_basis).astype(np.float32),
        "exBase_52": (src.exp_pcs * src.exp_std * mm * flip_basis).astype(np.float32),
        "exp_name_list_52": [f"bs{i}" for i in range(src.exp_pcs.shape[1])],
        "meantex": (src.colours * 255).reshape(1, -1).astype(np.float32),
        "texBase": (src.pcs * 20.0).astype(np.float32),
        "tri": src.triangles[:, [0, 2, 1]].astype(np.int64),  # FaceVerse v3's loader swaps columns 1 and 2
        "point_buf": point_buf(src.triangles, src.n, 0),
        "parsing": colours.reshape(1, src.n, 3).astype(np.float32),
        "mediapipe_keypoints": np.arange(478),
        "ver_inds": np.array([0, src.n - 200, src.n - 100], np.int64),
    }


# -- FLAME ---------------------------------------------------------------------------------------

def _fake_chumpy_module():
    """A stand-in module so that ordinary pickling writes chumpy-like objects (renamed after dumping)."""
    if "fakechumpy_ch" in sys.modules:
        return sys.modules["fakechumpy_ch"]
    mod = types.ModuleType("fakechumpy_ch")

    class Ch:  # like chumpy.ch.Ch: the array lives in the instance dict under 'x'
        def __init__(self, x):
            self.x = x
            self._dirty_vars = set()

    Ch.__module__, Ch.__qualname__ = "fakechumpy_ch", "Ch"
    mod.Ch = Ch
    sys.modules["fakechumpy_ch"] = mod
    return mod


def _fake_sparse_module():
    if "fakescipy_csc" in sys.modules:
        return sys.modules["fakescipy_csc"]
    mod = types.ModuleType("fakescipy_csc")

    class csc_matrix:  # noqa: N801 - the pickled name
        def __init__(self, dense):
            import scipy.sparse as sp

            m = sp.csc_matrix(dense)
            self.data, self.indices, self.indptr, self._shape = m.data, m.indices, m.indptr, m.shape
            self.maxprint = 50

    csc_matrix.__module__, csc_matrix.__qualname__ = "fakescipy_csc", "csc_matrix"
    mod.csc_matrix = csc_matrix
    sys.modules["fakescipy_csc"] = mod
    return mod


def flame_pickle(data: dict, protocol: int = 2) -> bytes:
    """Pickle with chumpy.ch.Ch and scipy.sparse.csc.csc_matrix globals (as Python 2 wrote FLAME)."""
    raw = pickle.dumps(data, protocol=protocol)
    if protocol <= 2:
        raw = raw.replace(b"cfakechumpy_ch\nCh\n", b"cchumpy.ch\nCh\n")
        raw = raw.replace(b"cfakescipy_csc\ncsc_matrix\n", b"cscipy.sparse.csc\ncsc_matrix\n")
    assert b"fake" not in raw
    return raw


def flame_dict(src: Source, n_shape: int = 300, n_exp: int = 100) -> dict:
    ch = _fake_chumpy_module().Ch
    csc = _fake_sparse_module().csc_matrix
    k, e = src.pcs.shape[1], src.exp_pcs.shape[1]
    dirs = np.zeros((src.n, 3, n_shape + n_exp), np.float32)
    dirs[:, :, :k] = src.identity().transpose(1, 2, 0)
    dirs[:, :, n_shape:n_shape + e] = src.expression().transpose(1, 2, 0)
    # 5 joints: root, neck, jaw, eyes; the jaw drives the vertices below the mouth corners
    jaw_y = src.vertices[src.landmarks[[48, 54]], 1].mean()
    weights = np.zeros((src.n, 5))
    below = src.vertices[:, 1] < jaw_y - 0.005
    weights[below, 2] = 1.0
    weights[~below, 0] = 1.0
    jreg = np.zeros((5, src.n))
    centre = np.argsort(np.linalg.norm(src.vertices - src.vertices.mean(0), axis=1))[:10]
    jreg[:, centre] = 0.1
    jaw_pivot = np.argsort(np.abs(src.vertices[:, 1] - jaw_y) + np.abs(src.vertices[:, 2] - 0.02))[:10]
    jreg[2] = 0
    jreg[2, jaw_pivot] = 0.1
    return {
        "v_template": src.vertices.astype(np.float64),
        "f": src.triangles.astype(np.uint32),
        "shapedirs": ch(dirs),
        "posedirs": ch(np.zeros((src.n, 3, 36))),
        "J_regressor": csc(jreg),
        "J": jreg @ src.vertices,
        "weights": ch(weights),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }


def write_flame(folder: Path, src: Source, name: str = "generic_model.pkl", protocol: int = 2, **kw) -> Path:
    path = folder / name
    path.write_bytes(flame_pickle(flame_dict(src, **kw), protocol))
    return path


def flame_masks(src: Source) -> dict:
    return {
        "nose": src.parts["nose"], "lips": np.concatenate([src.parts["up_lip"], src.parts["down_lip"]]),
        "left_eye_region": src.parts["left_eye"], "right_eye_region": src.parts["right_eye"],
        "left_eyeball": src.parts["left_eye"][:5], "right_eyeball": src.parts["right_eye"][:5],
        "face": np.arange(src.n // 2),
    }


def write_flame_masks(folder: Path, src: Source) -> Path:
    path = folder / "FLAME_masks.pkl"
    path.write_bytes(pickle.dumps({k: v.astype(np.int64) for k, v in flame_masks(src).items()}, protocol=2))
    return path


def tiny_source(n_side: int = 6, seed: int = 0) -> Source:
    """A small bulging grid (facing +z, outward winding) with every per-format ingredient, for fuzzing."""
    rng = np.random.default_rng(seed)
    xs = np.linspace(-0.08, 0.08, n_side)
    x, y = np.meshgrid(xs, xs)
    z = 0.05 - 4 * (x ** 2 + y ** 2)
    ids = np.arange(n_side * n_side).reshape(n_side, n_side)
    nose, chin = ids[n_side // 2 - 1, n_side // 2 - 1], ids[0, n_side // 2 - 1]
    eyes = ids[n_side - 2, 1], ids[n_side - 2, n_side - 2]
    z.flat[nose] += 0.03
    v = np.c_[x.ravel(), y.ravel(), z.ravel()]
    n = len(v)
    a, b, c, d = ids[:-1, :-1].ravel(), ids[:-1, 1:].ravel(), ids[1:, :-1].ravel(), ids[1:, 1:].ravel()
    tri = np.r_[np.c_[a, b, d], np.c_[a, d, c]]  # counter-clockwise seen from +z
    pcs, _ = np.linalg.qr(rng.standard_normal((3 * n, 2)))
    exp_pcs, _ = np.linalg.qr(rng.standard_normal((3 * n, 2)))
    lm = rng.integers(0, n, 68)
    lm[[36, 45, 30, 8]] = [eyes[0], eyes[1], nose, chin]
    labels = np.arange(n) % 8
    parts = {name: np.flatnonzero(labels == i) for i, name in enumerate(V3_ORDER)}
    return Source(v, tri, pcs, np.array([0.004, 0.002]), exp_pcs, np.array([0.003, 0.001]),
                  rng.uniform(0.3, 0.9, (n, 3)), lm, parts)
