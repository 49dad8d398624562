"""Landmark embedding by Algorithm 1 (issue 10): sets, geometry, the oracle, MediaPipe on ICT, exports, CLI."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest

from facepart.annotate.landmarks import (LandmarkSettings, embed_landmarks, geometric_median, pixel_hits,
                                        trimmed_median)
from facepart.errors import FacepartError
from facepart.geometry import barycentric_points, closest_point_on_triangles, ray_triangle
from facepart.segmenters.landmarks import (FLAME_MEDIAPIPE_105, IBUG68_FROM_MEDIAPIPE, MEDIAPIPE_GROUPS, LandmarkSet,
                                           OracleLandmarkDetector, get_landmark_set)

from test_formats_layouts import face_source, write_bfm2009  # noqa: F401 - face_source is a fixture

MM = 1000.0
#: iBUG-68 (0-based) points the issue holds to 5 mm: eye corners, nose tip, nostrils (nose base), mouth corners.
TIGHT = (36, 39, 42, 45, 30, 31, 32, 33, 34, 35, 48, 54)
INNER = tuple(range(17, 68))
JAW = tuple(range(17))
CHIN = 8


# -- the sets and the geometry (no renders) -----------------------------------------------------------

def test_landmark_sets_hold_the_published_index_lists():
    s68 = get_landmark_set("68")
    assert len(s68) == 68 and s68.sources == IBUG68_FROM_MEDIAPIPE
    # facts of the table: eye corners, nose tip, mouth corners, chin, averaged bridge points
    assert [s68.sources[k] for k in (36, 39, 42, 45, 30, 48, 54, 8)] == [(33,), (133,), (362,), (263,), (4,), (61,),
                                                                        (291,), (152,)]
    assert s68.sources[27] == (168, 6) and s68.sources[3] == (132, 58)
    assert s68.eye_corners == (36, 45) and set(s68.groups[:17]) == {"contour"} and s68.single_sources is None
    s105 = get_landmark_set("105")
    assert len(s105) == 105 == len(set(FLAME_MEDIAPIPE_105))
    assert not set(FLAME_MEDIAPIPE_105) & set(MEDIAPIPE_GROUPS["contour"])  # FLAME's MediaPipe file has no contour
    assert [s105.sources[k][0] for k in s105.eye_corners] == [33, 263]
    assert s105.groups.count("lips") == 40 and s105.groups.count("brows") == 20
    s478 = get_landmark_set("478")
    assert len(s478) == 478 and s478.groups[468] == "iris" and s478.groups[152] == "contour"
    assert np.array_equal(s478.single_sources, np.arange(478))
    with pytest.raises(FacepartError, match="unknown landmark set"):
        get_landmark_set("99")
    with pytest.raises(FacepartError, match="detector point ids"):
        LandmarkSet("bad", "mediapipe", 478, ("a",), ((478,),), ("other",), (0, 0), "")


def test_select_averages_pairs_and_needs_both_points_valid():
    s68 = get_landmark_set("68")
    pts = np.zeros((478, 2))
    pts[168], pts[6] = (10.0, 20.0), (14.0, 30.0)
    valid = np.ones(478, bool)
    valid[58] = False  # used by landmarks 3 and 4
    out, ok = s68.select(pts, valid)
    assert np.allclose(out[27], (12.0, 25.0))
    assert not ok[3] and not ok[4] and ok[27] and ok.sum() == 66


def test_ray_and_closest_point_geometry():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(3, 500, 3))
    w = rng.dirichlet([1, 1, 1], 500)
    target = w[:, :1] * a + w[:, 1:2] * b + w[:, 2:] * c
    origin = rng.normal(size=(500, 3)) * 5
    t, bary = ray_triangle(origin, (target - origin) * 0.5, a, b, c)
    assert np.allclose(bary, w, atol=1e-9) and np.allclose(t, 2.0)
    p = rng.normal(size=(500, 3)) * 2
    qb = closest_point_on_triangles(p, a, b, c)
    q = qb[:, :1] * a + qb[:, 1:2] * b + qb[:, 2:] * c
    assert (qb >= -1e-12).all() and np.allclose(qb.sum(axis=1), 1) and np.allclose(q, qb[:, :1] * a + qb[:, 1:2] * b
                                                                                    + qb[:, 2:] * c)
    grid = np.array([(i / 60, j / 60, 1 - (i + j) / 60) for i in range(61) for j in range(61 - i)])
    for k in range(20):  # no sampled point of the triangle is closer than the answer
        pts = grid @ np.stack([a[k], b[k], c[k]])
        assert np.linalg.norm(q[k] - p[k]) <= np.linalg.norm(pts - p[k], axis=1).min() + 1e-12


def test_trimmed_median_drops_outliers():
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 0.001, (1, 40, 3))
    pts[0, :8] += 0.05  # 8 of 40 views on an occluder 5 cm away
    centre, inlier = trimmed_median(pts, np.ones((1, 40), bool), 2.5, 0.0015)
    assert not inlier[0, :8].any() and inlier[0, 8:].mean() > 0.9
    clean = geometric_median(pts, inlier)  # the outliers no longer pull: the median of the inliers alone
    assert np.allclose(centre, clean) and np.linalg.norm(centre[0]) < 0.001
    pulled = geometric_median(pts, np.ones((1, 40), bool))
    assert np.linalg.norm(pulled[0]) > np.linalg.norm(centre[0])


# -- exact geometry on a real render, and the whole pipeline with a known answer -------------------

def _front_points(model, n, seed=0):
    """n surface points (triangle ids, barycentrics) on front-facing, central triangles of the face."""
    from facepart.geometry import triangle_normals

    rng = np.random.default_rng(seed)
    tri = model.triangles[model.render_triangles]
    normals = triangle_normals(model.vertices, tri)
    centroids = model.vertices[tri].mean(axis=1)
    lm = model.vertices[model.landmarks68] if model.landmarks68 is not None else model.vertices
    lo, hi = np.percentile(lm, 20, axis=0), np.percentile(lm, 80, axis=0)
    ok = (normals[:, 2] > 0.8) & (centroids[:, 0] > lo[0]) & (centroids[:, 0] < hi[0]) & (centroids[:, 1] > lo[1]) \
        & (centroids[:, 1] < hi[1]) & model.vote_mask[tri].all(axis=1)
    # not hidden behind other surface seen from the front (the demo head's lids over the eyeballs, its lips
    # over the mouth fold): no vertex within 2 mm in x, y lies more than 1 mm in front of the centroid
    from scipy.spatial import cKDTree

    xy = cKDTree(model.vertices[:, :2])
    cand = np.flatnonzero(ok)
    near = xy.query_ball_point(centroids[cand, :2], 0.002)
    front = np.array([model.vertices[idx, 2].max() <= centroids[c, 2] + 0.001 for c, idx in zip(cand, near)])
    pick = rng.choice(cand[front], n, replace=False)
    return model.render_triangles[pick], rng.dirichlet([2, 2, 2], n)


def test_pixel_hits_recover_surface_points_exactly(demo_model):
    from facepart.annotate.pipeline import make_scene, render_view
    from facepart.annotate.variants import Variant
    from facepart.renderers.base import renderer_for
    from facepart.renderers.light import Light

    size = 1024  # triangles a few pixels across, so most points' pixels show their own triangle
    scene = make_scene(demo_model, size)
    variant = Variant(0, np.zeros(0), np.zeros(0), np.zeros(0), 20.0, 5.0, -3.0, Light(np.array([0, 0, -1.0])))
    with renderer_for(None, size) as renderer:
        view = render_view(demo_model, variant, scene, renderer, shade=False)
    tris, bary = _front_points(demo_model, 60, seed=1)
    truth = barycentric_points(view.vertices, demo_model.triangles, tris, bary)
    uv, _ = view.camera.project(truth)
    tid, b = pixel_hits(view, uv, np.ones(len(uv), bool))
    assert (tid >= 0).all()
    found = barycentric_points(view.vertices, view.triangles, tid, b)
    err = np.linalg.norm(found - truth, axis=1) * MM
    same = demo_model.render_triangles[tid] == tris
    # perspective-correct: on the point's own triangle, the exact point, not the pixel centre's
    assert err[same].max() < 0.01, err[same].max()
    # a point near an edge of a triangle smaller than a pixel may land in the neighbour the pixel shows
    assert same.mean() > 0.8 and err.max() < 1.0, (same.mean(), err.max())


def test_oracle_embedding_recovers_known_points_on_the_demo_head(demo_model):
    """The whole pipeline with a detector whose answer is known: every point comes back, none is dynamic."""
    tris, bary = _front_points(demo_model, 16, seed=2)
    corners = demo_model.triangles[tris]
    oracle = OracleLandmarkDetector(corners, bary, noise_px=0.5, seed=7)
    truth = barycentric_points(demo_model.vertices, demo_model.triangles, tris, bary)
    corners_lr = (int(np.argmin(truth[:, 0])), int(np.argmax(truth[:, 0])))  # the NME's "eye corners"
    lset = LandmarkSet("oracle16", "oracle", 16, tuple(f"p{i}" for i in range(16)), tuple((i,) for i in range(16)),
                       ("other",) * 16, corners_lr, "test")
    settings = LandmarkSettings(variants=20, size=256, yaw=30, held_out=4, seed=3)
    calls = []
    emb = embed_landmarks(demo_model, oracle, lset, settings, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (24, 24)
    err = np.linalg.norm(emb.point - truth, axis=1) * MM
    print(f"\noracle on the demo head: error median {np.median(err):.3f} mm, max {err.max():.3f} mm")
    assert err.max() < 1.0
    assert np.allclose(emb.points(demo_model.vertices, demo_model.triangles), emb.point)  # barycentrics rebuild them
    assert not emb.dynamic.any() and emb.stable.all() and (emb.share > 0.7).all()
    assert np.allclose(emb.bary.sum(axis=1), 1) and (emb.bary >= 0).all()
    # the nearest vertex is a vertex close to the point
    assert (np.linalg.norm(demo_model.vertices[emb.vertex] - emb.point, axis=1) * MM < 5).all()
    # held out: the projected embedding lies within the oracle's 0.5 px noise of its points
    assert emb.check is not None and emb.check.views >= 3
    assert emb.check.mean[-1] * emb.check.iod_px < 1.0


# -- MediaPipe on the real ICT model -------------------------------------------------------------------

@pytest.fixture(scope="module")
def ict_embedding(ict_model):
    pytest.importorskip("mediapipe")
    settings = LandmarkSettings(variants=48, size=448, yaw=40, held_out=12, seed=0)
    return embed_landmarks(ict_model, "mediapipe", "68", settings)


def test_ict_static_embedding_matches_icts_own_68_landmarks(ict_embedding, ict_model):
    emb = ict_embedding
    assert emb.found >= 44 and emb.embedded.all()
    err = np.linalg.norm(emb.point - ict_model.vertices[ict_model.landmarks68], axis=1) * MM
    print("\nMediaPipe iBUG-68 on ICT (48 renders, 448 px, yaw +-40) vs ICT's vertex_indices.json landmarks, mm:")
    for name, ids in (("eye corners", (36, 39, 42, 45)), ("nose tip", (30,)), ("nostrils", (31, 32, 33, 34, 35)),
                      ("mouth corners", (48, 54)), ("other inner", tuple(set(INNER) - set(TIGHT))),
                      ("jaw (static)", JAW)):
        e = err[list(ids)]
        print(f"  {name:14s} mean {e.mean():5.2f}  max {e.max():5.2f}")
    tight = {k: round(float(err[k]), 2) for k in TIGHT}
    assert max(tight.values()) < 5.0, tight
    others = {k: round(float(err[k]), 2) for k in INNER if k not in TIGHT}
    assert max(others.values()) < 8.0, others


def test_ict_jaw_is_dynamic_and_has_per_yaw_embeddings(ict_embedding, ict_model):
    emb = ict_embedding
    drift = {emb.names[k]: round(float(emb.drift_mm[k]), 1) for k in JAW}
    print(f"\njaw drift over yaw (mm): {drift}; dynamic: {[emb.names[j] for j in emb.dynamic_ids]}")
    non_chin = [k for k in JAW if k != CHIN]
    assert emb.dynamic[non_chin].all(), drift
    # the eye corners and mouth corners do not move with yaw
    assert not emb.dynamic[[36, 39, 42, 45, 48, 54]].any()
    d = len(emb.dynamic_ids)
    nb = len(emb.bin_edges) - 1
    assert nb == 16 and emb.dyn_triangle.shape == (nb, d) and emb.dyn_bary.shape == (nb, d, 3)
    # the far-side jaw point marches: its per-bin points spread far wider than a static point's views do
    k = list(emb.dynamic_ids).index(1)
    pts = barycentric_points(ict_model.vertices, ict_model.triangles, emb.dyn_triangle[:, k], emb.dyn_bary[:, k])
    assert np.linalg.norm(pts - pts.mean(axis=0), axis=1).max() * MM > 20


def test_ict_held_out_nme(ict_embedding):
    check = ict_embedding.check
    print("\nheld-out NME, MediaPipe iBUG-68 on ICT:\n" + check.table())
    assert check.views >= 10
    g = dict(zip(check.groups, check.mean))
    assert g["all"] < 0.05 and g["eyes"] < 0.03 and g["lips"] < 0.03
    # the per-yaw embedding of the dynamic landmarks explains the detections at least as well as a static one
    assert check.dynamic_mean[0] <= check.dynamic_as_static[0] + 0.002


def test_flame_files_load_into_flame_pytorch_layout(ict_embedding, ict_model, tmp_path):
    """What FLAME_PyTorch's FLAME.__init__ does with its two files, without torch, and the 3D points they give."""
    from facepart.export import get_exporter

    emb = ict_embedding
    written = get_exporter("flame-lmk-pkl", kind="landmarks").write(emb, tmp_path)
    assert [p.name for p in written] == ["flame_static_embedding.pkl", "flame_dynamic_embedding.npy"]
    with open(written[0], "rb") as f:
        static = pickle.load(f, encoding="latin1")
    assert set(static) == {"lmk_face_idx", "lmk_b_coords"}
    # the published split, whatever this model's measured one: 51 static (iBUG 17..67) + 17 contour (0..16)
    n_static, n_dyn = 51, 17
    assert emb.landmark_set.name == "68" and len(emb.static_ids) != n_static  # ICT's own split differs
    assert static["lmk_face_idx"].dtype == np.uint32 and static["lmk_face_idx"].shape == (n_static,)
    assert static["lmk_b_coords"].dtype == np.float64 and static["lmk_b_coords"].shape == (n_static, 3)
    conture = np.load(written[1], allow_pickle=True, encoding="latin1")[()]
    assert set(conture) == {"lmk_face_idx", "lmk_b_coords"} and len(conture["lmk_face_idx"]) == 79
    dyn_idx = np.array(conture["lmk_face_idx"]).astype(np.int64)
    dyn_b = np.array(conture["lmk_b_coords"])
    assert conture["lmk_face_idx"][0].dtype == np.uint32 and dyn_idx.shape == (79, n_dyn)
    assert dyn_b.dtype == np.float64 and dyn_b.shape == (79, n_dyn, 3)
    # the barycentrics rebuild the 3D points
    v, f = ict_model.vertices.astype(np.float64), ict_model.triangles
    rebuilt = (v[f[static["lmk_face_idx"].astype(np.int64)]] * static["lmk_b_coords"][:, :, None]).sum(axis=1)
    assert np.allclose(rebuilt, emb.point[17:], atol=1e-7)
    for flame_bin, yaw in ((0, 0.0), (20, 20.0), (39, 39.0), (40, -1.0), (59, -20.0), (78, -39.0)):
        # FLAME_PyTorch: torch.cat([dynamic rows of the yaw's bin, static rows]) -> the 68 in iBUG order
        contour = (v[f[dyn_idx[flame_bin]]] * dyn_b[flame_bin][:, :, None]).sum(axis=1)
        got = np.concatenate([contour, rebuilt])
        want = emb.points(v, f, yaw=yaw)
        assert np.allclose(got[:17], want[:17], atol=1e-7), flame_bin  # contour points follow the yaw
        assert np.allclose(got[17:], emb.point[17:], atol=1e-7)  # the rest as embedded statically
    moving = [j for j in emb.dynamic_ids if j < 17]
    assert moving and not np.allclose(dyn_idx[20][moving], dyn_idx[59][moving])  # the jaw does march


