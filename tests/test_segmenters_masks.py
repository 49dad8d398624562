"""``masks:DIR`` (label PNGs by variant index), the spec factory, and one-line dependency errors."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

from facepart.errors import FacepartError, MissingDependency
from facepart.renderers.camera import Camera
from facepart.renderers.fragments import Fragments
from facepart.segmenters import FRONTAL_INDEX, make_parser_segmenter, parse_spec
from facepart.segmenters.base import View
from facepart.segmenters.labelsets import TABLES
from facepart.segmenters.masks import image_path, mask_path, read_label_png, render_file_name, write_label_png

SIZE = 96


def make_view(index: int, size: int = SIZE) -> View:
    frag = Fragments(None, np.ones((size, size), np.float32), np.zeros((size, size), np.int32),
                     np.ones((size, size), bool))
    fields = dict(index=index, fragments=frag, camera=Camera.looking_at(np.zeros(3), 1.0, size),
                  vertices=np.zeros((1, 3), np.float32), uv=np.zeros((1, 2), np.float32),
                  depth=np.ones(1, np.float32), triangles=np.zeros((1, 3), np.int64))
    return View(**{k: v for k, v in fields.items() if k in View._fields})


def helen_face(mirrored: bool = False) -> np.ndarray:
    m = np.zeros((SIZE, SIZE), np.uint8)
    cv2.ellipse(m, (48, 52), (30, 40), 0, 0, 360, 1, -1)
    left, right = (62, 34) if not mirrored else (34, 62)
    cv2.ellipse(m, (left, 40), (6, 3), 0, 0, 360, 4, -1)  # Helen 4 = left eye
    cv2.ellipse(m, (right, 40), (6, 3), 0, 0, 360, 5, -1)
    cv2.rectangle(m, (left - 8, 30), (left + 8, 33), 2, -1)
    cv2.rectangle(m, (right - 8, 30), (right + 8, 33), 3, -1)
    return m


def test_file_naming():
    assert render_file_name(12) == "000012.png" and render_file_name(FRONTAL_INDEX) == "frontal.png"
    assert str(mask_path("/r", 12)).endswith("r/masks/000012.png")
    assert str(image_path("/r", 3)).endswith("r/images/000003.png")
    with pytest.raises(FacepartError):
        render_file_name(-5)


def test_masks_folder_round_trip_and_calibration(tmp_path):
    write_label_png(mask_path(tmp_path, 0), helen_face())
    write_label_png(mask_path(tmp_path, FRONTAL_INDEX), helen_face(mirrored=True))
    write_label_png(mask_path(tmp_path, 2), helen_face(mirrored=True))
    (tmp_path / "labels.yaml").write_text("name: helen-like\nclasses: " + str(list(TABLES["helen"].classes)) + "\n")
    seg = make_parser_segmenter(f"masks:{tmp_path}", cleanup="none")
    assert not seg.needs_image and seg.labels.name == "helen-like"
    pm = seg.part_map(make_view(0))
    assert pm.shape == (SIZE, SIZE) and np.nonzero(pm == 0)[1].mean() > np.nonzero(pm == 1)[1].mean()
    assert seg.part_map(make_view(1)) is None  # no mask for variant 1: skipped, counted
    assert seg.counts["no_face"] == 1
    # the frontal mask is mirrored: the calibration swaps, and variant 2 (mirrored too) comes out right
    cal = seg.calibrate(make_view(FRONTAL_INDEX))
    assert cal.swaps == (("left_eye", "right_eye"), ("left_eyebrow", "right_eyebrow"))
    pm2 = seg.part_map(make_view(2))
    assert np.nonzero(pm2 == 0)[1].mean() > np.nonzero(pm2 == 1)[1].mean()
    # --labels overrides the folder's table
    assert make_parser_segmenter(f"masks:{tmp_path}", labels="lapa").labels.name == "lapa"


def test_bad_masks_give_one_clear_error(tmp_path):
    (tmp_path / "masks").mkdir()
    colour = np.zeros((SIZE, SIZE, 3), np.uint8)
    colour[..., 2] = 200
    cv2.imwrite(str(mask_path(tmp_path, 0)), colour)
    write_label_png(mask_path(tmp_path, 1), np.full((SIZE, SIZE), 30))
    write_label_png(mask_path(tmp_path, 2), np.zeros((50, 60)))
    mask_path(tmp_path, 3).write_bytes(b"not a png")
    seg = make_parser_segmenter(f"masks:{tmp_path}", labels="helen")
    for index, match in ((0, "a colour image"), (1, "class id 30"), (2, "60x50 pixels"), (3, "not a readable image")):
        with pytest.raises(FacepartError, match=match) as err:
            seg.part_map(make_view(index))
        assert str(mask_path(tmp_path, index)) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FacepartError, match="label table is unknown"):
        make_parser_segmenter(f"masks:{tmp_path}")
    with pytest.raises(FacepartError, match="nothing: folder not found; expected a folder of renders"):
        make_parser_segmenter(f"masks:{tmp_path / 'nothing'}", labels="helen")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FacepartError, match="empty: no 'masks' folder"):
        make_parser_segmenter(f"masks:{tmp_path / 'empty'}", labels="helen")
    grey = np.stack([helen_face()] * 3, axis=2)
    cv2.imwrite(str(tmp_path / "grey.png"), grey)
    assert (read_label_png(tmp_path / "grey.png", 11) == helen_face()).all()


def test_spec_parsing():
    assert parse_spec("mediapipe") == ("mediapipe", None)
    assert parse_spec("bisenet:/a/b.pth") == ("bisenet", "/a/b.pth")
    assert parse_spec("onnx:C:/x.onnx") == ("onnx", "C:/x.onnx")
    for bad, match in (("bisenet", "needs a path"), ("dlib", "unknown segmenter 'dlib'"), ("masks:", "needs a path")):
        with pytest.raises(FacepartError, match=match):
            parse_spec(bad)
    with pytest.raises(FacepartError, match="apply to onnx"):
        make_parser_segmenter("masks:/nowhere", labels="helen", input_size=(8, 8))
    with pytest.raises(FacepartError, match="own label set"):
        make_parser_segmenter("mediapipe", labels="helen")


def test_missing_mediapipe_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MissingDependency) as err:
        make_parser_segmenter("mediapipe")
    msg = str(err.value)
    assert "\n" not in msg and "pip install mediapipe==0.10.21" in msg


def test_mediapipe_without_bundled_facemesh(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "mediapipe", types.SimpleNamespace(__version__="0.10.30"))
    with pytest.raises(FacepartError, match="no bundled FaceMesh.*mediapipe==0.10.21"):
        make_parser_segmenter("mediapipe")


def test_jpeg_under_a_png_name_is_refused(tmp_path):
    ok, buf = cv2.imencode(".jpg", np.stack([helen_face()] * 3, axis=2))
    assert ok
    path = mask_path(tmp_path, 0)
    path.parent.mkdir()
    path.write_bytes(buf.tobytes())
    assert cv2.imread(str(path)) is not None  # readable, but lossy: ids change at region edges
    with pytest.raises(FacepartError, match="JPEG data, not a PNG") as err:
        read_label_png(path, 11)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_palette_png_gives_its_indices(tmp_path):
    from PIL import Image

    ids = helen_face()
    image = Image.fromarray(ids, "P")
    image.putpalette(np.random.default_rng(0).integers(0, 255, 768).astype(np.uint8).tolist())  # VOC-style colours
    image.save(tmp_path / "pal.png")
    assert cv2.imread(str(tmp_path / "pal.png"), cv2.IMREAD_UNCHANGED).ndim == 3  # OpenCV sees the colours
    got = read_label_png(tmp_path / "pal.png", 11, (SIZE, SIZE))
    assert got.dtype == np.int16 and (got == ids).all()
    with pytest.raises(FacepartError, match="class id 5 in the mask"):
        read_label_png(tmp_path / "pal.png", 5)


def test_a_grey_palette_that_is_not_its_indices_is_refused(tmp_path):
    # a PNG optimiser sorted the palette of grey masks: viewers show the ids, the indices are others; before,
    # the indices were read silently (lips lost, or "upside down" blamed on the model's axes)
    from PIL import Image

    ids = helen_face()
    used = np.unique(ids)
    order = used[::-1]  # index k is drawn as the grey level of another class
    lut = np.zeros(256, np.uint8)
    lut[used] = np.arange(len(used))
    image = Image.fromarray(lut[ids], "P")
    palette = np.zeros((256, 3), np.uint8)
    palette[np.arange(len(used))] = order[:, None]
    image.putpalette(palette.ravel().tolist())
    image.save(tmp_path / "sorted.png")
    with pytest.raises(FacepartError, match="grey levels other than their indices") as err:
        read_label_png(tmp_path / "sorted.png", 11, (SIZE, SIZE))
    assert "\n" not in str(err.value) and "plain 8-bit grey" in str(err.value)
    identity = Image.fromarray(ids, "P")  # grey level == index: read as is
    identity.putpalette(np.repeat(np.arange(256, dtype=np.uint8), 3).tolist())
    identity.save(tmp_path / "identity.png")
    assert (read_label_png(tmp_path / "identity.png", 11, (SIZE, SIZE)) == ids).all()


@pytest.mark.skipif(sys.platform.startswith("win"), reason="named pipes and symbolic links")
def test_a_mask_that_is_a_pipe_a_folder_or_a_broken_link_is_one_line_not_a_hang(tmp_path):
    import os
    import threading

    from facepart.segmenters.masks import masks_digest

    (tmp_path / "masks").mkdir()
    write_label_png(mask_path(tmp_path, 0), helen_face())
    for make in (lambda p: os.mkfifo(p), lambda p: p.mkdir(), lambda p: p.symlink_to(tmp_path / "gone.png")):
        bad = mask_path(tmp_path, 1)
        make(bad)
        for read in (lambda: masks_digest(tmp_path), lambda: read_label_png(bad, 11)):
            box = []

            def call():
                try:
                    read()
                except FacepartError as exc:
                    box.append(str(exc))

            reader = threading.Thread(target=call, daemon=True)
            reader.start()
            reader.join(10)
            assert not reader.is_alive(), "blocked on the pipe"  # before: the run hung for ever
            assert box and box[0].startswith(f"{bad}: not a regular file") and "\n" not in box[0], box
        bad.rmdir() if bad.is_dir() and not bad.is_symlink() else bad.unlink()


def test_render_again_into_a_folder_with_masks(tmp_path, demo_model):
    from facepart.annotate.render_set import write_render_set
    from facepart.annotate.settings import AnnotateSettings
    from facepart.renderers.base import renderer_for

    out = tmp_path / "rs"
    with renderer_for(None, 32) as renderer:
        write_render_set(demo_model, AnnotateSettings(variants=2, size=32), out, renderer)
        write_render_set(demo_model, AnnotateSettings(variants=2, size=32, seed=5), out, renderer)  # no masks yet
        write_label_png(mask_path(out, 0), np.ones((32, 32)))
        manifest = (out / "manifest.json").read_text()
        image = image_path(out, 0).read_bytes()
        for settings, match in ((AnnotateSettings(variants=2, size=32), "seed 5 vs 0"),
                                (AnnotateSettings(variants=2, size=48, seed=5), "size 32 vs 48")):
            with pytest.raises(FacepartError, match=match) as err:
                write_render_set(demo_model, settings, out, renderer)
            msg = str(err.value)
            assert "\n" not in msg and str(out / "masks") in msg and "render into a new folder" in msg
            assert (out / "manifest.json").read_text() == manifest and image_path(out, 0).read_bytes() == image
        # the same renders (more of them): the masks still fit, the render goes ahead
        write_render_set(demo_model, AnnotateSettings(variants=3, size=32, seed=5), out, renderer)
        assert image_path(out, 2).is_file() and image_path(out, 0).read_bytes() == image
        # fewer renders: the ones past them go (a parser would segment them for nothing), the masks stay
        (out / "images" / "notes.png").write_bytes(b"mine")
        write_render_set(demo_model, AnnotateSettings(variants=1, size=32, seed=5), out, renderer)
        assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "frontal.png", "notes.png"]
        assert mask_path(out, 0).is_file()
        (out / "manifest.json").unlink()
        with pytest.raises(FacepartError, match="no valid manifest.json"):
            write_render_set(demo_model, AnnotateSettings(variants=3, size=32, seed=5), out, renderer)
