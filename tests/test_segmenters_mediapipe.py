"""MediaPipe FaceMesh (0.10.21, offline) on real renders of the ICT model."""

from __future__ import annotations

import numpy as np
import pytest

from facepart.annotate.views import frontal_view
from facepart.segmenters import MEDIAPIPE_YAW_RANGE, make_parser_segmenter
from facepart.segmenters.labelsets import TABLES
from facepart.segmenters.overlay import segment_figure

mp = pytest.importorskip("mediapipe")

SIZE = 256  # the session renderer: on EGL, closing a second renderer would end its context
PARTS = ("left_eye", "right_eye", "left_eyebrow", "right_eyebrow", "up_lip", "down_lip", "nose", "skin")


@pytest.fixture(scope="module")
def ict_views(ict_model, renderer256):
    """Renders of the ICT mean shape at several yaws (pitch 5, roll -3), by yaw."""
    from facepart.annotate.pipeline import make_scene, render_view
    from facepart.annotate.variants import Variant
    from facepart.renderers.light import Light

    scene = make_scene(ict_model, SIZE)
    out = {}
    for i, yaw in enumerate((-60, -45, -30, 0, 30, 45, 60)):
        v = Variant(i, np.zeros(0), np.zeros(0), np.zeros(0), float(yaw), 5.0, -3.0,
                    Light(np.array([0.2, -0.3, -1.0]), 2.5, 0.5))
        out[yaw] = render_view(ict_model, v, scene, renderer256)
    return out


@pytest.fixture(scope="module")
def segmenter(ict_model):
    seg = make_parser_segmenter("mediapipe", model=ict_model)
    yield seg
    seg.close()


def centroid_x(pm, part):
    return float(np.nonzero(pm == part)[1].mean())


def test_polygon_data():
    from facepart.segmenters import mediapipe_parser as mpp

    nose = mpp.nose_points()
    assert len(nose) == 24 and {1, 2, 4, 168} <= set(nose)
    for _, ids, _ in mpp.polygons(nose=nose):
        assert max(ids) < 468
    assert len(mpp.FACE_OVAL) == 36 and len(mpp.LEFT_EYE) == len(mpp.RIGHT_EYE) == 16
    assert mpp.LABELS is TABLES["mediapipe"]


def test_frontal_ict_render_gives_the_8_parts(ict_model, renderer256, segmenter):
    view = frontal_view(ict_model, SIZE, renderer256)
    cal = segmenter.calibrate(view)
    assert cal.found and cal.swaps == ()  # MediaPipe's LEFT is the subject's left
    pm = segmenter.part_map(view)
    assert pm is not None and pm.shape == (SIZE, SIZE) and pm.dtype == np.int16
    names = segmenter.parts.names
    counts = {n: int((pm == i).sum()) for i, n in enumerate(names)}
    assert all(counts[p] > 30 for p in PARTS), counts
    assert counts["skin"] > counts["nose"] > counts["left_eye"]
    idx = {n: i for i, n in enumerate(names)}
    # the subject's left on the image right, in a frontal render (camera on +z)
    assert centroid_x(pm, idx["left_eye"]) > SIZE / 2 > centroid_x(pm, idx["right_eye"])
    assert centroid_x(pm, idx["left_eyebrow"]) > SIZE / 2 > centroid_x(pm, idx["right_eyebrow"])
    rows = {n: float(np.nonzero(pm == idx[n])[0].mean()) for n in PARTS}
    assert rows["left_eyebrow"] < rows["left_eye"] < rows["nose"] < rows["up_lip"] < rows["down_lip"]
    # every part pixel lies on the rendered head
    assert view.fragments.mask[pm >= 0].mean() > 0.99


def test_detections_across_yaw(ict_views, segmenter):
    parser = segmenter.parser
    found = {}
    for yaw, view in ict_views.items():
        labels = parser.parse(view.fragments.image)
        found[yaw] = labels is not None
        if labels is not None and abs(yaw) <= 45:
            assert parser.last_yaw == pytest.approx(yaw, abs=8.0)  # its own estimate, same sign
    # parsers.md: found at every yaw from -60 to +60 on grey ICT renders
    assert all(found[y] for y in (-30, 0, 30)), found
    assert sum(found.values()) >= 6, found


