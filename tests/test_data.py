"""Loaders keep vertex order; models validate their arrays; the demo head is what it claims."""

import numpy as np
import pytest
import trimesh

from facepart.data import load_model
from facepart.data.mesh import guess_unit, load_mesh
from facepart.data.parts import PartTable
from facepart.errors import FacepartError


def _raw_obj_vertices(path):
    """The 'v' lines of an OBJ, parsed independently of facepart."""
    rows = [line.split()[1:4] for line in open(path) if line.startswith("v ")]
    return np.array(rows, float)


def test_ict_loader_keeps_vertex_order_and_frame(ict_model, ict_path):
    raw = _raw_obj_vertices(ict_path / "generic_neutral_mesh.obj")
    np.testing.assert_allclose(ict_model.vertices, raw * 0.01, atol=1e-7)
    ident = _raw_obj_vertices(ict_path / "identity003.obj")
    np.testing.assert_allclose(ict_model.identity_basis[3], (ident - raw) * 0.01, atol=1e-6)
    assert ict_model.expression_names[ict_model.expression_names.index("jawOpen")] == "jawOpen"
    jaw = _raw_obj_vertices(ict_path / "jawOpen.obj")
    np.testing.assert_allclose(ict_model.expression_basis[ict_model.expression_names.index("jawOpen")],
                               (jaw - raw) * 0.01, atol=1e-6)
    # quads become two triangles each: 26,384 polygons, 52,220 triangles
    assert ict_model.triangles.shape == (52220, 3)
    lm = ict_model.landmarks68
    assert ict_model.vertices[lm[36], 0] < 0 < ict_model.vertices[lm[45], 0]  # right eye corner at -x
    assert ict_model.vertices[:, 2].argmax() in np.flatnonzero(np.linalg.norm(
        ict_model.vertices - ict_model.vertices[lm[30]], axis=1) < 0.01)  # nose tip is frontmost
    # eyeballs/teeth never vote; shading helpers are not drawn
    assert not ict_model.vote_mask[21451:23021].any() and not ict_model.vote_mask[17039:21451].any()
    assert not ict_model.render_mask[24591:].any() and ict_model.render_mask[:24591].all()


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb", ".off"])
def test_mesh_loader_keeps_vertex_order(ict_model, tmp_path, suffix):
    rng = np.random.default_rng(0)
    keep = np.arange(9409)  # the ICT face, in metres
    faces = ict_model.triangles[np.all(ict_model.triangles < len(keep), axis=1)]
    verts = ict_model.vertices[keep] * 100  # write in centimetres
    perm_faces = faces[rng.permutation(len(faces))]
    mesh = trimesh.Trimesh(verts, perm_faces, process=False)
    path = tmp_path / f"face{suffix}"
    mesh.export(path)
    model = load_model(path)
    assert model.meta["units"] == "cm"
    np.testing.assert_allclose(model.vertices, verts * 0.01, atol=1e-6)
    assert np.array_equal(model.triangles, perm_faces)


def test_mesh_blendshapes_and_colours(tmp_path, demo_model):
    base = trimesh.Trimesh(demo_model.vertices, demo_model.triangles, process=False,
                           vertex_colors=(demo_model.albedo * 255).astype(np.uint8))
    base.export(tmp_path / "head.ply")
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    moved = demo_model.vertices + demo_model.expression_basis[0]
    trimesh.Trimesh(moved, demo_model.triangles, process=False).export(shapes / "jawOpen.ply")
    model = load_mesh(tmp_path / "head.ply", blendshapes=shapes, unit="m")
    assert model.expression_names == ("jawOpen",)
    np.testing.assert_allclose(model.expression_basis[0], demo_model.expression_basis[0], atol=1e-6)
    np.testing.assert_allclose(model.albedo, demo_model.albedo, atol=1 / 255)

    trimesh.Trimesh(demo_model.vertices[:100], demo_model.triangles[:10], process=False).export(shapes / "bad.ply")
    with pytest.raises(FacepartError, match="blend shapes must share"):
        load_mesh(tmp_path / "head.ply", blendshapes=shapes)
    # same vertex count, re-ordered triangles: also another topology
    (shapes / "bad.ply").unlink()
    trimesh.Trimesh(moved, demo_model.triangles[::-1], process=False).export(shapes / "reordered.ply")
    with pytest.raises(FacepartError, match="another triangle order"):
        load_mesh(tmp_path / "head.ply", blendshapes=shapes)


# (up, front) of the file, and the file's coordinates of a point given in facepart's frame (x, y, z)
TURNS = {("z", "-y"): lambda v: np.stack([v[:, 0], -v[:, 2], v[:, 1]], 1),  # a scan: +z up, looking along -y
         ("-x", "z"): lambda v: np.stack([-v[:, 1], v[:, 0], v[:, 2]], 1),  # lying on its side
         ("y", "-z"): lambda v: np.stack([-v[:, 0], v[:, 1], -v[:, 2]], 1)}  # looking away from the viewer


