"""Every export format: export -> import gives the same labels, and the file is what its consumer reads."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
import types

import numpy as np
import pytest

from facepart.data import FaceModel
from facepart.data.parts import PAPER_PARTS, UNLABELLED_COLOR, PartTable
from facepart.errors import FacepartError
from facepart.export import EXPORTERS, ExportOptions, PartView, export, export_annotation, read_annotation
from facepart.export.view import annotation_from_sets
from test_formats_layouts import face_source, write_3ddfa_v3  # noqa: F401 - face_source is a fixture

V3_ORDER = ("right_eye", "left_eye", "right_eyebrow", "left_eyebrow", "nose", "up_lip", "down_lip", "skin")
ROUND_TRIP_EXACT = ["json", "parts", "csv", "npz", "3ddfa", "flame-pkl", "meshcapade", "ply", "obj", "glb", "blender"]
SUFFIX = {"json": ".json", "parts": ".json", "csv": ".csv", "npz": ".npz", "3ddfa": ".npy", "flame-pkl": ".pkl",
          "meshcapade": ".json", "ply": ".ply", "obj": ".obj", "glb": ".glb", "blender": ".py", "tri": ".npz"}


@pytest.fixture(scope="module")
def demo_ann(demo_model, demo_truth):
    """The demo head's truth as an annotation (disjoint parts, some vertices unlabelled)."""
    parts = PartTable.paper()
    sets = {n: np.flatnonzero(demo_truth == i) for i, n in enumerate(parts.names)}
    ann = annotation_from_sets(sets, demo_model.fingerprint, "demo truth")
    assert (ann.labels == demo_truth).all() and (demo_truth < 0).any()
    return ann


@pytest.fixture(scope="module")
def voted_ann(demo_ann):
    """An annotation with real-looking votes: union membership differs from the majority labels."""
    rng = np.random.default_rng(3)
    v, p = demo_ann.votes.shape
    votes = demo_ann.votes * 10 + (rng.random((v, p)) < 0.05) * rng.integers(1, 4, (v, p))
    ann = annotation_from_sets({n: np.flatnonzero(demo_ann.labels == i) for i, n in enumerate(PAPER_PARTS)},
                               demo_ann.fingerprint, "voted")
    ann.votes = votes.astype(np.int32)
    assert (ann.membership("union").sum(axis=1) > 1).any()
    return ann


def _members(ann, rule=None):
    return {n: set(idx.tolist()) for n, idx in ann.members(rule).items()}


# -- round trips ----------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ROUND_TRIP_EXACT)
def test_round_trip_gives_the_same_labels(fmt, demo_ann, demo_model, tmp_path):
    path = tmp_path / f"out{SUFFIX[fmt]}"
    written = export(demo_ann, fmt, path, model=demo_model)
    assert written == [path] and path.is_file()
    back = read_annotation(path, model=demo_model)
    assert back.fingerprint == demo_ann.fingerprint
    assert _members(back) == _members(demo_ann)
    order = [back.parts.names.index(n) for n in demo_ann.parts.names]
    remap = np.array(order + [-1])[np.where(demo_ann.labels < 0, len(order), demo_ann.labels)]
    assert (back.labels == remap).all()


@pytest.mark.parametrize("fmt", ["json", "csv", "flame-pkl", "meshcapade", "blender", "parts"])
def test_round_trip_of_overlapping_parts_union_rule_and_groups(fmt, voted_ann, demo_model, tmp_path):
    """Overlapping views (union rule, groups) come back as the same vertex sets."""
    path = tmp_path / f"out{SUFFIX[fmt]}"
    export(voted_ann, fmt, path, model=demo_model, rule="union", groups="eyes=left_eye+right_eye,face=all")
    back = read_annotation(path, model=demo_model)
    view = PartView.of(voted_ann, ExportOptions.of({"rule": "union", "groups": "eyes=left_eye+right_eye,face=all"}))
    want = {n: set(i.tolist()) for n, i in view.indices().items()}
    if fmt == "json":  # groups are marked as derived and not read back as parts
        want = {n: s for n, s in want.items() if n not in ("eyes", "face")}
    assert back.rule == "union"
    assert _members(back) == want


def test_tri_round_trip_inverts_each_rule(demo_ann, demo_model, tmp_path):
    """Triangle labels lose information only at part borders; interior vertices come back exactly."""
    from facepart.geometry import adjacency

    adj = adjacency(demo_model.n_vertices, demo_model.triangles)
    labels = demo_ann.labels
    same_ring = np.asarray(((adj.multiply(labels[None, :] != labels[:, None])).sum(axis=1))).ravel() == 0
    for rule in ("all", "any", "majority"):
        path = tmp_path / f"tri_{rule}.npz"
        export(demo_ann, "tri", path, model=demo_model, tri_rule=rule)
        back = read_annotation(path, model=demo_model)
        perm = np.array([back.parts.names.index(n) for n in PAPER_PARTS] + [-1])
        want = perm[np.where(labels < 0, len(PAPER_PARTS), labels)]
        assert (back.labels[same_ring] == want[same_ring]).all(), rule
        agree = (back.labels == want).mean()
        assert agree > 0.97, (rule, agree)