def test_flame_npz_and_the_other_formats(ict_embedding, ict_model, tmp_path):
    from facepart.export import get_exporter
    from facepart.export.landmarks import read_json

    emb = ict_embedding
    v, f = ict_model.vertices.astype(np.float64), ict_model.triangles

    def write(name):
        return get_exporter(name, kind="landmarks").write(emb, tmp_path, vertices=ict_model.vertices)

    npz = np.load(write("flame-lmk-npz")[0])
    # the keys of FLAME's mediapipe_landmark_embedding.npz, for the static landmarks
    assert npz["lmk_face_idx"].dtype == np.uint32 and npz["lmk_b_coords"].dtype == np.float64
    assert np.array_equal(npz["landmark_indices"], emb.static_ids)  # the 68 set: iBUG numbering
    assert npz["dynamic_lmk_face_idx"].shape == (79, len(emb.dynamic_ids))
    full = (v[f[npz["full_lmk_face_idx"].astype(np.int64)]] * npz["full_lmk_b_coords"][:, :, None]).sum(axis=1)
    assert np.allclose(full, emb.point, atol=1e-7)

    k0 = np.loadtxt(write("keypoints0")[0], dtype=np.int64)
    k1 = np.loadtxt(write("keypoints1")[0], dtype=np.int64)
    k3 = np.load(write("keypoints-3ddfa")[0])
    assert np.array_equal(k0, emb.vertex) and np.array_equal(k1, emb.vertex + 1)
    assert k3.dtype == np.int64 and np.array_equal(k3[0::3] // 3, emb.vertex) and np.array_equal(k3[2::3], 3 * k0 + 2)
    assert (np.linalg.norm(v[k0] - emb.point, axis=1) * MM < 6).all()

    rows = np.array(json.loads(write("realy-lmk")[0].read_text()))  # REALY's reading: weights b1, b2, 1 - b1 - b2
    tri = f[rows[:, 0].astype(np.int64)]
    w = np.stack([rows[:, 1], rows[:, 2], 1 - rows[:, 1] - rows[:, 2]], axis=1)
    assert np.allclose((v[tri] * w[:, :, None]).sum(axis=1), emb.point, atol=1e-6)

    contour = json.loads(write("eos-contours")[0].read_text())["model_contour"]
    right, left = contour["right_contour"], contour["left_contour"]
    assert len(right) >= 8 and len(left) >= 8
    assert (v[right, 0] < 0).all() and (v[left, 0] > 0).all()  # the subject's right is -x
    assert list(v[right, 1]) == sorted(v[right, 1], reverse=True)  # eyebrow height first, toward the chin

    back = read_json(write("landmarks-json")[0])
    assert back.names == emb.names and np.array_equal(back.triangle, emb.triangle)
    # each format declares the files it writes into a folder: a skipped format's stale files are found by it
    from facepart.export.registry import EXPORTERS

    for exporter in (e for e in EXPORTERS.values() if e.kind == "landmarks"):
        folder = tmp_path / exporter.name
        folder.mkdir()
        written = exporter.write(emb, folder, vertices=ict_model.vertices)
        assert sorted(p.name for p in written) == sorted(p.name for p in folder.iterdir()) == sorted(exporter.files)
    # `facepart info` names each export that carries no model, with its landmark count and ids
    from click.testing import CliRunner

    from facepart.cli import main

    expect = {"keypoints0": ("export --to keypoints0", f"68 landmarks, vertex ids {emb.vertex.min()}..", "0-based"),
              "keypoints1": ("export --to keypoints1", f"vertex ids {emb.vertex.min() + 1}..", "(1-based)"),
              "keypoints-3ddfa": ("export --to keypoints-3ddfa", f"68 landmarks, vertex ids {emb.vertex.min()}.."),
              "realy-lmk": ("export --to realy-lmk", f"68 landmarks as [triangle, b0, b1]; triangle ids up to "
                            f"{emb.triangle.max()}"),
              "eos-contours": ("export --to eos-contours", f"right_contour {len(right)} vertex ids")}
    for name, needles in expect.items():
        (file,) = (tmp_path / name).iterdir()
        r = CliRunner().invoke(main, ["info", str(file)])
        assert r.exit_code == 0 and all(n in r.output for n in needles), (name, r.output)
    for empty in ("e.npy", "e.txt", "e.json"):  # not landmark exports: the usual one line (np.load raised EOFError)
        (tmp_path / empty).write_bytes(b"")
        r = CliRunner().invoke(main, ["info", str(tmp_path / empty)])
        assert r.exit_code == 1 and "Aborted" not in r.output and "Error: " in r.output, r.output
    assert np.allclose(back.bary, emb.bary, atol=1e-6) and np.array_equal(back.dynamic, emb.dynamic)
    assert np.array_equal(back.dyn_triangle, emb.dyn_triangle) and back.fingerprint == ict_model.fingerprint
    assert back.check is not None and np.allclose(back.check.mean, emb.check.mean, atol=1e-4)


def test_export_converts_a_landmarks_json_without_embedding_again(ict_embedding, ict_model, tmp_path):
    # before: `facepart export landmarks.json --to flame-lmk-pkl` was "unknown annotation format"; the only way
    # to another landmark format was a new `facepart landmarks` run (minutes of renders)
    from facepart.export import get_exporter

    run = tmp_path / "run"
    get_exporter("landmarks-json", kind="landmarks").write(ict_embedding, run)
    direct = tmp_path / "direct"
    for name in ("flame-lmk-pkl", "keypoints0", "realy-lmk", "eos-contours"):
        get_exporter(name, kind="landmarks").write(ict_embedding, direct, vertices=ict_model.vertices)

    def export(*args):
        return subprocess.run([sys.executable, "-m", "facepart", "export", *map(str, args)], capture_output=True,
                              text=True, timeout=300)

    r = export(run / "landmarks.json", "--to", "flame-lmk-pkl", "--out", tmp_path / "pkl")
    assert r.returncode == 0, r.stderr
    import pickle

    # the same files as from the embedding in memory (landmarks.json keeps barycentrics to 1e-6)
    got, want = (pickle.loads((d / "flame_static_embedding.pkl").read_bytes()) for d in (tmp_path / "pkl", direct))
    assert sorted(got) == sorted(want)
    for key in want:
        assert np.asarray(got[key]).dtype == np.asarray(want[key]).dtype, key
        assert np.allclose(np.asarray(got[key], float), np.asarray(want[key], float), atol=1e-6), key
    got, want = (np.load(d / "flame_dynamic_embedding.npy", allow_pickle=True)[()] for d in (tmp_path / "pkl", direct))
    for key in want:
        assert np.allclose(np.asarray(got[key], float), np.asarray(want[key], float), atol=1e-6), key
    r = export(run, "--to", "keypoints0")  # the run folder: files land beside its landmarks.json
    assert r.returncode == 0, r.stderr
    assert (run / "keypoints0.txt").read_text() == (direct / "keypoints0.txt").read_text()
    r = export(run, "--to", "realy-lmk")
    assert r.returncode == 0, r.stderr
    assert np.allclose(json.loads((run / "realy_landmarks.txt").read_text()),
                       json.loads((direct / "realy_landmarks.txt").read_text()), atol=1e-6)
    # the model orders eos's contours top to bottom, and is checked against the embedding's topology
    r = export(run / "landmarks.json", "--to", "eos-contours", "--model", ict_model.meta["path"])
    assert r.returncode == 0, r.stderr
    assert (run / "model_contours.json").read_text() == (direct / "model_contours.json").read_text()
    r = export(run / "landmarks.json", "--to", "keypoints0", "--model", "demo")
    assert r.returncode == 1 and "made for another topology than the model demo" in r.stderr
    # one line for each mix-up
    r = export(run / "landmarks.json", "--to", "parts")
    assert r.returncode == 1 and "a landmark embedding (facepart landmarks), not an annotation" in r.stderr
    assert "flame-lmk-pkl" in r.stderr
    r = export(run / "landmarks.json", "--to", "keypoints0", "--rule", "union")
    assert r.returncode == 1 and "--rule applies to annotation formats" in r.stderr
    (tmp_path / "a.json").write_text(json.dumps({"nose": [1, 2, 3]}))
    r = export(tmp_path / "a.json", "--to", "keypoints0")
    assert r.returncode == 1 and "not a facepart landmarks.json" in r.stderr and "Traceback" not in r.stderr


def test_landmarks_png(ict_embedding, ict_model, tmp_path):
    import cv2

    from facepart.export.landmarks import write_landmark_files

    written = write_landmark_files(ict_embedding, ict_model, tmp_path, formats=(), figure=True)
    assert [p.name for p in written] == ["landmarks.png"]
    img = cv2.imread(str(written[0]))[..., ::-1]
    assert img.shape[1] == 3 * 448 and img.shape[0] > 448
    face = img[:448]
    greenish = (face[..., 1] > 140) & (face[..., 0] < 100) & (face[..., 2] < 100)
    reddish = (face[..., 0] > 190) & (face[..., 1] < 90) & (face[..., 2] < 90)
    assert greenish.sum() > 50 and reddish.sum() > 20  # tight static dots and loose dynamic tracks


# -- another loader, and a model without a face, through the command line ---------------------------------

def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "facepart", "landmarks", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_on_a_bfm2009_file_with_the_flame_105_set(face_source, tmp_path):  # noqa: F811
    pytest.importorskip("mediapipe")
    model_path = write_bfm2009(tmp_path, face_source)
    out = tmp_path / "out"
    r = _cli(model_path, "--out", out, "--set", "105", "--variants", 16, "--size", 384, "--yaw", 30,
             "--held-out", 4, "--to", "keypoints0")
    assert r.returncode == 0, r.stderr[-2000:]
    assert {"landmarks.json", "landmark_embedding.npz", "landmarks.png", "keypoints0.txt"} <= {
        p.name for p in out.iterdir()}
    assert "Held-out check, NME" in r.stdout and "all" in r.stdout
    npz = np.load(out / "landmark_embedding.npz")
    static = npz["static_set_indices"]
    assert np.array_equal(npz["landmark_indices"], np.array(FLAME_MEDIAPIPE_105)[static])  # MediaPipe ids, FLAME order
    data = json.loads((out / "landmarks.json").read_text())
    assert data["model"]["n_vertices"] == len(face_source.vertices) and len(data["landmarks"]) == 105
    info = subprocess.run([sys.executable, "-m", "facepart", "info", str(out / "landmarks.json")],
                          capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr  # read as a landmark embedding, not as a parts file
    assert info.stdout.startswith("landmark embedding: ") and "Embedded 105 of 105 landmarks" in info.stdout


def test_cli_says_in_one_line_when_no_render_shows_a_face(tmp_path):
    pytest.importorskip("mediapipe")
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.09)
    path = tmp_path / "ball.obj"
    sphere.export(path)
    r = _cli(path, "--out", tmp_path / "out", "--variants", 4, "--size", 128, "--held-out", 0)
    assert r.returncode == 1
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errors) == 1 and "found no face in any of the 4 renders" in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_cli_rejects_an_unknown_format_before_rendering(tmp_path):
    r = _cli("demo", "--out", tmp_path / "out", "--variants", 2, "--to", "nonsense")
    assert r.returncode == 1 and "unknown landmarks format 'nonsense'" in r.stderr and "landmarks:" not in r.stderr


