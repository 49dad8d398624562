"""Loaders refuse special files, truncated and absurd meshes in one line, and read OBJ quirks right."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import trimesh

from facepart.data import load_model
from facepart.data.obj import read_obj
from facepart.errors import FacepartError
from facepart.io_utils import check_regular_file

fifo_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")


def _head(path, **kw):
    """A head-sized (20 cm) sphere written by trimesh to ``path``."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    mesh.export(path, **kw)
    return mesh


@fifo_only
def test_check_regular_file_refuses_a_fifo_and_a_folder(tmp_path):
    os.mkfifo(tmp_path / "pipe.obj")
    with pytest.raises(FacepartError, match=r"pipe.obj is not a regular file \(a FIFO\)"):
        check_regular_file(tmp_path / "pipe.obj", "a mesh file")
    with pytest.raises(FacepartError, match="got a folder"):
        check_regular_file(tmp_path, "a mesh file")


def _errors_in_child(setup: str, timeout: int) -> list[str]:
    """Run ``setup``, which defines a list ``calls``, and then each call in a child Python (so a hang is a
    timeout, not a stuck test run); one output line per call: its FacepartError, or LOADED."""
    script = textwrap.dedent(setup) + textwrap.dedent("""
        from facepart.errors import FacepartError
        for call in calls:
            try:
                call()
                print("LOADED")
            except FacepartError as err:
                print(err)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.splitlines()


@fifo_only
def test_fifos_given_as_inputs_are_refused_not_waited_on(tmp_path):
    """Each load runs in a child process with a timeout, so a regression fails instead of hanging."""
    for name in ("m.npy", "m.pkl", "m.mat", "m.h5", "m.obj", "m.ply", "bs/smile.obj", "buf.bin", "truth.json",
                 "ict/generic_neutral_mesh.obj"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        os.mkfifo(tmp_path / name)
    _head(tmp_path / "base.ply")
    (tmp_path / "scene.gltf").write_text(json.dumps({"asset": {"version": "2.0"},
                                                     "buffers": [{"uri": "buf.bin", "byteLength": 12}]}))
    lines = _errors_in_child(f"""
        from pathlib import Path
        from facepart.data import load_model
        from facepart.data.annotation import read_parts_json
        d = Path({str(tmp_path)!r})
        calls = [lambda n=n: load_model(d / n) for n in ("m.npy", "m.pkl", "m.mat", "m.h5", "m.obj", "m.ply")]
        calls += [lambda: load_model(d / "m.obj", format="mesh"), lambda: load_model(d / "m.npy", format="faceverse"),
                  lambda: load_model(d / "base.ply", blendshapes=d / "bs"), lambda: load_model(d / "scene.gltf"),
                  lambda: read_parts_json(d / "truth.json"), lambda: load_model(d / "ict")]
    """, timeout=120)
    assert len(lines) == 12, lines
    assert all("is not a regular file (a FIFO)" in line for line in lines), lines


def test_gltf_buffers_must_be_files_inside_its_folder(tmp_path):
    """In a child process with a memory cap: trimesh would read /dev/zero without end."""
    for i, uri in enumerate(("/dev/zero", "../outside.bin", "http://example.invalid/x.bin")):
        (tmp_path / f"s{i}.gltf").write_text(json.dumps({"asset": {"version": "2.0"},
                                                         "buffers": [{"uri": uri, "byteLength": 12}]}))
    lines = _errors_in_child(f"""
        import resource
        from pathlib import Path
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
        from facepart.data import load_model
        calls = [lambda i=i: load_model(Path({str(tmp_path)!r}) / f"s{{i}}.gltf") for i in range(3)]
    """, timeout=60)
    assert len(lines) == 3, lines
    assert all(f"s{i}.gltf: buffers[0] refers to" in line and "inside it" in line for i, line in enumerate(lines))


def test_obj_with_bom_tabs_and_indented_lines(tmp_path):
    path = tmp_path / "quirks.obj"
    path.write_bytes("\ufeffv 0 0 0\n  v 0.1 0 0\nv\t0 0.1 0\n\tv 0 0 0.1\nf\t1\t2\t3\n  f 1 3 4\n".encode())
    obj = read_obj(path)
    np.testing.assert_allclose(obj.vertices, [[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1]])
    np.testing.assert_array_equal(obj.triangles, [[0, 1, 2], [0, 2, 3]])


def test_obj_negative_indices_count_back_from_the_vertices_so_far(tmp_path):
    path = tmp_path / "rel.obj"
    path.write_text("v 0 0 0\nv .1 0 0\nv 0 .1 0\nf -3 -2 -1\nv 0 0 .1\nv .1 0 .1\nv 0 .1 .1\nf -3 -2 -1\n")
    np.testing.assert_array_equal(read_obj(path).triangles, [[0, 1, 2], [3, 4, 5]])
    path.write_text("v 0 0 0\nv .1 0 0\nf -3 -2 -1\nv 0 .1 0\n")  # -3 reaches before the first vertex
    with pytest.raises(FacepartError, match="before the first vertex"):
        read_obj(path)


@pytest.mark.parametrize("suffix, kw", [(".ply", {"encoding": "ascii"}), (".off", {})])
def test_truncated_ascii_ply_and_off_are_refused(tmp_path, suffix, kw):
    path = tmp_path / f"head{suffix}"
    mesh = _head(path, **kw)
    assert len(load_model(path).triangles) == len(mesh.faces)  # the whole file loads
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-10]) + "\n")  # the last 10 faces are cut off
    with pytest.raises(FacepartError, match=rf"head{suffix}: the header declares {len(mesh.vertices)} vertices and "
                                            rf"{len(mesh.faces)} faces, but the file holds .* {len(mesh.faces) - 10}"):
        load_model(path)


@pytest.mark.parametrize("scale", [1e20, 1e30])
def test_huge_coordinates_are_refused(tmp_path, scale):
    path = tmp_path / "huge.ply"
    mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
    mesh.apply_scale(scale)
    mesh.export(path)
    with pytest.raises(FacepartError, match="huge.ply: a vertex lies .* m from the origin .*expected a head within"):
        load_model(path)


def _textured_obj(path, library: str):
    """A head-sized sphere with UVs written as an OBJ that uses material 'skin' from ``library``."""
    mesh = trimesh.creation.icosphere(subdivisions=1, radius=0.1)
    lines = [f"mtllib {library}", "usemtl skin"] + [f"v {x} {y} {z}" for x, y, z in mesh.vertices]
    lines += [f"vt {u} {v}" for u, v in np.random.default_rng(0).random((len(mesh.vertices), 2))]
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in mesh.faces + 1]
    path.write_text("\n".join(lines) + "\n")
    return mesh


def test_a_broken_material_texture_costs_only_the_colour(tmp_path):
    (tmp_path / "skin.png").write_bytes(b"not a png")
    (tmp_path / "head.mtl").write_text("newmtl skin\nmap_Kd skin.png\n")
    mesh = _textured_obj(tmp_path / "head.obj", "head.mtl")
    model = load_model(tmp_path / "head.obj")
    assert len(model.triangles) == len(mesh.faces)
    assert any("no colour from the OBJ's materials" in n and "skin.png" in n for n in model.meta["notes"])


def _write_obj(path, vertices, triangles, extra=()):
    lines = list(extra) + [f"v {x:.7f} {y:.7f} {z:.7f}" for x, y, z in vertices]
    lines += [f"f {a} {b} {c}" for a, b, c in np.asarray(triangles) + 1]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_inward_winding_is_turned_outward_so_the_views_can_vote(tmp_path):
    # A mesh wound inward is shaded from behind and every vote is dropped as back-facing: the loader turns it.
    from facepart.annotate.settings import AnnotateSettings
    from facepart.annotate.views import frontal_view, make_scene
    from facepart.annotate.vote import view_angle_weights
    from facepart.renderers.base import make_renderer

    demo = load_model("demo")
    path = _write_obj(tmp_path / "inward.obj", demo.vertices, demo.triangles[:, [0, 2, 1]])
    model = load_model(path)
    assert np.array_equal(model.triangles, demo.triangles)
    assert any("winding reversed" in n and "wound inward" in n for n in model.meta["notes"])
    outward = load_model(_write_obj(tmp_path / "outward.obj", demo.vertices, demo.triangles))
    assert np.array_equal(outward.triangles, demo.triangles)
    assert not any("winding" in n for n in outward.meta.get("notes", []))
    settings = AnnotateSettings(size=96)
    with make_renderer(None, 96) as renderer:
        view = frontal_view(model, 96, renderer)
        weights = view_angle_weights(view, make_scene(model, 96), settings.view_weight, settings.grazing)
    assert np.count_nonzero(weights) > 0.3 * np.count_nonzero(np.bincount(
        view.fragments.triangle_id[view.fragments.mask].ravel()))


def test_vertices_in_no_triangle_change_neither_unit_nor_framing(tmp_path):
    from facepart.annotate.variants import head_frame

    demo = load_model("demo")
    plain = load_model(_write_obj(tmp_path / "plain.obj", demo.vertices, demo.triangles))
    stray = np.vstack([demo.vertices, [[3.0, 0, 0], [-3.0, 0, 0]]])  # 6 m apart: would read as decimetres
    model = load_model(_write_obj(tmp_path / "stray.obj", stray, demo.triangles))
    assert model.meta["units"] == plain.meta["units"] == "m"
    assert any("2 vertices are in no triangle" in n for n in model.meta["notes"])
    for (c1, r1), (c2, r2) in [(head_frame(model, whole), head_frame(plain, whole)) for whole in (False, True)]:
        assert np.allclose(c1, c2) and r1 == pytest.approx(r2)
    assert any("unit guessed from the size" in n for n in plain.meta["notes"])
    assert not any("unit guessed" in n for n in load_model(tmp_path / "plain.obj", unit="m").meta.get("notes", []))


def test_stl_corners_are_welded_into_shared_vertices(tmp_path):
    demo = load_model("demo")
    used = np.unique(demo.triangles)
    trimesh.Trimesh(demo.vertices, demo.triangles, process=False).export(tmp_path / "head.stl")
    model = load_model(tmp_path / "head.stl")
    assert model.n_vertices == len(used) and len(model.triangles) == len(demo.triangles)
    assert np.allclose(model.vertices[model.triangles], demo.vertices[demo.triangles], atol=1e-6)  # same corners
    assert any(f"{3 * len(demo.triangles)} triangle corners were welded into {len(used)}" in n
               for n in model.meta["notes"])


def test_a_gltf_of_several_meshes_says_they_are_joined(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(trimesh.creation.icosphere(subdivisions=2, radius=0.1), node_name="head")
    scene.add_geometry(trimesh.creation.icosphere(subdivisions=1, radius=0.01), node_name="left_eye")
    scene.export(tmp_path / "two.glb")
    model = load_model(tmp_path / "two.glb")
    assert model.n_vertices == 162 + 42
    assert any("places 2 meshes; they are joined" in n and "head from 0, left_eye from 162" in n
               for n in model.meta["notes"])
    _head(tmp_path / "one.glb")
    assert not any("meshes" in n for n in load_model(tmp_path / "one.glb").meta.get("notes", []))


def test_a_gltf_of_several_meshes_is_numbered_in_file_order(tmp_path):
    # before: trimesh's join put the meshes in reverse node order, so vertex 0 was the teeth's, not the head's
    head = trimesh.creation.icosphere(subdivisions=3, radius=0.1)
    eye = trimesh.creation.icosphere(subdivisions=1, radius=0.01)
    teeth = trimesh.creation.box(extents=[0.03, 0.008, 0.01])
    scene = trimesh.Scene()
    moved = np.eye(4)
    moved[:3, 3] = [0.03, 0.02, 0.09]
    for name, mesh, transform in (("zhead", head, np.eye(4)), ("eye", eye, moved), ("mouth_teeth", teeth, np.eye(4))):
        scene.add_geometry(mesh, node_name=name, geom_name=name, transform=transform)
    scene.export(tmp_path / "multi.glb")
    want = np.concatenate([head.vertices, eye.vertices + moved[:3, 3], teeth.vertices])
    model = load_model(tmp_path / "multi.glb", unit="m")
    np.testing.assert_allclose(model.vertices, want, atol=1e-6)  # vertex i is the file's i-th, mesh after mesh
    assert any(f"zhead from 0, eye from {len(head.vertices)}, mouth_teeth from {len(head.vertices) + 42}" in n
               for n in model.meta["notes"])


def test_a_gltf_joins_nested_nodes_depth_first_and_primitives_in_order(tmp_path):
    import base64
    import json

    tri = [np.array([[0, 0, 0], [.1, 0, 0], [0, .1, 0]], np.float32) + k * np.float32(.05) for k in range(3)]
    blob = b"".join(t.tobytes() for t in tri)
    views = [{"buffer": 0, "byteOffset": 36 * k, "byteLength": 36} for k in range(3)]
    accessors = [{"bufferView": k, "componentType": 5126, "count": 3, "type": "VEC3",
                  "min": tri[k].min(0).tolist(), "max": tri[k].max(0).tolist()} for k in range(3)]
    doc = {"asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
           "nodes": [{"name": "root", "children": [2, 1]}, {"name": "b", "mesh": 1}, {"name": "a", "mesh": 0}],
           "meshes": [{"name": "m0", "primitives": [{"attributes": {"POSITION": 0}}, {"attributes": {"POSITION": 1}}]},
                      {"name": "m1", "primitives": [{"attributes": {"POSITION": 2}}]}],
           "accessors": accessors, "bufferViews": views,
           "buffers": [{"byteLength": len(blob),
                        "uri": "data:application/octet-stream;base64," + base64.b64encode(blob).decode()}]}
    (tmp_path / "nested.gltf").write_text(json.dumps(doc))
    model = load_model(tmp_path / "nested.gltf", unit="m")
    np.testing.assert_allclose(model.vertices, np.concatenate(tri), atol=1e-6)
    assert any("a from 0, a from 3, b from 6" in n for n in model.meta["notes"])


def test_an_obj_of_several_objects_keeps_its_vertex_order(tmp_path):
    eye = trimesh.creation.icosphere(subdivisions=1, radius=0.01)
    head = trimesh.creation.icosphere(subdivisions=2, radius=0.1)
    lines = ["o eye"] + [f"v {x:.7f} {y:.7f} {z:.7f}" for x, y, z in eye.vertices]
    lines += ["o head"] + [f"v {x:.7f} {y:.7f} {z:.7f}" for x, y, z in head.vertices]
    lines += ["g eye"] + [f"f {a} {b} {c}" for a, b, c in eye.faces + 1]
    lines += ["g head"] + [f"f {a} {b} {c}" for a, b, c in head.faces + 1 + len(eye.vertices)]
    (tmp_path / "multi.obj").write_text("\n".join(lines) + "\n")
    model = load_model(tmp_path / "multi.obj", unit="m")
    np.testing.assert_allclose(model.vertices, np.concatenate([eye.vertices, head.vertices]), atol=1e-6)


def test_a_triangle_soup_is_pointed_out_and_welded_on_request(tmp_path):
    # before: every triangle its own three vertices was taken as is, without a word
    demo = load_model("demo")
    soup = demo.vertices[demo.triangles.reshape(-1)]
    trimesh.Trimesh(soup, np.arange(len(soup)).reshape(-1, 3), process=False).export(tmp_path / "soup.ply")
    model = load_model(tmp_path / "soup.ply", unit="m")
    assert model.n_vertices == len(soup)  # the file's numbering stays
    (note,) = [n for n in model.meta["notes"] if "every triangle has its own three vertices" in n]
    assert "-O weld=true" in note and len(note) < 500
    welded = load_model(tmp_path / "soup.ply", unit="m", weld=True)
    assert welded.n_vertices == len(np.unique(demo.triangles))
    np.testing.assert_allclose(welded.vertices[welded.triangles], model.vertices[model.triangles], atol=1e-6)
    assert any("welded (weld=true)" in n for n in welded.meta["notes"])
    assert not any("lie at the position of another" in n for n in welded.meta["notes"])
    trimesh.Trimesh(demo.vertices, demo.triangles, process=False).export(tmp_path / "head.ply")
    assert not any("position of another" in n for n in load_model(tmp_path / "head.ply").meta.get("notes", []))


def test_a_truncated_obj_says_so(tmp_path):
    demo = load_model("demo")
    text = _write_obj(tmp_path / "head.obj", demo.vertices, demo.triangles).read_text()
    start = text.index("\nv ", len(text) // 4) + 1
    end = text.index("\n", start)
    (tmp_path / "cut.obj").write_bytes(text[:end - 2].encode())  # inside a vertex's z, before any face
    with pytest.raises(FacepartError, match=r"cut.obj: .* vertices but no faces .* ends in the middle of a line: is "
                                            "it truncated"):
        load_model(tmp_path / "cut.obj")
    (tmp_path / "cut.obj").write_bytes(text[:end + 1].encode())  # whole lines, still no faces
    with pytest.raises(FacepartError, match="ends among its vertex lines: is it truncated"):
        load_model(tmp_path / "cut.obj")
    (tmp_path / "cut.obj").write_bytes(text[:text.rindex(" ", start, end)].encode())  # 'v x y': a short line
    with pytest.raises(FacepartError, match="malformed 'v' line.*ends in the middle of a line: is it truncated"):
        load_model(tmp_path / "cut.obj")


def test_a_missing_material_library_is_named(tmp_path):
    _textured_obj(tmp_path / "head.obj", "gone.mtl")
    model = load_model(tmp_path / "head.obj")
    assert any("material library gone.mtl is not beside it" in n for n in model.meta["notes"])


def test_a_mesh_in_inches_takes_unit_in(tmp_path):
    demo = load_model("demo")
    inches = demo.vertices / 0.0254
    model = load_model(_write_obj(tmp_path / "inches.obj", inches, demo.triangles), unit="in")
    assert np.allclose(model.vertices, demo.vertices, atol=1e-6) and model.meta["units"] == "in"
    guessed = load_model(tmp_path / "inches.obj")  # never guessed: a head in inches reads as centimetres
    assert guessed.meta["units"] == "cm" and any("give --unit" in n for n in guessed.meta["notes"])