def test_uvmask_round_trip_on_a_model_with_clean_uvs(tmp_path):
    """A flat grid with planar UVs (one-to-one by construction): each vertex's own texel carries its part."""
    n = 48
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n), np.linspace(-0.1, 0.1, n))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tri = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    uv = 0.05 + 0.9 * (v[:, :2] + 0.1) / 0.2
    model = FaceModel("grid", v, tri, uv=uv)
    # eight parts as blobs of a few rings around seeds, the rest unlabelled
    rng = np.random.default_rng(0)
    seeds = v[rng.choice(len(v), len(PAPER_PARTS), replace=False)]
    nearest = np.argmin(((v[:, None, :2] - seeds[None, :, :2]) ** 2).sum(-1), axis=1)
    near = np.linalg.norm(v[:, :2] - seeds[nearest, :2], axis=1) < 0.03
    sets = {name: np.flatnonzero(near & (nearest == i)) for i, name in enumerate(PAPER_PARTS)}
    ann = annotation_from_sets(sets, model.fingerprint, "grid")
    written = export(ann, "uvmask", tmp_path / "uv", model=model, size=1024, notes=[])
    assert {p.name for p in written} == {f"{name}.png" for name in PAPER_PARTS} | {"uvmask.json"}
    back = read_annotation(tmp_path / "uv", model=model)
    for name in PAPER_PARTS:
        a_set = set(np.flatnonzero(ann.membership()[:, ann.parts.index(name)]).tolist())
        b_set = set(np.flatnonzero(back.membership()[:, back.parts.index(name)]).tolist())
        assert a_set == b_set and len(a_set) > 5, name


def test_uvmask_on_ict_writes_the_face_tile_and_recovers_face_vertices(ict_model, tmp_path):
    import cv2

    from truth import ict_truth

    labels = ict_truth(ict_model)
    ann = annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                               ict_model.fingerprint, "ict truth")
    notes = []
    export(ann, "uvmask", tmp_path / "uv", model=ict_model, size=512, notes=notes)
    meta = json.loads((tmp_path / "uv" / "uvmask.json").read_text())
    assert meta["tiles"] == [1001] and meta["topology"] == ict_model.fingerprint.as_dict()
    nose = cv2.imread(str(tmp_path / "uv" / "nose.png"), cv2.IMREAD_GRAYSCALE)
    assert nose.shape == (512, 512) and set(np.unique(nose)) == {0, 255}
    back = read_annotation(tmp_path / "uv", model=ict_model)
    face = np.arange(ict_model.n_vertices) < 6706  # the narrow face, where the truth has its parts
    assert (back.labels[face] == labels[face]).mean() > 0.97
    assert not any("share" in n for n in notes), notes  # neighbouring parts' common edge texels are no overlap


def test_uvmask_says_when_two_parts_share_uv_space(ict_model, tmp_path):
    """ICT's two eyeballs use one texture: eye parts that hold their fronts get identical masks, and the
    export says so instead of silently writing two masks that cannot tell left from right."""
    from truth import ict_truth

    labels = ict_truth(ict_model).copy()
    ids = np.arange(ict_model.n_vertices)
    for eye, (lo, hi) in (("left_eye", (21451, 23020)), ("right_eye", (23021, 24590))):
        ball = (ids >= lo) & (ids <= hi)
        front = ball & (ict_model.vertices[:, 2] > np.quantile(ict_model.vertices[ball, 2], 0.8))
        labels[front] = PAPER_PARTS.index(eye)
    ann = annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                               ict_model.fingerprint, "ict with eyeballs")
    notes = []
    export(ann, "uvmask", tmp_path / "uv", model=ict_model, size=256, notes=notes)
    shared = [n for n in notes if "share" in n]
    assert len(shared) == 1 and "left_eye/right_eye" in shared[0] and "cannot tell them apart" in shared[0]
    assert "nose/up_lip" not in shared[0] and "left_eyebrow/right_eyebrow" not in shared[0]


# -- what each consumer expects --------------------------------------------------------------------

