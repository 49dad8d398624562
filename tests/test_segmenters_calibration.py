"""Left/right calibration and the parser adapter, with drawn (fake) parsers and with MediaPipe on ICT."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facepart.errors import FacepartError
from facepart.renderers.camera import Camera
from facepart.renderers.fragments import Fragments
from facepart.segmenters import CleanupOptions, ParserSegmenter, calibrate_sides, head_yaw
from facepart.segmenters.base import PartSegmenter, View
from facepart.segmenters.labelsets import TABLES, LabelSet

HELEN = TABLES["helen"]
SIZE = 160


class DrawnParser:
    """Draws a fixed face in Helen classes; the subject's left on the image right unless ``mirrored``."""

    name = "drawn"

    def __init__(self, labels: LabelSet = HELEN, mirrored: bool = False, found: bool = True,
                 upside_down: bool = False):
        self.labels = labels
        self.mirrored = mirrored
        self.found = found
        self.upside_down = upside_down
        self.calls = 0

    def parse(self, image):
        self.calls += 1
        if not self.found:
            return None
        h, w = image.shape[:2]
        m = np.zeros((h, w), np.int16)
        ids = {c: int(self.labels.ids(c)[0]) for c in ("skin", "left_eye", "right_eye", "left_eyebrow",
                                                      "right_eyebrow", "nose", "up_lip", "down_lip", "hair")}
        cv2.ellipse(m, (w // 2, h // 2 + 5), (45, 60), 0, 0, 360, ids["skin"], -1)
        cv2.rectangle(m, (40, 5), (120, 20), ids["hair"], -1)
        right_x, left_x = (w // 2 - 20, w // 2 + 20)  # subject's right on the image left
        if self.mirrored:
            right_x, left_x = left_x, right_x
        for x, eye, brow in ((left_x, "left_eye", "left_eyebrow"), (right_x, "right_eye", "right_eyebrow")):
            cv2.ellipse(m, (x, 70), (9, 4), 0, 0, 360, ids[eye], -1)
            cv2.rectangle(m, (x - 12, 56), (x + 12, 60), ids[brow], -1)
        cv2.rectangle(m, (w // 2 - 6, 72), (w // 2 + 6, 98), ids["nose"], -1)
        cv2.ellipse(m, (w // 2, 110), (14, 3), 0, 0, 360, ids["up_lip"], -1)
        cv2.ellipse(m, (w // 2, 117), (14, 3), 0, 0, 360, ids["down_lip"], -1)
        return m[::-1, ::-1].copy() if self.upside_down else m


def make_view(index: int = 0, size: int = SIZE, image=None) -> View:
    image = np.full((size, size, 3), 128, np.uint8) if image is None else image
    h, w = image.shape[:2]
    frag = Fragments(image, np.ones((h, w), np.float32), np.zeros((h, w), np.int32), np.ones((h, w), bool))
    cam = Camera.looking_at(np.zeros(3), 1.0, (w, h))
    fields = dict(index=index, fragments=frag, camera=cam, vertices=np.zeros((1, 3), np.float32),
                  uv=np.zeros((1, 2), np.float32), depth=np.ones(1, np.float32), triangles=np.zeros((1, 3), np.int64))
    return View(**{k: v for k, v in fields.items() if k in View._fields})


def mean_x(part_map, part) -> float:
    return float(np.nonzero(part_map == part)[1].mean())


def test_adapter_is_a_part_segmenter_and_maps_classes():
    seg = ParserSegmenter(DrawnParser(), cleanup=CleanupOptions.none())
    assert isinstance(seg, PartSegmenter) and seg.needs_image and seg.name == "drawn"
    pm = seg.part_map(make_view())
    assert pm.dtype == np.int16 and pm.shape == (SIZE, SIZE)
    assert sorted(np.unique(pm).tolist()) == [-1, 0, 1, 2, 3, 4, 5, 6, 7]
    assert mean_x(pm, 0) > mean_x(pm, 1)  # left_eye on the image right
    assert (pm[10, 80] == -1)  # hair is ignored
    assert "labels helen" in seg.describe() and "ignored: background, inner_mouth, hair" in seg.describe()


def test_mirrored_parser_is_caught_and_corrected():
    straight = ParserSegmenter(DrawnParser())
    mirrored = ParserSegmenter(DrawnParser(mirrored=True))
    view = make_view(index=-1)
    before = mirrored.part_map(make_view())
    assert mean_x(before, 0) < mean_x(before, 1)  # uncorrected: left_eye lands on the image left

    cal = mirrored.calibrate(view)
    assert cal.found and cal.swaps == (("left_eye", "right_eye"), ("left_eyebrow", "right_eyebrow"))
    assert cal.pair("left_eye").status == "swapped" and cal.pair("left_ear").status == "missing"
    assert cal.pair("left_eye").left_x < cal.pair("left_eye").right_x
    ok = straight.calibrate(view)
    assert ok.swaps == () and ok.pair("left_eye").status == "ok"

    after = mirrored.part_map(make_view())
    assert (after == straight.part_map(make_view())).all()
    assert mean_x(after, 0) > mean_x(after, 1) and mean_x(after, 2) > mean_x(after, 3)
    line = mirrored.summary()[0]
    assert "swapped eye, eyebrow" in line and "'left_eye' at x=" in line
    assert "sides swapped: left_eye, left_eyebrow" in mirrored.describe()


def test_label_set_declared_image_sided_needs_no_swap():
    # a parser whose "left_eye" class (Helen id 4) is the eye on the IMAGE left...
    output = DrawnParser(labels=HELEN, mirrored=True)
    # ...with a table that says so: its canonical left_eye is class 5, and all is consistent
    declared = LabelSet.from_names("helen-image-sided", HELEN.classes, sides="image")
    assert declared.ids("left_eye").tolist() == [5]

    class ImageSided:
        name, labels = "image-sided", declared

        def parse(self, image):
            return output.parse(image)

    seg = ParserSegmenter(ImageSided())
    assert seg.calibrate(make_view(-1)).swaps == ()
    pm = seg.part_map(make_view())
    assert mean_x(pm, 0) > mean_x(pm, 1) and mean_x(pm, 2) > mean_x(pm, 3)
    # the same output under the plain (subject-sided) Helen table is caught as swapped
    assert ParserSegmenter(DrawnParser(labels=HELEN, mirrored=True)).calibrate(make_view(-1)).swaps


def test_one_sided_and_no_face_calibration():
    m = DrawnParser().parse(np.zeros((SIZE, SIZE, 3), np.uint8))
    only_left = np.where(np.isin(m, HELEN.ids(["right_eye", "right_eyebrow"])), HELEN.ids("skin")[0], m)
    cal = calibrate_sides(only_left, HELEN)
    assert cal.pair("left_eye").status == "ok" and cal.pair("left_eye").right_pixels == 0
    cal = calibrate_sides(only_left[:, ::-1], HELEN)
    assert cal.pair("left_eye").status == "swapped"
    cal = calibrate_sides(only_left[:, ::-1], HELEN, left_on_image_right=False)
    assert cal.pair("left_eye").status == "ok"
    none = ParserSegmenter(DrawnParser(found=False)).calibrate(make_view(-1))
    assert not none.found and none.swaps == () and "no face found" in none.summary()


def test_skipped_views_are_counted():
    seg = ParserSegmenter(DrawnParser(found=False))
    assert seg.part_map(make_view()) is None
    assert seg.counts == {"parsed": 0, "no_face": 1, "out_of_yaw": 0}
    assert seg.last_skip_reason == "no face"


def test_yaw_range_from_the_reference_shape(rng):
    from facepart.annotate.variants import rotation

    ref = rng.normal(size=(300, 3))
    for yaw in (-50.0, -10.0, 0.0, 25.0, 70.0):
        posed = ref @ rotation(yaw, 8.0, -5.0).T + [0.1, 0.2, 0.3]
        assert head_yaw(posed, ref) == pytest.approx(yaw, abs=1e-6)
    parser = DrawnParser()
    seg = ParserSegmenter(parser, yaw_range=(-35, 35), reference=ref)
    base = make_view()
    for yaw, expect in ((50.0, None), (-40.0, None), (20.0, "map")):
        v = base._replace(vertices=(ref @ rotation(yaw, 0, 0).T).astype(np.float32))
        out = seg.part_map(v)
        assert (out is None) == (expect is None)
    assert seg.counts == {"parsed": 1, "no_face": 0, "out_of_yaw": 2}
    assert parser.calls == 1  # out-of-range views are not even parsed
    assert "yaw -35..35" in seg.describe()
    with pytest.raises(FacepartError, match="min < max"):
        ParserSegmenter(parser, yaw_range=(30, -30))


def test_ear_parser_removes_ears_an_11_class_parser_calls_skin():
    class EarParser:
        name = "ears"
        labels = TABLES["ibugmask14"]

        def parse(self, image):
            m = np.zeros(image.shape[:2], np.int16)
            cv2.ellipse(m, (33, 85), (6, 12), 0, 0, 360, int(self.labels.ids("right_ear")[0]), -1)
            return m

    class ElevenClass(DrawnParser):
        def parse(self, image):
            m = super().parse(image)
            cv2.ellipse(m, (33, 85), (6, 12), 0, 0, 360, 1, -1)  # ears merged into skin
            return m

    plain = ParserSegmenter(ElevenClass(), cleanup=CleanupOptions.only("ears"))
    assert plain.part_map(make_view())[85, 33] == 7  # no ear source: the ear stays skin
    seg = ParserSegmenter(ElevenClass(), cleanup=CleanupOptions.only("ears"), ear_parser=EarParser())
    pm = seg.part_map(make_view())
    assert pm[85, 33] == -1 and pm[100, 60] == 7
    assert "ears from ears" in seg.describe()


def test_bad_parser_output_is_one_clear_error():
    class Bad(DrawnParser):
        def parse(self, image):
            return np.full(image.shape[:2], 42, np.int16)

    with pytest.raises(FacepartError, match="outside the label set 'helen'"):
        ParserSegmenter(Bad()).part_map(make_view())

    class Small(DrawnParser):
        def parse(self, image):
            return np.zeros((10, 10), np.int16)

    with pytest.raises(FacepartError, match="expected"):
        ParserSegmenter(Small()).part_map(make_view())
    with pytest.raises(FacepartError, match="uint8 RGB"):
        ParserSegmenter(DrawnParser()).segment_image(np.zeros((8, 8), np.float32))
    nothing = LabelSet.from_names("n", ["background", "hair"])
    with pytest.raises(FacepartError, match="no class for any of the parts"):
        ParserSegmenter(DrawnParser(labels=nothing))


# --- a real parser, mirrored on purpose: MediaPipe on a frontal ICT render -------------------

class Mirrored:
    """Wraps a parser and swaps its left/right classes: a parser with the wrong sides."""

    def __init__(self, inner):
        self.inner, self.name, self.labels = inner, "mirrored-" + inner.name, inner.labels
        swap = np.arange(len(self.labels))
        for a, b in (("left_eye", "right_eye"), ("left_eyebrow", "right_eyebrow")):
            ia, ib = self.labels.ids(a)[0], self.labels.ids(b)[0]
            swap[ia], swap[ib] = ib, ia
        self.swap = swap

    def parse(self, image):
        m = self.inner.parse(image)
        return None if m is None else self.swap[m].astype(np.int16)


@pytest.fixture(scope="module")
def ict_frontal(ict_model, renderer256):
    from facepart.annotate.views import frontal_view

    return frontal_view(ict_model, 256, renderer256)


def test_mirrored_mediapipe_is_corrected_on_ict(ict_frontal, ict_model):
    pytest.importorskip("mediapipe")
    from facepart.segmenters.mediapipe_parser import MediaPipeParser

    inner = MediaPipeParser()
    straight = ParserSegmenter(inner)
    wrong = ParserSegmenter(Mirrored(inner))
    assert straight.calibrate(ict_frontal).swaps == ()
    cal = wrong.calibrate(ict_frontal)
    assert cal.swaps == (("left_eye", "right_eye"), ("left_eyebrow", "right_eyebrow"))
    a, b = straight.part_map(ict_frontal), wrong.part_map(ict_frontal)
    assert (a == b).all()
    assert mean_x(b, 0) > 128 > mean_x(b, 1)  # subject's left eye on the image right


def test_overlay_figure_of_a_drawn_parser(tmp_path):
    from facepart.segmenters.overlay import class_colors, overlay_parts, segment_figure

    seg = ParserSegmenter(DrawnParser())
    img = np.full((SIZE, SIZE, 3), 200, np.uint8)
    fig = segment_figure(seg, img)
    assert fig.dtype == np.uint8 and fig.shape[1] == 3 * SIZE and fig.shape[0] > SIZE
    # the middle panel shows the parser's own classes in their colours
    m = DrawnParser().parse(img)
    assert (fig[:SIZE, SIZE:2 * SIZE] == class_colors(HELEN)[m]).all()
    over = overlay_parts(img, seg.segment_image(img).part_map, seg.parts, outline=False)
    assert (over[m == 0] == 200).all() and (over[m == 1] != 200).any()
    assert segment_figure(ParserSegmenter(DrawnParser(found=False)), img).shape[1] == 3 * SIZE
    from facepart.segmenters.overlay import read_rgb

    cv2.imwrite(str(tmp_path / "in.png"), np.dstack([np.zeros((4, 4)), np.zeros((4, 4)), np.full((4, 4), 255)]))
    assert (read_rgb(tmp_path / "in.png")[0, 0] == [255, 0, 0]).all()  # BGR on disk -> RGB
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(FacepartError, match="not a readable image"):
        read_rgb(tmp_path / "bad.png")


def test_a_face_parsed_upside_down_stops_the_run_before_any_vote(demo_model):
    from facepart.workflow import annotate_model

    upright = calibrate_sides(DrawnParser().parse(np.zeros((SIZE, SIZE, 3), np.uint8)), HELEN)
    assert not upright.upside_down and upright.eyes_row < upright.mouth_row
    seg = ParserSegmenter(DrawnParser(upside_down=True))
    cal = seg.calibrate(make_view(-1))
    assert cal.upside_down and cal.eyes_row > cal.mouth_row
    calls = seg.parser.calls
    with pytest.raises(FacepartError, match=r"drawn sees demo upside down .*eyes and brows around row \d+, below "
                                            r"the lips around row \d+.*-O up=AXIS"):
        annotate_model(demo_model, seg, eval_views=0, preview=False)
    assert seg.parser.calls == calls + 1  # the frontal render only: nothing was voted
