"""Whole runs: the library call and the CLI write the same files; workers, shards and resumes give the same
annotation bit for bit; --until-stable stops; a checkpoint that cannot be written does not stop a run."""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from cli_run import ENV, facepart

from facepart.annotate.pipeline import annotate
from facepart.annotate.settings import AnnotateSettings, sampling_for
from facepart.data.annotation import load_annotation
from facepart.segmenters import make_segmenter

ARRAYS = ("labels", "votes", "none_votes", "confidence", "visible_count")


def _same(a, b):
    for key in ARRAYS:
        assert np.array_equal(getattr(a, key), getattr(b, key)), key


@pytest.fixture(scope="module")
def oracle(demo_model):
    return make_segmenter("oracle", model=demo_model, seed=3)


def test_annotate_model_from_python_and_the_cli_write_the_same_files(demo_model, oracle, tmp_path):
    import facepart as fp

    settings = AnnotateSettings(variants=6, size=128, seed=3, sampling=sampling_for(oracle))
    result = fp.annotate_model(demo_model, oracle, settings, out=tmp_path / "py", eval_views=2, workers=1,
                               truth=oracle.labels, truth_name="the oracle's truth")
    r = facepart("annotate", "demo", "--out", tmp_path / "cli", "--variants", 6, "--size", 128, "--seed", 3,
                 "--eval-views", 2, "--workers", 1)
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in (tmp_path / "py").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "cli").iterdir()) == ["annotation.npz", "parts.json",
                                                                                "preview.png"]
    py, cli = load_annotation(tmp_path / "py"), load_annotation(tmp_path / "cli")
    _same(py, cli)
    assert (tmp_path / "py" / "parts.json").read_text() == (tmp_path / "cli" / "parts.json").read_text()
    for key in ("held_out_part_iou", "convergence", "segmenter", "run_key", "truth_agreement"):
        assert key in py.settings and py.settings.get(key) == cli.settings.get(key), key
    for record in (py.settings, cli.settings):
        record["quality"]["regularize"].pop("seconds")  # how long the cut took: the one thing that differs
    assert py.settings["quality"] == cli.settings["quality"]
    assert result.files == [tmp_path / "py" / n for n in ("annotation.npz", "parts.json", "preview.png")]


def test_the_documented_python_api_works_in_one_process(tmp_path):
    """The README's sequence, in a fresh interpreter: once ``facepart.annotate`` and ``facepart.export`` (the
    subpackages) are imported, every public name must still be what it says."""
    script = f"""
import pickle, facepart
model = facepart.load_model("demo")
seg = facepart.make_segmenter("oracle", model=model)
settings = facepart.AnnotateSettings(variants=3, size=64, seed=1)
result = facepart.annotate_model(model, seg, settings, out={str(tmp_path / "out")!r}, eval_views=0, preview=False)
facepart.export_as(result.annotation, "flame-pkl", {str(tmp_path / "masks.pkl")!r})
again = facepart.compute_annotation(model, seg, settings)
assert (again.annotation.labels == facepart.load_annotation({str(tmp_path / "out")!r}).labels).all()
print(sorted(pickle.load(open({str(tmp_path / "masks.pkl")!r}, "rb"))))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "up_lip" in r.stdout and "left_eye" in r.stdout


def test_one_worker_and_two_give_the_same_annotation(demo_model, oracle):
    settings = AnnotateSettings(variants=8, size=128, seed=3)
    one = annotate(demo_model, oracle, settings, workers=1)
    two = annotate(demo_model, oracle, settings, workers=2)
    assert two.stats.workers == 2
    _same(one.annotation, two.annotation)


def test_the_helpers_objects_file_goes_once_every_helper_has_read_it(demo_model, oracle, tmp_path, monkeypatch):
    # a run killed with SIGKILL (a cluster's time limit) left its pickled model in the temporary folder for
    # ever (7-15 MB per run on ICT); now it lives only until each helper has computed a view
    from facepart.annotate.workers import ViewComputer

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    settings = AnnotateSettings(variants=12, size=96, seed=3)
    with ViewComputer(demo_model, oracle, settings, workers=2) as computer:
        assert len(list(tmp_path.glob("facepart-run-*.pkl"))) == 1
        views = list(computer.compute(range(settings.variants)))
        assert len(computer._helpers_loaded) == 1  # the helper computed views
        assert list(tmp_path.glob("facepart-run-*")) == []  # gone while the run still holds its helpers
    assert sorted(v.index for v in views) == list(range(settings.variants))


def _blas_threads() -> int:
    """How many threads numpy's BLAS may use now."""
    from threadpoolctl import threadpool_info

    return max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")


