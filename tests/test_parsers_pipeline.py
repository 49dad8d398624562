"""Real parsers inside the whole pipeline: MediaPipe on the ICT model, masks made elsewhere, the CLI."""

import json
import re

import numpy as np
from cli_run import facepart

from facepart.annotate.pipeline import (
    AnnotateSettings,
    agreement,
    annotate,
    iter_views,
    sampling_for,
)
from facepart.annotate.render_set import render_set_settings
from facepart.annotate.views import frontal_view
from facepart.data.parts import PartTable
from facepart.segmenters import make_parser_segmenter
from facepart.segmenters.masks import mask_path, write_label_png
from facepart.segmenters.oracle import nearest_corner_labels

PARTS = PartTable.paper()


def _probe_points(model):
    """Points well inside each part, from the ICT 68 landmarks (0-based iBUG order), and their parts."""
    v, lm = model.vertices, model.landmarks68
    p = lambda *ids: v[lm[list(ids)]].mean(axis=0)  # noqa: E731
    return [
        ("up_lip", 0.5 * (p(51) + p(62))),  # between the outer and inner contour, top centre
        ("up_lip", 0.5 * (p(50) + p(61))),
        ("up_lip", 0.5 * (p(52) + p(63))),
        ("down_lip", 0.5 * (p(57) + p(66))),
        ("down_lip", 0.5 * (p(56) + p(65))),
        ("down_lip", 0.5 * (p(58) + p(67))),
        ("nose", p(30)),  # tip
        ("nose", p(28)),  # bridge
        ("nose", 0.5 * (p(29) + p(30))),
        # the brow landmarks mark the brow's upper contour: its middle lies half a brow (4 mm) lower
        ("right_eyebrow", p(19) - [0, 0.004, 0]),
        ("left_eyebrow", p(24) - [0, 0.004, 0]),
        ("right_eye", p(36, 37, 38, 39, 40, 41)),
        ("left_eye", p(42, 43, 44, 45, 46, 47)),
        ("skin", 0.5 * (p(2) + p(31))),  # right cheek
        ("skin", 0.5 * (p(14) + p(35))),  # left cheek
        ("skin", 0.5 * (p(8) + p(57))),  # chin
    ]


def test_mediapipe_annotates_the_ict_model_part_by_part(ict_model, renderer256):
    from facepart.renderers.pyrender_backend import PyrenderRenderer

    seg = make_parser_segmenter("mediapipe", PARTS, model=ict_model)
    settings = AnnotateSettings(variants=50, size=512, sampling=sampling_for(seg))
    assert settings.sampling.yaw == (-35.0, 35.0)
    with PyrenderRenderer(512, 512) as renderer:
        calibration = seg.calibrate(frontal_view(ict_model, 512, renderer))
        assert not calibration.swaps
        result = annotate(ict_model, seg, settings, renderer=renderer)
    labels = result.annotation.labels
    assert result.stats.skipped <= 5, seg.summary()

    eligible = np.flatnonzero(ict_model.vote_mask)
    wrong = []
    for part, point in _probe_points(ict_model):
        nearest = eligible[np.argmin(np.linalg.norm(ict_model.vertices[eligible] - point, axis=1))]
        got = PARTS.names[labels[nearest]] if labels[nearest] >= 0 else "none"
        if got != part:
            wrong.append((part, got))
    print(f"\nmediapipe on ICT: probes wrong {wrong}; parts "
          + ", ".join(f"{n} {int((labels == i).sum())}" for i, n in enumerate(PARTS.names)))
    assert len(wrong) <= 1, wrong

    x = ict_model.vertices[:, 0]
    for i, name in enumerate(PARTS.names):
        assert (labels == i).sum() > 10, name
        if name.startswith("left"):
            assert np.all(x[labels == i] > 0), name
        if name.startswith("right"):
            assert np.all(x[labels == i] < 0), name