@pytest.mark.parametrize("up, front", list(TURNS))
def test_a_mesh_in_other_axes_is_turned_into_facepart_s_frame(tmp_path, demo_model, up, front):
    turn = TURNS[(up, front)]
    trimesh.Trimesh(turn(demo_model.vertices), demo_model.triangles, process=False).export(tmp_path / "head.ply")
    shapes = tmp_path / "shapes"
    shapes.mkdir()
    moved = demo_model.vertices + demo_model.expression_basis[0]
    trimesh.Trimesh(turn(moved), demo_model.triangles, process=False).export(shapes / "jawOpen.ply")
    model = load_model(tmp_path / "head.ply", blendshapes=shapes, unit="m", up=up, front=front)
    np.testing.assert_allclose(model.vertices, demo_model.vertices, atol=1e-6)
    np.testing.assert_allclose(model.expression_basis[0], demo_model.expression_basis[0], atol=1e-6)
    assert np.array_equal(model.triangles, demo_model.triangles)  # a rotation keeps the winding outward
    assert any(f"up {up}, front {front}" in note for note in model.meta["notes"])
    as_is = load_model(tmp_path / "head.ply", unit="m")
    assert not np.allclose(as_is.vertices, demo_model.vertices, atol=1e-3) and "notes" not in as_is.meta


@pytest.mark.parametrize("options, needle", [(dict(up="z", front="z"), "must be different axes"),
                                             (dict(up="y", front="-y"), "must be different axes"),
                                             (dict(up="z"), r"\(one not given is up=y or front=z: give both"),
                                             (dict(up="w"), "up: expected an axis"),
                                             (dict(front="--z"), "front: expected an axis")])
def test_bad_mesh_axes_are_one_line(tmp_path, demo_model, options, needle):
    trimesh.Trimesh(demo_model.vertices, demo_model.triangles, process=False).export(tmp_path / "head.ply")
    with pytest.raises(FacepartError, match=needle):
        load_model(tmp_path / "head.ply", **options)


def test_bad_models_give_one_clear_error(tmp_path):
    nan_obj = tmp_path / "nan.obj"
    nan_obj.write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(FacepartError, match="nan.obj.*NaN"):
        load_model(nan_obj)
    bad_face = tmp_path / "bad.obj"
    bad_face.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 7\n")
    with pytest.raises(FacepartError, match="beyond the 3 vertices"):
        load_model(bad_face)
    with pytest.raises(FacepartError, match="unknown format 'nope'"):
        load_model(tmp_path / "nan.obj", format="nope")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(FacepartError, match="unknown model format"):
        load_model(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacepartError, match="no face model found"):
        load_model(tmp_path / "empty")
    with pytest.raises(FacepartError, match="no such file"):
        load_model(tmp_path / "missing.obj")


def test_unit_guess():
    assert guess_unit(0.25) == "m" and guess_unit(25.0) == "cm" and guess_unit(250.0) == "mm"
    assert guess_unit(2.5) == "dm" and guess_unit(250000.0) == "um"


def test_demo_head_truth_and_winding(demo_model, demo_truth):
    parts = PartTable.paper()
    x = demo_model.vertices[:, 0]
    for name in parts.names:
        sel = demo_truth == parts.index(name)
        assert sel.sum() >= 20, name
        if name.startswith("left"):
            assert np.all(x[sel] > 0)
        if name.startswith("right"):
            assert np.all(x[sel] < 0)
    mesh = trimesh.Trimesh(demo_model.vertices, demo_model.triangles, process=False)
    assert mesh.is_watertight and mesh.volume > 0  # outward normals
    nose = demo_model.vertices[demo_truth == parts.index("nose")]
    assert demo_model.vertices[:, 2].max() == pytest.approx(nose[:, 2].max())
    assert demo_model.expression_kind == "blendshape" and "jawOpen" in demo_model.expression_names