def _run_without_facepart(code: str, tmp_path) -> str:
    """Run ``code`` in a fresh Python that cannot import facepart (an import of it fails)."""
    guard = ("import sys, importlib.abc\n"
             "class Block(importlib.abc.MetaPathFinder):\n"
             "    def find_spec(self, name, path=None, target=None):\n"
             "        if name.split('.')[0] == 'facepart':\n"
             "            raise ImportError('facepart is not available here')\n"
             "sys.meta_path.insert(0, Block())\n")
    script = tmp_path / "consumer.py"
    script.write_text(guard + code + "\nassert not any(m.split('.')[0] == 'facepart' for m in sys.modules)\n")
    result = subprocess.run([sys.executable, "-I", str(script)], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_flame_pkl_loads_with_plain_pickle_without_facepart(demo_ann, tmp_path):
    path = tmp_path / "FLAME_masks_facepart.pkl"
    export(demo_ann, "flame-pkl", path, groups="default")
    out = _run_without_facepart(
        "import pickle, json\n"
        f"masks = pickle.load(open({str(path)!r}, 'rb'), encoding='latin1')\n"
        "assert type(masks) is dict and all(type(k) is str for k in masks)\n"
        "assert all(v.dtype.name == 'int64' and v.ndim == 1 for v in masks.values())\n"
        "print(json.dumps({k: v.tolist() for k, v in masks.items()}))\n", tmp_path)
    masks = json.loads(out)
    assert list(masks) == [*PAPER_PARTS, "face", "eyes", "eyebrows", "lips"]
    for n, idx in demo_ann.members().items():
        assert masks[n] == idx.tolist()
    assert set(masks["eyes"]) == set(masks["left_eye"]) | set(masks["right_eye"])
    assert set(masks["face"]) == set(np.flatnonzero(demo_ann.labels >= 0).tolist())


def test_3ddfa_small_file_has_their_keys_order_and_triangles(demo_ann, demo_model, tmp_path):
    path = tmp_path / "annotation_3ddfa.npy"
    export(demo_ann, "3ddfa", path, model=demo_model, tri_rule="all")
    out = _run_without_facepart(
        "import numpy as np, json\n"
        f"d = np.load({str(path)!r}, allow_pickle=True).item()\n"
        "ann, tri = d['annotation'], d['annotation_tri']\n"
        "assert len(ann) == 8 and len(tri) == 8\n"
        "assert all(a.dtype == np.int64 and a.ndim == 1 for a in ann)\n"
        "assert all(t.dtype == np.int64 and t.ndim == 2 and t.shape[1] == 3 for t in tri)\n"
        "print(json.dumps({'ann': [a.tolist() for a in ann], 'tri': [t.tolist() for t in tri]}))\n", tmp_path)
    got = json.loads(out)
    members = demo_ann.members()
    tri = demo_model.triangles
    for i, name in enumerate(V3_ORDER):  # 3DDFA-V3's order: right_eye first
        assert got["ann"][i] == members[name].tolist()
        inside = np.isin(tri, members[name]).all(axis=1)  # tri_rule all: every corner in the part
        assert sorted(map(tuple, got["tri"][i])) == sorted(map(tuple, tri[inside].tolist()))


def test_3ddfa_into_a_copy_of_face_model_npy(face_source, tmp_path):
    from facepart.data import load_model

    original = write_3ddfa_v3(tmp_path / "face_model.npy", face_source)
    digest = hashlib.sha256(original.read_bytes()).hexdigest()
    model = load_model(original)
    labels = np.full(model.n_vertices, 7)  # skin, then move the nose elsewhere to see the change
    labels[face_source.parts["right_eye"]] = 1
    labels[face_source.parts["left_eye"]] = 0
    labels[face_source.parts["nose"][:10]] = 6
    ann = annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                               model.fingerprint, "edited")
    with pytest.raises(FacepartError, match="original"):
        export(ann, "3ddfa", original, into=original)
    copy = tmp_path / "out" / "face_model_facepart.npy"
    copy.parent.mkdir()
    export(ann, "3ddfa", copy, into=original)
    assert hashlib.sha256(original.read_bytes()).hexdigest() == digest  # the original is untouched
    out = _run_without_facepart(
        "import numpy as np, json\n"
        f"d = np.load({str(copy)!r}, allow_pickle=True).item()\n"
        f"o = np.load({str(original)!r}, allow_pickle=True).item()\n"
        "same = [k for k in o if k not in ('annotation', 'annotation_tri')]\n"
        "assert set(d) == set(o)\n"
        "for k in same:\n"
        "    a, b = d[k], o[k]\n"
        "    assert (np.array_equal(a, b) if isinstance(a, np.ndarray) else\n"
        "            all(np.array_equal(x, y) for x, y in zip(a, b))), k\n"
        "print(json.dumps([a.tolist() for a in d['annotation']]))\n", tmp_path)
    got = json.loads(out)
    assert got[V3_ORDER.index("nose")] == sorted(face_source.parts["nose"][:10].tolist())
    back = read_annotation(copy)  # the copy names its own topology (u, tri)
    assert (back.labels == labels).all()


def test_3ddfa_refuses_another_topology(demo_ann, face_source, tmp_path):
    original = write_3ddfa_v3(tmp_path / "face_model.npy", face_source)
    with pytest.raises(FacepartError, match="another topology"):
        export(demo_ann, "3ddfa", tmp_path / "copy.npy", into=original)


def test_meshcapade_json_has_their_flat_camelcase_layout(demo_ann, tmp_path):
    path = tmp_path / "seg.json"
    export(demo_ann, "meshcapade", path, groups="lips=up_lip+down_lip")
    data = json.loads(path.read_text())
    assert list(data) == ["leftEye", "rightEye", "leftEyebrow", "rightEyebrow", "upLip", "downLip", "nose", "skin",
                          "lips"]
    assert all(isinstance(v, list) and all(type(i) is int for i in v) for v in data.values())
    assert data["leftEye"] == demo_ann.members()["left_eye"].tolist()