def test_yaw_range_restriction(ict_model, ict_views):
    seg = make_parser_segmenter("mediapipe", model=ict_model)
    assert seg.yaw_range == MEDIAPIPE_YAW_RANGE
    results = {yaw: seg.part_map(v) for yaw, v in ict_views.items()}
    assert [y for y, r in results.items() if r is not None] == [-30, 0, 30]
    assert seg.counts == {"parsed": 3, "no_face": 0, "out_of_yaw": 4}
    assert seg.last_skip_reason == "out of yaw range"
    # without the model, MediaPipe's own yaw estimate decides
    own = make_parser_segmenter("mediapipe", yaw_range=(-20, 20))
    assert own.part_map(ict_views[45]) is None and own.part_map(ict_views[0]) is not None
    assert own.counts["out_of_yaw"] == 1
    free = make_parser_segmenter("mediapipe", yaw_range=None)
    assert free.part_map(ict_views[60]) is not None
    for s in (seg, own, free):
        s.close()


def test_no_face_is_skipped_and_counted(segmenter, ict_views):
    blank = ict_views[0]._replace(fragments=ict_views[0].fragments._replace(
        image=np.full((SIZE, SIZE, 3), 90, np.uint8)))
    before = segmenter.counts["no_face"]
    assert segmenter.part_map(blank) is None
    assert segmenter.counts["no_face"] == before + 1


def test_keep_forehead_has_more_skin(ict_views):
    cut = make_parser_segmenter("mediapipe", cleanup="none", yaw_range=None)
    kept = make_parser_segmenter("mediapipe", keep_forehead=True, cleanup="none", yaw_range=None)
    img = ict_views[0].fragments.image
    a, b = cut.segment_image(img).part_map, kept.segment_image(img).part_map
    assert (b == 7).sum() > 1.1 * (a == 7).sum()
    assert "forehead kept" in kept.describe() and "cleanup: none" in kept.describe()
    assert make_parser_segmenter("mediapipe", keep_forehead=True).cleanup.forehead is False


def test_overlay_figure(segmenter, ict_views, tmp_path):
    import cv2

    fig = segment_figure(segmenter, ict_views[30].fragments.image)
    assert fig.dtype == np.uint8 and fig.shape[1] == 3 * SIZE and fig.shape[0] > SIZE
    assert cv2.imwrite(str(tmp_path / "overlay.png"), fig[..., ::-1])
    blank = segment_figure(segmenter, np.full((64, 64, 3), 90, np.uint8))
    assert blank.shape[1] == 3 * 64


def test_a_scan_lying_in_other_axes_is_found_once_its_axes_are_given(tmp_path, demo_model):
    """A head mesh with +z up looking along -y: MediaPipe finds no face, and the one line says what to give."""
    import trimesh
    from cli_run import facepart

    v = demo_model.vertices
    scan = tmp_path / "scan.ply"
    trimesh.Trimesh(np.stack([v[:, 0], -v[:, 2], v[:, 1]], 1), demo_model.triangles, process=False,
                    vertex_colors=(demo_model.albedo * 255).astype(np.uint8)).export(scan)
    common = ("--segmenter", "mediapipe", "--variants", 4, "--size", 320, "--eval-views", 0, "--no-preview")
    lost = facepart("annotate", scan, "--out", tmp_path / "out", *common)
    error = lost.stderr.strip().splitlines()[-1]
    assert lost.returncode == 1 and "Traceback" not in lost.stderr, lost.stderr
    assert error.startswith("Error: mediapipe found no face") and "-O up=z -O front=-y" in error, error
    found = facepart("annotate", scan, "-O", "up=z", "-O", "front=-y", "--out", tmp_path / "out", *common)
    assert found.returncode == 0, found.stderr
    assert "4 views parsed, 0 skipped" in found.stdout  # none taken from the first run's checkpoint


def test_a_run_on_an_upside_down_head_warns_that_the_parser_disagrees(demo_model):
    # MediaPipe fits an upright face even to an upside-down head, so no view is skipped and the calibration
    # passes; the held-out Part IoU is what shows it, and the summary says so.
    import dataclasses

    from facepart.annotate.settings import AnnotateSettings, sampling_for
    from facepart.segmenters import make_segmenter
    from facepart.workflow import LOW_HELD_OUT_IOU, annotate_model

    upside_down = dataclasses.replace(demo_model, vertices=demo_model.vertices * np.array([-1.0, -1.0, 1.0]))
    means = []
    for model in (demo_model, upside_down):
        seg = make_segmenter("mediapipe", model=model)
        run = annotate_model(model, seg, AnnotateSettings(variants=8, size=256, sampling=sampling_for(seg)),
                             eval_views=4, preview=False)
        means.append(run.part_iou.mean)
        warned = [ln for ln in run.summary_lines(model.name) if ln.startswith("warning: the parser's own held-out")]
        assert bool(warned) == (run.part_iou.mean < LOW_HELD_OUT_IOU)
    assert means[0] > 2 * LOW_HELD_OUT_IOU and means[1] < LOW_HELD_OUT_IOU / 2, means
