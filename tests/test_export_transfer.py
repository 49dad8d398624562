"""closest points on a mesh, `facepart transfer` between topologies, `facepart compare`, and the export CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.spatial import cKDTree

from facepart.cli import main
from facepart.data import FaceModel
from facepart.data.annotation import load_annotation, save_annotation
from facepart.data.parts import PAPER_PARTS
from facepart.errors import FacepartError
from facepart.export.transfer import transfer_by_surface
from facepart.export.view import annotation_from_sets
from facepart.geometry import closest_point_on_triangles, closest_points
from truth import ict_truth


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


# -- geometry ------------------------------------------------------------------------------------

def test_closest_point_on_a_triangle_is_never_beaten_by_dense_samples():
    rng = np.random.default_rng(0)
    a, b, c, p = (rng.normal(size=(300, 3)) for _ in range(4))
    w = closest_point_on_triangles(p, a, b, c)
    assert (w >= 0).all() and np.allclose(w.sum(axis=1), 1)
    d = np.linalg.norm(p - (w[:, :1] * a + w[:, 1:2] * b + w[:, 2:] * c), axis=1)
    g = np.linspace(0, 1, 81)
    u, v = np.meshgrid(g, g)
    keep = u + v <= 1
    u, v = u[keep], v[keep]
    for i in range(len(p)):
        samples = a[i] + u[:, None] * (b[i] - a[i]) + v[:, None] * (c[i] - a[i])
        assert d[i] <= np.linalg.norm(samples - p[i], axis=1).min() + 1e-12


def test_closest_points_match_brute_force_on_an_irregular_mesh():
    import trimesh

    rng = np.random.default_rng(1)
    sphere = trimesh.creation.icosphere(subdivisions=3)
    v = sphere.vertices * [1.0, 0.7, 0.5] + rng.normal(0, 0.03, sphere.vertices.shape)
    v[:5] *= 4.0  # a few long spikes: large triangles next to small ones
    tri = sphere.faces
    pts = rng.normal(0, 1.0, (400, 3))
    cp = closest_points(v, tri, pts)
    n, f = len(pts), len(tri)
    w = closest_point_on_triangles(np.repeat(pts, f, 0), *(np.tile(v[tri[:, k]], (n, 1)) for k in range(3)))
    q = np.einsum("ij,ijk->ik", w, np.tile(v[tri], (n, 1, 1)))
    brute = np.linalg.norm(np.repeat(pts, f, 0) - q, axis=1).reshape(n, f).min(axis=1)
    assert np.allclose(cp.distance, brute, atol=1e-12)
    assert np.allclose(np.einsum("ij,ijk->ik", cp.barycentric, v[tri[cp.triangle]]), cp.point)
    on_surface = closest_points(v, tri, v[tri[7]].mean(axis=0, keepdims=True))
    assert on_surface.triangle[0] == 7 and on_surface.distance[0] < 1e-12


# -- transfer --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ict_annotation(ict_model):
    labels = ict_truth(ict_model)
    return annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                                ict_model.fingerprint, "ict truth"), labels


@pytest.fixture(scope="module")
def decimated(ict_model):
    """The ICT model decimated to a third of its triangles (fast-simplification through trimesh)."""
    import trimesh

    mesh = trimesh.Trimesh(ict_model.vertices, ict_model.triangles, process=False)
    small = mesh.simplify_quadric_decimation(face_count=len(ict_model.triangles) // 3)
    assert len(small.vertices) < ict_model.n_vertices // 2
    return FaceModel("ict-decimated", np.asarray(small.vertices), np.asarray(small.faces))


def _label_at_nearest_surface_point(model, labels, points):
    """Reference labels, computed independently: exact closest point on the drawn triangles by brute force over
    every triangle within reach (a triangle with the closest point has a corner within d_nearest_vertex +
    longest edge), then the barycentric majority of the corner labels."""
    tri = model.triangles[model.render_triangles]
    v = model.vertices.astype(np.float64)
    used = np.unique(tri)
    tree = cKDTree(v[used])
    longest = max(np.linalg.norm(v[tri[:, k]] - v[tri[:, (k + 1) % 3]], axis=1).max() for k in range(3))
    incident = [[] for _ in range(len(v))]
    for t, corners in enumerate(tri):
        for c in corners:
            incident[c].append(t)
    out = []
    for p in points:
        d0, _ = tree.query(p)
        near = used[tree.query_ball_point(p, d0 + longest + 1e-9)]
        cand = np.unique(np.concatenate([incident[i] for i in near]).astype(np.int64))
        w = closest_point_on_triangles(np.repeat(p[None], len(cand), 0), *(v[tri[cand, k]] for k in range(3)))
        q = np.einsum("ij,ijk->ik", w, v[tri[cand]])
        best = int(np.argmin(np.linalg.norm(q - p, axis=1)))
        corner_labels = labels[tri[cand[best]]]
        score = {lab: w[best][corner_labels == lab].sum() for lab in set(corner_labels.tolist())}
        top = max(score.values())
        out.append(min((lab for lab, s in score.items() if s == top), key=lambda x: (x < 0, x)))
    return np.array(out)


def test_transfer_to_a_decimated_copy_keeps_labels(ict_model, ict_annotation, decimated):
    ann, labels = ict_annotation
    result = transfer_by_surface(ann, ict_model, decimated)
    got = result.annotation.labels
    assert result.annotation.fingerprint == decimated.fingerprint
    assert result.median_mm < 0.5 and result.p95_mm < 3.0
    sample = np.random.default_rng(0).choice(decimated.n_vertices, 800, replace=False)
    points = decimated.vertices[sample].astype(np.float64)
    ref = _label_at_nearest_surface_point(ict_model, labels, points)
    # a vertex on ICT's undrawn surface (lashes, shells, mouth socket: decimated with the rest) and off the drawn
    # one carries no part, as on ICT itself
    hidden = np.ones(len(ict_model.triangles), bool)
    hidden[ict_model.render_triangles] = False
    on_hidden = closest_points(ict_model.vertices, ict_model.triangles[hidden], points).distance < 5e-5
    off_drawn = closest_points(ict_model.vertices, ict_model.triangles[~hidden], points).distance >= 5e-5
    assert (on_hidden & off_drawn).sum() > 10
    ref[on_hidden & off_drawn] = -1
    # a vertex on both surfaces (where a shell touches the eyelid) goes with the surface its own faces lie on: the
    # reference cannot tell, so it is left out
    decided = ~(on_hidden & ~off_drawn)
    got_s = got[sample][decided]
    ref = ref[decided]
    consistent = (got_s == ref).mean()
    assert consistent >= 0.97, consistent
    labelled = ref >= 0
    assert labelled.sum() > 150 and (got_s[labelled] == ref[labelled]).mean() >= 0.9
    raw = transfer_by_surface(ann, ict_model, decimated, smooth_rings=0).annotation.labels[sample][decided]
    near = result.distance_mm[sample][decided] < 10.0  # (farther vertices are left unlabelled on purpose)
    assert (raw[near] == ref[near]).mean() >= 0.995


def test_transfer_refuses_a_copy_moved_by_10_cm(ict_model, ict_annotation, decimated):
    ann, _ = ict_annotation
    moved = FaceModel("moved", decimated.vertices + np.array([0.0, 0.0, 0.1]), decimated.triangles)
    with pytest.raises(FacepartError, match="not in the same frame") as err:
        transfer_by_surface(ann, ict_model, moved)
    assert "\n" not in str(err.value) and "check the target's axes (-O up=AXIS -O front=AXIS) and origin" in \
        str(err.value)
    scaled = FaceModel("in-mm", decimated.vertices * 1000, decimated.triangles)  # millimetres read as metres
    with pytest.raises(FacepartError, match=r"it is \d+ times the source's size: give the target's unit"):
        transfer_by_surface(ann, ict_model, scaled)
    with pytest.raises(FacepartError, match="needs 68 landmarks on both models; moved has none"):
        transfer_by_surface(ann, ict_model, moved, align="landmarks")


def test_transfer_cli_writes_a_normal_annotation_and_refuses_moved(ict_model, ict_path, ict_annotation, decimated,
                                                                     tmp_path):
    import trimesh

    ann, labels = ict_annotation
    (tmp_path / "src").mkdir()
    save_annotation(ann, tmp_path / "src")
    target = tmp_path / "decimated.ply"
    trimesh.Trimesh(decimated.vertices, decimated.triangles, process=False).export(target)
    result = run("transfer", tmp_path / "src", "--to", target, "--unit", "m", "--from", ict_path,
                 "--out", tmp_path / "dst")
    assert result.exit_code == 0, result.output
    assert "median" in result.output and "95th percentile" in result.output
    out = load_annotation(tmp_path / "dst")
    assert out.n_vertices == decimated.n_vertices
    assert json.loads((tmp_path / "dst" / "parts.json").read_text())["nose"] == out.members()["nose"].tolist()
    # the source run's figures describe the source mesh: kept apart, not shown as the target's own
    ann.settings.update(quality={"report": {}}, held_out_part_iou={"nose": 0.8}, segmenter="mediapipe")
    save_annotation(ann, tmp_path / "src")
    result = run("transfer", tmp_path / "src", "--to", target, "--unit", "m", "--from", ict_path,
                 "--out", tmp_path / "dst")
    out = load_annotation(tmp_path / "dst")
    assert set(out.settings) == {"model", "transfer"}
    moved_record = out.settings["transfer"]
    assert moved_record["method"] == "surface" and moved_record["source_run"]["held_out_part_iou"] == {"nose": 0.8}
    info = run("info", tmp_path / "dst")
    assert "transferred (surface) from " in info.output and "the source run's segmenter: mediapipe" in info.output
    assert "held-out" not in info.output and "quality" not in info.output
    # the result is a normal annotation: export reads it and the target model
    exported = run("export", tmp_path / "dst", "--to", "ply", "--model", target, "--unit", "m")
    assert exported.exit_code == 0, exported.output
    moved = tmp_path / "moved.ply"
    trimesh.Trimesh(decimated.vertices + [0, 0, 0.1], decimated.triangles, process=False).export(moved)
    refused = run("transfer", tmp_path / "src", "--to", moved, "--unit", "m", "--from", ict_path,
                  "--out", tmp_path / "bad")
    assert refused.exit_code == 1
    assert "not in the same frame" in refused.output and len(refused.output.strip().splitlines()) == 1


@pytest.mark.parametrize("option, value", [("--max-distance", "-5"), ("--max-distance", "0"),
                                           ("--max-distance", "nan"), ("--smooth", "-1"), ("--max-median", "nan"),
                                           ("--max-median", "-1")])
def test_transfer_refuses_a_bad_distance_or_smoothing_option(tmp_path, option, value):
    result = run("transfer", "demo", "--to", "demo", "--out", tmp_path / "out", option, value)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"Error: {option} must be " + result.output.split(" must be ")[1]
                                                  .strip()]
    assert not (tmp_path / "out").exists()


def test_smoothing_stops_once_nothing_changes(monkeypatch):
    from facepart.export import transfer

    calls = []
    argmax = np.argmax
    monkeypatch.setattr(transfer.np, "argmax", lambda *a, **k: calls.append(1) or argmax(*a, **k))
    tris = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1]])
    out = transfer.smooth_labels(np.array([1, 0, 0, 0]), 4, tris, 2, rounds=10**5)
    assert out.tolist() == [0, 0, 0, 0] and len(calls) < 10  # not 100000 rounds


def test_transfer_via_an_index_map(ict_model, ict_annotation, tmp_path):
    """A 3DDFA-style indices_A_B.npy between a sub-topology (first 11248 ICT vertices) and the full one."""
    import trimesh

    ann, labels = ict_annotation
    n = 11248
    keep = ict_model.triangles[(ict_model.triangles < n).all(axis=1)]
    child = tmp_path / "head.ply"
    trimesh.Trimesh(ict_model.vertices[:n], keep, process=False).export(child)
    index_map = tmp_path / f"indices_{n}_{ict_model.n_vertices}.npy"
    np.save(index_map, np.arange(n, dtype=np.int64))
    (tmp_path / "src").mkdir()
    save_annotation(ann, tmp_path / "src")
    result = run("transfer", tmp_path / "src", "--to", child, "--unit", "m", "--via", index_map,
                 "--out", tmp_path / "dst")
    assert result.exit_code == 0, result.output
    moved = load_annotation(tmp_path / "dst")
    assert (moved.labels == labels[:n]).all()
    assert moved.settings["transfer"]["method"] == "index map" and "source_run" in moved.settings["transfer"]
    for flags in (["--smooth", "3"], ["--align", "landmarks", "--max-distance", "2"]):
        result = run("transfer", tmp_path / "src", "--to", child, "--unit", "m", "--via", index_map,
                     "--out", tmp_path / "dst2", *flags)
        assert result.exit_code == 1 and "with --via the index map decides" in result.output, result.output
        assert flags[0] in result.output and not (tmp_path / "dst2").exists()


def test_landmark_alignment_rescues_a_moved_copy(ict_model, ict_annotation):
    ann, labels = ict_annotation
    moved = FaceModel("moved", ict_model.vertices * 1.1 + np.array([0.02, -0.05, 0.1]), ict_model.triangles,
                      landmarks68=ict_model.landmarks68, render_mask=ict_model.render_mask)
    result = transfer_by_surface(ann, ict_model, moved, align="landmarks", smooth_rings=0)
    assert result.median_mm < 0.01
    drawn = ict_model.render_mask
    assert (result.annotation.labels[drawn] == labels[drawn]).all()


def test_transfer_onto_the_same_mesh_is_the_identity_and_keeps_to_the_targets_votable_surface(ict_model,
                                                                                             ict_annotation):
    # before: ICT onto ICT changed about 8% of the vertices (undrawn lashes and shells took the labels of the
    # skin and eyes under them, the smoothing eroded the rest) and reported distances up to 9.5 mm
    ann, labels = ict_annotation
    result = transfer_by_surface(ann, ict_model, ict_model)
    assert np.array_equal(result.annotation.labels, labels)
    assert result.distance_mm.max() < 0.05 and result.smoothed == 0  # mm
    # a plain copy of the mesh (no masks): vertices on the source's undrawn surface stay unlabelled
    plain = FaceModel("copy", ict_model.vertices.copy(), ict_model.triangles)
    copy = transfer_by_surface(ann, ict_model, plain).annotation.labels
    drawn = ict_model.render_mask
    # (before: 486 socket vertices lying exactly on eyelid and skin vertices took their eye and skin labels)
    assert np.array_equal(copy, labels)  # a vertex where the source vertex of its index lies is that vertex
    # the same mesh with its vertices renumbered: where undrawn shells touch the drawn surface, the target's
    # own faces tell which surface a vertex is on (only faces lying on both surfaces leave it undecided)
    order = np.random.default_rng(0).permutation(ict_model.n_vertices)
    rank = np.argsort(order)
    shuffled = FaceModel("shuffled", ict_model.vertices[order], rank[ict_model.triangles])
    moved = transfer_by_surface(ann, ict_model, shuffled).annotation.labels
    assert (moved == labels[order]).mean() > 0.995
    from facepart.geometry import closest_points

    surface = ict_model.triangles[ict_model.render_triangles]
    apart = ~drawn & (closest_points(ict_model.vertices, surface, ict_model.vertices).distance > 1e-4)
    assert apart.sum() > 100 and (copy[apart] == -1).all() and (moved[rank[apart]] == -1).all()
    # a target that never votes on some vertices (a run on it would leave them unlabelled) leaves them so
    vote = ict_model.vote_mask.copy()
    nose = np.flatnonzero(labels == PAPER_PARTS.index("nose"))[:40]
    vote[nose] = False
    masked = FaceModel("masked", ict_model.vertices.copy(), ict_model.triangles, render_mask=ict_model.render_mask,
                       vote_mask=vote)
    carried = transfer_by_surface(ann, ict_model, masked)
    assert (carried.annotation.labels[nose] == -1).all()
    # vertices in no triangle of the target are never drawn, so never labelled (a half mesh keeps all vertices)
    half = FaceModel("half", ict_model.vertices.copy(), ict_model.triangles[ict_model.vertices[ict_model.triangles]
                                                                            .mean(axis=1)[:, 0] >= 0])
    loose = np.setdiff1d(np.arange(half.n_vertices), half.triangles.ravel())
    assert len(loose) > 1000 and (labels[loose] >= 0).sum() > 500
    assert (transfer_by_surface(ann, ict_model, half).annotation.labels[loose] == -1).all()
    assert any("vertices outside masked's vote-eligible surface" in n for n in carried.notes), carried.notes


# -- compare ---------------------------------------------------------------------------------------

def test_compare_two_seeds_prints_per_part_iou(tmp_path):
    for seed in (1, 2):
        r = run("annotate", "demo", "--out", tmp_path / f"s{seed}", "--variants", 8, "--size", 192, "--eval-views", 0,
                "--no-preview", "--seed", seed)
        assert r.exit_code == 0, r.output
    diff = tmp_path / "diff.json"
    result = run("compare", tmp_path / "s1", tmp_path / "s2", "--out", diff)
    assert result.exit_code == 0, result.output
    a, b = load_annotation(tmp_path / "s1"), load_annotation(tmp_path / "s2")
    for name in PAPER_PARTS:
        i = a.parts.index(name)
        inter = ((a.labels == i) & (b.labels == i)).sum()
        union = ((a.labels == i) | (b.labels == i)).sum()
        line = next(ln for ln in result.output.splitlines() if ln.split()[:1] == [name])
        assert line.split()[1] == f"{inter / union:.4f}"
    differences = json.loads(diff.read_text())
    assert differences["all"] == np.flatnonzero(a.labels != b.labels).tolist()
    assert 0 < len(differences["all"]) < a.n_vertices // 10
    for key, idx in differences.items():
        if key != "all":
            pa, pb = key.split("->")
            assert all(a.labels[v] == (a.parts.index(pa) if pa != "none" else -1) for v in idx)
            assert all(b.labels[v] == (b.parts.index(pb) if pb != "none" else -1) for v in idx)
    same = run("compare", tmp_path / "s1", tmp_path / "s1" / "parts.json", "--out", tmp_path / "same.json")
    assert same.exit_code == 0 and "0 of 23938 vertices differ" in same.output


def test_compare_against_a_plain_export_with_groups_merges_the_same_parts_on_the_other_side(tmp_path):
    r = run("annotate", "demo", "--out", tmp_path / "run", "--variants", 6, "--size", 128, "--eval-views", 0,
            "--no-preview")
    assert r.exit_code == 0, r.output
    a = load_annotation(tmp_path / "run")
    for to, group, name in (("parts", "face=all", "g.json"), ("csv", "eyes=left_eye+right_eye", "g.csv")):
        assert run("export", tmp_path / "run", "--to", to, "--group", group, "--out", tmp_path / name).exit_code == 0
        result = run("compare", tmp_path / "run", tmp_path / name, "--out", tmp_path / "d.json")
        assert result.exit_code == 0, result.output
        # a plain file cannot mark a group: before, every vertex of it counted as a difference
        assert f"0 of {a.n_vertices} vertices differ" in result.output
        gname, members = group.split("=")
        members = list(a.parts.names) if members == "all" else members.split("+")
        expected = int(np.isin(a.labels, [a.parts.index(m) for m in members]).sum())
        row = next(ln for ln in result.output.splitlines() if ln.split()[:1] == [gname]).split()
        assert row[1:] == ["1.0000", str(expected), str(expected), str(expected)]
        assert f"{gname}: a group in B (" in result.output
        assert json.loads((tmp_path / "d.json").read_text()) == {"all": []}
    # a real difference inside a group still shows: one left-eye vertex moved to skin in the plain file
    plain = json.loads((tmp_path / "g.json").read_text())
    moved = plain["left_eye"].pop()
    plain["skin"] = sorted(plain["skin"] + [moved])
    (tmp_path / "g2.json").write_text(json.dumps(plain))
    result = run("compare", tmp_path / "run", tmp_path / "g2.json", "--out", tmp_path / "d2.json")
    assert f"1 of {a.n_vertices} vertices differ" in result.output
    assert json.loads((tmp_path / "d2.json").read_text())["left_eye->skin"] == [moved]


def test_compare_refuses_another_topology(tmp_path, demo_model, ict_annotation):
    ann, _ = ict_annotation
    (tmp_path / "ict").mkdir()
    save_annotation(ann, tmp_path / "ict")
    r = run("annotate", "demo", "--out", tmp_path / "demo", "--variants", 2, "--size", 96, "--eval-views", 0,
            "--no-preview")
    assert r.exit_code == 0
    result = run("compare", tmp_path / "demo", tmp_path / "ict", "--out", tmp_path / "d.json")
    assert result.exit_code == 1
    # B named against A, with B's count first
    assert f"ict was made for another topology than {tmp_path / 'demo'}: {ann.n_vertices} vertices vs " \
        f"{demo_model.n_vertices}" in result.output


# -- export CLI --------------------------------------------------------------------------------------

def test_export_cli_formats_listing_and_options(tmp_path):
    listing = run("formats", "--exports")
    assert listing.exit_code == 0
    names = [ln.split()[0] for ln in listing.output.splitlines()]
    for fmt in ("json", "csv", "npz", "3ddfa", "flame-pkl", "meshcapade", "tri", "ply", "obj", "glb", "blender",
                "uvmask"):
        assert fmt in names
    r = run("annotate", "demo", "--out", tmp_path / "run", "--variants", 2, "--size", 96, "--eval-views", 0,
            "--no-preview")
    assert r.exit_code == 0
    result = run("export", tmp_path / "run", "--to", "json", "--group", "default", "--parts", "face,eyes,nose")
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "run" / "parts.facepart.json").read_text())
    assert list(doc["parts"]) == ["face", "eyes", "nose"]
    tri = run("export", tmp_path / "run", "--to", "tri", "--tri-rule", "any", "--out", tmp_path / "t.npz")
    assert tri.exit_code == 0, tri.output  # the model ('demo') is found from the annotation's settings
    with np.load(tmp_path / "t.npz") as data:
        assert str(data["tri_rule"]) == "any"
    bad = run("export", tmp_path / "run", "--to", "csv", "--split")
    assert bad.exit_code == 1 and "does not apply to the csv format" in bad.output
    back = run("export", tmp_path / "run" / "parts.facepart.json", "--to", "csv", "--out", tmp_path / "p.csv")
    assert back.exit_code == 0, back.output