def test_meshcapade_reader_takes_their_unsorted_overlapping_file(demo_model, tmp_path):
    """Meshcapade's files: camelCase names, unsorted ids, shared borders, some vertices in no part."""
    path = tmp_path / "smplx_vert_segmentation.json"
    doc = {"leftEye": [30, 10, 20], "rightEye": [40, 41], "head": list(range(50, 0, -1)), "spine1": [60, 61]}
    path.write_text(json.dumps(doc))
    ann = read_annotation(path, model=demo_model)
    assert ann.rule == "union"
    members = _members(ann)
    assert members == {"left_eye": {10, 20, 30}, "right_eye": {40, 41}, "head": set(range(1, 51)),
                       "spine1": {60, 61}}
    assert ann.labels[10] == ann.parts.index("left_eye")  # the smaller part wins the single label


def test_csv_is_a_plain_table(voted_ann, tmp_path):
    path = tmp_path / "parts.csv"
    export(voted_ann, "csv", path, rule="union")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["vertex", "part"]
    pairs = {(int(r["vertex"]), r["part"]) for r in rows}
    member = voted_ann.membership("union")
    want = {(int(v), PAPER_PARTS[p]) for v, p in zip(*np.nonzero(member))}
    assert pairs == want
    assert [int(r["vertex"]) for r in rows] == sorted(int(r["vertex"]) for r in rows)


def test_a_damaged_topology_entry_is_one_line(demo_ann, demo_model, tmp_path):
    path = tmp_path / "annotation_3ddfa.npy"
    export(demo_ann, "3ddfa", path, model=demo_model)
    d = np.load(path, allow_pickle=True).item()
    d["facepart"] = {"triangle_hash": "0123", "n_vertices": "many"}
    np.save(path, np.array(d, dtype=object), allow_pickle=True)
    with pytest.raises(FacepartError, match="topology entry needs n_vertices, n_triangles, triangle_hash"):
        read_annotation(path)


def test_json_carries_topology_and_part_table(demo_ann, tmp_path):
    path = tmp_path / "parts.facepart.json"
    export(demo_ann, "json", path, groups="default")
    doc = json.loads(path.read_text())
    assert doc["format"] == "facepart-parts"
    assert doc["topology"] == demo_ann.fingerprint.as_dict()
    table = {t["name"]: t for t in doc["part_table"]}
    assert table["nose"]["color"] == [50, 205, 50] and not table["nose"]["group"] and table["eyes"]["group"]
    assert doc["groups"]["eyes"] == ["left_eye", "right_eye"]
    # readable without the model: the file names its topology
    assert read_annotation(path).fingerprint == demo_ann.fingerprint


def test_triangle_rules_on_a_hand_made_mesh(tmp_path):
    """A 3x3 grid of vertices, 8 triangles; the nose holds vertices 0, 1, 3, 4 and 5."""
    #  6 - 7 - 8
    #  | / | / |
    #  3 - 4 - 5
    #  | / | / |
    #  0 - 1 - 2
    verts = np.array([[x, y, 0.0] for y in range(3) for x in range(3)]) * 0.01
    tris = np.array([[0, 1, 4], [0, 4, 3], [1, 2, 5], [1, 5, 4], [3, 4, 7], [3, 7, 6], [4, 5, 8], [4, 8, 7]])
    model = FaceModel("grid", verts, tris)
    ann = annotation_from_sets({"nose": np.array([0, 1, 3, 4, 5]), "skin": np.array([2, 6, 7, 8])},
                               model.fingerprint, "grid")
    expected = {  # triangle ids per part, by hand
        "all": {"nose": [0, 1, 3], "skin": []},
        "any": {"nose": [0, 1, 2, 3, 4, 5, 6, 7], "skin": [2, 4, 5, 6, 7]},
        "majority": {"nose": [0, 1, 2, 3, 4, 6], "skin": [5, 7]},
    }
    for rule, want in expected.items():
        path = tmp_path / f"{rule}.npz"
        export(ann, "tri", path, model=model, tri_rule=rule)
        with np.load(path) as data:
            assert str(data["tri_rule"]) == rule
            assert data["tri_nose"].tolist() == want["nose"] and data["tri_skin"].tolist() == want["skin"]
            labels = data["labels"]
        for t in range(len(tris)):  # one label per triangle: the smaller part (skin) where both hold it
            inn, ins = t in want["nose"], t in want["skin"]
            assert labels[t] == (1 if ins else 0 if inn else -1)
        smirk = tmp_path / f"{rule}.npy"
        export(ann, "tri", smirk, model=model, tri_rule=rule)
        d = np.load(smirk, allow_pickle=True).item()
        assert {k: v.tolist() for k, v in d.items()} == want


def test_a_smirk_npy_is_read_back_by_its_content_and_3ddfa_s_npy_still_as_3ddfa(demo_ann, demo_model, tmp_path):
    from facepart.export.registry import find_importer

    smirk, tddfa = tmp_path / "FLAME_masks_triangles.npy", tmp_path / "annotation_3ddfa.npy"
    export(demo_ann, "tri", smirk, model=demo_model, tri_rule="majority")
    export(demo_ann, "3ddfa", tddfa, model=demo_model)
    assert find_importer(smirk).name == "tri" and find_importer(tddfa).name == "3ddfa"
    back = read_annotation(smirk, model=demo_model)  # no --from-format needed
    assert back.parts.names == demo_ann.parts.names
    inner = [n for n in demo_ann.parts.names if len(demo_ann.members()[n])]
    for name in inner:  # a triangle rule loses only boundary vertices
        a, b = set(demo_ann.members()[name].tolist()), set(back.members()[name].tolist())
        assert len(a & b) >= 0.8 * len(a), name