def test_masks_made_elsewhere_round_trip_through_render_and_vote(demo_model, demo_truth, tmp_path, ict_path):
    """`facepart render`, an outside "parser" writing Helen-ordered label PNGs, `facepart vote`."""
    render_dir, out = tmp_path / "renders", tmp_path / "result"
    r = facepart("render", "demo", "--out", render_dir, "--variants", 12, "--size", 192)
    assert r.returncode == 0, r.stderr
    images = sorted((render_dir / "images").glob("*.png"))
    assert len(images) == 13 and (render_dir / "images" / "frontal.png").is_file()

    # the outside parser: the demo truth drawn per view, written in Helen's class ids,
    # with its sides deliberately mirrored (image left called "left") to exercise calibration
    from facepart.renderers.pyrender_backend import PyrenderRenderer
    from facepart.segmenters import load_label_set

    helen = load_label_set("helen")
    mirror = {"left_eye": "right_eye", "right_eye": "left_eye", "left_eyebrow": "right_eyebrow",
              "right_eyebrow": "left_eyebrow"}
    lut = np.array([helen.canonical.index(mirror.get(n, n)) for n in PARTS.names] + [0], np.uint8)
    settings = render_set_settings(render_dir, demo_model)
    with PyrenderRenderer(192, 192) as renderer:
        views = [frontal_view(demo_model, 192, renderer)]
        views += [view for _, view in iter_views(demo_model, settings, renderer, range(12), shade=False)]
        for view in views[:-1]:  # the last variant has no mask: skipped, not fatal
            write_label_png(mask_path(render_dir, view.index), lut[nearest_corner_labels(view, demo_truth)])

    r = facepart("vote", "demo", "--masks", render_dir, "--out", out, "--labels", "helen", "--cleanup", "none")
    assert r.returncode == 0, r.stderr
    # a swap is said at once (before the votes, a user may stop the run) and again in the summary
    assert "left/right calibration" in r.stderr and "swapped eye, eyebrow" in r.stderr
    assert "swapped eye, eyebrow" in r.stdout
    assert "11 views parsed, 1 skipped, 1 no mask" in r.stdout
    parts = json.loads((out / "parts.json").read_text())
    labels = np.full(demo_model.n_vertices, -1)
    for name, idx in parts.items():
        labels[idx] = PARTS.index(name)
    from facepart.data.annotation import load_annotation

    seen = load_annotation(out).visible_count > 0
    assert agreement(labels, demo_truth, seen) > 0.99
    assert "hardly agree" not in r.stdout
    # `info` on the render set's manifest and on a label table (before: read as a parts file / a model)
    r = facepart("info", render_dir / "manifest.json")
    assert r.returncode == 0 and "masks: 11 of 12 views and the frontal view" in r.stdout, r.stdout + r.stderr
    (tmp_path / "labels.yaml").write_text("classes: [background, skin, nose, upper_lip]\n")
    r = facepart("info", tmp_path / "labels.yaml")
    assert r.returncode == 0 and "(4 classes: background, skin, nose, upper_lip=up_lip)" in r.stdout, r.stdout

    # the same masks mirrored left-right (a parser that flipped its input): before, exit 0 with parts lost
    # and the blame put on a dense mesh; now one warning says the maps do not fit the renders
    for view in views[:-1]:
        flipped = np.fliplr(lut[nearest_corner_labels(view, demo_truth)])
        write_label_png(mask_path(render_dir, view.index), flipped)
    r = facepart("vote", "demo", "--masks", render_dir, "--out", tmp_path / "mirrored", "--labels", "helen",
                 "--cleanup", "none")
    assert r.returncode == 0, r.stderr
    assert "warning: the views hardly agree with each other" in r.stdout and "mirrored left-right" in r.stdout
    assert "mesh much denser than the render" not in r.stdout
    # `info` and the report page repeat the run's warnings (before: only the run summary said them)
    said = [ln for ln in r.stdout.splitlines() if ln.startswith("warning:")]
    info = facepart("info", tmp_path / "mirrored")
    assert info.returncode == 0 and said and all(w in info.stdout for w in said), info.stdout
    assert facepart("report", tmp_path / "mirrored").returncode == 0
    page = (tmp_path / "mirrored" / "report.html").read_text()
    assert page.count('<p class="warn">warning: ') == len(said) and "hardly agree" in page
    assert facepart("report", out).returncode == 0
    assert '<p class="warn">warning: ' not in (out / "report.html").read_text()
    # no frontal mask: the calibration names the missing file (before: "no face found in the frontal render");
    # a mask under another name than its render's is named as never read (before: silently ignored)
    mask_path(render_dir, -1).unlink()
    mask_path(render_dir, 0).rename(render_dir / "masks" / "000000_mask.png")
    r = facepart("vote", "demo", "--masks", render_dir, "--out", tmp_path / "nofrontal", "--labels", "helen",
                 "--cleanup", "none")
    assert r.returncode == 0, r.stderr
    assert f"left/right calibration: no mask {mask_path(render_dir, -1)}; sides taken as declared" in r.stdout
    assert f"note: 1 PNG file(s) in {render_dir / 'masks'} are named like no render (000000_mask.png)" in r.stdout

    # masks rendered from another model are refused
    r = facepart("vote", ict_path, "--masks", render_dir, "--out", tmp_path / "other")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "another topology" in r.stderr and f"{demo_model.n_vertices} vertices vs 26719" in r.stderr


def test_segment_command_draws_a_figure(tmp_path, ict_path):
    render_dir = tmp_path / "r"
    assert facepart("render", ict_path, "--out", render_dir, "--variants", 1, "--size", 256).returncode == 0
    r = facepart("segment", render_dir / "images" / "frontal.png", "--out", tmp_path / "fig.png")
    assert r.returncode == 0, r.stderr
    import cv2

    fig = cv2.imread(str(tmp_path / "fig.png"))
    assert fig.shape[1] == 3 * 256 and fig.shape[0] > 256
    r = facepart("segment", tmp_path / "missing.png", "--out", tmp_path / "x.png")
    assert r.returncode != 0 and "missing.png" in r.stderr and "Traceback" not in r.stderr


def test_annotate_with_mediapipe_prints_calibration_and_part_iou(ict_path, tmp_path):
    r = facepart("annotate", ict_path, "--segmenter", "mediapipe", "--out", tmp_path / "o", "--variants", 6,
                 "--size", 256, "--eval-views", 3, "--no-preview")
    assert r.returncode == 0, r.stderr
    assert "Held-out Part IoU" in r.stdout and "left_eye" in r.stdout and "mean" in r.stdout
    assert "left/right calibration" in r.stdout and "as declared" in r.stdout
    assert "left/right calibration" not in r.stderr  # said once: early only when sides were swapped
    assert "W0000" not in r.stderr  # MediaPipe's C++ banners stay quiet
    info = facepart("info", tmp_path / "o" / "annotation.npz")
    assert "held-out Part IoU" in info.stdout
    listed = re.findall(r"(\w+) (?:[0-9.]+|n/a)(?:,|;)", info.stdout.split("held-out Part IoU: ", 1)[1])
    assert len(listed) >= 6 and listed == [n for n in PartTable.paper().names if n in listed]  # table order
    # the mean, its view count and its bootstrap interval, as the run printed them
    printed = re.search(r"mean +([0-9.]+) +\(3 held-out views; 95% interval over views ([0-9.]+)-([0-9.]+)\)",
                        r.stdout)
    assert printed, r.stdout
    assert f"mean {printed[1]} over 3 held-out views (95% interval {printed[2]}-{printed[3]})" in info.stdout