class _BlasThreadsSeen:
    """An oracle that notes how many threads numpy's BLAS may use while each view is segmented."""

    def __init__(self, oracle):
        self.oracle, self.seen = oracle, []

    def __getattr__(self, name):
        return getattr(self.oracle, name)

    def part_map(self, view):
        self.seen.append(_blas_threads())
        return self.oracle.part_map(view)


def test_views_are_computed_with_one_blas_thread_and_the_limit_is_lifted_after(demo_model, oracle):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, whatever this one has
        assert _blas_threads() == 2
        seg = _BlasThreadsSeen(oracle)
        annotate(demo_model, seg, AnnotateSettings(variants=3, size=96, seed=3), workers=1)
        assert seg.seen == [1, 1, 1]  # OpenBLAS's spinning threads would take a core from the helpers
        assert _blas_threads() == 2  # the caller's setting is back


def test_the_default_number_of_processes_follows_the_cores_and_the_run_s_length(monkeypatch, tmp_path):
    from facepart.annotate import workers

    monkeypatch.setattr(workers.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert workers.default_workers() == 4
    assert workers.default_workers(8) == 1  # a helper's start-up would cost more than it saves
    assert workers.default_workers(2 * workers.VIEWS_PER_PROCESS) == 2
    assert workers.default_workers(10_000) == 4
    r = facepart("annotate", "demo", "--out", tmp_path, "--segmenter", "oracle", "--variants", 8, "--size", 64,
                 "--eval-views", 0, "--no-preview")
    assert r.returncode == 0, r.stderr
    assert "8 variants at 64x64" in r.stderr and "1 worker\n" in r.stderr


def test_shards_merge_to_the_unsharded_annotation_bit_for_bit(tmp_path):
    common = ("--variants", 9, "--size", 128, "--seed", 5, "--workers", 1)
    whole = facepart("annotate", "demo", "--out", tmp_path / "whole", "--eval-views", 0, "--no-preview", *common)
    assert whole.returncode == 0, whole.stderr
    for i in range(3):
        r = facepart("annotate", "demo", "--out", tmp_path / "shards", "--shard", f"{i}/3", *common)
        assert r.returncode == 0 and f"shard-{i}-of-3.npz" in r.stdout, r.stderr
    shards = sorted((tmp_path / "shards").glob("shard-*-of-3.npz"))
    missing = facepart("merge", *shards[:2], "--model", "demo", "--out", tmp_path / "merged")
    assert missing.returncode == 1 and "2/3" in missing.stderr and "missing" in missing.stderr
    merged = facepart("merge", *shards, "--model", "demo", "--out", tmp_path / "merged", "--no-preview")
    assert merged.returncode == 0, merged.stderr
    _same(load_annotation(tmp_path / "whole"), load_annotation(tmp_path / "merged"))
    # merge says why there is no held-out IoU (before: nothing), in the summary and on the report page
    assert "Held-out Part IoU not computed: merge runs no parser" in merged.stdout
    assert facepart("report", tmp_path / "merged", "--size", 64).returncode == 0
    assert "Not computed: merge runs no parser" in (tmp_path / "merged" / "report.html").read_text()
    other = facepart("annotate", "demo", "--out", tmp_path / "other", "--shard", "0/3", "--variants", 9, "--size", 128,
                     "--seed", 6, "--workers", 1)
    assert other.returncode == 0
    mixed = facepart("merge", tmp_path / "other" / "shard-0-of-3.npz", *shards[1:], "--model", "demo",
                     "--out", tmp_path / "mixed")
    assert mixed.returncode == 1 and "different runs" in mixed.stderr
    # --vertex-mask with --shard is refused before any work (merge could not apply it: a cluster array wasted)
    (tmp_path / "mask.txt").write_text("\n".join(map(str, range(0, 4000))))
    r = facepart("annotate", "demo", "--out", tmp_path / "masked", "--shard", "0/2", "--vertex-mask",
                 tmp_path / "mask.txt", *common)
    assert r.returncode == 1 and "--vertex-mask cannot be used with --shard" in r.stderr, r.stderr
    # shards a script voted on a masked model: merge (which loads the whole model) refuses them, not a wrong sum
    from facepart.annotate.settings import AnnotateSettings
    from facepart.data import load_model
    from facepart.segmenters import make_segmenter
    from facepart.workflow import annotate_shard

    face = load_model("demo")
    face.vote_mask = face.vote_mask & (np.arange(face.n_vertices) < 4000)
    for i in range(2):
        annotate_shard(face, make_segmenter("oracle", model=face, seed=5), AnnotateSettings(variants=9, size=128,
                       seed=5), (i, 2), tmp_path / "masked")
    masked = facepart("merge", *sorted((tmp_path / "masked").glob("shard-*-of-2.npz")), "--model", "demo",
                      "--out", tmp_path / "masked-merged")
    assert masked.returncode == 1 and "other than as loaded here" in masked.stderr, masked.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_until_stable_stops_before_the_maximum_and_says_when(demo_model, oracle, workers):
    settings = AnnotateSettings(variants=200, size=96, seed=3, sampling=sampling_for(oracle))
    result = annotate(demo_model, oracle, settings, until_stable=0.01, workers=workers)
    record = result.annotation.settings["until_stable"]
    assert result.stats.stopped_early and record["stopped_early"]
    assert 20 <= record["variants_used"] < 200 and result.stats.variants == record["variants_used"]
    assert record["variants_used"] % 10 == 0  # the rule is checked after each block of 10, with helpers too
    # the same views as a plain run of that length: stopping changes how many, not which
    plain = annotate(demo_model, oracle, AnnotateSettings(variants=record["variants_used"], size=96, seed=3,
                                                           sampling=sampling_for(oracle)))
    _same(result.annotation, plain.annotation)


@pytest.mark.parametrize("interrupt_at", [15, 20, 34])
def test_an_interrupted_until_stable_run_resumes_to_the_uninterrupted_one(demo_model, oracle, tmp_path, interrupt_at):
    from facepart.interrupts import Interrupted

    settings = AnnotateSettings(variants=200, size=96, seed=3, sampling=sampling_for(oracle))
    whole = annotate(demo_model, oracle, settings, until_stable=0.01)
    used = whole.annotation.settings["until_stable"]["variants_used"]
    assert used > interrupt_at

    def ctrl_c(done, total):
        if done >= interrupt_at:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="they are kept in"):
        annotate(demo_model, oracle, settings, until_stable=0.01, checkpoint=tmp_path / "cp", checkpoint_every=1,
                 progress=ctrl_c)
    again = annotate(demo_model, oracle, settings, until_stable=0.01, checkpoint=tmp_path / "cp")
    assert again.stats.resumed_from >= interrupt_at
    # stability is checked at the same views: the same stop, the same votes, the same labels
    assert again.annotation.settings["until_stable"]["variants_used"] == used
    _same(again.annotation, whole.annotation)