def test_cli_checks_eos_contours_before_writing_and_always_writes_flames_dynamic_file(tmp_path):
    pytest.importorskip("mediapipe")
    few = ("--variants", 8, "--size", 256, "--held-out", 2, "--to", "flame-lmk-pkl")  # too few for a dynamic jaw
    r = _cli("demo", "--out", tmp_path / "new" / "out", *few, "--to", "eos-contours")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    error = r.stderr.strip().splitlines()[-1]
    assert "measured to move with yaw" in error and "--set 68" not in error, error
    assert not (tmp_path / "new").exists()  # no half-written set, no empty folder
    ok = _cli("demo", "--out", tmp_path / "ok", *few)
    assert ok.returncode == 0, ok.stderr[-2000:]
    conture = np.load(tmp_path / "ok" / "flame_dynamic_embedding.npy", allow_pickle=True, encoding="latin1")[()]
    contour = np.array(conture["lmk_face_idx"])
    assert contour.shape == (79, 17)  # FLAME's 17 contour columns even with no dynamic landmark measured...
    assert (contour == contour[:1]).all()  # ...each the point's static embedding in every bin
    assert (tmp_path / "ok" / "landmarks.png").is_file()


@pytest.mark.parametrize("width", [1e-9, 0.0, -5.0])
def test_a_yaw_bin_narrower_than_a_tenth_of_a_degree_is_refused(width):
    with pytest.raises(FacepartError, match="--bin-width must be between 0.1 and 180"):
        LandmarkSettings(bin_width=width)