def test_ply_read_by_trimesh_has_the_part_colours_in_vertex_order(demo_ann, demo_model, tmp_path):
    import trimesh

    path = tmp_path / "parts.ply"
    export(demo_ann, "ply", path, model=demo_model)
    mesh = trimesh.load(path, process=False)
    assert np.allclose(mesh.vertices, demo_model.vertices, atol=1e-6)
    assert (mesh.faces == demo_model.triangles).all()
    colours = np.asarray(mesh.visual.vertex_colors)[:, :3]
    lut = np.vstack([demo_ann.parts.colors, [UNLABELLED_COLOR]])
    assert (colours == lut[np.where(demo_ann.labels < 0, 8, demo_ann.labels)]).all()
    raw = mesh.metadata["_ply_raw"]["vertex"]["data"]
    assert (raw["part"] == demo_ann.labels).all()
    header = path.read_bytes()[:2000].decode("ascii", "replace")
    assert "comment facepart-part 6 nose 50 205 50" in header


def test_ply_split_writes_one_mesh_per_part_with_original_ids(demo_ann, demo_model, tmp_path):
    import trimesh

    written = export(demo_ann, "ply", tmp_path / "parts.ply", model=demo_model, split=True, groups="default")
    assert [p.name for p in written] == [f"{n}.ply" for n in (*PAPER_PARTS, "face", "eyes", "eyebrows", "lips")] + [
        "split.json"]
    for name in PAPER_PARTS:  # vertex_id is exactly the part's vertices; faces have all three corners in it
        mesh = trimesh.load(tmp_path / "parts" / f"{name}.ply", process=False)
        ids = mesh.metadata["_ply_raw"]["vertex"]["data"]["vertex_id"]
        member = demo_ann.membership()[:, PAPER_PARTS.index(name)]
        assert (ids == np.flatnonzero(member)).all()
        assert np.allclose(mesh.vertices, demo_model.vertices[ids], atol=1e-6)
        assert len(mesh.faces) == member[demo_model.triangles].all(axis=1).sum()
    nose = trimesh.load(tmp_path / "parts" / "nose.ply", process=False)
    assert (np.asarray(nose.visual.vertex_colors)[:, :3] == [50, 205, 50]).all()
    with pytest.raises(FacepartError, match="split"):
        read_annotation(tmp_path / "parts" / "nose.ply")


def test_obj_and_glb_are_read_by_trimesh_with_colours(demo_ann, demo_model, tmp_path):
    import trimesh

    lut = np.vstack([demo_ann.parts.colors, [UNLABELLED_COLOR]])
    want = lut[np.where(demo_ann.labels < 0, 8, demo_ann.labels)]
    export(demo_ann, "obj", tmp_path / "p.obj", model=demo_model)
    mesh = trimesh.load(tmp_path / "p.obj", process=False, maintain_order=True)
    assert (np.asarray(mesh.visual.vertex_colors)[:, :3] == want).all()
    export(demo_ann, "glb", tmp_path / "p.glb", model=demo_model)
    scene = trimesh.load(tmp_path / "p.glb", process=False, force="scene")
    (glb,) = scene.geometry.values()
    assert (np.asarray(glb.visual.vertex_colors)[:, :3] == want).all()
    assert scene.metadata["facepart"]["parts"][6]["name"] == "nose"
    export(demo_ann, "glb", tmp_path / "s.glb", model=demo_model, split=True)
    split = trimesh.load(tmp_path / "s.glb", process=False, force="scene")
    assert set(split.geometry) == set(PAPER_PARTS)
    text = (tmp_path / "p.obj").read_text()
    export(demo_ann, "obj", tmp_path / "s.obj", model=demo_model, split=True)
    assert "o nose" in (tmp_path / "s.obj").read_text() and text.count("\nv ") == demo_model.n_vertices


class _Group:
    def __init__(self, name):
        self.name, self.calls = name, []

    def add(self, indices, weight, mode):
        self.calls.append((list(indices), weight, mode))


class _Groups(dict):
    def new(self, name):
        self[name] = _Group(name)
        return self[name]


def _fake_bpy(n_vertices):
    obj = types.SimpleNamespace(type="MESH", name="Head", data=types.SimpleNamespace(vertices=[0] * n_vertices),
                                vertex_groups=_Groups())
    return types.SimpleNamespace(context=types.SimpleNamespace(active_object=obj)), obj


