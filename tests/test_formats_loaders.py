"""Each model format: a layout-exact file written from the ICT face comes back as the same model.

For every format the loaded mean shape must equal the source (metres, facepart's
frame), triangles must be the 0-based outward source triangles, the bases must
be scaled to one standard deviation, and the subject's right eye corner must
be at -x and the nose tip at the largest z.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from facepart.data import load_model
from facepart.data.formats.frame import outward_flux
from facepart.errors import FacepartError
from test_formats_layouts import (  # noqa: F401 - face_source is a fixture
    DEEP3D_OFFSET, LEFT_EYE_OUTER, NOSE_TIP, RIGHT_EYE_OUTER, V3_ORDER, face_source, faceverse_v12_dict,
    faceverse_v3_dict, flame_dict, flame_masks, flame_pickle, v3_dict, write_3ddfa_v2, write_3ddfa_v3, write_bfm2009,
    write_bfm2017, write_deep3d, write_exp_pca, write_flame, write_flame_masks)

TOL = 1e-6  # metres: float32 files


def check_frame(model, landmarks):
    v = model.vertices
    assert v[landmarks[RIGHT_EYE_OUTER], 0] < 0 < v[landmarks[LEFT_EYE_OUTER], 0], "right eye corner not at -x"
    top = int(np.argmax(v[:, 2]))
    assert np.linalg.norm(v[top] - v[landmarks[NOSE_TIP]]) < 0.01, "the largest z is not at the nose tip"
    assert v[landmarks[NOSE_TIP], 2] > v[landmarks[[RIGHT_EYE_OUTER, LEFT_EYE_OUTER]], 2].max()


def check_model(model, src, fmt, *, centred=False, expression=True, id_k=None):
    ref = src.vertices - src.vertices.mean(axis=0) if centred else src.vertices
    assert model.meta["format"] == fmt
    assert model.vertices.shape == ref.shape
    np.testing.assert_allclose(model.vertices, ref, atol=TOL)
    np.testing.assert_array_equal(model.triangles, src.triangles)
    assert outward_flux(model.vertices, model.triangles) > 0
    k = id_k or src.pcs.shape[1]
    np.testing.assert_allclose(model.identity_basis[:k], src.identity()[:k], atol=TOL)
    if expression:
        e = src.exp_pcs.shape[1]
        np.testing.assert_allclose(model.expression_basis[:e], src.expression(), atol=TOL)
    assert model.meta["n_vertices"] == src.n and model.meta["units"]
    check_frame(model, src.landmarks)


# -- BFM 2009 -------------------------------------------------------------------------------------

def test_bfm2009_layout(face_source, tmp_path):
    path = write_bfm2009(tmp_path, face_source)
    model = load_model(path)
    check_model(model, face_source, "bfm2009", expression=False)
    assert model.meta["units"] == "um" and model.meta["version"] == "2009"
    np.testing.assert_allclose(model.albedo, face_source.colours, atol=1e-5)
    np.testing.assert_allclose(model.albedo_basis, (face_source.pcs * 10 / 255).T.reshape(-1, face_source.n, 3),
                               atol=1e-6)
    seg = model.region_sets["BFM 2009 segbin"].regions
    assert list(seg) == ["nose", "eyes", "mouth", "rest"]
    np.testing.assert_array_equal(seg["nose"], face_source.parts["nose"])


def test_bfm2009_with_exp_pca_full_and_subsets(face_source, tmp_path):
    src = face_source
    write_bfm2009(tmp_path, src)
    rng = np.random.default_rng(0)
    dropped = rng.choice(np.setdiff1d(np.arange(src.n), src.landmarks), 300, replace=False)
    trim = np.setdiff1d(np.arange(src.n), dropped)  # the "53215" subset, 0-based
    write_exp_pca(tmp_path, src, trim)

    full = load_model(tmp_path / "01_MorphableModel.mat")  # companions found beside the model
    assert full.n_vertices == src.n
    np.testing.assert_allclose(full.expression_basis[:, trim], src.expression()[:, trim], atol=TOL)
    assert np.abs(full.expression_basis[:, dropped]).max() > 0  # dropped vertices follow their neighbours
    assert any("nearest covered vertex" in n for n in full.meta["notes"])

    sub = load_model(tmp_path / "01_MorphableModel.mat", topology=53215)
    assert sub.n_vertices == len(trim)
    np.testing.assert_allclose(sub.vertices, src.vertices[trim], atol=TOL)
    np.testing.assert_allclose(sub.expression_basis, src.expression()[:, trim], atol=TOL)
    assert outward_flux(sub.vertices, sub.triangles) > 0
    assert sub.region_sets["BFM 2009 segbin"].regions["nose"].max() < len(trim)
    pos = np.searchsorted(trim, src.landmarks)
    check_frame(sub, pos)

    # 35709 "front" subset through BFM_front_idx.mat (indexes the trimmed vertices, 1-based)
    import scipy.io

    front = np.sort(rng.choice(len(trim), len(trim) - 500, replace=False))
    front = np.union1d(front, pos)
    scipy.io.savemat(tmp_path / "BFM_front_idx.mat", {"idx": (front + 1).reshape(-1, 1).astype(np.float32)})
    fr = load_model(tmp_path / "01_MorphableModel.mat", topology="35709")
    np.testing.assert_allclose(fr.vertices, src.vertices[trim[front]], atol=TOL)


def test_bfm2009_exp_pca_needs_its_index_file(face_source, tmp_path):
    write_bfm2009(tmp_path, face_source)
    trim = np.arange(face_source.n - 10)
    write_exp_pca(tmp_path, face_source, trim)
    (tmp_path / "BFM_exp_idx.mat").unlink()
    model = load_model(tmp_path / "01_MorphableModel.mat")
    assert len(model.expression_basis) == 0
    assert any("BFM_exp_idx.mat" in n for n in model.meta["notes"])
    with pytest.raises(FacepartError, match="BFM_exp_idx"):
        load_model(tmp_path / "01_MorphableModel.mat", exp_pca=tmp_path / "Exp_Pca.bin")
    with pytest.raises(FacepartError, match="topology 53215 needs"):
        load_model(tmp_path / "01_MorphableModel.mat", topology=53215)


def test_a_damaged_exp_pca_found_beside_the_model_names_the_way_around_it(face_source, tmp_path):
    write_bfm2009(tmp_path, face_source)
    write_exp_pca(tmp_path, face_source, np.arange(face_source.n))
    (tmp_path / "Exp_Pca.bin").write_bytes((tmp_path / "Exp_Pca.bin").read_bytes()[:1000])
    with pytest.raises(FacepartError, match="found beside the model; -O expressions=false loads the model"):
        load_model(tmp_path / "01_MorphableModel.mat")
    assert load_model(tmp_path / "01_MorphableModel.mat", expressions=False).n_vertices == face_source.n
    with pytest.raises(FacepartError) as named:  # given by name: its own error, no workaround offered
        load_model(tmp_path / "01_MorphableModel.mat", exp_pca=tmp_path / "Exp_Pca.bin")
    assert "expressions=false" not in str(named.value)


# -- Deep3D / 3DDFA-V3 --------------------------------------------------------------------------

def test_deep3d_layout(face_source, tmp_path):
    model = load_model(write_deep3d(tmp_path / "BFM_model_front.mat", face_source))
    check_model(model, face_source, "deep3d", centred=True)
    assert model.meta["units"] == "dm"
    np.testing.assert_array_equal(model.landmarks68, face_source.landmarks)
    masks = model.region_sets["Deep3D masks"].regions
    np.testing.assert_array_equal(masks["skinmask"], face_source.parts["skin"])
    np.testing.assert_allclose(model.albedo, face_source.colours, atol=1e-5)


def test_deep3d_and_flame_files_in_another_unit_are_read_head_sized(face_source, tmp_path):
    # before: a Deep3D file stored in metres loaded as a 2 cm head, a FLAME file in mm as a 200 m one, with no
    # word; the run then lost both eyes to the (millimetre-based) graph cut
    import scipy.io

    from facepart.data.formats.matfile import loadmat5

    path = write_deep3d(tmp_path / "BFM_model_front.mat", face_source)
    data = loadmat5(path)
    for key in ("meanshape", "idBase", "exBase"):
        data[key] = data[key] / 10.0  # dm -> m
    scipy.io.savemat(path, data)
    model = load_model(path)
    check_model(model, face_source, "deep3d", centred=True)  # vertices and bases in metres, as the dm file's
    assert model.meta["units"] == "m"
    assert any("not head-sized in dm; read as m" in n for n in model.meta["notes"])

    flame = tmp_path / "flame_mm"
    flame.mkdir()
    d = flame_dict(face_source, n_shape=6, n_exp=5)
    d["v_template"] = d["v_template"] * 1000.0
    d["shapedirs"] = type(d["shapedirs"])(d["shapedirs"].x * 1000.0)
    (flame / "generic_model.pkl").write_bytes(flame_pickle(d, 2))
    model = load_model(flame / "generic_model.pkl", n_shape=6)
    check_model(model, face_source, "flame")
    assert model.meta["units"] == "mm" and any("not head-sized in m; read as mm" in n for n in model.meta["notes"])


def test_ascust_bfm09_model_info_compressed_and_no_recentring(face_source, tmp_path):
    path = write_deep3d(tmp_path / "BFM09_model_info.mat", face_source, compress=True)  # MATLAB v7 default
    model = load_model(path, recentre=False)
    np.testing.assert_allclose(model.vertices, face_source.vertices + DEEP3D_OFFSET / 10, atol=TOL)
    assert "ascust" in model.meta["version"]


def test_deep3d_reversed_winding_is_fixed(face_source, tmp_path):
    import scipy.io

    path = write_deep3d(tmp_path / "BFM_model_front.mat", face_source)
    data = scipy.io.loadmat(path)
    data["tri"] = data["tri"][:, [0, 2, 1]]
    scipy.io.savemat(path, {k: v for k, v in data.items() if not k.startswith("__")})
    model = load_model(path)
    assert outward_flux(model.vertices, model.triangles) > 0
    assert any("winding reversed" in n for n in model.meta["notes"])


def test_3ddfa_v3_layout_and_annotation(face_source, tmp_path):
    model = load_model(write_3ddfa_v3(tmp_path / "face_model.npy", face_source))
    check_model(model, face_source, "3ddfa-v3")
    np.testing.assert_array_equal(model.landmarks68, face_source.landmarks)
    assert model.uv is not None and model.uv.shape == (face_source.n, 2)
    ann = model.region_sets["3DDFA-V3 annotation"]
    assert ann.names == V3_ORDER
    for name in V3_ORDER:
        np.testing.assert_array_equal(ann.regions[name], face_source.parts[name])
    assert model.vertices[ann.regions["right_eye"], 0].mean() < 0  # the subject's right
    annotation = ann.to_annotation(model.fingerprint)
    assert annotation.rule == "majority" and (annotation.labels >= 0).all()


def test_3ddfa_v3_image_side_names_are_renamed(face_source, tmp_path):
    model = load_model(write_3ddfa_v3(tmp_path / "face_model.npy", face_source, image_sides=True))
    ann = model.region_sets["3DDFA-V3 annotation"]
    np.testing.assert_array_equal(ann.regions["right_eye"], face_source.parts["right_eye"])
    assert any("image sides" in n for n in ann.notes)


def test_3ddfa_v3_annotation_as_object_array(face_source, tmp_path):
    d = v3_dict(face_source)
    arr = np.empty(8, dtype=object)
    arr[:] = [a.reshape(-1, 1) for a in d["annotation"]]
    d["annotation"] = arr
    np.save(tmp_path / "face_model.npy", d, allow_pickle=True)
    model = load_model(tmp_path / "face_model.npy")
    np.testing.assert_array_equal(model.region_sets["3DDFA-V3 annotation"].regions["nose"],
                                  face_source.parts["nose"])


# -- 3DDFA_V2 --------------------------------------------------------------------------------------

def test_3ddfa_v2_layout(face_source, tmp_path):
    model = load_model(write_3ddfa_v2(tmp_path, face_source))
    check_model(model, face_source, "3ddfa-v2")
    np.testing.assert_array_equal(model.landmarks68, face_source.landmarks)
    assert len(model.meta["companions"]) == 2


def test_3ddfa_v2_without_companions(face_source, tmp_path):
    path = write_3ddfa_v2(tmp_path, face_source, with_tri_pkl=False, with_params=False)
    model = load_model(path)
    assert len(model.triangles) == len(face_source.triangles) // 2  # the pickle's own (stale) tri
    notes = " ".join(model.meta["notes"])
    assert "tri.pkl not found" in notes and "guessed" in notes
    rms = np.sqrt((model.identity_basis[0] ** 2).sum(axis=1).mean())
    assert 0.001 < rms < 0.01  # a plausible few millimetres


def test_3ddfa_v2_axes_corrected_by_landmarks(face_source, tmp_path):
    """A file whose y and z point the other way is rotated back (the axes of this format are inferred)."""
    path = write_3ddfa_v2(tmp_path, face_source)
    data = pickle.loads(path.read_bytes())
    data["u"] = (data["u"].reshape(-1, 3) * [1, -1, -1]).reshape(-1, 1).astype(np.float32)
    path.write_bytes(pickle.dumps(data, protocol=2))
    model = load_model(path)
    np.testing.assert_allclose(model.vertices, face_source.vertices, atol=TOL)
    assert any("rotated" in n for n in model.meta["notes"])


# -- BFM 2017 ------------------------------------------------------------------------------------

def test_bfm2017_layout(face_source, tmp_path):
    model = load_model(write_bfm2017(tmp_path / "model2017-1_bfm_nomouth.h5", face_source))
    check_model(model, face_source, "bfm2017")
    assert model.meta["units"] == "mm" and model.meta["statismo_version"] == "0.9"
    np.testing.assert_allclose(model.albedo, face_source.colours, atol=1e-5)


def test_bfm2017_missing_dataset(face_source, tmp_path):
    import h5py

    path = write_bfm2017(tmp_path / "model2019_fullHead.h5", face_source)
    with h5py.File(path, "a") as fh:
        del fh["shape/model/pcaVariance"]
    with pytest.raises(FacepartError, match="pcaVariance"):
        load_model(path, format="bfm2017")


# -- FaceVerse -------------------------------------------------------------------------------------

def test_faceverse_v1_layout(face_source, tmp_path):
    np.save(tmp_path / "faceverse_base_v1.npy", faceverse_v12_dict(face_source), allow_pickle=True)
    model = load_model(tmp_path / "faceverse_base_v1.npy")
    check_model(model, face_source, "faceverse")
    assert model.meta["version"] == "v1" and model.expression_kind == "pca"
    assert model.uv.min() >= 0 and model.uv.max() <= 1


def test_faceverse_v2_full_and_simplified(face_source, tmp_path):
    keep = np.sort(np.union1d(np.arange(0, face_source.n, 2), face_source.landmarks))
    np.save(tmp_path / "faceverse_simple_v2.npy", faceverse_v12_dict(face_source, keep), allow_pickle=True)
    full = load_model(tmp_path / "faceverse_simple_v2.npy")
    check_model(full, face_source, "faceverse")
    assert full.meta["version"] == "v2" and full.expression_kind == "blendshape"
    assert full.expression_names[0] == "exp0"
    simple = load_model(tmp_path / "faceverse_simple_v2.npy", simplified=True)
    np.testing.assert_allclose(simple.vertices, face_source.vertices[keep], atol=TOL)
    assert simple.meta["version"] == "v2 simplified"
    check_frame(simple, np.searchsorted(keep, face_source.landmarks))


def test_faceverse_v3_layout(face_source, tmp_path):
    np.save(tmp_path / "faceverse_v3_6_s.npy", faceverse_v3_dict(face_source), allow_pickle=True)
    model = load_model(tmp_path / "faceverse_v3_6_s.npy")
    check_model(model, face_source, "faceverse")
    assert model.meta["version"] == "v3" and model.meta["units"] == "mm"
    assert model.expression_names[:2] == ("bs0", "bs1")
    parsing = model.region_sets["FaceVerse v3 parsing colours"].regions
    np.testing.assert_array_equal(parsing["#ff00ff"], face_source.parts["nose"])
    assert model.vote_mask.sum() == face_source.n - 200


def test_faceverse_v1_already_y_up_is_rotated_back(face_source, tmp_path):
    d = faceverse_v12_dict(face_source)
    d["meanshape"] = (face_source.vertices * 10).reshape(1, -1).astype(np.float32)  # not flipped
    np.save(tmp_path / "faceverse_base_v1.npy", d, allow_pickle=True)
    model = load_model(tmp_path / "faceverse_base_v1.npy")
    np.testing.assert_allclose(model.vertices, face_source.vertices, atol=TOL)
    check_frame(model, face_source.landmarks)


# -- FLAME ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flame_dir(face_source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("flame")
    write_flame(folder, face_source)
    write_flame_masks(folder, face_source)
    return folder


def test_flame_layout_without_chumpy(face_source, flame_dir):
    import sys

    assert "chumpy" not in sys.modules
    model = load_model(flame_dir / "generic_model.pkl")
    check_model(model, face_source, "flame")
    assert model.identity_basis.shape[0] == 300 and model.expression_basis.shape[0] == 100
    assert model.meta["units"] == "m" and model.meta["version"] == "2020"
    masks = model.region_sets["FLAME_masks"]
    expected = flame_masks(face_source)
    for key in expected:
        np.testing.assert_array_equal(masks.regions[key], np.unique(expected[key]))
    assert not model.vote_mask[expected["left_eyeball"]].any()
    assert "chumpy" not in sys.modules


def test_flame_python2_protocol0_pickle(face_source, tmp_path):
    path = write_flame(tmp_path, face_source, name="flame2023.pkl", protocol=0, n_shape=6, n_exp=5)
    assert b"copy_reg\n_reconstructor" in path.read_bytes()
    model = load_model(path, n_shape=6)
    check_model(model, face_source, "flame")
    assert model.meta["version"] == "2023"


def test_flame_jaw_open(face_source, flame_dir):
    closed = load_model(flame_dir / "generic_model.pkl")
    opened = load_model(flame_dir / "generic_model.pkl", jaw_open=0.2)
    moved = np.linalg.norm(opened.vertices - closed.vertices, axis=1)
    chin = face_source.landmarks[8]
    brow = face_source.landmarks[19]
    assert moved[chin] > 0.005 and moved[brow] < 1e-9
    assert opened.vertices[chin, 1] < closed.vertices[chin, 1]  # the chin goes down
    assert opened.identity_basis.shape == closed.identity_basis.shape
    with pytest.raises(FacepartError, match="jaw_open .* expects a float"):
        load_model(flame_dir / "generic_model.pkl", jaw_open="wide")
    same = load_model(flame_dir / "generic_model.pkl", pose=[[0, 0, 0], [0, 0, 0], [0.2, 0, 0], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(same.vertices, opened.vertices, atol=1e-7)
    turned = load_model(flame_dir / "generic_model.pkl", pose=[[0, 0.3, 0]] + [[0, 0, 0]] * 4)  # root yaw
    assert np.abs(turned.vertices - closed.vertices).max() > 0.01
    with pytest.raises(FacepartError, match="axis-angle vectors"):
        load_model(flame_dir / "generic_model.pkl", pose=[1, 2])


def test_flame_masks_alone_is_explained(flame_dir):
    with pytest.raises(FacepartError, match="region file like FLAME_masks.pkl"):
        load_model(flame_dir / "FLAME_masks.pkl")


# -- the real ICT folder and generic meshes --------------------------------------------------------

def test_real_ict_folder(ict_model):
    assert ict_model.meta["format"] == "ict-facekit" and ict_model.meta["units"] == "cm"
    check_frame(ict_model, ict_model.landmarks68)
    assert outward_flux(ict_model.vertices, ict_model.triangles) > 0
    assert ict_model.uv is not None and ict_model.uv.shape == (ict_model.n_vertices, 2)


def test_obj_mesh_vertex_colours_and_uv(face_source, tmp_path):
    src = face_source
    path = tmp_path / "face.obj"
    lines = [f"v {x:.6f} {y:.6f} {z:.6f} {r:.4f} {g:.4f} {b:.4f}" for (x, y, z), (r, g, b) in
             zip(src.vertices * 100, src.colours)]
    lines += [f"vt {u:.5f} {w:.5f}" for u, w in src.vertices[:, :2] * 5 + 0.5]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in src.triangles + 1]
    path.write_text("\n".join(lines) + "\n")
    model = load_model(path)
    np.testing.assert_allclose(model.vertices, src.vertices, atol=1e-6)
    np.testing.assert_allclose(model.albedo, src.colours, atol=1e-4)
    np.testing.assert_allclose(model.uv, src.vertices[:, :2] * 5 + 0.5, atol=1e-5)
    check_frame(model, src.landmarks)


def test_texture_image(face_source, tmp_path):
    from PIL import Image

    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :32] = (200, 50, 50)  # left half red, right half blue
    img[:, 32:] = (50, 50, 200)
    Image.fromarray(img).save(tmp_path / "tex.png")
    path = write_3ddfa_v3(tmp_path / "face_model.npy", face_source)
    model = load_model(path, texture=tmp_path / "tex.png")
    left = model.uv[:, 0] < 0.45
    assert np.allclose(model.albedo[left], np.array([200, 50, 50]) / 255, atol=1e-5)
    assert model.albedo_basis.shape == (3, face_source.n, 3)  # skin-tone variation
    assert model.meta["texture"].endswith("tex.png")
    with pytest.raises(FacepartError, match="needs a model with UV"):
        load_model(write_deep3d(tmp_path / "BFM_model_front.mat", face_source), texture=tmp_path / "tex.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(FacepartError, match="not a readable texture"):
        load_model(path, texture=tmp_path / "bad.png")


# -- layout variants: planar flattening, shared index bases, v7.3 without header, damaged containers ----

def _planar(arr: np.ndarray, n: int) -> np.ndarray:
    """A vertex-major (3N, K) array (or (1, 3N) row) rewritten x1..xN, y1..yN, z1..zN (MATLAB's V(:))."""
    row = arr.ndim == 2 and arr.shape[0] == 1
    cols = arr.T if row else arr.reshape(3 * n, -1)
    out = cols.reshape(n, 3, -1).transpose(1, 0, 2).reshape(3 * n, -1)
    return out.T.copy() if row else out


def test_planar_means_and_bases_are_read_planar(face_source, tmp_path):
    # before: a mean flattened planar (MATLAB V(:)) loaded silently as a scrambled cube
    import scipy.io

    from facepart.data.formats.matfile import loadmat5

    src, n = face_source, face_source.n
    for keys in (("shapeMU",), ("shapeMU", "shapePC", "texMU", "texPC")):  # the mean alone, and everything
        folder = tmp_path / "_".join(keys)
        folder.mkdir()
        data = loadmat5(write_bfm2009(folder, src))
        data.update({k: _planar(data[k], n) for k in keys})
        scipy.io.savemat(folder / "01_MorphableModel.mat", data)
        model = load_model(folder / "01_MorphableModel.mat")
        check_model(model, src, "bfm2009", expression=False)
        np.testing.assert_allclose(model.albedo, src.colours, atol=1e-5)
        assert sum("stored planar" in note for note in model.meta["notes"]) == len(keys)
    for keys in (("meanshape",), ("meanshape", "idBase", "exBase")):
        path = tmp_path / f"BFM_model_front_{len(keys)}.mat"
        data = loadmat5(write_deep3d(path, src))
        data.update({k: _planar(data[k], n) for k in keys})
        scipy.io.savemat(path, data)
        model = load_model(path)
        check_model(model, src, "deep3d", centred=True)
        assert any("'meanshape' is stored planar" in note for note in model.meta["notes"])
    model = load_model(write_deep3d(tmp_path / "BFM_model_front.mat", src))  # the documented layout: no note
    assert not any("planar" in note for note in model.meta["notes"])


def test_index_bases_are_decided_for_arrays_that_share_them(face_source, tmp_path):
    # before: a 1-based 3DDFA-V3 annotation was re-read per part: only the part reaching N moved, 7 stayed shifted
    d = v3_dict(face_source)
    d["annotation"] = [a + 1 for a in d["annotation"]]
    np.save(tmp_path / "face_model.npy", d, allow_pickle=True)
    model = load_model(tmp_path / "face_model.npy")
    ann = model.region_sets["3DDFA-V3 annotation"]
    for name in V3_ORDER:
        np.testing.assert_array_equal(ann.regions[name], face_source.parts[name])
    assert any("'annotation' reaches" in note for note in model.meta["notes"])

    # a Deep3D file re-exported 0-based: frontmask2_idx (no 0 in it) follows the triangles' base
    import scipy.io

    from facepart.data.formats.matfile import loadmat5

    data = loadmat5(write_deep3d(tmp_path / "BFM_model_front.mat", face_source))
    front = data["frontmask2_idx"].ravel().astype(np.int64) - 1
    front = front[front > 0]  # no 0 of its own to tell its base
    data["frontmask2_idx"] = front.reshape(-1, 1).astype(np.float32)
    for key in ("tri", "point_buf", "keypoints"):
        data[key] = data[key] - 1
    scipy.io.savemat(tmp_path / "zero_based.mat", data)
    model = load_model(tmp_path / "zero_based.mat", format="deep3d")
    np.testing.assert_array_equal(model.region_sets["Deep3D masks"].regions["frontmask2"], front)
    np.testing.assert_array_equal(model.landmarks68, face_source.landmarks)
    check_model(model, face_source, "deep3d", centred=True)


def test_mat_v73_without_matlab_header_is_read_with_h5py(face_source, tmp_path):
    # before: "not a MATLAB 5 file (no IM/MI endian indicator)" for a v7.3 file written by h5py (no 512-byte header)
    import h5py

    from facepart.data.formats.matfile import loadmat5

    data = loadmat5(write_bfm2009(tmp_path, face_source))
    path = tmp_path / "v73" / "01_MorphableModel.mat"
    path.parent.mkdir()
    with h5py.File(path, "w") as fh:
        for key, value in data.items():
            fh[key] = np.asarray(value).T  # MATLAB's column-major arrays appear transposed in HDF5
    model = load_model(path)
    check_model(model, face_source, "bfm2009", expression=False)


def test_damaged_mat_and_h5_files_say_why_they_cannot_be_read(face_source, tmp_path):
    # before: "unknown model format ... use --format to force one", the cause shown only with --format
    good = write_bfm2009(tmp_path, face_source).read_bytes()
    (tmp_path / "trunc.mat").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.mat").write_bytes(b"")
    raw = write_bfm2017(tmp_path / "model.h5", face_source).read_bytes()
    (tmp_path / "trunc.h5").write_bytes(raw[:100000])
    (tmp_path / "empty.h5").write_bytes(b"")
    for name, match in (("trunc.mat", r"a truncated MATLAB \.mat file that cannot be parsed: .*claims"),
                        ("empty.mat", r"an empty file \(0 bytes\), not a MATLAB \.mat file"),
                        ("trunc.h5", r"a truncated HDF5 file that cannot be parsed: .*truncated file"),
                        ("empty.h5", r"an empty file \(0 bytes\), not an HDF5 file")):
        with pytest.raises(FacepartError, match=match) as err:
            load_model(tmp_path / name)
        assert "\n" not in str(err.value) and "unknown model format" not in str(err.value)
    # a model folder whose .mat is damaged names the file and why
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "01_MorphableModel.mat").write_bytes(good[: len(good) // 2])
    with pytest.raises(FacepartError, match=r"no face model found in this folder; 01_MorphableModel\.mat is a "
                                            r"truncated MATLAB \.mat file"):
        load_model(tmp_path / "folder")


def test_faceverse_version_is_told_by_its_keys(face_source, tmp_path):
    # before: a v1 file with meanshape saved (N, 3) was read as v3 (triangles swapped, landmarks, UVs dropped)
    d = faceverse_v12_dict(face_source)
    d["meanshape"] = d["meanshape"].reshape(-1, 3)
    np.save(tmp_path / "faceverse_base_v1.npy", d, allow_pickle=True)
    model = load_model(tmp_path / "faceverse_base_v1.npy")
    check_model(model, face_source, "faceverse")
    assert model.meta["version"] == "v1" and model.expression_kind == "pca" and model.uv is not None
    np.testing.assert_array_equal(model.landmarks68, face_source.landmarks)

    d = faceverse_v3_dict(face_source)
    d["exBase"] = d.pop("exBase_52")  # a v3 file whose expression key was renamed stays v3
    np.save(tmp_path / "faceverse_v3.npy", d, allow_pickle=True)
    model = load_model(tmp_path / "faceverse_v3.npy")
    assert model.meta["version"] == "v3"
    check_model(model, face_source, "faceverse")

    d = faceverse_v12_dict(face_source)
    del d["exBase"]  # before: "unknown model format"
    np.save(tmp_path / "no_exp.npy", d, allow_pickle=True)
    with pytest.raises(FacepartError, match=r"no_exp\.npy: missing 'exBase'; is this a FaceVerse"):
        load_model(tmp_path / "no_exp.npy")


def test_bfm2009_full_topology_on_another_vertex_count_says_so(face_source, tmp_path):
    # before: "unknown BFM 2009 topology '53490'; use 53490, 53215 or 35709"
    path = write_bfm2009(tmp_path, face_source)
    with pytest.raises(FacepartError, match=f"01_MorphableModel.mat: topology 53490 is the full BFM 2009 mesh, "
                                            f"but this file has {face_source.n} vertices"):
        load_model(path, topology=53490)
    with pytest.raises(FacepartError, match="unknown BFM 2009 topology 'abc'"):
        load_model(path, topology="abc")