# -- an open mesh: half a head (the surface seen through the cut faces away from the camera) ------------

def _half_head(model):
    """The demo head cut at x = 0: only the triangles of the subject's left half (centroid x >= 0); every vertex
    kept, so vertex ids of the whole head still index it."""
    import dataclasses

    centroids = model.vertices[model.triangles].mean(axis=1)
    return dataclasses.replace(model, name="half", triangles=model.triangles[centroids[:, 0] >= 0])


class _Sometimes:
    """Reports point ``hidden`` only in every ``every``-th view of ``detector``: a landmark seen in few views."""

    def __init__(self, detector, hidden: int, every: int):
        self.detector, self.hidden, self.every = detector, hidden, every
        self.name, self.n_points = detector.name, detector.n_points

    def detect_view(self, view):
        det = self.detector.detect_view(view)
        if det is not None and view.index % self.every:
            det.valid[self.hidden] = False
        return det


@pytest.fixture(scope="module")
def half_oracle(demo_model):
    """An oracle embedding on half the demo head. The oracle also reports the points of the missing half (like a
    detector guessing the rest of the face): through the cut, their pixels show the inside of the back of the
    head. ``kept[0]`` is reported in only a quarter of the views."""
    half = _half_head(demo_model)
    tris, bary = _front_points(demo_model, 60, seed=4)
    truth = barycentric_points(demo_model.vertices, demo_model.triangles, tris, bary)
    gone = np.flatnonzero(truth[:, 0] < -0.006)[:8]
    kept = np.flatnonzero(truth[:, 0] > 0.006)[:8]
    assert len(gone) == 8 and len(kept) == 8
    ids = np.concatenate([gone, kept])
    corners_lr = (8 + int(np.argmin(truth[kept, 0])), 8 + int(np.argmax(truth[kept, 0])))
    oracle = OracleLandmarkDetector(demo_model.triangles[tris[ids]], bary[ids], depth_tolerance=1.0)
    lset = LandmarkSet("oracle16", "oracle", 16, tuple(f"p{i}" for i in range(16)), tuple((i,) for i in range(16)),
                       ("other",) * 16, corners_lr, "test")
    settings = LandmarkSettings(variants=16, size=256, yaw=35, held_out=2, seed=5)
    emb = embed_landmarks(half, _Sometimes(oracle, 8, 4), lset, settings)
    return half, emb, truth[ids]


