"""The correction viewer's editing logic (no window) on the real ICT mesh: pick, brush, lasso, fill,
grow/shrink, mirror, locks, undo/redo, views, save/reload and keep-edits.

Screen operations get their camera and depth image from facepart's own renderer,
as the Open3D window gets them from its depth buffer.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from facepart.correction_gui.editor import HIDDEN_COLOR, UNLABELLED_HIGHLIGHT, EditRefused, Editor
from facepart.correction_gui.screen import ScreenView, camera_from_gl, points_in_polygon
from facepart.data.annotation import Annotation, load_annotation, save_annotation
from facepart.data.edits import apply_kept_edits
from facepart.errors import FacepartError
from facepart.renderers.camera import Camera
from viewer_data import ict_annotation

SIZE = 384


@pytest.fixture(scope="module")
def annotation(ict_model):
    return ict_annotation(ict_model)


@pytest.fixture(scope="module")
def front_view(ict_model):
    """The ICT head from the front: camera and depth image (inf on the background)."""
    from facepart.renderers.base import make_renderer

    face = ict_model.vertices[ict_model.vote_mask]
    center = 0.5 * (face.min(axis=0) + face.max(axis=0))
    radius = float(np.linalg.norm(face - center, axis=1).max())
    camera = Camera.looking_at(center, radius, SIZE, fill=0.95)
    renderer = make_renderer(None, SIZE)
    try:
        fragments = renderer.render(ict_model.vertices, ict_model.triangles[ict_model.render_triangles], camera)
    finally:
        renderer.close()
    return ScreenView(camera, fragments.depth)


@pytest.fixture
def editor(ict_model, annotation):
    return Editor.from_model(ict_model, annotation)


def screen_of(view: ScreenView, vertices: np.ndarray, vertex: int) -> tuple[float, float]:
    uv, _ = view.camera.project(vertices[[vertex]])
    return float(uv[0, 0]), float(uv[0, 1])


def nose_tip(model) -> int:
    return int(model.landmarks68[30])


# -- screen ---------------------------------------------------------------------------------------

def test_camera_from_gl_projects_like_opengl():
    rng = np.random.default_rng(0)
    eye, w, h = np.array([0.05, -0.02, 0.6]), 640, 480
    view = np.eye(4)
    view[:3, 3] = -eye
    f, n, fa = 1 / np.tan(np.radians(15)), 0.1, 3.0
    proj = np.array([[f * h / w, 0, 0.02, 0], [0, f, -0.03, 0], [0, 0, (fa + n) / (n - fa), 2 * fa * n / (n - fa)],
                     [0, 0, -1, 0]])
    pts = rng.normal(0, 0.05, (20, 3))
    clip = np.c_[pts, np.ones(20)] @ view.T @ proj.T
    ndc = clip[:, :3] / clip[:, 3:]
    expected = np.c_[(ndc[:, 0] + 1) * w / 2, (1 - ndc[:, 1]) * h / 2]
    cam = camera_from_gl(view, proj, w, h)
    uv, z = cam.project(pts)
    assert np.allclose(uv, expected, atol=1e-6)
    assert np.allclose(z, eye[2] - pts[:, 2])
    assert cam.znear == pytest.approx(n) and cam.zfar == pytest.approx(fa)


def test_visibility_from_depth(ict_model, editor, front_view):
    vis = editor.visible(front_view)
    assert vis[nose_tip(ict_model)]
    back = editor.shown & (ict_model.vertices[:, 2] < ict_model.vertices[:, 2].min() + 0.02)  # back of the head
    assert back.any() and not vis[back].any()
    assert not vis[~editor.shown].any()
    assert 3000 < vis.sum() < 0.6 * editor.shown.sum()


def test_pick_nearest_visible_vertex(ict_model, editor, front_view):
    tip = nose_tip(ict_model)
    assert editor.pick(front_view, *screen_of(front_view, ict_model.vertices, tip)) == tip
    vis = editor.visible(front_view)
    # a vertex at the back of the head projects onto the face: picking there gives a visible front vertex
    back = np.flatnonzero(editor.shown & ~vis & (ict_model.vertices[:, 2] < 0) & (np.abs(ict_model.vertices[:, 0]) < 0.02)
                          & (np.abs(ict_model.vertices[:, 1] - ict_model.vertices[tip, 1]) < 0.02))[0]
    picked = editor.pick(front_view, *screen_of(front_view, ict_model.vertices, back))
    assert picked is not None and vis[picked] and ict_model.vertices[picked, 2] > 0.05
    assert editor.pick(front_view, 1.5, 1.5) is None  # the background corner


def test_points_in_polygon():
    square = np.array([[10, 10], [50, 10], [50, 50], [10, 50]])
    pts = np.array([[20.5, 20.5], [5.5, 20.5], [49.5, 49.5], [60.5, 30.5]])
    assert points_in_polygon(pts, square, 100, 100).tolist() == [True, False, True, False]


# -- the brush ------------------------------------------------------------------------------------

def test_brush_is_geodesic(ict_model, editor):
    """The brush measures along the surface (checked against networkx's Dijkstra) and never jumps a gap."""
    import networkx as nx

    e = editor.edges
    lengths = np.linalg.norm(ict_model.vertices[e[:, 0]].astype(np.float64) - ict_model.vertices[e[:, 1]], axis=1)
    graph = nx.Graph()
    graph.add_weighted_edges_from(zip(e[:, 0].tolist(), e[:, 1].tolist(), lengths.tolist()))
    tip = nose_tip(ict_model)
    for radius_mm in (3.0, 8.0):
        region = editor.brush_region([tip], radius_mm=radius_mm)
        reach = nx.single_source_dijkstra_path_length(graph, tip, cutoff=radius_mm / 1000)
        assert set(np.flatnonzero(region).tolist()) == set(reach)
        euclid = np.linalg.norm(ict_model.vertices - ict_model.vertices[tip], axis=1) <= radius_mm / 1000
        assert not (region & ~euclid).any()  # a geodesic ball lies inside the Euclidean ball

    # an eyelid vertex next to the eyeball: the eyeball (another piece of surface) is close but out of reach
    eye = np.flatnonzero(editor.labels == editor.parts.index("left_eye"))
    pieces = {v: i for i, c in enumerate(nx.connected_components(graph)) for v in c}
    head_piece = pieces[tip]
    from scipy.spatial import cKDTree

    others = np.array([v for v in pieces if pieces[v] != head_piece and editor.shown[v]])
    tree = cKDTree(ict_model.vertices[others])
    d, j = tree.query(ict_model.vertices[eye])
    lid = eye[np.argmin(d)]
    gap_mm = 1000 * d.min()
    region = editor.brush_region([lid], radius_mm=gap_mm + 2.0)
    assert region[others[j[np.argmin(d)]]] == False  # noqa: E712
    assert all(pieces[v] == head_piece for v in np.flatnonzero(region))


def test_visible_only_and_through(ict_model, editor, front_view):
    tip = nose_tip(ict_model)
    visible_only = editor.brush_region([tip], front_view, radius_mm=30)
    editor.through = True
    through = editor.brush_region([tip], front_view, radius_mm=30)
    assert np.array_equal(visible_only, through & editor.visible(front_view))
    assert (through & ~visible_only).sum() > 20  # nostrils, under the nose


def test_stroke_paints_along_the_path_as_one_step(ict_model, editor, front_view, annotation):
    editor.set_active("nose")
    y = screen_of(front_view, ict_model.vertices, int(ict_model.landmarks68[27]))[1]  # across the nose bridge
    xs = np.linspace(SIZE * 0.35, SIZE * 0.65, 7)
    edit = editor.paint(front_view, [(x, y) for x in xs])
    assert edit is not None and edit.operation == "brush" and len(editor.stroke_centers) > len(xs)
    nose = editor.parts.index("nose")
    changed = editor.labels != annotation.labels
    brushed = editor.brush_region(editor.stroke_centers, front_view)
    assert np.array_equal(changed, brushed & (annotation.labels != nose))
    assert changed.sum() == edit.log["count"] > 20 and (editor.labels[changed] == nose).all()
    # every brushed vertex is now set by hand, also those that were nose already (confirmed)
    assert np.array_equal(editor.edited, brushed) and len(edit.indices) == brushed.sum()
    assert edit.log["confirmed"] == (brushed & (annotation.labels == nose)).sum() > 0
    uv, _ = front_view.camera.project(ict_model.vertices[editor.stroke_centers])
    assert np.all(np.abs(uv[:, 1] - y) < 4) and uv[:, 0].min() < xs[0] + 4 and uv[:, 0].max() > xs[-1] - 4
    assert editor.edit_log() == [edit.log] and edit.log["part"] == "nose"
    editor.undo()
    assert np.array_equal(editor.labels, annotation.labels) and not editor.edited.any() and editor.edit_log() == []
    editor.redo()
    assert np.array_equal(editor.labels != annotation.labels, changed)


def test_erase_stroke(ict_model, editor, front_view, annotation):
    tip = nose_tip(ict_model)
    edit = editor.paint(front_view, [screen_of(front_view, ict_model.vertices, tip)], part=-1)
    assert edit.operation == "erase" and (editor.labels[edit.indices] == -1).all() and edit.log["part"] is None


# -- selection --------------------------------------------------------------------------------------

def test_lasso_and_rectangle_select_visible_vertices(ict_model, editor, front_view):
    tip = nose_tip(ict_model)
    x, y = screen_of(front_view, ict_model.vertices, tip)
    lasso = np.array([(x + 25 * np.cos(a), y + 25 * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 40)])
    n = editor.select_polygon(front_view, lasso)
    uv, _ = front_view.camera.project(ict_model.vertices)
    inside = np.hypot(uv[:, 0] - x, uv[:, 1] - y) < 24  # safely inside the 40-gon
    vis = editor.visible(front_view)
    assert n == editor.selection.sum() and editor.selection[tip]
    assert not (editor.selection & ~vis).any() and (inside & vis & ~editor.selection).sum() == 0
    editor.through = True
    assert editor.select_polygon(front_view, lasso) > n  # hidden vertices too (the back of the head)
    editor.through = False
    r = editor.select_rectangle(front_view, x - 10, y - 10, x + 10, y + 10)
    box = (np.abs(uv[:, 0] - x) <= 10) & (np.abs(uv[:, 1] - y) <= 10)
    assert np.array_equal(editor.selection, box & vis) and r == (box & vis).sum()
    before = editor.selection.copy()
    editor.select_rectangle(front_view, x - 30, y - 30, x - 20, y - 20, mode="add")
    assert (editor.selection >= before).all() and editor.selection.sum() > before.sum()
    editor.select_rectangle(front_view, x - 10, y - 10, x + 10, y + 10, mode="remove")
    assert not (editor.selection & before).any()


def test_grow_shrink_assign_erase(ict_model, editor, annotation):
    tip = nose_tip(ict_model)
    neighbours = editor.rings[tip].indices
    editor.select_vertices([tip])
    assert editor.grow_selection(1) == 1 + len(neighbours)
    assert set(np.flatnonzero(editor.selection)) == {tip, *neighbours.tolist()}
    editor.grow_selection(2)
    editor.grow_selection(-2)
    assert set(np.flatnonzero(editor.selection)) == {tip, *neighbours.tolist()}
    editor.grow_selection(-1)
    assert np.flatnonzero(editor.selection).tolist() == [tip]
    editor.grow_selection(3)
    sel = editor.selection.copy()
    edit = editor.assign_selection("skin")
    assert edit.operation == "assign" and (editor.labels[sel] == editor.parts.index("skin")).all()
    assert np.array_equal(editor.labels != annotation.labels, sel & (annotation.labels != editor.parts.index("skin")))
    edit = editor.erase_selection()
    assert edit.operation == "erase" and (editor.labels[sel] == -1).all()
    editor.undo()
    editor.undo()
    assert np.array_equal(editor.labels, annotation.labels)


# -- fill --------------------------------------------------------------------------------------------

def test_fill_floods_one_connected_region(editor, annotation):
    brow = editor.parts.index("left_eyebrow")
    pieces = [r for r in editor.islands() if r.part == brow]
    assert len(pieces) >= 2  # the test labelling has a stray brow piece
    stray = pieces[1]
    edit = editor.fill(int(stray.vertices[0]), "skin")
    assert edit.operation == "fill"
    assert np.array_equal(np.sort(edit.indices), np.sort(stray.vertices))
    assert (editor.labels[pieces[0].vertices] == brow).all()  # the main piece is untouched
    assert len([r for r in editor.islands() if r.part == brow]) == (len(pieces) - 1 if len(pieces) > 2 else 0)


def test_fill_through_the_view(ict_model, editor, front_view, annotation):
    tip = nose_tip(ict_model)
    edit = editor.fill_at(front_view, *screen_of(front_view, ict_model.vertices, tip), part="up_lip")
    nose = annotation.labels == annotation.parts.index("nose")
    assert set(edit.indices.tolist()) <= set(np.flatnonzero(nose).tolist())
    assert tip in edit.indices.tolist()
    assert editor.fill_at(front_view, 1.5, 1.5) is None


# -- locks, mirror, undo/redo ------------------------------------------------------------------------

def test_locked_parts_are_never_overwritten(ict_model, editor, annotation):
    skin = editor.parts.index("skin")
    editor.set_active("skin")
    assert editor.toggle_lock() is True
    with pytest.raises(EditRefused, match="skin is locked"):
        editor.assign_selection()
    with pytest.raises(EditRefused):
        editor.begin_stroke("skin")
    editor.select_vertices(editor.brush_region([nose_tip(ict_model)], radius_mm=40))
    assert (annotation.labels[editor.selection] == skin).any()
    editor.assign_selection("nose")
    editor.erase_selection()
    editor.fill(int(np.flatnonzero(annotation.labels == skin)[0]), "nose")
    assert np.array_equal(editor.labels == skin, annotation.labels == skin)
    assert (editor.labels[editor.selection & (annotation.labels != skin)] == -1).all()
    editor.toggle_lock("skin")
    assert editor.assign_selection("skin") is not None


def test_mirror_repeats_edits_on_the_other_side(ict_model, editor, annotation):
    from facepart.geometry import mirror_map

    editor.set_mirror(True)
    partner = mirror_map(ict_model.vertices, editor.surface_triangles, mask=editor.shown).partner
    cheek = np.flatnonzero(editor.shown & (ict_model.vertices[:, 0] > 0.03) & (ict_model.vertices[:, 2] > 0.07))
    region = editor.brush_region([int(cheek[0])], radius_mm=6)
    editor.select_vertices(np.flatnonzero(region))
    edit = editor.assign_selection("left_eye")
    left, right = editor.parts.index("left_eye"), editor.parts.index("right_eye")
    sel = np.flatnonzero(region)
    assert (editor.labels[sel] == left).all()
    assert (editor.labels[partner[sel]] == right).all()  # the partner side got the partner part
    assert edit.log["mirror"] is True and len(edit.indices) > len(sel)
    editor.undo()  # one step undoes both sides
    assert np.array_equal(editor.labels, annotation.labels)


def test_mirror_refused_on_an_asymmetric_model(ict_model, annotation):
    bent = ict_model.vertices.copy()
    bent[bent[:, 0] > 0, 2] += 0.01 * bent[bent[:, 0] > 0, 0] / 0.1  # the left side pushed forward
    editor = Editor(bent, ict_model.triangles, annotation, shown=ict_model.render_mask)
    with pytest.raises(EditRefused, match="not symmetric"):
        editor.set_mirror(True)
    assert editor.mirror is False


def test_undo_redo_sequences_of_more_than_200_steps(ict_model, editor, annotation):
    rng = np.random.default_rng(3)
    shown = np.flatnonzero(editor.shown)
    states = [editor.labels.copy()]
    for i in range(230):
        editor.select_vertices(rng.choice(shown, 5, replace=False))
        if editor.assign_selection(i % editor.n_parts) is not None:
            states.append(editor.labels.copy())
    steps = len(states) - 1
    assert steps > 200 and len(editor.edit_log()) == steps and editor.dirty
    for k in range(1, 41):  # undo 40 ...
        editor.undo()
        assert np.array_equal(editor.labels, states[steps - k])
    for k in range(1, 21):  # ... redo 20 ...
        editor.redo()
        assert np.array_equal(editor.labels, states[steps - 40 + k])
    while editor.undo() is not None:  # ... and all the way back
        pass
    assert np.array_equal(editor.labels, annotation.labels) and not editor.edited.any()
    assert not editor.dirty and editor.edit_log() == []
    for _ in range(100):
        editor.redo()
    assert np.array_equal(editor.labels, states[100]) and len(editor.edit_log()) == 100
    editor.select_vertices(shown[:3])
    editor.assign_selection("nose")  # a new edit ends the redo chain
    assert editor.redo() is None and len(editor.edit_log()) == 101


def test_undo_history_is_kept_for_at_least_200_steps(ict_model, editor, annotation):
    shown = np.flatnonzero(editor.shown & (annotation.labels != editor.parts.index("nose")))
    for i in range(205):
        editor.select_vertices([shown[i]])
        assert editor.assign_selection("nose") is not None
    for _ in range(205):
        assert editor.undo() is not None
    assert np.array_equal(editor.labels, annotation.labels)
    assert editor.undo() is None


# -- views -------------------------------------------------------------------------------------------

def test_colours_hide_solo_unlabelled_heat(editor, annotation):
    lut = annotation.parts.colors / 255.0
    nose = editor.parts.index("nose")
    c = editor.colors()
    assert np.allclose(c[annotation.labels == nose], lut[nose], atol=1e-6)
    assert np.allclose(c[annotation.labels < 0], 128 / 255, atol=1e-6)
    editor.set_active("nose")
    editor.toggle_hidden()
    c = editor.colors()
    assert np.allclose(c[annotation.labels == nose], HIDDEN_COLOR) and np.allclose(
        c[annotation.labels == 0], lut[0], atol=1e-6)
    editor.toggle_hidden()
    editor.show_only("left_eye")
    c = editor.colors()
    assert np.allclose(c[annotation.labels == 0], lut[0], atol=1e-6)
    assert np.allclose(c[(annotation.labels > 0)], HIDDEN_COLOR)
    editor.show_only("left_eye")  # again: all shown
    assert not editor.hidden.any()
    editor.show_unlabelled = True
    c = editor.colors()
    assert np.allclose(c[annotation.labels < 0], UNLABELLED_HIGHLIGHT)
    editor.show_unlabelled = False
    editor.heat_map = True
    c = editor.colors()
    sure = annotation.confidence > 0.99
    unsure = editor.uncertain()
    assert np.allclose(c[sure & editor.has_votes], 1.0) and (c[unsure, 2] < 0.5).all()


def test_next_uncertain_region_and_islands(ict_model, editor, annotation):
    first = editor.next_uncertain()
    assert first is not None and len(first.vertices) >= 10
    assert (annotation.confidence[first.vertices] < editor.uncertain_threshold).all()
    assert first.normal[2] > 0.5 and first.center[0] > 0.02  # the contested patch on the left cheek
    editor.select_vertices(first.vertices)
    editor.assign_selection("skin")  # decided by hand: no longer uncertain
    assert not editor.uncertain()[first.vertices].any()
    assert all(len(np.intersect1d(r.vertices, first.vertices)) == 0 for r in editor.uncertain_regions())
    islands = editor.islands()
    parts_with_islands = {editor.part_name(r.part) for r in islands}
    assert {"left_eyebrow", "up_lip"} <= parts_with_islands
    for r in islands:
        assert (editor.labels[r.vertices] == r.part).all() and r.n_pieces > 1
    stray = editor.next_island()
    assert stray.piece > 0


# -- save, reload, keep-edits ------------------------------------------------------------------------

def test_save_and_reload_keeps_votes_edits_and_log(ict_model, editor, annotation, tmp_path):
    tip = nose_tip(ict_model)
    editor.select_vertices(np.flatnonzero(editor.brush_region([tip], radius_mm=5)))
    editor.assign_selection("up_lip")
    assert editor.dirty
    npz, parts_json = editor.save(tmp_path)
    assert not editor.dirty
    saved = load_annotation(npz)
    assert np.array_equal(saved.labels, editor.labels) and np.array_equal(saved.edited, editor.edited)
    assert np.array_equal(saved.votes, annotation.votes) and np.array_equal(saved.confidence, annotation.confidence)
    assert saved.edit_log == editor.edit_log() and saved.edit_log[0]["operation"] == "assign"
    from facepart.data.annotation import FORMAT_VERSION

    with np.load(npz) as data:
        assert int(data["format_version"]) == FORMAT_VERSION >= 2
    members = json.loads(parts_json.read_text())
    assert set(np.flatnonzero(editor.labels == editor.parts.index("up_lip"))) == set(members["up_lip"])
    # reopened, the old edits stay in the log and the edited mask; new ones are appended
    again = Editor.from_model(ict_model, saved)
    again.select_vertices([tip])
    again.assign_selection("skin")
    assert again.edit_log()[:1] == saved.edit_log and len(again.edit_log()) == 2
    assert again.edited.sum() == saved.edited.sum()  # tip was already edited
    again.undo()
    assert not again.dirty


def test_union_rule_follows_hand_edits(ict_model, annotation):
    union = Annotation(annotation.labels, annotation.votes, annotation.confidence, annotation.visible_count,
                       annotation.parts, annotation.fingerprint, rule="union")
    editor = Editor.from_model(ict_model, union)
    v = int(np.flatnonzero((union.votes > 0).sum(axis=1) > 1)[0])  # a vertex voted into two parts
    editor.select_vertices([v])
    editor.assign_selection("nose")
    member = editor.annotation().membership()
    assert member[v].tolist() == [p == editor.parts.index("nose") for p in range(editor.n_parts)]


def test_version_1_files_still_load(annotation, tmp_path):
    save_annotation(annotation, tmp_path)
    with np.load(tmp_path / "annotation.npz") as data:
        arrays = {k: data[k] for k in data.files}
    arrays["format_version"] = np.array(1)
    np.savez(tmp_path / "v1.npz", **arrays)
    old = load_annotation(tmp_path / "v1.npz")
    assert old.edited is None and old.edit_log == [] and np.array_equal(old.labels, annotation.labels)


def test_keep_edits(ict_model, editor, annotation, tmp_path):
    tip = nose_tip(ict_model)
    editor.select_vertices(np.flatnonzero(editor.brush_region([tip], radius_mm=6)))
    editor.assign_selection("up_lip")
    editor.select_vertices(np.flatnonzero(editor.brush_region([int(ict_model.landmarks68[8])], radius_mm=4)))
    editor.erase_selection()
    editor.save(tmp_path)
    edited = load_annotation(tmp_path / "annotation.npz")
    # a "new run": other labels everywhere
    rng = np.random.default_rng(1)
    new_labels = rng.integers(-1, len(annotation.parts), annotation.n_vertices)
    new = Annotation(new_labels, annotation.votes, annotation.confidence, annotation.visible_count, annotation.parts,
                     annotation.fingerprint, settings={"variants": 99})
    kept = apply_kept_edits(new, edited, "edited.npz")
    hand = edited.edited
    assert hand.sum() > 0
    assert np.array_equal(kept.labels[hand], edited.labels[hand])
    assert np.array_equal(kept.labels[~hand], new_labels[~hand])
    assert np.array_equal(kept.edited, hand) and kept.edit_log[:-1] == edited.edit_log
    assert kept.edit_log[-1]["operation"] == "keep-edits" and kept.settings["kept_edits"]["from"] == "edited.npz"
    assert kept.settings["variants"] == 99
    # parts matched by name when the new run orders them differently
    from facepart.data.parts import PartTable

    order = list(reversed(annotation.parts.names))
    remap = np.array([order.index(n) for n in annotation.parts.names] + [-1])
    new2 = Annotation(remap[np.where(new_labels < 0, -1, new_labels)], annotation.votes[:, ::-1], annotation.confidence,
                      annotation.visible_count, PartTable.from_names(order), annotation.fingerprint)
    kept2 = apply_kept_edits(new2, edited)
    names2 = np.array(list(order) + ["-"])
    names1 = np.array(list(annotation.parts.names) + ["-"])
    assert np.array_equal(names2[kept2.labels[hand]], names1[edited.labels[hand]])


def test_keep_edits_refusals(ict_model, annotation, demo_model):
    from facepart.data.parts import PartTable

    with pytest.raises(FacepartError, match="records no hand edits"):
        apply_kept_edits(annotation, annotation)
    edited = Annotation(annotation.labels, annotation.votes, annotation.confidence, annotation.visible_count,
                        annotation.parts, annotation.fingerprint, edited=annotation.labels == 6)
    other = Annotation(np.zeros(demo_model.n_vertices, np.int64), np.zeros((demo_model.n_vertices, 8), np.int32),
                       np.zeros(demo_model.n_vertices, np.float32), np.zeros(demo_model.n_vertices, np.int32),
                       annotation.parts, demo_model.fingerprint)
    with pytest.raises(FacepartError, match="another topology"):
        apply_kept_edits(other, edited)
    fewer = PartTable.from_names(["left_eye", "right_eye", "skin"])
    new = Annotation(np.zeros(annotation.n_vertices, np.int64), np.zeros((annotation.n_vertices, 3), np.int32),
                     annotation.confidence, annotation.visible_count, fewer, annotation.fingerprint)
    with pytest.raises(FacepartError, match="nose"):
        apply_kept_edits(new, edited)


def test_headlight_shading():
    from facepart.correction_gui.screen import headlight

    vertices = np.zeros((3, 3))
    normals = np.array([[0, 0, 1.0], [0, 0, -1.0], [1.0, 0, 0]])
    shade = headlight(vertices, normals, eye=np.array([0, 0, 2.0]), ambient=0.3)
    assert shade[0] == pytest.approx(1.0) and shade[1] == pytest.approx(0.3) and shade[2] == pytest.approx(0.3)


def test_the_headlight_is_reapplied_after_an_orbit_and_not_after_a_wheel_step(ict_model):
    """The viewer re-uploads the mesh only when the shading moved by more than RELIGHT_TOLERANCE."""
    pytest.importorskip("open3d")
    from facepart.correction_gui.app import RELIGHT_TOLERANCE
    from facepart.correction_gui.screen import headlight
    from facepart.geometry import vertex_normals

    face = ict_model.vertices[ict_model.vote_mask]
    centre = face.mean(axis=0)
    radius = np.linalg.norm(face - centre, axis=1).max()
    normals = vertex_normals(ict_model.vertices, ict_model.triangles)
    distance = radius / np.tan(np.radians(15.0)) * 1.05  # the viewer's framing
    front = headlight(ict_model.vertices, normals, centre + [0, 0, distance], up=np.array([0, 1.0, 0]))
    zoomed = headlight(ict_model.vertices, normals, centre + [0, 0, 0.9 * distance], up=np.array([0, 1.0, 0]))
    turn = np.radians(15.0)
    orbited = headlight(ict_model.vertices, normals, centre + distance * np.array([np.sin(turn), 0, np.cos(turn)]),
                        up=np.array([0, 1.0, 0]))
    assert np.abs(zoomed - front).max() <= RELIGHT_TOLERANCE  # the largest change anywhere, as the viewer checks
    assert np.abs(orbited - front).max() > 5 * RELIGHT_TOLERANCE


def test_dirty_after_undoing_a_trimmed_history(ict_model, annotation):
    # before: with more edits than the history keeps, undoing all of them looked clean (labels still edited)
    editor = Editor.from_model(ict_model, annotation, history_limit=200)
    shown = np.flatnonzero(editor.shown & (annotation.labels != editor.parts.index("nose")))
    for i in range(205):
        editor.select_vertices(shown[5 * i:5 * i + 5])
        editor.assign_selection("nose")
    while editor.undo() is not None:
        pass
    assert (editor.labels != annotation.labels).any() and editor.dirty
    fresh = Editor.from_model(ict_model, annotation)
    fresh.select_vertices(shown[:5])
    fresh.assign_selection("nose")
    fresh.select_vertices(shown[:5])
    fresh.assign_selection("skin")  # back to the opened labels, but now marked as set by hand
    assert fresh.dirty


def test_assign_to_locked_vertices_says_they_are_locked(editor):
    editor.toggle_lock("nose")
    editor.select_part("nose")
    n = int(editor.selection.sum())
    assert editor.assign_selection("skin") is None
    assert f"all {n} vertices are locked" in editor.message and f"nose {n}" in editor.message
    assert "nothing changed" in editor.message


def test_look_at_pose_keeps_the_face_upright_from_above_and_below():
    from facepart.correction_gui.screen import look_at_pose

    for direction in ((0, 0, 1), (0, -1, 0), (0, -0.97, 0.2), (0, 1, 0), (0.1, 0.98, 0.1)):
        center, eye, up = look_at_pose(np.zeros(3), np.array(direction, float), 1.0)
        forward = (center - eye) / np.linalg.norm(center - eye)
        right = np.cross(forward, up)
        assert right[0] > 0.9, (direction, right)  # the subject's left (+x) on the image's right: not mirrored
        # forehead (+y) up where it can be; straight from below the face's front (+z) is up, from above its back
        screen_up = np.cross(right, forward)
        assert screen_up @ np.array([0.0, 1.0, np.sign(-direction[1]) if abs(direction[1]) > 0.9 else 0.0]) > 0