def test_ctrl_c_after_the_last_vote_says_the_votes_are_kept(demo_model, oracle, tmp_path, monkeypatch):
    from facepart.annotate import pipeline
    from facepart.interrupts import Interrupted

    def ctrl_c(*args, **kwargs):  # Ctrl-C while the labels are assigned (the graph cut), after every vote
        raise KeyboardInterrupt

    settings = AnnotateSettings(variants=6, size=64, seed=1, sampling=sampling_for(oracle))
    monkeypatch.setattr(pipeline, "build_annotation", ctrl_c)
    with pytest.raises(Interrupted, match=r"the votes of all 6 views are kept in .*cp: run the same command again"):
        annotate(demo_model, oracle, settings, checkpoint=tmp_path / "cp")
    monkeypatch.undo()
    assert annotate(demo_model, oracle, settings, checkpoint=tmp_path / "cp").stats.resumed_from == 6


def test_a_checkpoint_that_cannot_be_written_is_a_warning_not_a_lost_run(demo_model, oracle, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    settings = AnnotateSettings(variants=12, size=96, seed=3)
    result = annotate(demo_model, oracle, settings, checkpoint=blocker / "checkpoint", checkpoint_every=4)
    assert result.stats.variants == 12 and result.stats.checkpoint_warning
    _same(result.annotation, annotate(demo_model, oracle, settings).annotation)


def test_convergence_is_recorded_and_printed(demo_model, oracle, tmp_path):
    from facepart.workflow import annotate_model

    settings = AnnotateSettings(variants=12, size=96, seed=3, sampling=sampling_for(oracle))
    result = annotate_model(demo_model, oracle, settings, eval_views=0)
    curve = result.annotation.settings["convergence"]
    assert curve[-1][0] == 12 and len(curve) >= 5
    assert all(0 <= share <= 1 for _, share in curve)
    assert any("Convergence" in line for line in result.summary_lines("demo"))


def test_keep_edits_keeps_hand_labels_through_a_new_run(tmp_path):
    from facepart.data.annotation import save_annotation

    common = ("--variants", 4, "--size", 96, "--eval-views", 0, "--no-preview", "--workers", 1)
    assert facepart("annotate", "demo", "--out", tmp_path / "first", *common).returncode == 0
    corrected = load_annotation(tmp_path / "first")
    nose = corrected.parts.index("nose")
    hand = np.flatnonzero(corrected.labels == corrected.parts.index("skin"))[:25]
    corrected.labels[hand] = nose
    corrected.edited = np.zeros(corrected.n_vertices, bool)
    corrected.edited[hand] = True
    corrected.edit_log = [{"time": "2026-11-30T00:00:00Z", "operation": "brush", "count": 25, "part": "nose"}]
    (tmp_path / "corrected").mkdir()
    save_annotation(corrected, tmp_path / "corrected")
    r = facepart("annotate", "demo", "--out", tmp_path / "second", "--seed", 9, "--keep-edits",
                 tmp_path / "corrected" / "annotation.npz", *common)
    assert r.returncode == 0, r.stderr
    second = load_annotation(tmp_path / "second")
    assert (second.labels[hand] == nose).all() and second.edited[hand].all() and second.edited.sum() == 25
    assert second.edit_log[0]["operation"] == "brush" and second.settings["seed"] == 9
    never = facepart("annotate", "demo", "--out", tmp_path / "third", "--keep-edits",
                     tmp_path / "first" / "annotation.npz", *common)
    assert never.returncode == 1 and "no hand edits" in never.stderr.strip().splitlines()[-1]


def _readme_python_block() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_python_example_runs_as_a_script_and_an_unguarded_one_is_refused(tmp_path):
    pytest.importorskip("mediapipe")
    block = _readme_python_block()
    assert 'if __name__ == "__main__":' in block and "workers=2" in block
    (tmp_path / "example.py").write_text(block)
    r = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, env=ENV,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    assert "50 views parsed, 0 skipped." in r.stdout  # MediaPipe's own yaw range: no view out of it
    assert (tmp_path / "out" / "demo" / "parts_masks.pkl").is_file()
    # The same code at the top level, without the guard: one line that says what to change (a spawned
    # helper would run the script again and die at start-up).
    lines = block.splitlines()
    body = [ln[4:] if ln.startswith("    ") else ln for ln in lines if not ln.startswith("if __name__")]
    (tmp_path / "unguarded.py").write_text("\n".join(body) + "\n")
    r = subprocess.run([sys.executable, "unguarded.py"], cwd=tmp_path, capture_output=True, text=True, env=ENV,
                       timeout=120)
    assert r.returncode == 1 and "unguarded.py: runs facepart with workers > 1 but has no" in r.stderr, r.stderr


def test_a_helper_that_dies_at_start_up_ends_the_run_with_one_line_not_a_hang(tmp_path):
    # A sitecustomize that kills every helper (multiprocessing's spawn_main) before it reads its start-up
    # message. CPython's spawn writes that message into a pipe the parent itself keeps open, so when it
    # held the pickled model (more than the pipe's 64 KiB) the parent blocked for ever.
    (tmp_path / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('DIE_IN_HELPER') and b'spawn_main' in open('/proc/self/cmdline', 'rb').read():\n"
        "    os._exit(3)\n")
    (tmp_path / "tmp").mkdir()  # the run's own temporary folder: other runs on the machine don't show in it
    r = facepart("annotate", "demo", "--out", tmp_path / "out", "--variants", 40, "--size", 128, "--workers", 2,
                 "--eval-views", 0, timeout=120, PYTHONPATH=str(tmp_path), DIE_IN_HELPER="1",
                 TMPDIR=str(tmp_path / "tmp"))
    assert r.returncode == 1, r.stderr
    assert "Error: a worker process died (at start-up" in r.stderr and "--workers 1" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert list((tmp_path / "tmp").glob("facepart-run-*")) == []  # the helpers' objects file is gone
    # without the sitecustomize's trigger the same run works
    r = facepart("annotate", "demo", "--out", tmp_path / "ok", "--variants", 4, "--size", 128, "--workers", 2,
                 "--eval-views", 0, "--no-preview", timeout=300, PYTHONPATH=str(tmp_path))
    assert r.returncode == 0, r.stderr


def test_a_run_into_a_folder_with_hand_edits_is_refused_unless_it_keeps_them(tmp_path):
    import dataclasses

    from facepart.data.annotation import save_annotation

    args = ("annotate", "demo", "--out", tmp_path, "--variants", 4, "--size", 128, "--eval-views", 0, "--no-preview")
    assert facepart(*args).returncode == 0
    ann = load_annotation(tmp_path / "annotation.npz")
    edited = np.zeros(ann.n_vertices, bool)
    edited[:50] = True
    labels = ann.labels.copy()
    labels[:50] = 0  # what `facepart correct` saves into the run's folder by default
    save_annotation(dataclasses.replace(ann, labels=labels, edited=edited), tmp_path)
    before = (tmp_path / "annotation.npz").read_bytes()
    r = facepart(*args, "--seed", 5)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"{tmp_path / 'annotation.npz'}: holds 50 hand-edited vertices" in r.stderr
    assert f"--keep-edits {tmp_path / 'annotation.npz'}" in r.stderr
    assert (tmp_path / "annotation.npz").read_bytes() == before  # nothing was written
    # a merge into the folder is refused the same way
    shard = facepart("annotate", "demo", "--out", tmp_path / "s", "--variants", 4, "--size", 128, "--shard", "0/1")
    assert shard.returncode == 0, shard.stderr
    r = facepart("merge", *(tmp_path / "s").glob("*.npz"), "--model", "demo", "--out", tmp_path)
    assert r.returncode == 1 and "holds 50 hand-edited vertices" in r.stderr and "--keep-edits" not in r.stderr
    assert (tmp_path / "annotation.npz").read_bytes() == before
    # keeping them: the run goes on, and the edits survive it
    r = facepart(*args, "--seed", 5, "--keep-edits", tmp_path / "annotation.npz")
    assert r.returncode == 0, r.stderr
    kept = load_annotation(tmp_path / "annotation.npz")
    assert np.array_equal(kept.edited, edited) and np.array_equal(kept.labels[:50], labels[:50])


def test_masks_that_draw_no_part_warn_and_a_masks_run_says_why_it_has_no_held_out_check(tmp_path):
    # before: all-skin masks gave an all-skin annotation (7 of 8 parts empty) with no word, and
    # `annotate --segmenter masks:DIR` printed a held-out table of n/a rows ("0 held-out views")
    import cv2

    from facepart.segmenters.labelsets import TABLES
    from facepart.segmenters.masks import MASKS_DIR

    rs = tmp_path / "rs"
    r = facepart("render", "demo", "--out", rs, "--variants", 4, "--size", 96)
    assert r.returncode == 0, r.stderr
    (rs / "labels.yaml").write_text("name: helen-like\nclasses: " + str(list(TABLES["helen"].classes)) + "\n")
    (rs / MASKS_DIR).mkdir(exist_ok=True)
    skin = list(TABLES["helen"].classes).index("skin")
    for image in (rs / "images").glob("*.png"):
        mask = np.where(cv2.imread(str(image)).sum(axis=2) > 0, skin, 0).astype(np.uint8)  # the face, all skin
        cv2.imwrite(str(rs / MASKS_DIR / image.name), mask)
    for args in (("vote", "demo", "--masks", rs), ("annotate", "demo", "--segmenter", f"masks:{rs}", "--variants", 4,
                                                   "--size", 96)):
        r = facepart(*args, "--out", tmp_path / args[0], "--no-preview")
        assert r.returncode == 0, r.stderr
        assert "warning: 7 of 8 parts got no vertex (left_eye, right_eye, left_eyebrow, right_eyebrow, up_lip, " \
               "down_lip, nose)" in r.stdout, r.stdout
        assert "Held-out Part IoU needs a live parser: not computed for masks made elsewhere." in r.stdout
        assert "n/a" not in r.stdout and "nan" not in r.stdout
    # all-background masks: the masks are named as the thing to check, not the model's axes
    for image in (rs / "images").glob("*.png"):
        cv2.imwrite(str(rs / MASKS_DIR / image.name), np.zeros(cv2.imread(str(image)).shape[:2], np.uint8))
    r = facepart("vote", "demo", "--masks", rs, "--out", tmp_path / "bg", "--no-preview")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "none of the 4 label maps has a labelled face pixel" in r.stderr and "-O up=" not in r.stderr, r.stderr
    # the masks fixed, the same command again: the votes of the old masks (kept in the failed run's checkpoint)
    # are not resumed (before: the same error again, and after a Ctrl-C old and new masks' votes were mixed)
    for image in (rs / "images").glob("*.png"):
        mask = np.where(cv2.imread(str(image)).sum(axis=2) > 0, skin, 0).astype(np.uint8)
        cv2.imwrite(str(rs / MASKS_DIR / image.name), mask)
    r = facepart("vote", "demo", "--masks", rs, "--out", tmp_path / "bg", "--no-preview")
    assert r.returncode == 0 and "resumed" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "warning: 7 of 8 parts got no vertex" in r.stdout
    # masks under other names: no mask file at all, said so (before: "none ... has a labelled face pixel")
    for k, mask in enumerate(sorted((rs / MASKS_DIR).glob("0*.png"))):
        mask.rename(mask.with_name(f"{k}.png"))
    r = facepart("vote", "demo", "--masks", rs, "--out", tmp_path / "names", "--no-preview")
    assert r.returncode == 1 and f"no mask file for any of the 4 variants in {rs}/masks/" in r.stderr, r.stderr


def test_info_names_facepart_s_other_npz_files(tmp_path):
    # before: a shard, a checkpoint part or a triangle export was "not a facepart annotation (missing format ...)"
    r = facepart("annotate", "demo", "--out", tmp_path / "s", "--variants", 4, "--size", 96, "--shard", "1/2")
    assert r.returncode == 0, r.stderr
    r = facepart("info", tmp_path / "s" / "shard-1-of-2.npz")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("votes file (shard 1/2)") and "2 views (2 voted), variants 1..3" in r.stdout
    r = facepart("annotate", "demo", "--out", tmp_path / "run", "--variants", 2, "--size", 96, "--eval-views", 0,
                 "--no-preview")
    assert r.returncode == 0, r.stderr
    r = facepart("export", tmp_path / "run", "--to", "tri", "--out", tmp_path / "tri.npz")
    assert r.returncode == 0, r.stderr
    r = facepart("info", tmp_path / "tri.npz")
    assert r.returncode == 0 and r.stdout.startswith("triangle parts (export --to tri)"), r.stdout + r.stderr
    np.savez(tmp_path / "vf.npz", vertices=np.zeros((3, 3)), faces=np.array([[0, 1, 2]]))
    r = facepart("info", tmp_path / "vf.npz")
    assert r.returncode == 1 and "an npz with keys faces, vertices: not a facepart annotation" in r.stderr

    (tmp_path / "loop.obj").symlink_to(tmp_path / "loop.obj")
    r = facepart("info", tmp_path / "loop.obj")
    assert r.returncode == 1 and "a symbolic link that leads to no file (a loop" in r.stderr, r.stderr


def test_a_segmenter_class_helpers_cannot_import_is_named_with_the_fix(tmp_path):
    # before: "a worker process died ...; run again with --workers 1 to see the error", and with one worker
    # there was no error to see: the class, defined inside the main block, is not importable by helpers
    (tmp_path / "script.py").write_text(
        "import facepart\n"
        "from facepart.segmenters import PartSegmenter, make_segmenter\n"
        "if __name__ == '__main__':\n"
        "    model = facepart.load_model('demo')\n"
        "    inner = make_segmenter('oracle', model=model, noise='none')\n"
        "    class Mine(PartSegmenter):\n"
        "        name, needs_image, parts = 'mine', False, inner.parts\n"
        "        def part_map(self, view):\n"
        "            return inner.part_map(view)\n"
        "    facepart.annotate_model(model, Mine(), facepart.AnnotateSettings(variants=8, size=96), eval_views=0,\n"
        "                            workers=2)\n")
    r = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 1, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert "a worker process could not load the run's segmenter (AttributeError: " in last and "Mine" in last, last
    assert "define the segmenter's class at the top level of the script" in last


def test_a_part_voted_for_but_lost_in_the_assignment_is_not_blamed_on_the_parser(demo_model, demo_truth):
    # before: a dense mesh (383k vertices at --size 256) lost both eyes in the graph cut though the parser voted for
    # them on 622 and 517 vertices, and the warning said "the parser never drew them on the model"
    import dataclasses

    from facepart.data.parts import PAPER_PARTS
    from facepart.export.view import annotation_from_sets
    from facepart.annotate.refine import empty_part_warnings as _empty_result_warnings

    demo_ann = annotation_from_sets({n: np.flatnonzero(demo_truth == i) for i, n in enumerate(PAPER_PARTS)},
                                    demo_model.fingerprint, "demo truth")

    eye, skin = demo_ann.parts.index("left_eye"), demo_ann.parts.index("skin")
    labels = np.where(demo_ann.labels == eye, skin, demo_ann.labels)
    votes = demo_ann.votes.copy()
    brow = demo_ann.parts.index("right_eyebrow")
    votes[:, brow] = 0
    labels = np.where(labels == brow, skin, labels)
    lines = _empty_result_warnings(dataclasses.replace(demo_ann, labels=labels, votes=votes))
    n_voted = int((demo_ann.votes[:, eye] > 0).sum())
    assert len(lines) == 1 and lines[0].startswith("warning: 2 of 8 parts got no vertex (left_eye, right_eyebrow)")
    assert "the parser never drew right_eyebrow on the model" in lines[0]
    assert f"left_eye had votes on {n_voted} vertices but lost them all in the assignment" in lines[0]
    assert "--size" in lines[0] and "--smooth 0" in lines[0]


def test_the_summary_convergence_points_are_a_quarter_half_and_all_of_the_variants():
    # before: the 4th and 7th of the 12 stored points (17 and 29 of 50 variants), printed as "a quarter, half"
    from facepart.annotate.pipeline import convergence
    from facepart.annotate.vote import ViewVotes
    from facepart.workflow import convergence_picks

    views = [ViewVotes(i, np.array([0], np.int32), np.array([0], np.int16), np.array([1.0], np.float32),
                       np.array([0], np.int32)) for i in range(50)]
    curve = convergence(views, np.array([0]), 1)
    assert [n for n, _ in convergence_picks(curve)] == [12, 25, 50]
    assert convergence_picks(curve[:2]) == []


def test_python_api_wrong_arguments_are_one_line_before_any_work(demo_model, tmp_path):
    # before: AttributeError / IndexError / TypeError from deep inside the run, some after rendering had begun; and
    # until_stable=True ran as "100%", -1 printed "-100%"
    import facepart
    from facepart.annotate.settings import AnnotateSettings
    from facepart.errors import FacepartError
    from facepart.workflow import annotate_model

    seg = facepart.make_segmenter("oracle", model=demo_model)
    base = dict(model=demo_model, segmenter=seg, settings=AnnotateSettings(variants=2, size=64), eval_views=0,
                preview=False, out=tmp_path / "never")
    for change, needle in [(dict(model="demo"), "model: expected a FaceModel, got str (load it first"),
                           (dict(settings={"variants": 4}), "settings: expected AnnotateSettings"),
                           (dict(renderer="x"), "renderer: expected a Renderer"),
                           (dict(truth=np.zeros(5)), "truth: expected one label per vertex"),
                           (dict(out=123), "out: expected a folder path"),
                           (dict(until_stable=True), "until_stable: a share"),
                           (dict(until_stable=-1), "until_stable: a share"),
                           (dict(until_stable="x"), "until_stable: a share")]:
        with pytest.raises(FacepartError, match=re.escape(needle)):
            annotate_model(**{**base, **change})
    assert not (tmp_path / "never").exists()
    for bad in (None, 123):
        with pytest.raises(FacepartError, match="load_model: expected \"demo\" or a path"):
            facepart.load_model(bad)
    assert facepart.load_model(demo_model) is demo_model
    with pytest.raises(FacepartError, match="model= expects a loaded FaceModel"):
        facepart.make_segmenter("oracle", model="demo")


def test_options_a_shard_cannot_honour_are_refused(tmp_path):
    # before: --until-stable, --report, --keep-edits and --vertex-mask were dropped by --shard (a vertex-masked
    # shard could then never be merged), and --tolerance without --until-stable was ignored
    for extra, needle in [(("--report",), "--report cannot be used with --shard"),
                          (("--until-stable",), "--until-stable cannot be used with --shard"),
                          (("--vertex-mask", tmp_path / "vm.json"), "--vertex-mask cannot be used with --shard")]:
        r = facepart("annotate", "demo", "--shard", "0/2", "--out", tmp_path / "s", *extra)
        assert r.returncode == 1 and needle in r.stderr and not (tmp_path / "s").exists(), r.stderr
    r = facepart("annotate", "demo", "--tolerance", 5, "--out", tmp_path / "t")
    assert r.returncode == 1 and "--tolerance applies with --until-stable only" in r.stderr


def test_a_run_that_fails_mid_way_says_its_finished_views_are_kept(demo_model, demo_truth, tmp_path):
    # before: "a worker process died ...; run again with --workers 1" without a word on the checkpoint, which
    # had kept the finished views (the re-run resumed them)
    from facepart.annotate.settings import AnnotateSettings
    from facepart.errors import FacepartError
    from facepart.segmenters.oracle import OracleSegmenter

    class FailsAtFour(OracleSegmenter):
        def part_map(self, view):
            if view.index == 4:
                raise FacepartError("the parser failed")
            return super().part_map(view)

    from facepart.data.parts import PartTable

    seg = FailsAtFour(demo_truth, PartTable.paper())
    settings = AnnotateSettings(variants=6, size=64)
    with pytest.raises(FacepartError, match=r"the parser failed; the 4 views finished are kept in .*cp: the same "
                                            "command resumes from them"):
        annotate(demo_model, seg, settings, checkpoint=tmp_path / "cp", checkpoint_every=1)
    resumed = annotate(demo_model, OracleSegmenter(demo_truth, PartTable.paper()), settings,
                       checkpoint=tmp_path / "cp")
    assert resumed.stats.resumed_from == 4


def test_a_second_run_into_a_folder_a_run_is_writing_is_refused(tmp_path):
    # before: two runs into one --out mixed their checkpoints and the last writer won (a finishing run even removed
    # part of the other's checkpoint)
    from facepart.workflow import RUN_LOCK, run_lock

    out = tmp_path / "run"
    out.mkdir()
    with run_lock(out):  # as a run that is writing there holds it
        assert (out / RUN_LOCK).read_text() == str(os.getpid())
        for args in (("annotate", "demo", "--variants", 2, "--size", 64, "--eval-views", 0),):
            r = facepart(*args, "--out", out)
            assert r.returncode == 1 and f"another facepart run (process {os.getpid()}) is writing into this " \
                                          "folder" in r.stderr, r.stderr
    assert not (out / RUN_LOCK).exists()  # let go and removed when the run ends
    r = facepart("annotate", "demo", "--variants", 2, "--size", 64, "--eval-views", 0, "--out", out)
    assert r.returncode == 0 and not (out / RUN_LOCK).exists(), r.stderr