def test_landmarks_seen_through_an_opening_are_not_found_on_back_facing_surface(half_oracle):
    # before: the 8 points of the missing half landed inside the back of the skull (z ~ -100 mm), "embedded"
    half, emb, truth = half_oracle
    points = emb.points(half.vertices, half.triangles)
    print(f"\nhalf head: missing-half points embedded at z (mm) {np.round(points[:8, 2] * MM, 1)}")
    gone_found = np.flatnonzero(emb.embedded[:8])
    # only where the kept half itself (the nose, at a turned head) covers the point's pixel in some view does a
    # point of the missing half land anywhere: on that front-facing surface, and flagged as seen in few views
    assert (~emb.embedded[:8]).sum() >= 6, points[:8] * MM
    assert (points[gone_found, 2] * MM > 50).all() and emb.unreliable[gone_found].all(), points[:8] * MM
    assert emb.embedded[8:].all()
    err = np.linalg.norm(points[8:] - truth[8:], axis=1) * MM
    assert err.max() < 1.0, err  # the kept half's points are unaffected
    lines = emb.warning_lines()
    never = [ln for ln in lines if "never found" in ln]
    names = [f"p{i}" for i in np.flatnonzero(~emb.embedded)]
    assert len(never) == 1 and never[0].startswith(f"warning: {len(names)} of 16 landmarks were never found")
    assert f": {', '.join(names)};" in never[0], never
    assert lines == emb.summary_lines()[-len(lines):]


