"""Hostile and careless input files, one class at a time: each is one FacepartError line, never a traceback,
never a silent cast. (The property-based versions of these live in test_hardening_fuzz.py.)"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from test_cli import _one_line_failure, facepart

from facepart.data import load_model
from facepart.data.annotation import load_annotation, read_labels, read_parts_json, save_annotation
from facepart.data.face_model import FaceModel
from facepart.data.parts import PartTable
from facepart.data.vertex_mask import read_vertex_mask
from facepart.errors import FacepartError

GRID = 6  # a 6 x 6 vertex sheet, 50 triangles


def sheet(z: float = 0.0):
    """(36, 3) vertices of a 10 cm sheet and its (50, 3) triangles, counter-clockwise seen from +z."""
    xs, ys = np.meshgrid(np.linspace(-0.05, 0.05, GRID), np.linspace(-0.05, 0.05, GRID))
    vertices = np.stack([xs.ravel(), ys.ravel(), np.full(GRID * GRID, z)], axis=1)
    tris = []
    for r in range(GRID - 1):
        for c in range(GRID - 1):
            a = r * GRID + c
            tris += [(a, a + 1, a + GRID + 1), (a, a + GRID + 1, a + GRID)]
    return vertices, np.array(tris)


def write_obj(path, vertices, triangles):
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in triangles]
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line(exc_info, *needles):
    text = str(exc_info.value)
    assert text and "\n" not in text.strip(), text
    for needle in needles:
        assert needle in text, text
    return text


# -- meshes ---------------------------------------------------------------------------------------------------

def test_a_mesh_whose_vertices_all_coincide_is_one_line(tmp_path):
    vertices, tris = sheet()
    path = write_obj(tmp_path / "point.obj", np.ones_like(vertices), tris)
    with pytest.raises(FacepartError) as err:
        load_model(path)
    one_line(err, "point.obj", "one point")
    # the command that used to divide by zero while framing the camera
    _one_line_failure(facepart("render", path, "--out", tmp_path / "r", "--variants", 1, "--size", 64),
                      "point.obj", "one point")


def test_a_mesh_of_only_degenerate_triangles_is_an_error_that_says_so(tmp_path):
    vertices, tris = sheet()
    collinear = vertices.copy()
    collinear[:, 1] = 0  # every vertex on one line: every triangle has zero area
    with pytest.raises(FacepartError) as err:
        load_model(write_obj(tmp_path / "flat.obj", collinear, tris))
    one_line(err, "flat.obj", "50 triangles are degenerate")
    repeated = np.array([[0, 0, 1], [2, 3, 3], [5, 5, 5]])  # repeated corners
    with pytest.raises(FacepartError, match="3 triangles are degenerate"):
        FaceModel("rep", vertices, repeated)
    # one good triangle is enough for a model (the others are the loader's business)
    assert FaceModel("ok", vertices, np.vstack([repeated, tris[:1]])).n_vertices == 36


def test_a_model_that_draws_no_triangle_or_has_landmarks_at_one_point_is_refused():
    vertices, tris = sheet()
    render_mask = np.zeros(len(vertices), bool)
    render_mask[:3] = True  # three vertices of no common triangle
    with pytest.raises(FacepartError, match="no triangle with an area is drawn"):
        FaceModel("m", vertices, tris, render_mask=render_mask)
    with pytest.raises(FacepartError, match="68 landmarks all sit at one point"):
        FaceModel("m", vertices, tris, landmarks68=np.zeros(68, int))
    with pytest.raises(FacepartError, match="landmarks68: expected integers"):
        FaceModel("m", vertices, tris, landmarks68=np.full(68, 1.5))
    with pytest.raises(FacepartError, match="albedo: 1 values are NaN"):
        FaceModel("m", vertices, tris, albedo=np.where(np.arange(36 * 3).reshape(36, 3) == 4, np.nan, 0.5))


def _ict_folder(tmp_path, info):
    folder = tmp_path / "ict"
    folder.mkdir()
    vertices, tris = sheet()
    write_obj(folder / "generic_neutral_mesh.obj", vertices * 100, tris)  # ICT is in centimetres
    (folder / "vertex_indices.json").write_text(json.dumps(info))
    return folder


@pytest.mark.parametrize("info, needle", [
    ({"idx_to_landmark_verts": [1] * 67 + ["7"]}, "got a string '7'"),
    ({"idx_to_landmark_verts": [1] * 67 + [7.5]}, "got a number 7.5"),
    ({"idx_to_landmark_verts": [1] * 67 + [True]}, "got a boolean True"),
    ({"idx_to_landmark_verts": [1] * 67 + [[7]]}, "got a list [7]"),
    ({"idx_to_landmark_verts": list(range(67)) + [36]}, "indices must lie in 0..35"),
    ({"idx_to_landmark_verts": "0 1 2"}, "expected a list of vertex indices"),
    ({"expressions": ["../../etc/passwd"]}, "'expressions' must be a list of expression file names"),
    ({"expressions": [3]}, "'expressions' must be a list"),
    ([1, 2, 3], "expected a JSON object"),
])
def test_ict_vertex_indices_json_with_wrong_entries_is_one_line(tmp_path, info, needle):
    folder = _ict_folder(tmp_path, info)
    with pytest.raises(FacepartError) as err:
        load_model(folder)
    one_line(err, "vertex_indices.json", needle)


def test_ict_vertex_indices_json_too_deep_is_one_line(tmp_path):
    folder = _ict_folder(tmp_path, {})
    (folder / "vertex_indices.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(FacepartError) as err:
        load_model(folder)
    one_line(err, "vertex_indices.json", "nested too deeply")


def test_ict_landmarks_that_are_valid_are_kept(tmp_path):
    rng = np.random.default_rng(3)
    lm = rng.permutation(36)[:34].tolist() * 2
    model = load_model(_ict_folder(tmp_path, {"idx_to_landmark_verts": lm}))
    np.testing.assert_array_equal(model.landmarks68, lm)


# -- vertex masks ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, needle", [
    ("m.json", '[1, "2"]', "got a string '2'"),
    ("m.json", "[1, 1e30]", "got a number 1e+30"),
    ("m.json", "[1, 2.5]", "got a number 2.5"),
    ("m.json", "[1, NaN]", "got a number nan"),
    ("m.json", "[1, [2]]", "got a list [2]"),
    ("m.json", '{"nose": [1, "x"]}', "'nose'"),
    ("m.json", "[true, false]", "shape (36,), got (2,)"),
    ("m.json", '"12"', "expected a JSON list"),
    ("m.json", "[[[[", "not a readable vertex mask"),
    ("m.txt", "1\n2\n1e30\n", "line 3: '1e30' is not a vertex index"),
    ("m.txt", "1\nnan\n", "'nan' is not a vertex index"),
    ("m.txt", "1\n99\n", "indices must lie in 0..35, got 1..99"),
    ("m.txt", "-1\n", "got -1..-1"),
    ("m.txt", "9" * 5000 + "\n", "is not a vertex index"),
    ("m.txt", "\n", "selects no vertex"),
    ("m.json", "[]", "selects no vertex"),
])
def test_vertex_mask_files_of_the_wrong_kind_are_one_line(tmp_path, name, content, needle):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FacepartError) as err:
        read_vertex_mask(path, 36)
    one_line(err, name, needle)


@pytest.mark.parametrize("array, needle", [
    (np.array([1 + 2j, 3]), "complex"),
    (np.array(["1", "2"]), "strings"),
    (np.array([1.0, 1e30]), "as large as 1e+30"),
    (np.array([1.0, 2.5]), "fractions such as 2.5"),
    (np.array([1.0, np.nan]), "NaN"),
    (np.ones(35, bool), "shape (36,), got (35,)"),
    (np.ones((6, 6), bool), "shape (36,), got (6, 6)"),
    (np.array([2 ** 60]), "as large as"),
])
def test_npy_vertex_masks_of_the_wrong_kind_are_one_line(tmp_path, array, needle):
    path = tmp_path / "mask.npy"
    np.save(path, array)
    with pytest.raises(FacepartError) as err:
        read_vertex_mask(path, 36)
    one_line(err, "mask.npy", needle)


def test_valid_vertex_masks_read_correctly(tmp_path):
    want = np.zeros(36, bool)
    want[[1, 5, 7]] = True
    cases = {"a.json": "[1, 5, 7, 5]", "b.json": '{"x": [1, 5], "y": [7]}', "c.txt": "1\n5, 7  # eyes\n",
             "d.json": json.dumps(want.tolist())}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        np.testing.assert_array_equal(read_vertex_mask(tmp_path / name, 36), want, err_msg=name)
    for arr in (np.array([1, 5, 7]), np.array([1.0, 5.0, 7.0]), want):
        np.save(tmp_path / "e.npy", arr)
        np.testing.assert_array_equal(read_vertex_mask(tmp_path / "e.npy", 36), want)


# -- annotation.npz -------------------------------------------------------------------------------------------

def small_annotation():
    from facepart.data.annotation import Annotation
    from facepart.data.topology import Fingerprint

    vertices, tris = sheet()
    parts = PartTable.paper()
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 4, (36, len(parts))).astype(np.int32)
    labels = np.where(votes.max(axis=1) > 0, votes.argmax(axis=1), -1)
    return Annotation(labels, votes, np.full(36, 0.5, np.float32), np.full(36, 3, np.int32), parts,
                      Fingerprint.of(36, tris), settings={"seed": 1, "segmenter": "oracle"})


def npz_entries(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write_npz(path, entries):
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **entries)
    return path


@pytest.fixture
def saved(tmp_path):
    save_annotation(small_annotation(), tmp_path)
    return tmp_path / "annotation.npz"


@pytest.mark.parametrize("key, value, needle", [
    ("labels", lambda e: e["labels"].astype(np.float32) + 0.4, "'labels': expected integers, got floats"),
    ("labels", lambda e: e["labels"] >= 0, "got booleans"),
    ("labels", lambda e: e["labels"].astype(complex), "got complex numbers"),
    ("labels", lambda e: np.array(3), "shape (36,), got ()"),
    ("labels", lambda e: e["labels"].reshape(6, 6), "shape (36,), got (6, 6)"),
    ("labels", lambda e: e["labels"].astype(str), "got strings"),
    ("labels", lambda e: np.full(36, 8), "'labels' (part ids, -1 = none): values must lie in -1..7"),
    ("votes", lambda e: e["votes"].astype(np.complex64), "'votes': expected integers or floats"),
    ("votes", lambda e: e["votes"][:, :3], "'votes': expected an array of shape (36, 8), got (36, 3)"),
    ("votes", lambda e: -e["votes"] - 1, "'votes': values must lie in 0.."),
    ("votes", lambda e: e["votes"].astype(np.int64) * 2 ** 40, "'votes': values must lie in 0..2147483647"),
    ("confidence", lambda e: e["confidence"].astype(np.int32), "'confidence': expected floats"),
    ("confidence", lambda e: e["confidence"][:5], "'confidence': expected an array of shape (36,)"),
    ("confidence", lambda e: np.full(36, np.nan), "'confidence': 36 values are NaN"),
    ("none_votes", lambda e: e["none_votes"].astype(bool), "'none_votes': expected integers or floats, got booleans"),
    ("visible_count", lambda e: e["visible_count"][None], "shape (36,), got (1, 36)"),
    ("part_names", lambda e: np.arange(8), "'part_names': expected strings, got integers"),
    ("part_names", lambda e: np.array(["a"] * 8), "distinct"),
    ("part_colors", lambda e: e["part_colors"].astype(np.float64), "'part_colors': expected integers"),
    ("part_colors", lambda e: e["part_colors"].astype(np.int32) + 300, "'part_colors': values must lie in 0..255"),
    ("settings", lambda e: np.array("[1, 2]"), "settings entry must be a JSON object, got list"),
    ("settings", lambda e: np.array("3"), "must be a JSON object, got int"),
    ("settings", lambda e: np.array("{"), "settings entry: not a readable JSON object"),
    ("settings", lambda e: np.array("[" * 100_000 + "]" * 100_000), "nested too deeply"),
    ("settings", lambda e: np.array([b"{}"]), "'settings': expected strings, got byte strings"),
    ("rule", lambda e: np.array("vote"), "unknown rule 'vote'"),
    ("rule", lambda e: np.array(1), "'rule': expected strings"),
    ("n_vertices", lambda e: np.array("36"), "'n_vertices': expected integers, got strings"),
    ("n_vertices", lambda e: np.array(37), "'labels': expected an array of shape (37,), got (36,)"),
    ("n_triangles", lambda e: np.array([50]), "'n_triangles': expected an array of shape (), got (1,)"),
    ("triangle_hash", lambda e: np.array(5.0), "'triangle_hash': expected strings, got floats"),
    ("format", lambda e: np.array("something-else"), "not a facepart annotation (format 'something-else')"),
    ("format_version", lambda e: np.array(99), "written by a newer facepart (format 99)"),
    ("format_version", lambda e: np.array("1"), "'format_version': expected integers"),
    ("labels", None, "missing labels"),
])
def test_annotation_entries_of_the_wrong_kind_are_refused_in_one_line(saved, key, value, needle):
    entries = npz_entries(saved)
    if value is None:
        del entries[key]
    else:
        entries[key] = value(entries)
    write_npz(saved, entries)
    with pytest.raises(FacepartError) as err:
        load_annotation(saved)
    one_line(err, "annotation.npz", needle)


def test_a_damaged_compressed_member_is_one_line(saved):
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zf:
        info = zf.getinfo("votes.npy")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 10, start + 40):  # overwrite the middle of the deflate stream of 'votes'
        raw[i] ^= 0x5A
    saved.write_bytes(bytes(raw))
    with pytest.raises(FacepartError) as err:
        load_annotation(saved)
    one_line(err, "annotation.npz", "'votes' is damaged")


@pytest.mark.parametrize("content, needle", [
    (b"", "not a readable annotation file"),
    (b"PK\x03\x04 half a zip", "not a readable annotation file"),
    (pickle.dumps({"labels": [1]}), "not a readable annotation file"),
])
def test_files_that_are_no_npz_are_one_line(tmp_path, content, needle):
    path = tmp_path / "annotation.npz"
    path.write_bytes(content)
    with pytest.raises(FacepartError) as err:
        load_annotation(path)
    one_line(err, "annotation.npz", needle)
    np.save(tmp_path / "plain.npy", np.arange(3))
    (tmp_path / "plain.npy").rename(path)
    with pytest.raises(FacepartError, match="a single numpy array, not an .npz archive"):
        load_annotation(path)


def test_a_pickled_member_is_refused_without_unpickling(saved):
    entries = npz_entries(saved)
    with open(saved, "wb") as fh:
        np.savez(fh, **{**entries, "settings": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(FacepartError) as err:
        load_annotation(saved)
    one_line(err, "'settings' is damaged", "allow_pickle")


def test_a_saved_annotation_round_trips(saved):
    want = small_annotation()
    got = load_annotation(saved)
    np.testing.assert_array_equal(got.labels, want.labels)
    np.testing.assert_array_equal(got.votes, want.votes)
    assert got.settings == want.settings and got.fingerprint == want.fingerprint and got.rule == "majority"


# -- parts.json ------------------------------------------------------------------------------------------------

PARTS_CASES = [
    ('{"nose": [1, -2]}', "part 'nose': indices must lie in 0..35, got -2..1"),
    ('{"nose": [1, 36]}', "part 'nose': indices must lie in 0..35, got 1..36"),
    ('{"nose": [1, 1e30]}', "got a number 1e+30"),
    ('{"nose": [1, 2.5]}', "got a number 2.5"),
    ('{"nose": [1, 2.0]}', "got a number 2.0"),
    ('{"nose": [1, "2"]}', "got a string '2'"),
    ('{"nose": [1, [2, 3]]}', "got a list [2, 3]"),
    ('{"nose": [1, true]}', "got a boolean True"),
    ('{"nose": 3}', "expected a list of vertex indices, got an integer"),
    ('{"nose": [' + "9" * 5000 + "]}", "not a readable parts.json"),
    ('[[1, 2]]', "expected a JSON object of part name -> vertex indices, got list"),
    ('"nose"', "got str"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"ears": [1]}', "unknown part 'ears'"),
    ("\xff\xfe", "not UTF-8"),
]


@pytest.mark.parametrize("content, needle", PARTS_CASES)
def test_parts_json_of_the_wrong_kind_is_one_line_for_truth(tmp_path, content, needle):
    path = tmp_path / "parts.json"
    path.write_bytes(content.encode("latin1") if content.startswith("\xff") else content.encode())
    with pytest.raises(FacepartError) as err:
        read_labels(path, PartTable.paper(), 36)
    one_line(err, "parts.json", needle)


def test_info_reads_parts_json_with_the_same_checks(tmp_path):
    path = tmp_path / "parts.json"
    for content, needle in [('{"nose": [1, -2]}', "values must lie in 0.."), ('{"nose": [1, 1e30]}', "1e+30"),
                            ("[" * 100_000 + "]" * 100_000, "nested too deeply"), ('{"nose": [[1]]}', "a list [1]")]:
        path.write_text(content)
        _one_line_failure(facepart("info", path), "parts.json", needle)
    path.write_text('{"nose": [3, 1, 3], "skin": [0, 40]}')
    r = facepart("info", path)
    assert r.returncode == 0, r.stderr
    assert "nose: 2 vertices" in r.stdout and "skin: 2 vertices" in r.stdout and "up to 40" in r.stdout
    assert read_parts_json(path)["skin"].tolist() == [0, 40]
    with pytest.raises(FacepartError, match="indices must lie in 0..35"):
        read_parts_json(path, 36)
    path.write_text('{"nose": [], "skin": []}')  # e.g. compare's differences file of two equal annotations
    r = facepart("info", path)
    # (not "ids up to -1"; the path itself may hold "-1", as pytest-10 does)
    assert r.returncode == 0 and "(no vertex ids in any part)" in r.stdout and "up to -1" not in r.stdout, r.stdout


def test_valid_parts_json_gives_the_labels(tmp_path):
    path = tmp_path / "truth.json"
    path.write_text('{"nose": [1, 2], "skin": [2, 3]}')
    labels = read_labels(path, PartTable.paper(), 36)
    parts = PartTable.paper()
    assert labels[1] == parts.index("nose") and labels[2] == parts.index("skin") and labels[3] == parts.index("skin")
    assert (labels[4:] == -1).all() and labels[0] == -1


# -- messages that misled -------------------------------------------------------------------------------------

def test_an_unknown_format_name_is_reported_before_a_missing_file(tmp_path):
    with pytest.raises(FacepartError) as err:
        load_model(tmp_path / "missing.obj", format="nosuch")
    one_line(err, "unknown format 'nosuch'")


STL_PROBE = r"""
import sys
sys.modules["charset_normalizer"] = None  # as in an install without the optional package
import numpy as np, trimesh
from facepart.data import load_model
from facepart.errors import FacepartError
rng = np.random.default_rng(int(sys.argv[2]))
path = sys.argv[1]
open(path, "wb").write(rng.bytes(int(rng.integers(10, 4000))))
try:
    load_model(path)
    print("LOADED")