def test_blender_script_names_groups_and_indices(demo_ann, tmp_path, monkeypatch):
    import ast

    path = tmp_path / "parts_blender.py"
    export(demo_ann, "blender", path, groups="eyes=left_eye+right_eye")
    text = path.read_text()
    tree = ast.parse(text)
    literals = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    assert list(literals["PARTS"]) == [*PAPER_PARTS, "eyes"]
    assert literals["PARTS"]["nose"] == demo_ann.members()["nose"].tolist()
    assert literals["TOPOLOGY"]["n_vertices"] == demo_ann.n_vertices
    assert "obj.vertex_groups.new(name=name)" in text and 'group.add(indices, 1.0, "REPLACE")' in text
    # run it against a stand-in for Blender's bpy module: one group per part, the right indices
    bpy, obj = _fake_bpy(demo_ann.n_vertices)
    monkeypatch.setitem(sys.modules, "bpy", bpy)
    exec(compile(text, str(path), "exec"), {"__name__": "__main__"})
    assert list(obj.vertex_groups) == [*PAPER_PARTS, "eyes"]
    assert obj.vertex_groups["left_eye"].calls == [(demo_ann.members()["left_eye"].tolist(), 1.0, "REPLACE")]
    wrong, _ = _fake_bpy(demo_ann.n_vertices - 1)
    monkeypatch.setitem(sys.modules, "bpy", wrong)
    with pytest.raises(RuntimeError, match="vertex order"):
        exec(compile(text, str(path), "exec"), {"__name__": "__main__"})


def test_preview_entry_renders_the_labels(demo_ann, demo_model, tmp_path):
    import cv2

    (path,) = export(demo_ann, "preview", tmp_path / "preview.png", model=demo_model, size=96)
    img = cv2.imread(str(path))[..., ::-1]
    assert img.shape[1] == 3 * 96
    panels = img[:96].astype(int)
    green = (panels[..., 1] > panels[..., 0] + 60) & (panels[..., 1] > panels[..., 2] + 60)  # the lit nose (50,205,50)
    assert green.sum() > 20


# -- options and errors ------------------------------------------------------------------------------

def test_parts_subset_and_groups_views(voted_ann):
    view = PartView.of(voted_ann, {"groups": "default", "parts": "lips,nose", "rule": "union"})
    assert view.names == ("lips", "nose") and view.groups == ("lips",)
    member = voted_ann.membership("union")
    assert (view.member[:, 0] == (member[:, 4] | member[:, 5])).all()
    with pytest.raises(FacepartError, match="unknown part"):
        PartView.of(voted_ann, {"parts": "ears"})
    with pytest.raises(FacepartError, match="NAME=PART"):
        PartView.of(voted_ann, {"groups": "eyes"})


def test_a_subset_keeps_the_hand_edits(voted_ann, tmp_path):
    import dataclasses

    edited = np.zeros(len(voted_ann.labels), bool)
    edited[np.flatnonzero(voted_ann.labels == voted_ann.parts.index("nose"))[:5]] = True
    log = [{"time": "2026-11-30T12:00:00", "operation": "assign", "count": 5, "part": "nose"}]
    hand = dataclasses.replace(voted_ann, edited=edited, edit_log=log)
    export(hand, "npz", tmp_path / "a.npz", parts="nose,skin")
    back = read_annotation(tmp_path / "a.npz")
    assert np.array_equal(back.edited, edited) and back.edit_log == log


def test_npz_keeps_a_subset_and_refuses_groups(voted_ann, tmp_path):
    export(voted_ann, "npz", tmp_path / "a.npz", parts="nose,skin", rule="union")
    back = read_annotation(tmp_path / "a.npz")
    assert back.parts.names == ("nose", "skin") and back.rule == "union"
    assert (back.votes == voted_ann.votes[:, [6, 7]]).all()
    with pytest.raises(FacepartError, match="--group"):
        export(voted_ann, "npz", tmp_path / "b.npz", groups="default")


def test_options_that_do_not_apply_are_refused(demo_ann, demo_model, tmp_path):
    with pytest.raises(FacepartError, match="applies to ply, obj, glb"):
        export(demo_ann, "json", tmp_path / "x.json", split=True)
    with pytest.raises(FacepartError, match="needs the face model"):
        export(demo_ann, "ply", tmp_path / "x.ply")
    export(demo_ann, "csv", tmp_path / "x.csv")
    with pytest.raises(FacepartError, match="does not say which mesh"):
        read_annotation(tmp_path / "x.csv")
    with pytest.raises(FacepartError, match="unknown export format 'vtk'"):
        export(demo_ann, "vtk", tmp_path / "x.vtk")


def test_index_files_refuse_ids_beyond_the_mesh(demo_model, tmp_path):
    path = tmp_path / "parts.json"
    path.write_text(json.dumps({"nose": [1, 2, demo_model.n_vertices]}))
    with pytest.raises(FacepartError, match="outside"):
        read_annotation(path, model=demo_model)


def test_every_registered_annotation_writer_is_tested_here():
    tested = set(ROUND_TRIP_EXACT) | {"tri", "uvmask", "preview"}
    assert {n for n, e in EXPORTERS.items() if e.kind == "annotation"} <= tested


def test_export_annotation_finds_the_model_and_protects_run_files(demo_ann, demo_model, tmp_path):
    from facepart.data.annotation import save_annotation

    demo_ann.settings["model"] = {"name": "demo", "path": "demo"}
    save_annotation(demo_ann, tmp_path)
    report = export_annotation(tmp_path, "obj")  # model found from the annotation's settings
    assert report.paths == [tmp_path / "parts.obj"]
    # a run's own files are never the default target: the export goes beside them (the README's command)
    own = (tmp_path / "parts.json").read_bytes()
    assert export_annotation(tmp_path / "annotation.npz", "parts", parts=["nose"]).paths == [
        tmp_path / "parts_export.json"]
    assert (tmp_path / "parts.json").read_bytes() == own
    assert any("nose" in ln for ln in report.lines())
    # the run's preview is not overwritten by a picture of some parts only
    (tmp_path / "preview.png").write_bytes(b"the run's preview")
    assert export_annotation(tmp_path, "preview", parts=["nose"], size=64).paths == [tmp_path / "preview_export.png"]
    assert (tmp_path / "preview.png").read_bytes() == b"the run's preview"
    assert export_annotation(tmp_path, "preview", tmp_path / "nose.png", parts=["nose"], size=64).paths == \
        [tmp_path / "nose.png"]


