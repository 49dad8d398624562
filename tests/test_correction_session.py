"""Opening things to correct (annotation.npz, parts.json, FLAME_masks.pkl, 3DDFA-V3 face_model.npy) and the
``facepart correct`` command's refusals, help and keymap."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from cli_run import facepart
from test_formats_layouts import (  # noqa: F401 - face_source is a fixture
    V3_ORDER,
    face_source,
    flame_masks,
    write_3ddfa_v3,
    write_flame,
    write_flame_masks,
)
from viewer_data import ict_annotation

from facepart.correction_gui.editor import Editor
from facepart.export.view import annotation_from_sets
from facepart.data.parts import PartTable
from facepart.correction_gui.keymap import KEYMAP
from facepart.correction_gui.session import open_for_correction
from facepart.data.annotation import load_annotation, save_annotation
from facepart.errors import FacepartError


def test_open_annotation_uses_the_recorded_model(ict_model, tmp_path):
    save_annotation(ict_annotation(ict_model), tmp_path)
    session = open_for_correction(tmp_path)  # the folder works too
    assert session.model.n_vertices == ict_model.n_vertices
    assert session.save_dir == tmp_path and session.source == tmp_path / "annotation.npz"
    other = tmp_path / "copy.npz"
    other.write_bytes((tmp_path / "annotation.npz").read_bytes())
    assert open_for_correction(other, ict_model).save_dir == tmp_path / "copy_corrected"


def test_open_annotation_refuses_another_topology_and_a_missing_model(ict_model, demo_model, tmp_path):
    ann = ict_annotation(ict_model)
    save_annotation(ann, tmp_path)
    with pytest.raises(FacepartError, match="another topology"):
        open_for_correction(tmp_path / "annotation.npz", demo_model)
    ann.settings["model"]["path"] = str(tmp_path / "gone")
    ann.settings["model"].pop("abspath", None)
    save_annotation(ann, tmp_path)
    with pytest.raises(FacepartError, match="was not found; pass --model"):
        open_for_correction(tmp_path / "annotation.npz")


def test_open_parts_json(ict_model, tmp_path):
    ann = ict_annotation(ict_model)
    members = {name: np.flatnonzero(ann.labels == i).tolist() for i, name in enumerate(ann.parts.names)}
    path = tmp_path / "parts.json"
    path.write_text(json.dumps(members))
    session = open_for_correction(path, ict_model)
    assert session.annotation.parts.names == ann.parts.names
    assert np.array_equal(session.annotation.labels, ann.labels)
    assert session.save_dir == tmp_path / "parts_corrected"
    with pytest.raises(FacepartError, match="give the model with --model"):
        open_for_correction(path)
    path.write_text(json.dumps({"nose": [0, 1, 10 ** 7]}))
    with pytest.raises(FacepartError, match="outside"):
        open_for_correction(path, ict_model)
    path.write_text(json.dumps({"nose": "all"}))
    with pytest.raises(FacepartError, match="not a list"):
        open_for_correction(path, ict_model)


def test_open_3ddfa_v3_face_model_and_save(face_source, tmp_path):
    path = write_3ddfa_v3(tmp_path / "face_model.npy", face_source)
    session = open_for_correction(path)
    ann = session.annotation
    assert set(ann.parts.names) == set(V3_ORDER)
    for name in V3_ORDER:
        assert set(np.flatnonzero(ann.labels == ann.parts.index(name))) == set(face_source.parts[name].tolist())
    editor = Editor.from_model(session.model, ann)
    editor.select_part("nose")
    editor.assign_selection("skin")
    npz, _ = editor.save(session.save_dir)
    assert npz == tmp_path / "face_model_corrected" / "annotation.npz"
    again = open_for_correction(npz)  # the saved file records its model
    assert not (again.annotation.labels == ann.parts.index("nose")).any()
    assert again.annotation.edit_log[0]["operation"] == "assign"


def test_open_flame_masks(face_source, tmp_path):
    model_path = write_flame(tmp_path, face_source)
    masks = write_flame_masks(tmp_path, face_source)
    session = open_for_correction(masks, model_path)
    ann = session.annotation
    assert set(ann.parts.names) == set(flame_masks(face_source))
    assert ann.rule == "union"  # FLAME's face contains its nose
    member = ann.members()
    for name, idx in flame_masks(face_source).items():
        assert set(member[name].tolist()) == set(np.unique(idx).tolist())
    with pytest.raises(FacepartError, match="--model"):
        open_for_correction(masks)


def test_cli_help_lists_the_keymap():
    r = facepart("correct", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for keys, action in KEYMAP:
        assert " ".join(keys.split()) in text and " ".join(action.split())[:30] in text
    for must in ("Ctrl+Z", "Ctrl+Y", "Ctrl+S", "[ ]", "M ", "L ", "H ", "1 .. 9", "--screenshot", "--model"):
        assert must in text


def test_cli_refuses_another_topology_in_one_line(ict_model, demo_model, tmp_path):
    save_annotation(ict_annotation(ict_model), tmp_path)
    r = facepart("correct", tmp_path / "annotation.npz", "--model", "demo", "--screenshot", tmp_path / "x.png")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another topology" in lines[0] and f"26719 vertices vs {demo_model.n_vertices}" in lines[0]


def test_cli_without_a_display_needs_screenshot(ict_model, tmp_path):
    save_annotation(ict_annotation(ict_model), tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "facepart", "correct", str(tmp_path)], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 1 and "no display" in r.stderr and "--screenshot" in r.stderr
    assert load_annotation(tmp_path / "annotation.npz").edited is None  # nothing written


@pytest.mark.parametrize("fmt, name", [("json", "parts.facepart.json"), ("csv", "parts.csv"), ("ply", "parts.ply"),
                                       ("obj", "parts.obj"), ("glb", "parts.glb"), ("meshcapade", "segm.json")])
def test_every_readable_export_opens_for_correction(demo_model, tmp_path, fmt, name):
    # before: facepart's own JSON export said "part 'format' is not a list of integer vertex ids", a CSV was an
    # "unknown model format" and an obj/glb "a face model without region annotations"
    from facepart.export import export
    from facepart.segmenters import make_segmenter

    truth = make_segmenter("oracle", model=demo_model).labels
    ann = annotation_from_sets({n: np.flatnonzero(truth == i) for i, n in enumerate(PartTable.paper().names)},
                               demo_model.fingerprint, "demo truth")
    export(ann, fmt, tmp_path / name, model=demo_model)
    session = open_for_correction(tmp_path / name, demo_model)
    assert np.array_equal(session.annotation.labels, truth)
    assert session.save_dir == tmp_path / f"{(tmp_path / name).stem}_corrected"
    if fmt in ("ply", "csv", "json"):
        with pytest.raises(FacepartError, match="give the model with --model"):
            open_for_correction(tmp_path / name)


def test_model_given_with_model_is_recorded_on_save(ict_model, tmp_path):
    # before: the old recorded path stayed in settings['model'], so the saved file still needed --model
    ann = ict_annotation(ict_model)
    ann.settings["model"] = {"name": "ict", "format": "ict", "path": str(tmp_path / "moved")}
    save_annotation(ann, tmp_path)
    session = open_for_correction(tmp_path, ict_model)
    assert session.annotation.settings["model"]["abspath"] == os.path.abspath(ict_model.meta["path"])
    editor = Editor.from_model(session.model, session.annotation)
    editor.select_part("nose")
    editor.assign_selection("skin")
    editor.save(session.save_dir)
    again = open_for_correction(tmp_path)  # no --model now
    assert again.model.n_vertices == ict_model.n_vertices


def test_open_refusals_name_what_correct_opens(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"\x93NUMPY garbage " * 20)
    with pytest.raises(FacepartError, match="not an annotation.npz or an npz export") as exc:
        open_for_correction(bad)
    assert "pickle" not in str(exc.value)
    for name, data in (("notes.txt", b"some notes\n"), ("pic.png", b"\x89PNG\r\n\x1a\n" + bytes(64))):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FacepartError, match="not something facepart correct opens") as exc:
            open_for_correction(tmp_path / name)
        assert "unknown model format" not in str(exc.value) and "annotation.npz" in str(exc.value)


def test_parts_json_beside_an_annotation_uses_its_recorded_model(ict_model, tmp_path):
    ann = ict_annotation(ict_model)
    save_annotation(ann, tmp_path)  # writes parts.json beside annotation.npz
    session = open_for_correction(tmp_path / "parts.json")
    assert session.model.n_vertices == ict_model.n_vertices
    assert np.array_equal(session.annotation.labels, ann.labels)
    assert any("parts.json has no mesh; using the model" in n for n in session.notes)
    (tmp_path / "parts.json").write_text(json.dumps({"nose": [0, 1, 10 ** 7]}))  # ids that do not fit it
    with pytest.raises(FacepartError, match="give the model with --model"):
        open_for_correction(tmp_path / "parts.json")


def test_unwritable_save_folder_is_noted_at_open(ict_model, tmp_path):
    save_annotation(ict_annotation(ict_model), tmp_path)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    session = open_for_correction(tmp_path, out=blocker / "out")  # (a file in the way: unwritable even for root)
    note = [n for n in session.notes if "not writable" in n]
    assert len(note) == 1 and str(blocker) in note[0] and "Ctrl+S" in note[0]
    assert not any("not writable" in n for n in open_for_correction(tmp_path).notes)


def test_signal_with_an_unwritable_save_folder_writes_elsewhere_and_closes(ict_model, tmp_path, monkeypatch, capsys):
    # before: folder.mkdir raised PermissionError inside the tick: nothing saved, the window never closed
    import tempfile

    from facepart.correction_gui import app as app_module
    from facepart.correction_gui.session import Session

    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a save folder below a file: unwritable, also for root
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))

    def viewer():
        v = app_module.ViewerApp(Session(ict_model, ict_annotation(ict_model), tmp_path / "annotation.npz",
                                         blocker / "out", []))
        v.closed = []
        v.app = type("App", (), {"post_to_main_thread": staticmethod(lambda window, fn: fn())})()
        v.window = type("Window", (), {"close": staticmethod(lambda: v.closed.append(True))})()
        v.editor.select_part("nose")
        v.editor.assign_selection("skin")
        v._signal = 15
        v._on_tick()
        return v

    v = viewer()
    rescued = sorted(temp.glob("facepart-unsaved-*/annotation.npz"))
    assert v.closed and v.exit_code == 3 and len(rescued) == 1
    assert np.array_equal(load_annotation(rescued[0]).labels, v.editor.labels)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"unsaved edits written to {rescued[0]}" in err[0]
    # opening the annotation again with the same save folder points at the rescued edits (before: only
    # recovery folders inside the save folder were looked for)
    from facepart.correction_gui.session import open_for_correction

    (tmp_path / "run").mkdir()
    save_annotation(ict_annotation(ict_model), tmp_path / "run")
    session = open_for_correction(tmp_path / "run" / "annotation.npz", model=ict_model, out=blocker / "out")
    assert any(f"unsaved edits of an earlier session were kept in {rescued[0]}" in n for n in session.notes)
    other = open_for_correction(tmp_path / "run" / "annotation.npz", model=ict_model)  # another save folder
    assert not any("unsaved edits of an earlier session" in n for n in other.notes)

    def refuse(editor, folder):
        raise PermissionError(13, "Permission denied", str(folder))

    monkeypatch.setattr(app_module, "save_unsaved", refuse)  # nowhere to write: still closes, one line
    monkeypatch.chdir(tmp_path)  # the last place tried is the current folder
    before = set(temp.iterdir())
    v = viewer()
    err = capsys.readouterr().err.strip().splitlines()
    assert v.closed and v.exit_code == 3 and len(err) == 1 and "could not be written anywhere" in err[0], err
    # and no empty recovery folder is left where nothing could be written (they piled up in the current folder)
    assert set(temp.iterdir()) == before and not list(tmp_path.glob("facepart-unsaved-*"))