def test_a_landmark_seen_in_few_views_gets_a_warning(half_oracle):
    _, emb, _ = half_oracle
    assert emb.embedded[8] and not emb.stable[8] and emb.share[8] < 0.5 and emb.stable[9:].all()
    assert emb.unreliable[8] and not emb.unreliable[9:].any()
    few = [ln for ln in emb.warning_lines() if "were found in under 50%" in ln]
    n = int((emb.embedded & (np.nan_to_num(emb.share) < 0.5)).sum())
    assert len(few) == 1 and few[0].startswith(
        f"warning: {n} of {int(emb.embedded.sum())} embedded landmarks were found in under 50% of the")
    assert f"p8 ({100 * emb.share[8]:.0f}%)" in few[0], few


def test_formats_without_room_for_missing_landmarks_are_skipped_and_the_rest_written(half_oracle, tmp_path):
    # before: one never-found landmark failed the whole set (FacepartError, nothing written, landmarks.json lost)
    from facepart.export.landmarks import read_json, write_landmark_files

    half, emb, _ = half_oracle
    out = tmp_path / "out"
    out.mkdir()
    (out / "keypoints0.txt").write_text("0\n")  # an earlier run's file of a format that is skipped now
    skipped = {}
    written = write_landmark_files(emb, half, out, ("landmarks-json", "flame-lmk-npz", "keypoints0"), figure=True,
                                   skipped=skipped)
    assert [p.name for p in written] == ["landmarks.json", "landmarks.png"]
    assert sorted(p.name for p in out.iterdir()) == ["landmarks.json", "landmarks.png"]  # no stale keypoints0.txt
    assert sorted(skipped) == ["flame-lmk-npz", "keypoints0"]
    n = int((~emb.embedded).sum())
    for name, line in skipped.items():
        assert line.startswith(f"warning: {name} not written: {n} of 16 landmarks were never found") and "p7" in line
    back = read_json(out / "landmarks.json")
    assert np.array_equal(back.triangle, emb.triangle) and (back.triangle[:8] == -1).sum() == n
    with pytest.raises(FacepartError, match=f"keypoints0: {n} of 16 landmarks were never found"):  # asked for alone
        from facepart.export import get_exporter

        get_exporter("keypoints0", kind="landmarks").write(emb, tmp_path / "direct")