def test_folder_exports_name_the_folder_they_cannot_make_and_leave_none_behind(demo_ann, demo_model, tmp_path):
    from facepart.data.annotation import save_annotation

    (tmp_path / "run").mkdir()
    save_annotation(demo_ann, tmp_path / "run")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FacepartError, match="cannot create output folder .*afile/split"):
        export_annotation(tmp_path / "run", "ply", tmp_path / "afile" / "split", model=demo_model, split=True)
    with pytest.raises(FacepartError, match="no texture coordinates"):  # fails after the folder check
        export_annotation(tmp_path / "run", "uvmask", tmp_path / "new" / "uv", model=demo_model)
    assert not (tmp_path / "new").exists()


def test_write_annotation_files_is_a_run_output_set(demo_ann, demo_model, tmp_path):
    from facepart.data.annotation import load_annotation
    from facepart.export import write_annotation_files

    written = write_annotation_files(demo_ann, tmp_path / "run", model=demo_model, preview=True)
    assert [p.name for p in written] == ["annotation.npz", "parts.json", "preview.png"]
    assert (load_annotation(tmp_path / "run").labels == demo_ann.labels).all()
    assert json.loads((tmp_path / "run" / "parts.json").read_text())["nose"] == demo_ann.members()["nose"].tolist()
    assert not list((tmp_path / "run").glob(".*part*"))  # no temporary files left behind


def test_obj_and_glb_split_through_the_export_command_write_one_file(demo_ann, demo_model, tmp_path):
    # before: export_annotation (the CLI's path) made a folder where the .obj/.glb should go, then failed with
    # "cannot write (Is a directory)"; only the registry's export() (which the test above uses) worked
    import trimesh

    from facepart.data.annotation import save_annotation

    save_annotation(demo_ann, tmp_path)
    for fmt in ("obj", "glb"):
        report = export_annotation(tmp_path / "annotation.npz", fmt, tmp_path / "out" / f"s.{fmt}", model=demo_model,
                                   split=True)
        assert report.paths == [tmp_path / "out" / f"s.{fmt}"] and report.paths[0].is_file()
    assert "o nose" in (tmp_path / "out" / "s.obj").read_text()
    scene = trimesh.load(tmp_path / "out" / "s.glb", process=False, force="scene")
    assert set(scene.geometry) == set(PAPER_PARTS)
    with pytest.raises(FacepartError, match="writes .obj files"):  # the suffix is still checked
        export_annotation(tmp_path / "annotation.npz", "obj", tmp_path / "x.ply", model=demo_model, split=True)
    # default names: the split file goes beside the plain one, which alone reads back (before: --split replaced
    # parts.obj, and `compare` then refused it as a split export)
    from facepart.export import read_annotation

    for fmt in ("obj", "glb"):
        plain = export_annotation(tmp_path / "annotation.npz", fmt, model=demo_model).paths
        split = export_annotation(tmp_path / "annotation.npz", fmt, model=demo_model, split=True).paths
        assert plain == [tmp_path / f"parts.{fmt}"] and split == [tmp_path / f"parts_split.{fmt}"]
        assert (read_annotation(plain[0]).labels == demo_ann.labels).all()


def test_ply_and_ply_split_default_names_live_side_by_side(demo_ann, demo_model, tmp_path):
    # before: --split first made an empty parts.ply/ folder beside its parts/ folder (a later plain export then
    # failed "Is a directory"); plain first made --split fail "cannot create output folder parts.ply"
    from facepart.data.annotation import save_annotation

    save_annotation(demo_ann, tmp_path)
    for order in ((False, True), (True, False)):
        for path in (tmp_path / "parts.ply", tmp_path / "parts"):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for split in order:
            report = export_annotation(tmp_path / "annotation.npz", "ply", model=demo_model, split=split)
            assert report.paths
        assert (tmp_path / "parts.ply").is_file()
        assert (tmp_path / "parts" / "split.json").is_file()
        assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["parts"]


