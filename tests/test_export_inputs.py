"""Bad export inputs and outputs: one FacepartError line (never a traceback, never silently changed data),
and multi-file outputs written as one set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepart.data.parts import PartTable
from facepart.errors import FacepartError
from facepart.export import export, export_annotation, read_annotation
from facepart.export.view import annotation_from_sets


@pytest.fixture(scope="module")
def demo_ann(demo_model, demo_truth):
    sets = {n: np.flatnonzero(demo_truth == i) for i, n in enumerate(PartTable.paper().names)}
    return annotation_from_sets(sets, demo_model.fingerprint, "demo truth")


def refused(path, match, **kw):
    with pytest.raises(FacepartError, match=match) as err:
        read_annotation(path, **kw)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def rich_json(tmp_path, demo_ann, edit):
    path = tmp_path / "parts.facepart.json"
    export(demo_ann, "json", path)
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


def _set(*keys):
    def edit(doc, value):
        target = doc
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return edit


@pytest.mark.parametrize("keys, value, match", [
    (("format_version",), "abc", "format_version"), (("format_version",), None, "format_version"),
    (("format_version",), [1], "format_version"),
    (("part_table", 6, "color"), ["a", 1, 2], "colour of 'nose'"),
    (("part_table", 6, "color"), [None, 1, 2], "colour of 'nose'"),
    (("part_table", 6, "color"), [1e300, 1, 2], "colour of 'nose'"),
    (("part_table", 6, "color"), [1000, -5, 2], "0..255"),
    (("topology", "n_vertices"), -1, "n_vertices"), (("topology", "n_vertices"), 1e20, "n_vertices"),
    (("topology", "n_vertices"), 1e300, "n_vertices"), (("topology", "n_vertices"), 10 ** 20, "n_vertices"),
    (("index_base",), 2, "index_base"), (("parts", "nose"), [10 ** 30], "far outside"),
])
def test_rich_json_bad_fields_are_one_line(tmp_path, demo_ann, keys, value, match):
    refused(rich_json(tmp_path, demo_ann, lambda d: _set(*keys)(d, value)), match)


def test_rich_json_index_base_1_is_honoured(tmp_path, demo_ann):
    def one_based(doc):
        doc["index_base"] = 1
        doc["parts"] = {k: [i + 1 for i in v] for k, v in doc["parts"].items()}
    back = read_annotation(rich_json(tmp_path, demo_ann, one_based))
    assert (back.labels == demo_ann.labels).all()


def test_part_marked_group_without_definition_is_kept(tmp_path, demo_ann):
    def mark(doc):
        doc["part_table"][6]["group"] = True  # nose, but 'groups' does not define it
    back = read_annotation(rich_json(tmp_path, demo_ann, mark))
    assert "nose" in back.parts.names and (back.labels == demo_ann.labels).all()


def test_duplicate_json_keys_and_huge_indices_are_refused(tmp_path, demo_model):
    dup = tmp_path / "dup.json"
    dup.write_text('{"nose": [1, 2], "nose": [3, 4]}')
    refused(dup, "'nose' appears twice", model=demo_model)
    big = tmp_path / "big.json"
    big.write_text('{"nose": [1, 99999999999999999999999]}')
    refused(big, "far outside", model=demo_model)
    rows = tmp_path / "big.csv"
    rows.write_text("vertex,part\n99999999999999999999999,nose\n")
    refused(rows, "far outside", model=demo_model)


def test_blender_float_ids_and_bad_vertex_count_are_refused(tmp_path, demo_ann):
    path = tmp_path / "parts_blender.py"
    export(demo_ann, "blender", path)
    text = path.read_text()
    floats = tmp_path / "float_blender.py"
    floats.write_text(text.replace("'nose': [\n        ", "'nose': [\n        1.5, ", 1))
    refused(floats, "non-integer id")
    neg = tmp_path / "neg_blender.py"
    neg.write_text(text.replace(f"'n_vertices': {demo_ann.n_vertices}", "'n_vertices': -5", 1))
    refused(neg, "n_vertices")


def test_tri_float_ids_are_refused(tmp_path, demo_ann, demo_model):
    path = tmp_path / "t.npz"
    export(demo_ann, "tri", path, model=demo_model)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["tri_nose"] = arrays["tri_nose"].astype(np.float64) + 0.5
    np.savez(path, **arrays)
    refused(path, "non-integer", model=demo_model)


def test_tri_unknown_rule_is_refused_not_read_as_majority(tmp_path, demo_ann, demo_model):
    path = tmp_path / "t.npz"
    export(demo_ann, "tri", path, model=demo_model, tri_rule="all")
    assert read_annotation(path, model=demo_model).settings["tri_rule"] == "all"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["tri_rule"] = np.array("mostly")
    np.savez(path, **arrays)
    refused(path, "tri_rule 'mostly'", model=demo_model)


def test_model_options_without_model_are_refused_not_ignored(tmp_path, demo_ann):
    from click.testing import CliRunner

    from facepart.cli import main

    path = tmp_path / "parts.facepart.json"
    export(demo_ann, "json", path)
    for flags in (["--format", "bogus"], ["--unit", "mm"], ["-O", "topology=53215"]):
        result = CliRunner().invoke(main, ["export", str(path), "--to", "csv", "--out", str(tmp_path / "p.csv"),
                                           *flags])
        assert result.exit_code == 1 and "give --model MODEL" in result.output, (flags, result.output)
        assert not (tmp_path / "p.csv").exists()
    result = CliRunner().invoke(main, ["export", str(path), "--to", "csv", "--out", str(tmp_path / "p.csv"),
                                       "--model", "demo", "--format", "bogus"])
    assert result.exit_code == 1 and "unknown format 'bogus'" in result.output


def colliding(demo_ann, first="a b", second="a_b"):
    member = demo_ann.membership()
    return annotation_from_sets({first: np.flatnonzero(member[:, 0]), second: np.flatnonzero(member[:, 1])},
                                demo_ann.fingerprint, "collide")


@pytest.mark.parametrize("fmt, out, opts, names", [
    ("ply", "split", {"split": True}, ("a b", "a_b")), ("obj", "p.obj", {"split": True}, ("a b", "a_b")),
    ("meshcapade", "m.json", {}, ("up_lip", "upLip")),
])
def test_part_names_that_collide_are_refused_before_writing(tmp_path, demo_ann, demo_model, fmt, out, opts, names):
    with pytest.raises(FacepartError, match=f"'{names[0]}' and '{names[1]}'"):
        export(colliding(demo_ann, *names), fmt, tmp_path / out, model=demo_model, **opts)
    assert not any(tmp_path.iterdir())


def test_ply_split_is_one_set_and_removes_only_its_own_stale_files(tmp_path, demo_ann, demo_model):
    out = tmp_path / "split"
    export(demo_ann, "ply", out, model=demo_model, split=True)
    (out / "notes.txt").write_text("mine")
    export(demo_ann, "ply", out, model=demo_model, split=True, parts=("nose",))
    assert sorted(p.name for p in out.iterdir()) == ["nose.ply", "notes.txt", "split.json"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "skin.ply").mkdir()  # a file of the new set cannot be written: nothing changes
    with pytest.raises(FacepartError, match="skin.ply"):
        export(demo_ann, "ply", out, model=demo_model, split=True)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_uvmask_is_one_set_and_removes_its_stale_masks(tmp_path, ict_model):
    member = np.zeros(ict_model.n_vertices, bool)
    member[:2000] = True
    ann = annotation_from_sets({"nose": np.flatnonzero(member), "skin": np.flatnonzero(~member)},
                               ict_model.fingerprint, "uv")
    out = tmp_path / "uv"
    skin = next(p.name for p in export(ann, "uvmask", out, model=ict_model, size=32) if p.name.startswith("skin"))
    (out / "notes.txt").write_text("mine")
    nose = [p.name for p in export(ann, "uvmask", out, model=ict_model, size=32, parts=("nose",))]
    assert sorted(p.name for p in out.iterdir()) == sorted([*nose, "notes.txt"])  # skin masks removed
    (out / skin).mkdir()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(FacepartError, match=skin):
        export(ann, "uvmask", out, model=ict_model, size=32)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    meta = json.loads((out / "uvmask.json").read_text())
    (out / "uvmask.json").write_text(json.dumps({**meta, "parts": {"nose": "../../etc/passwd"}}))
    with pytest.raises(FacepartError, match="'parts' must map"):
        read_annotation(out, model=ict_model)
    with pytest.raises(FacepartError, match="'a b' and 'a_b'"):
        export(annotation_from_sets({"a b": [0], "a_b": [1]}, ict_model.fingerprint, "c"), "uvmask",
               tmp_path / "c", model=ict_model, size=32)
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_out_suffix_must_match_the_format(tmp_path, demo_ann):
    with pytest.raises(FacepartError, match=r"npz format writes \.npz"):
        export_annotation(demo_ann, "npz", tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_export_report_and_viewer_reload_the_model_with_the_runs_loader_options(tmp_path, monkeypatch):
    # before: a run recorded only the model's path as typed; export/report reloaded a z-up OBJ without
    # `-O up=z -O front=-y` (a preview of the top of the skull), and from another folder not at all
    import subprocess
    import sys

    import trimesh

    from facepart.data import load_model
    from facepart.data.annotation import load_annotation
    from facepart.export import model_for
    from facepart.report import recorded_model

    demo = load_model("demo")
    zup = demo.vertices @ np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]]).T  # y up -> z up, z front -> -y front
    work = tmp_path / "work"
    work.mkdir()
    trimesh.Trimesh(zup, demo.triangles, process=False).export(work / "head.obj")
    from facepart.annotate.settings import AnnotateSettings, sampling_for
    from facepart.segmenters import make_segmenter
    from facepart.workflow import annotate_model

    monkeypatch.chdir(work)
    model = load_model("head.obj", up="z", front="-y")
    assert np.allclose(model.vertices, demo.vertices, atol=1e-6)
    seg = make_segmenter("oracle", model=model, truth=make_segmenter("oracle", model=demo).labels)
    annotate_model(model, seg, AnnotateSettings(variants=2, size=96, sampling=sampling_for(seg)), out="run",
                   eval_views=0, preview=False)
    recorded = load_annotation(work / "run").settings["model"]
    assert recorded["path"] == "head.obj" and recorded["abspath"] == str(work / "head.obj")
    assert recorded["options"] == {"up": "z", "front": "-y"}
    monkeypatch.chdir(tmp_path)  # elsewhere: "head.obj" is not here
    ann = load_annotation(work / "run")
    for reloaded in (model_for(ann, source=work / "run"), recorded_model(ann, work / "run")):
        assert reloaded is not None and np.allclose(reloaded.vertices, demo.vertices, atol=1e-6)
    # options given now win over the recorded ones
    assert not np.allclose(recorded_model(ann, work / "run", up="y", front="z").vertices, demo.vertices, atol=1e-3)
    r = subprocess.run([sys.executable, "-m", "facepart", "export", str(work / "run"), "--to", "ply", "--out",
                        "head.ply"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # written back in the file's own axes (z up), which the export knows from the recorded options
    assert np.allclose(trimesh.load(tmp_path / "head.ply", process=False).vertices, zup, atol=1e-5)
    assert b"facepart-frame the model file's: unit m, up z, front -y" in (tmp_path / "head.ply").read_bytes()[:4096]
    # the recorded model changed or gone: the export says which and why (before: only "give the model")
    trimesh.Trimesh(zup, demo.triangles, process=False).subdivide().export(work / "head.obj")
    r = subprocess.run([sys.executable, "-m", "facepart", "export", str(work / "run"), "--to", "ply", "--out",
                        "again.ply"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "is not the mesh it labels now (95746 vertices vs 23938" in r.stderr and "--model" in r.stderr, r.stderr
    (work / "head.obj").unlink()
    r = subprocess.run([sys.executable, "-m", "facepart", "export", str(work / "run"), "--to", "ply", "--out",
                        "again.ply"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and "was not found" in r.stderr and "head.obj" in r.stderr, r.stderr