except FacepartError as err:
    print("ERR", err)
mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
raw = bytearray(mesh.export(file_type="stl"))
raw[:80] = bytes(range(150, 230))  # a binary header that is not UTF-8
open(path, "wb").write(bytes(raw))
print("OK", load_model(path).n_vertices)
"""


@pytest.mark.parametrize("seed", [0, 1])
def test_a_random_stl_gets_a_message_about_the_file_not_a_missing_package(tmp_path, seed):
    r = subprocess.run([sys.executable, "-c", STL_PROBE, str(tmp_path / "thing.stl"), str(seed)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    err, ok = r.stdout.strip().splitlines()
    assert err.startswith("ERR ") and "thing.stl: not an STL file" in err and "charset" not in err, err
    # and a valid binary STL with a non-UTF-8 header loads without that package: its 240 triangle corners
    # welded into the sphere's 42 vertices
    assert ok == "OK 42"


def test_a_pickled_array_claiming_too_many_elements_names_its_file(tmp_path):
    raw = pickle.dumps({"v_template": np.zeros((3, 3))}, protocol=2)
    huge = raw.replace(b"K\x03K\x03\x86", b"J\xff\xff\xff\x7fJ\xff\xff\xff\x7f\x86", 1)
    assert huge != raw
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(huge)
    with pytest.raises(FacepartError) as err:
        load_model(path, format="flame")
    one_line(err, "generic_model.pkl: a pickled array claims more elements")


def test_a_facepart_error_is_one_line_whatever_it_quotes():
    err = FacepartError("parts.json: unknown part 'a\nb\r\x1b[31m'")
    assert str(err) == "parts.json: unknown part 'a\\nb\\r\\x1b[31m'"
    assert str(FacepartError("ümlaut · 中")) == "ümlaut · 中"  # printable text is kept as it is


@pytest.mark.parametrize("face, needle", [("f 1 2 99999999999999999999999", "far beyond"),
                                          ("f 0 1 2", "OBJ indices start at 1")])
def test_obj_faces_with_impossible_indices_are_one_line(tmp_path, face, needle):
    path = tmp_path / "m.obj"
    path.write_text("v 0 0 0\nv 0.1 0 0\nv 0 0.1 0\n" + face + "\n")
    with pytest.raises(FacepartError) as err:
        load_model(path)
    one_line(err, "m.obj", needle)