def test_a_one_label_mesh_export_refuses_union_overlaps_instead_of_dropping_them(demo_ann, demo_model, tmp_path):
    import trimesh

    # a union annotation: 30 nose vertices are also skin
    sets = {name: np.flatnonzero(demo_ann.labels == i) for i, name in enumerate(demo_ann.parts.names)}
    sets["skin"] = np.union1d(sets["skin"], sets["nose"][:30])
    ann = annotation_from_sets(sets, demo_ann.fingerprint, "union")
    union = export_annotation(ann, "json", tmp_path / "u.json")
    assert any("30 vertices are in more than one part (union rule)" in ln for ln in union.coverage)
    for fmt in ("ply", "obj", "glb"):
        with pytest.raises(FacepartError, match="--rule union puts 30 vertices in more than one part, but the "
                                                f"{fmt} format holds one part per vertex: add --split"):
            export_annotation(ann, fmt, tmp_path / f"u.{fmt}", model=demo_model)
        assert not (tmp_path / f"u.{fmt}").exists()
    # with --split each part is its own mesh: the overlaps are kept
    export_annotation(ann, "ply", tmp_path / "split", model=demo_model, split=True, tri_rule="all")
    for name in ("skin", "nose"):
        mesh = trimesh.load(tmp_path / "split" / f"{name}.ply", process=False)
        assert (mesh.metadata["_ply_raw"]["vertex"]["data"]["vertex_id"] == np.sort(sets[name])).all()
    # the majority rule of the same file, one part per vertex, is written as before
    export_annotation(ann, "ply", tmp_path / "m.ply", model=demo_model, rule="majority")
    assert (tmp_path / "m.ply").is_file()


def test_reading_a_missing_mesh_file_is_one_line(tmp_path):
    for name in ("nope.ply", "nope.obj", "nope.glb", "nope.json"):
        with pytest.raises(FacepartError, match=f"{name}: file not found"):
            read_annotation(tmp_path / name)


def test_out_an_existing_folder_writes_the_formats_usual_name_inside(demo_ann, demo_model, tmp_path):
    # before: "cannot write (Is a directory)"
    (tmp_path / "into").mkdir()
    for fmt, name in (("csv", "parts.csv"), ("ply", "parts.ply")):
        report = export_annotation(demo_ann, fmt, tmp_path / "into", model=demo_model)
        assert report.paths == [tmp_path / "into" / name] and report.paths[0].is_file()
    assert read_annotation(tmp_path / "into" / "parts.csv", model=demo_model).labels.tolist() == \
        demo_ann.labels.tolist()


def test_a_folder_format_refuses_a_file_name(demo_ann, demo_model, tmp_path):
    # before: `--to uvmask --out masks.png` made a folder named masks.png
    with pytest.raises(FacepartError, match="the uvmask format writes a folder of files; give --out a folder name"):
        export_annotation(demo_ann, "uvmask", tmp_path / "masks.png", model=demo_model)
    assert not (tmp_path / "masks.png").exists()


def test_info_describes_csv_and_blender_exports(demo_ann, demo_model, tmp_path):
    # before: "unknown model format" for both, though compare and correct read them
    from cli_run import facepart

    export(demo_ann, "csv", tmp_path / "p.csv")
    export(demo_ann, "blender", tmp_path / "p.py", model=demo_model)
    r = facepart("info", tmp_path / "p.csv")
    assert r.returncode == 0 and "csv export:" in r.stdout and "--model MODEL" in r.stdout, r.stdout + r.stderr
    r = facepart("info", tmp_path / "p.py")
    assert r.returncode == 0 and "blender export:" in r.stdout, r.stdout + r.stderr
    nose = int((demo_ann.labels == demo_ann.parts.index("nose")).sum())
    assert re.search(rf"^  nose +{nose} vertices$", r.stdout, re.M), r.stdout
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    r = facepart("info", tmp_path / "other.csv")
    assert r.returncode == 1 and "unknown model format" in r.stderr


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb"])
def test_mesh_exports_lie_on_the_users_own_file(demo_model, demo_truth, tmp_path, fmt):
    # before: a millimetre, z-up file (-O up=z -O front=-y) was exported in metres, y up: 1000x smaller and
    # turned, so it would not overlay the original in MeshLab or Blender
    import trimesh

    from facepart.data import load_model
    from facepart.data.mesh import load_mesh

    turn = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)  # facepart's +y up -> +z up, +z front -> -y
    original = (demo_model.vertices @ turn.T) * 1000.0  # the user's file: millimetres, z up, looking along -y
    trimesh.Trimesh(original, demo_model.triangles, process=False).export(tmp_path / "head.ply")
    model = load_mesh(tmp_path / "head.ply", unit="mm", up="z", front="-y")
    np.testing.assert_allclose(model.vertices, demo_model.vertices, atol=1e-6)  # facepart's frame inside
    sets = {n: np.flatnonzero(demo_truth == i) for i, n in enumerate(PAPER_PARTS)}
    ann = annotation_from_sets(sets, model.fingerprint, "truth")
    (path,) = export(ann, fmt, tmp_path / f"parts.{fmt}", model=model)
    written = np.asarray(trimesh.load(path, process=False, force="mesh").vertices)
    np.testing.assert_allclose(written, original, atol=1e-3)  # mm, z up: on the original file
    back = read_annotation(path, model=model)  # still read back against the model
    assert np.array_equal(back.labels, ann.labels)
    if fmt == "ply":
        assert "facepart-frame the model file's: unit mm, up z, front -y" in path.read_bytes()[:4096].decode("ascii",
                                                                                                             "replace")
        built_in = export(ann, "ply", tmp_path / "demo.ply", model=load_model("demo"))[0]
        np.testing.assert_allclose(np.asarray(trimesh.load(built_in, process=False).vertices), demo_model.vertices,
                                   atol=1e-6)  # a model without a file frame: facepart's metres