def test_uncoloured_models_get_brows_lips_and_eyes_painted_from_their_landmarks(ict_model):
    from facepart.data.appearance import BROW_COLOR, LIP_COLOR, SCLERA_COLOR
    from facepart.data.face_model import NEUTRAL_SKIN

    v, lm, albedo = ict_model.vertices, ict_model.landmarks68, ict_model.albedo
    assert albedo is not None and ict_model.albedo_basis.shape[0] == 5  # 3 tone + brow + lip modes
    # just under the middle of each brow's upper contour: brow colour; on the forehead above: skin
    for brow in (19, 24):
        top = v[lm[brow]]
        under = np.argmin(np.linalg.norm(v - (top - [0, 0.004, 0]), axis=1))
        above = np.argmin(np.linalg.norm(v - (top + [0, 0.012, 0]), axis=1))
        np.testing.assert_allclose(albedo[under], BROW_COLOR, atol=1e-6)
        np.testing.assert_allclose(albedo[above], NEUTRAL_SKIN, atol=1e-6)
    mid_lip = np.argmin(np.linalg.norm(v - 0.5 * (v[lm[51]] + v[lm[62]]), axis=1))
    np.testing.assert_allclose(albedo[mid_lip], LIP_COLOR, atol=1e-6)
    # eyeball vertices in the eye opening are white or iris/pupil, never skin; cheeks stay skin
    eyeballs = np.arange(21451, 24591)
    painted = eyeballs[np.any(np.abs(albedo[eyeballs] - NEUTRAL_SKIN) > 0.05, axis=1)]
    assert np.any(np.all(np.isclose(albedo[painted], SCLERA_COLOR), axis=1))
    cheek = np.argmin(np.linalg.norm(v - 0.5 * (v[lm[2]] + v[lm[31]]), axis=1))
    np.testing.assert_allclose(albedo[cheek], NEUTRAL_SKIN, atol=1e-6)


def _textured_obj(folder, model, textures: dict[str, str], image_names=("skin.png",)):
    """The model as an OBJ with planar UVs (u along x, v along y), left half of the polygons in material 'a',
    right half in 'b'; ``textures``: material -> map_Kd line's file; images: left half red, right half blue."""
    from PIL import Image

    v = model.vertices
    uv = (v[:, :2] - v[:, :2].min(0)) / np.ptp(v[:, :2], axis=0)
    right = v[model.triangles].mean(axis=1)[:, 0] > 0
    lines = ["mtllib head.mtl"] + [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v] + [f"vt {a:.6f} {b:.6f}" for a, b in uv]
    for material, tris in (("a", model.triangles[~right]), ("b", model.triangles[right])):
        lines.append(f"usemtl {material}")
        lines += [f"f {i + 1}/{i + 1} {j + 1}/{j + 1} {k + 1}/{k + 1}" for i, j, k in tris]
    (folder / "head.obj").write_text("\n".join(lines) + "\n")
    (folder / "head.mtl").write_text("".join(f"newmtl {m}\nKd 1 1 1\nmap_Kd {f}\n" for m, f in textures.items()))
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :32] = (255, 0, 0)
    image[:, 32:] = (0, 0, 255)
    for name in image_names:
        Image.fromarray(image).save(folder / name)
    return uv


def test_an_obj_is_coloured_by_its_own_material_texture(tmp_path, demo_model):
    uv = _textured_obj(tmp_path, demo_model, {"a": "-s 1 1 1 skin.png", "b": "skin.png"})
    model = load_model(tmp_path / "head.obj", unit="m")
    assert model.meta["material_texture"] == str(tmp_path / "skin.png") and model.meta["texture"]
    red, blue = uv[:, 0] < 0.45, uv[:, 0] > 0.55
    assert (model.albedo[red, 0] > 0.9).all() and (model.albedo[red, 2] < 0.1).all()
    assert (model.albedo[blue, 2] > 0.9).all() and (model.albedo[blue, 0] < 0.1).all()
    assert model.albedo_basis.shape[0] > 0  # skin-tone variation around the texture, as with --texture

    # an explicit --texture wins; several texture images or a missing one: no colour, and a note says why
    plain = tmp_path / "grey.png"
    from PIL import Image

    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(plain)
    assert np.allclose(load_model(tmp_path / "head.obj", unit="m", texture=plain).albedo, 128 / 255, atol=1e-3)
    _textured_obj(tmp_path, demo_model, {"a": "skin.png", "b": "other.png"}, ("skin.png", "other.png"))
    model = load_model(tmp_path / "head.obj", unit="m")
    assert "texture" not in model.meta and any("2 texture images" in n for n in model.meta["notes"])
    _textured_obj(tmp_path, demo_model, {"a": "gone.png", "b": "gone.png"})
    model = load_model(tmp_path / "head.obj", unit="m")
    assert "texture" not in model.meta and any("gone.png is not beside it" in n for n in model.meta["notes"])


def test_info_counts_the_eyeball_vertices_a_run_votes_on(ict_model, demo_model):
    # before: info said "vote-eligible vertices: 11248" while a run's symmetry line counted 14388 (the eyeballs too)
    line = next(ln for ln in ict_model.describe() if ln.startswith("rendered vertices"))
    eyeballs = int(ict_model.eyeball_mask.sum())
    assert eyeballs > 1000
    assert line.endswith(f"vote-eligible vertices: {int(ict_model.vote_mask.sum())} (+ {eyeballs} eyeball vertices "
                         "that take eye votes unless --no-eyeballs)")
    assert next(ln for ln in demo_model.describe() if ln.startswith("rendered")).endswith(
        f"vote-eligible vertices: {int(demo_model.vote_mask.sum())}")
