"""``facepart report``: the page is built from a real run and opened in real headless Chromium."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pytest
from chromium import Chromium, find_chromium
from cli_run import facepart

SECTIONS = ("parts", "quality", "look", "confidence", "iou", "convergence", "parser", "settings")
N_VIEWS = 5


def embedded_images(page: str) -> list[np.ndarray]:
    """Decode every <img> of a page; each must be an embedded PNG."""
    import cv2

    sources = re.findall(r'<img [^>]*src="([^"]*)"', page)
    images = []
    for src in sources:
        assert src.startswith("data:image/png;base64,"), src[:60]
        raw = np.frombuffer(base64.b64decode(src.split(",", 1)[1], validate=True), np.uint8)
        image = cv2.imdecode(raw, cv2.IMREAD_COLOR)
        assert image is not None and image.size > 0
        images.append(image)
    return images


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A real oracle run on the demo head, and its report written by the command line."""
    out = tmp_path_factory.mktemp("report") / "demo"
    r = facepart("annotate", "demo", "--out", out, "--variants", 8, "--size", 192, "--eval-views", 3, "--seed", 0)
    assert r.returncode == 0, r.stderr
    r = facepart("report", out, "--out", out / "page.html")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"Wrote {out / 'page.html'}"
    return out


@pytest.fixture(scope="module")
def browser():
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary (apt-get install chromium; the project's set-up and CI install it)")
    with Chromium(binary) as chromium:
        yield chromium


def test_report_renders_in_headless_chromium(demo_run, browser, tmp_path):
    from facepart.data.annotation import load_annotation

    settings = load_annotation(demo_run).settings
    result = browser.open(demo_run / "page.html")
    assert result.errors == []
    assert result.requests == []  # self-contained: nothing fetched but the page itself
    expected = 2 * N_VIEWS + 1 + (1 if settings.get("convergence") else 0)  # + confidence (+ convergence)
    assert len(result.images) == expected
    for image in result.images:
        assert image["scheme"] == "data" and image["error"] is None, image
        assert image["width"] > 0 and image["height"] > 0, image
    view_sizes = {(i["width"], i["height"]) for i in result.images if "coloured by part" in i["alt"]}
    assert view_sizes == {(320, 320)}
    assert [i for i in result.ids if i in SECTIONS] == list(SECTIONS)
    assert result.title == "facepart report: demo"

    import cv2

    shot = cv2.imread(str(browser.screenshot(tmp_path / "shot.png", height=900)))
    assert shot.shape[:2] == (900, browser.width)
    assert shot.std() > 10  # a drawn page, not a blank one


def test_the_browser_check_catches_what_it_must(browser, tmp_path):
    """The same check on a broken page: undecodable image, network fetch, console error, exception."""
    page = tmp_path / "broken.html"
    page.write_text('<html><body><img alt="bad" src="data:image/png;base64,AAAA">'
                    '<img alt="remote" src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom"); not_a_function();</script></body></html>')
    result = browser.open(page)
    assert [i["error"] is not None for i in result.images] == [True, True]
    assert [i["width"] for i in result.images] == [0, 0]
    assert result.requests == ["http://127.0.0.1:9/x.png"]
    assert any("boom" in e for e in result.errors)
    assert any("not_a_function" in e for e in result.errors)


def test_report_page_content_from_a_real_run(demo_run):
    from facepart.data.annotation import load_annotation

    page = (demo_run / "page.html").read_text()
    ann = load_annotation(demo_run)
    images = embedded_images(page)
    # two rows of part views, the confidence figure, and the convergence plot the run now records
    assert len(images) == 2 * N_VIEWS + 1 + ("convergence" in ann.settings)
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    # the part table counts what the annotation holds
    labelled = int((ann.labels >= 0).sum())
    for name, idx in ann.members().items():
        share = f"{100 * len(idx) / labelled:.1f}%"
        row = rf"{name}</td><td class=num>{len(idx):,}</td><td class=num>{re.escape(share)}</td>"
        assert re.search(row, page), name
    # held-out Part IoU values of the run, in the part table's order
    iou = ann.settings["held_out_part_iou"]
    rows = re.findall(r'</span>(\w+)</td><td class=num>([0-9.]+|n/a)</td><td class=num>(?:<span class="bar"|</td>)',
                      page)
    assert [n for n, _ in rows] == [n for n in ann.parts.names if n in iou]
    for name, value in rows:
        assert value == ("n/a" if iou[name] is None else f"{iou[name]:.3f}")
    # with the mean's view count and bootstrap interval, as stored by the run
    stored = ann.settings["held_out_part_iou_mean"]
    assert stored["views"] == 3 and stored["interval_95"][0] <= stored["mean"] <= stored["interval_95"][1]
    assert (f"mean {stored['mean']:.3f} over 3 held-out views (95% interval {stored['interval_95'][0]:.3f}-"
            f"{stored['interval_95'][1]:.3f})") in page
    assert "No view skipped: the parser used all 8 renders." in page
    # the run's stored quality figures read as the run summary prints them, not as a dump of stored keys
    from facepart.annotate.refine import stored_quality

    lines, rep = stored_quality(ann.settings)
    quality = page[page.index('id="quality"'):page.index('id="look"')]
    assert "report.low" not in quality and "regularize.backend" not in quality
    assert "pieces (per mesh component)</th>" in quality
    for name in ann.parts.names:
        assert re.search(rf"{name}</td><td class=num>{rep.vertices.get(name, 0):,}</td><td class=num>"
                         rf"{rep.low_confidence.get(name, 0):,}</td><td class=num>{re.escape(rep.pieces_text(name))}<",
                         quality), name
    for line in rep.figure_lines() + lines:
        assert f"<li>{html.escape(line)}</li>" in quality, line
    assert "Not recorded in this run" not in page  # the run recorded its convergence curve
    assert "The run stored no quality figures" not in page  # runs store their quality report
    # the header's figures come from the same report (before: it looked for keys one level up and showed neither)
    header = page[:page.index('id="parts"')]
    assert f"<b>{sum(rep.low_confidence.values()):,}</b><span>low confidence</span>" in header
    assert f"<b>{100 * rep.mirror_agreement:.1f}%</b><span>mirror agreement</span>" in header
    # the views are coloured with the part table's colours: the front view shows the nose's green
    import cv2

    def hue_sat(bgr):
        hsv = cv2.cvtColor(np.asarray(bgr, np.uint8).reshape(-1, 1, 3), cv2.COLOR_BGR2HSV).reshape(-1, 3)
        return hsv[:, 0].astype(int), hsv[:, 1].astype(int)

    nose_hue, _ = hue_sat(ann.parts.colors[ann.parts.index("nose")][::-1])
    for k, view in enumerate(images[:N_VIEWS]):
        hue, sat = hue_sat(view)
        nose_pixels = int(((np.abs(hue - nose_hue[0]) <= 4) & (sat > 60)).sum())
        assert nose_pixels > (300 if k == 2 else 20), (k, nose_pixels)  # the front view shows most of it


def test_stored_quality_convergence_and_skipped_views_are_shown(demo_run, demo_model, renderer256, tmp_path,
                                                                browser):
    from facepart.data.annotation import load_annotation
    from facepart.report import write_report

    ann = load_annotation(demo_run)
    ann.settings["quality"] = {"connected_pieces": {n: 1 for n in ann.parts.names} | {"skin": 3},
                               "mirror_agreement": 0.9871, "symmetric": True}
    ann.settings["convergence"] = [[2, 0.81], [4, 0.93], [6, 0.98], [8, 1.0]]
    ann.settings["skipped_views"] = 3
    ann.settings["skip_reasons"] = {"no face": 2, "outside the parser's yaw range": 1}
    path = write_report(ann, demo_model, tmp_path, size=256, renderer=renderer256)
    assert path == tmp_path / "report.html"
    page = path.read_text()
    assert "Figures the run computed." in page and "simple ones were computed" not in page
    assert re.search(r"skin</td><td class=num>3</td>", page)
    assert "0.9871" in page and "98.7%" in page
    assert 'alt="convergence plot"' in page
    assert "3 of 8 views skipped (no face: 2, outside the parser&#x27;s yaw range: 1), so they did not vote." in page
    assert "skip_reasons" not in page  # shown in the parser section, not again in the settings table
    assert len(embedded_images(page)) == 2 * N_VIEWS + 2
    result = browser.open(path)
    assert result.errors == [] and result.requests == []
    assert all(i["error"] is None and i["width"] > 0 for i in result.images)


def test_missing_figures_are_named_not_faked(demo_model, demo_truth, renderer256, tmp_path):
    from facepart.data.annotation import Annotation
    from facepart.data.parts import PartTable
    from facepart.report import build_report

    parts = PartTable.paper()
    n = demo_model.n_vertices
    ann = Annotation(demo_truth, np.zeros((n, len(parts)), np.int32), np.ones(n, np.float32), np.ones(n, np.int32),
                     parts, demo_model.fingerprint, settings={})
    page = build_report(ann, demo_model, size=256, renderer=renderer256)
    assert "Not measured in this run" in page
    assert "Not recorded in this run" in page
    assert "The run did not record skipped views." in page
    assert "The annotation records no settings." in page


def test_basic_quality_counts_pieces_low_confidence_and_mirror_agreement(demo_model, demo_truth):
    """A file without stored quality figures gets the run's own quality report, computed from the mesh."""
    from facepart.data.annotation import Annotation
    from facepart.data.parts import PartTable
    from facepart.report.basic_quality import basic_quality

    parts = PartTable.paper()
    n = demo_model.n_vertices

    def quality(labels, confidence=None):
        conf = np.ones(n, np.float32) if confidence is None else confidence
        ann = Annotation(labels, np.zeros((n, len(parts)), np.int32), conf, np.ones(n, np.int32), parts,
                         demo_model.fingerprint)
        return basic_quality(ann, demo_model)["report"]

    clean = quality(demo_truth)
    assert all(max(per.values()) == 1 for per in clean["pieces"].values())
    assert clean["mirror_agreement"] == 1.0  # the demo head and its truth are mirror-symmetric
    assert sum(clean["low_confidence"].values()) == 0

    labels = demo_truth.copy()
    stray = np.flatnonzero(labels < 0)[0]  # an unlabelled vertex far from the nose
    labels[stray] = parts.index("nose")
    conf = np.ones(n, np.float32)
    skin = np.flatnonzero(labels == parts.index("skin"))[:7]
    conf[skin] = 0.4
    q = quality(labels, conf)
    assert max(q["pieces"]["nose"].values()) == 2
    assert q["low_confidence"] == {**{p: 0 for p in parts.names}, "skin": 7}

    # call the left eye "right_eye": both eyes now disagree with their mirror image
    labels = demo_truth.copy()
    left = labels == parts.index("left_eye")
    labels[left] = parts.index("right_eye")
    q = quality(labels)
    assert q["mirror_agreement"] < 1 - 1.5 * left.sum() / (labels >= 0).sum()


def test_flags_find_a_hole_in_the_labelling(demo_model, demo_truth):
    from facepart.data.annotation import Annotation
    from facepart.data.parts import PartTable
    from facepart.geometry import adjacency, grow
    from facepart.report.views import flag_vertices

    parts = PartTable.paper()
    n = demo_model.n_vertices
    adj = adjacency(n, demo_model.triangles)
    skin = demo_truth == parts.index("skin")
    deep = grow(adj, skin, -3)  # skin vertices at least three rings inside the skin
    seed = np.zeros(n, bool)
    seed[np.flatnonzero(deep)[len(np.flatnonzero(deep)) // 2]] = True
    hole = grow(adj, seed, 1)
    labels = demo_truth.copy()
    labels[hole] = -1
    visible = np.ones(n, np.int32)
    outside = demo_truth < 0
    unseen = np.flatnonzero(outside)[:5]
    visible[unseen] = 0
    conf = np.ones(n, np.float32)
    conf[np.flatnonzero(labels == parts.index("nose"))[:4]] = 0.5
    ann = Annotation(labels, np.zeros((n, len(parts)), np.int32), conf, visible, parts, demo_model.fingerprint)
    flags = flag_vertices(ann, demo_model, low_confidence=0.6)
    # the truth itself leaves the nostrils and the mouth fold without a part: holes the planted one adds to
    before = flag_vertices(Annotation(demo_truth, np.zeros((n, len(parts)), np.int32), np.ones(n, np.float32),
                                      visible, parts, demo_model.fingerprint), demo_model, low_confidence=0.6)
    assert not (before.holes & hole).any()
    assert np.array_equal(flags.holes, before.holes | hole)
    assert int(flags.low_confidence.sum()) == 4
    assert np.array_equal(np.flatnonzero(flags.never_seen), unseen)
    assert np.array_equal(flags.outside, outside & (visible > 0) & ~before.holes)
    assert not flags.not_voted.any()


def test_cli_refuses_another_topology_and_a_missing_model(demo_run, tmp_path):
    from facepart.data.annotation import load_annotation, save_annotation

    tetra = tmp_path / "tetra.obj"
    tetra.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\nf 1 3 2\nf 1 2 4\nf 1 4 3\nf 2 3 4\n")
    r = facepart("report", demo_run / "annotation.npz", "--model", tetra, "--out", tmp_path / "x.html")
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "another topology" in r.stderr and "23938 vertices vs 4" in r.stderr
    assert not (tmp_path / "x.html").exists()

    ann = load_annotation(demo_run)
    ann.settings["model"]["path"] = str(tmp_path / "gone.obj")
    ann.settings["model"].pop("abspath", None)
    moved = tmp_path / "moved"
    moved.mkdir()
    save_annotation(ann, moved)
    r = facepart("report", moved)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0
    assert "gone.obj" in r.stderr and "pass --model" in r.stderr
    # with --model it works, and the page goes beside the annotation by default
    r = facepart("report", moved, "--model", "demo", "--size", 64)
    assert r.returncode == 0, r.stderr
    assert (moved / "report.html").is_file()


def test_a_parts_json_gets_a_report_against_the_model_it_names(demo_run, tmp_path):
    # a plain parts.json does not name its mesh: with --model it is read against that model's topology
    parts = tmp_path / "parts.json"
    parts.write_bytes((demo_run / "parts.json").read_bytes())
    r = facepart("report", parts, "--model", "demo", "--size", 64)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    for name, idx in json.loads(parts.read_text()).items():
        assert re.search(rf"{name}</td><td class=num>{len(idx):,}</td>", page), name
    r = facepart("report", parts)
    assert r.returncode == 1 and "parts.json: a parts.json file does not say which mesh it labels; give the " \
        "model (--model MODEL" in r.stderr and "pickled" not in r.stderr


def test_union_rule_counts_parts_json_membership(demo_run, demo_model, renderer256):
    from facepart.data.annotation import load_annotation
    from facepart.report import build_report

    ann = load_annotation(demo_run)
    ann.rule = "union"
    page = build_report(ann, demo_model, size=256, renderer=renderer256)
    assert "by majority label" in page
    for i, (name, idx) in enumerate(ann.members().items()):
        own = int((ann.labels == i).sum())
        assert re.search(rf"{name}</td><td class=num>{len(idx):,}</td><td class=num>{own:,}</td>", page), name
    assert sum(len(v) for v in ann.members().values()) > int((ann.labels >= 0).sum())  # union really overlaps


def test_report_on_the_ict_model(ict_model, renderer256, browser, tmp_path):
    """A real model with several mesh pieces and a vote mask (eyeballs, teeth take no votes)."""
    from truth import ict_truth

    from facepart.data.annotation import Annotation
    from facepart.data.parts import PartTable
    from facepart.report import write_report

    parts = PartTable.paper()
    labels = ict_truth(ict_model, parts)
    n = ict_model.n_vertices
    ann = Annotation(labels, np.zeros((n, len(parts)), np.int32), np.ones(n, np.float32),
                     (labels >= 0).astype(np.int32), parts, ict_model.fingerprint, settings={"variants": 1})
    page = write_report(ann, ict_model, tmp_path / "ict.html", size=256, renderer=renderer256).read_text()
    not_voted = int((~ict_model.vote_mask).sum())
    assert not_voted > 0 and f"outside the model&#x27;s vote mask (eyeballs, teeth...) ({not_voted:,})" in page
    assert len(embedded_images(page)) == 2 * N_VIEWS + 1
    result = browser.open(tmp_path / "ict.html")
    assert result.errors == [] and result.requests == []
    assert len(result.images) == 2 * N_VIEWS + 1 and all(i["error"] is None and i["width"] for i in result.images)


def test_a_borrowed_renderer_sets_the_view_size(demo_run, demo_model, renderer256):
    from facepart.data.annotation import load_annotation
    from facepart.report import build_report

    page = build_report(load_annotation(demo_run), demo_model, size=999, renderer=renderer256)
    views = embedded_images(page)[:2 * N_VIEWS]
    assert {v.shape[:2] for v in views} == {(256, 256)}


def test_report_and_info_after_hand_edits_and_on_files_without_run_data(demo_run, demo_model, renderer256, tmp_path):
    # before: after hand edits the page and `info` showed the run's per-part counts as if current, and a
    # parts.json got a raw dump of internal keys ("report.component sizes.0 ...") and "0 seen (0.0%)"
    import dataclasses

    from facepart.data.annotation import load_annotation, save_annotation
    from facepart.report import build_report

    ann = load_annotation(demo_run)
    nose = ann.parts.index("nose")
    skin_ids = np.flatnonzero(ann.labels == ann.parts.index("skin"))[:50]
    labels = ann.labels.copy()
    labels[skin_ids] = nose
    edited = np.zeros(ann.n_vertices, bool)
    edited[skin_ids] = True
    hand = dataclasses.replace(ann, labels=labels, edited=edited,
                               edit_log=[{"operation": "assign", "count": 50, "part": "nose"}])
    page = build_report(hand, demo_model, size=64, renderer=renderer256)
    quality = page.split('id="quality"', 1)[1].split("</section>", 1)[0]
    assert "50 vertices were edited by hand after the run" in quality and "Figures the run computed" not in quality
    assert re.search(rf"nose</td><td class=num>{int((labels == nose).sum()):,}</td>", quality)
    assert "Hand edits" in page and "50 vertices (1 edits in the log)" in page
    # the run's held-out IoU is shown as the run's: before, it read as the edited annotation's own
    assert "held-out Part IoU (before the hand edits)</span>" in page
    assert "before the 50 hand-edited vertices changed" in page.split('id="iou"', 1)[1]
    plain = build_report(ann, demo_model, size=64, renderer=renderer256)
    assert "held-out Part IoU</span>" in plain and "hand-edited vertices changed" not in plain
    (tmp_path / "hand").mkdir()
    save_annotation(hand, tmp_path / "hand")
    r = facepart("info", tmp_path / "hand")
    assert r.returncode == 0, r.stderr
    assert "hand edits: 50 vertices" in r.stdout and "from before the hand edits" in r.stdout
    # a file with labels only: the same table as a run's, and no visibility figures made up
    parts = tmp_path / "parts.json"
    parts.write_bytes((demo_run / "parts.json").read_bytes())
    r = facepart("report", parts, "--model", "demo", "--size", 64)
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    quality = page.split('id="quality"', 1)[1].split("</section>", 1)[0]
    assert "(the run stored none)" in quality and "pieces (per mesh component)" in quality
    # no render data: the quality line counts no vertex as never seen, like the header's holes (before: every
    # unlabelled face vertex was "never seen" there and "seen, no part" in the header)
    holes = re.search(r"<b>([0-9,]+)</b><span>holes \(seen, no part\)", page)
    assert holes and re.search(r"unlabelled inside the face region: [0-9]+ seen \+ 0 never seen", quality)
    assert "report." not in quality and "component sizes" not in quality
    assert "seen (no render data)" in page and "never seen in any render" not in page
    assert "not recorded (not made by a facepart run)" in page
    # no votes, no confidence: before, every vertex showed confidence 1.000 and "0 low confidence"
    assert "No confidence figures: the file holds labels without a run's votes" in page
    assert "confidence histogram" not in page and "low confidence</span>" not in page
    assert "labelled with confidence under" not in page
    parts_table = page.split('id="parts"', 1)[1].split("</section>", 1)[0]
    assert "1.000" not in parts_table and "<td class=num>n/a</td>" in parts_table
    ran = build_report(ann, demo_model, size=64, renderer=renderer256)  # the run's own file has them all
    assert "confidence histogram" in ran and "low confidence</span>" in ran and "No confidence figures" not in ran


def test_the_report_of_annotate_report_names_its_annotation_file(tmp_path):
    # before: "Annotation (in memory)" on the page `annotate --report` writes
    r = facepart("annotate", "demo", "--out", tmp_path, "--variants", 2, "--size", 96, "--eval-views", 0,
                 "--no-preview", "--report")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert "(in memory)" not in page and html.escape(str(tmp_path / "annotation.npz")) in page


def test_quality_pieces_of_an_unwelded_mesh_stay_one_short_line():
    # before: a triangle soup (every triangle its own mesh component) printed every component by name, a 703 KB line
    from facepart.annotate.quality import MAX_COMPONENTS_NAMED, quality_report
    from facepart.data.parts import PartTable

    n_tri = 500
    triangles = np.arange(3 * n_tri).reshape(n_tri, 3)
    labels = np.zeros(3 * n_tri, np.int64)  # one part on every triangle
    report = quality_report(labels, triangles, PartTable.paper())
    name = report.part_names[0]
    text = report.pieces_text(name)
    assert sum(report.pieces[name].values()) == n_tri  # the figures themselves are all kept
    assert text.count(" on component ") == MAX_COMPONENTS_NAMED - 1  # component 0 is not named
    assert text.endswith(f" + {n_tri - MAX_COMPONENTS_NAMED} on {n_tri - MAX_COMPONENTS_NAMED} more components")
    assert max(len(line) for line in report.summary_lines()) < 200


def test_where_to_look_counts_low_confidence_eyeball_labels_as_the_quality_table_does(ict_model):
    # before: ICT's eye-labelled eyeball vertices were painted and counted as "outside the vote mask", so "Where to
    # look" said 775 low-confidence vertices while the quality table and info said 863
    from facepart.annotate.quality import quality_report
    from facepart.data.parts import PAPER_PARTS
    from facepart.export.view import annotation_from_sets
    from facepart.report.views import flag_vertices
    from truth import ict_truth

    labels = ict_truth(ict_model)
    eyeball = ict_model.eyeball_mask
    labels[eyeball] = PAPER_PARTS.index("left_eye")
    ann = annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                               ict_model.fingerprint, "t")
    ann.confidence = np.where(eyeball, 0.3, 0.9).astype(np.float32)
    ann.visible_count = np.ones(ann.n_vertices, np.int32)  # a run's annotation: its confidence is a vote share
    flags = flag_vertices(ann, ict_model, 0.6)
    rep = quality_report(ann.labels, ict_model.triangles, ann.parts, ann.confidence, None,
                         ict_model.vote_mask | eyeball)
    assert int(flags.low_confidence.sum()) == sum(rep.low_confidence.values()) == int(eyeball.sum()) > 1000
    assert not flags.not_voted[eyeball].any()  # eye-labelled eyeballs are not painted as outside the vote mask
