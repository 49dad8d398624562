"""The command line as a user meets it: real runs, and bad input that must fail in one line."""

import os

import numpy as np
import pytest
from cli_run import facepart


def test_annotate_demo_writes_the_three_files_and_a_summary(tmp_path, demo_model):
    out = tmp_path / "demo"
    r = facepart("annotate", "demo", "--out", out, "--variants", 8, "--size", 192)
    assert r.returncode == 0, r.stderr
    for name in ("annotation.npz", "parts.json", "preview.png"):
        assert (out / name).stat().st_size > 100
    assert not (out / ".facepart-checkpoint").exists()
    assert "Agreement with the oracle's truth" in r.stdout and "variants/s" in r.stdout
    assert "left_eye" in r.stdout
    import cv2

    preview = cv2.imread(str(out / "preview.png"))
    assert preview.shape[1] == 3 * 384 and preview.shape[0] > 384
    info = facepart("info", out / "annotation.npz")
    assert info.returncode == 0 and f"{demo_model.n_vertices} vertices" in info.stdout and "oracle" in info.stdout


def test_info_on_models(ict_path, demo_model):
    r = facepart("info", ict_path)
    assert r.returncode == 0, r.stderr
    assert "ict-facekit" in r.stdout and "26719 vertices" in r.stdout and "units: metres (source: cm)" in r.stdout
    r = facepart("info", "demo")
    assert r.returncode == 0 and f"{demo_model.n_vertices} vertices" in r.stdout


def test_info_demo_is_the_built_in_head_and_model_options_on_annotations_are_refused(tmp_path, demo_model):
    run = tmp_path / "demo"  # a run folder named like the built-in model, in the current folder
    r = facepart("annotate", "demo", "--out", run, "--variants", 3, "--size", 96, "--eval-views", 0)
    assert r.returncode == 0, r.stderr
    r = facepart("info", "demo", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("model: demo") and "annotation:" not in r.stdout
    r = facepart("info", "./demo", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith("annotation: demo")
    _one_line_failure(facepart("info", run, "--unit", "mm"), "demo: is an annotation, not a model; --unit applies")
    _one_line_failure(facepart("info", run / "parts.json", "-O", "up=z", "--texture", run / "preview.png"),
                      "parts.json: is a parts file, not a model; --texture, -O apply to models only")


def _one_line_failure(r, *needles):
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_bad_input_fails_in_one_line(tmp_path):
    (tmp_path / "notes.txt").write_text("not a mesh")
    nan_obj = tmp_path / "nan.obj"
    nan_obj.write_text("v 0 0 0\nv 1 0 nan\nv 0 1 0\nf 1 2 3\n")
    (tmp_path / "empty").mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = tmp_path / "out"
    _one_line_failure(facepart("annotate", tmp_path / "missing.obj", "--out", out), "missing.obj", "no such file")
    _one_line_failure(facepart("annotate", tmp_path / "notes.txt", "--out", out), "notes.txt", "unknown model format")
    _one_line_failure(facepart("annotate", nan_obj, "--out", out, "--truth", nan_obj), "nan.obj", "NaN")
    _one_line_failure(facepart("annotate", tmp_path / "empty", "--out", out), "empty", "no face model found")
    _one_line_failure(facepart("annotate", "demo", "--out", blocker / "sub"), "a_file")
    _one_line_failure(facepart("annotate", "demo", "--out", "/proc/facepart-out"), "/proc/facepart-out")
    _one_line_failure(facepart("annotate", "demo", "--out", out, "--variants", 0), "--variants")
    for command in ("annotate", "render"):  # a negative range is refused by both, not read as +-5 by one
        _one_line_failure(facepart(command, "demo", "--out", tmp_path / "yaw", "--yaw", -5), "--yaw", "0..180")
    assert not (tmp_path / "yaw").exists()
    _one_line_failure(facepart("info", tmp_path / "notes.txt"), "unknown model format")
    # a failed command leaves no empty output folder of its own making behind (a pre-existing one stays)
    for args in (("annotate", tmp_path / "notes.txt", "--out", tmp_path / "new" / "deeper"),
                 ("render", tmp_path / "missing.obj", "--out", tmp_path / "new"),
                 ("annotate", tmp_path / "notes.txt", "--out", tmp_path / "empty")):
        _one_line_failure(facepart(*args))
    assert not (tmp_path / "new").exists() and (tmp_path / "empty").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    _one_line_failure(facepart("annotate", "demo", "--out", ro), "not writable")


def test_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch):
    """An exception in the middle of writing keeps the previous annotation and leaves no temp files."""
    from facepart.annotate.pipeline import AnnotateSettings, annotate
    from facepart.data.annotation import load_annotation, save_annotation
    from facepart.data.demo_head import demo_head, demo_truth
    from facepart.data.parts import PartTable
    from facepart.segmenters.oracle import OracleSegmenter

    model = demo_head()
    ann = annotate(model, OracleSegmenter(demo_truth(), PartTable.paper()), AnnotateSettings(variants=2, size=96)).annotation
    save_annotation(ann, tmp_path)
    before = (tmp_path / "annotation.npz").read_bytes()

    def explode(fh, array, **kwargs):
        fh.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", explode)
    ann.labels[:] = -1
    with pytest.raises(KeyboardInterrupt):
        save_annotation(ann, tmp_path)
    assert (tmp_path / "annotation.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotation.npz", "parts.json"]
    assert (load_annotation(tmp_path).labels >= 0).any()


def test_vertex_mask_keeps_votes_on_the_given_vertices(tmp_path, demo_truth):
    import json

    from facepart.data.parts import PartTable

    nose_and_lips = np.flatnonzero(np.isin(demo_truth, [PartTable.paper().index(n) for n in ("nose", "up_lip")]))
    mask_file = tmp_path / "mask.json"
    mask_file.write_text(json.dumps(nose_and_lips.tolist()))
    out = tmp_path / "masked"
    r = facepart("annotate", "demo", "--out", out, "--variants", 6, "--size", 192, "--vertex-mask", mask_file,
                 "--no-preview", "--eval-views", 0)
    assert r.returncode == 0, r.stderr
    parts = json.loads((out / "parts.json").read_text())
    labelled = np.concatenate([np.asarray(v, int) for v in parts.values()])
    assert len(labelled) > 20 and np.isin(labelled, nose_and_lips).all()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2, 999999]")
    _one_line_failure(facepart("annotate", "demo", "--out", out, "--vertex-mask", bad), "bad.json",
                      f"0..{len(demo_truth) - 1}")