def test_cli_on_half_a_head_writes_landmarks_json_and_warns(demo_model, tmp_path):
    pytest.importorskip("mediapipe")
    import trimesh

    half = _half_head(demo_model)
    colours = np.clip(np.asarray(demo_model.albedo) * 255, 0, 255).astype(np.uint8)
    path = tmp_path / "half.ply"
    trimesh.Trimesh(half.vertices * MM, half.triangles, vertex_colors=colours, process=False).export(path)
    few = ("--variants", 12, "--size", 256, "--held-out", 2, "--seed", 2)
    # the default formats: landmarks.json and the figure written, flame-lmk-npz skipped with a warning, exit 0
    r = _cli(path, "--out", tmp_path / "a", *few)
    assert r.returncode == 0, r.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["landmarks.json", "landmarks.png"]
    data = json.loads((tmp_path / "a" / "landmarks.json").read_text())
    missing = [lm["name"] for lm in data["landmarks"] if lm["triangle"] < 0]
    assert missing and all(n.startswith("right_") or "lip" in n for n in missing), missing  # the cut-off half
    # nothing inside the back of the head (before: right eye and brow points at z ~ -100 mm)
    assert all(lm["point_mm"][2] > 0 for lm in data["landmarks"] if lm["triangle"] >= 0)
    warned = [ln for ln in r.stdout.splitlines() if ln.startswith("warning: flame-lmk-npz not written")]
    assert len(warned) == 1 and missing[0] in warned[0], r.stdout
    # `info` on the output folder describes its landmarks.json (before: "no face model found in this folder")
    info = subprocess.run([sys.executable, "-m", "facepart", "info", str(tmp_path / "a")], capture_output=True,
                          text=True, timeout=120)
    assert info.returncode == 0 and "the output folder of `facepart landmarks`" in info.stdout, info.stderr
    assert f"Embedded {len(data['landmarks']) - len(missing)} of {len(data['landmarks'])} landmarks" in info.stdout
    # a --to format that cannot be written: the rest is written, one warning each, then exit 1
    r = _cli(path, "--out", tmp_path / "b", *few, "--to", "keypoints0")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["landmarks.json", "landmarks.png"]
    assert len([ln for ln in r.stdout.splitlines() if ln.startswith("warning: keypoints0 not written")]) == 1
    error = r.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: --to keypoints0: not written") and str(tmp_path / "b") in error, r.stderr
