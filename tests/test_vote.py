"""Voting on real renders: exact id-buffer votes, view-angle weights, the KD-tree reference, and assignment."""

import numpy as np
import pytest

from facepart.annotate.assign import majority, membership, union
from facepart.annotate.consensus import agreement_weights, robust_consensus, view_agreement, vote_table
from facepart.annotate.settings import AnnotateSettings
from facepart.annotate.variants import Variant, frontal_variant
from facepart.annotate.views import make_scene, render_view
from facepart.annotate.vote import ViewVotes, view_angle_weights, view_votes
from facepart.data.face_model import FaceModel
from facepart.renderers.fragments import barycentric


def _plane(n=8, tilt=0.0):
    """An n x n grid of unit squares in the z = 0 plane (facing +z), optionally rotated about y."""
    xs, ys = np.meshgrid(np.linspace(-0.1, 0.1, n + 1), np.linspace(-0.1, 0.1, n + 1))
    v = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], 1)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tri = np.concatenate([np.stack([a, b, d], -1).reshape(-1, 3), np.stack([a, d, c], -1).reshape(-1, 3)])
    return FaceModel("plane", v, tri)


def _view(model, renderer, yaw=0.0):
    scene = make_scene(model, renderer.width)
    variant = Variant(0, np.zeros(0), np.zeros(0), np.zeros(0), yaw, 0.0, 0.0, frontal_variant().light)
    return scene, render_view(model, variant, scene, renderer, shade=False)


def _settings(**kw):
    return AnnotateSettings(variants=1, size=256, **kw)


def test_majority_confidence_is_the_share_of_weighted_votes_below_one_too():
    labels, confidence = majority(np.array([[0.3, 0.1], [3.0, 1.0]]), np.array([0.0, 0.0]))
    assert labels.tolist() == [0, 0]
    np.testing.assert_allclose(confidence, [0.75, 0.75])


def test_barycentric_coordinates_rebuild_the_point_and_are_perspective_correct():
    corners = np.array([[[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]]])
    b = barycentric(np.array([[1.0, 1.0]]), corners)
    np.testing.assert_allclose(b, [[0.5, 0.25, 0.25]])
    # a far corner (z = 3) pulls less in screen space: perspective-correct weights shift toward near corners
    bp = barycentric(np.array([[1.0, 1.0]]), corners, depth=np.array([[1.0, 3.0, 1.0]]))
    assert bp[0, 1] < 0.25 and np.isclose(bp.sum(), 1.0)


def test_nearest_mode_each_pixel_one_vote_for_a_corner_of_its_own_triangle(renderer256):
    model = _plane()
    scene, view = _view(model, renderer256)
    part_map = np.where(view.fragments.mask, 0, -1).astype(np.int16)
    votes = view_votes(view, part_map, scene, _settings(vote="nearest", view_weight="none"), n_parts=1)
    pixels = int(view.fragments.mask.sum())
    assert np.isclose(votes.weight.sum(), pixels)  # one vote per labelled pixel, weight 1 face-on
    assert set(np.unique(votes.part)) == {0}
    # every vertex of the plane is a nearest corner of some pixel at this size
    assert len(np.unique(votes.vertex)) == model.n_vertices


def test_on_a_mesh_denser_than_the_render_every_seen_vertex_votes_with_its_own_pixel(renderer256):
    # before: a vertex won a vote only as the nearest corner of a pixel's triangle; on a 383k-vertex head at
    # 256 px that left 60% of the visible vertices without votes in each view, and the eyes and lips were lost
    model = _plane(n=400)  # 160,801 vertices: edges of under half a pixel
    scene, view = _view(model, renderer256)
    assert scene.dense and scene.edge_pixels < 0.6
    cols = np.arange(256)[None, :].repeat(256, 0)
    part_map = np.where(view.fragments.mask, (cols >= 128).astype(np.int16), -1).astype(np.int16)
    settings = _settings(vote="nearest", view_weight="none")
    votes = view_votes(view, part_map, scene, settings, n_parts=2)
    sparse = view_votes(view, part_map, scene._replace(edge_pixels=np.inf), settings, n_parts=2)
    voted, corner_voted = np.unique(votes.vertex), np.unique(sparse.vertex)
    assert len(corner_voted) < 0.6 * model.n_vertices  # what nearest-corner votes alone reach
    inside = np.flatnonzero(view.fragments.mask[np.floor(view.uv[:, 1]).astype(int).clip(0, 255),
                                                np.floor(view.uv[:, 0]).astype(int).clip(0, 255)])
    assert set(inside) <= set(voted) and set(votes.visible) >= set(inside)  # every vertex over the surface
    own = np.setdiff1d(voted, corner_voted)
    pixel_part = (np.floor(view.uv[own, 0]) >= 128).astype(int)
    got = {int(v): int(p) for v, p in zip(votes.vertex, votes.part)}
    assert np.array_equal([got[int(v)] for v in own], pixel_part)  # the label under the vertex itself
    # the corner votes themselves are unchanged
    kept = np.isin(votes.vertex, corner_voted)
    assert np.isclose(votes.weight[kept].sum(), sparse.weight.sum())


def test_bary_mode_spreads_each_pixel_over_its_three_corners(renderer256):
    model = _plane(n=2)
    scene, view = _view(model, renderer256)
    part_map = np.where(view.fragments.mask, 0, -1).astype(np.int16)
    nearest = view_votes(view, part_map, scene, _settings(vote="nearest", view_weight="none"), n_parts=1)
    bary = view_votes(view, part_map, scene, _settings(vote="bary", view_weight="none"), n_parts=1)
    assert np.isclose(bary.weight.sum(), nearest.weight.sum())
    # the centre vertex of a 2x2 grid is a corner of every triangle: it collects a large share
    centre = 4
    share = bary.weight[bary.vertex == centre].sum() / bary.weight.sum()
    assert 0.2 < share < 0.5


def test_view_angle_weights_follow_cos_squared_and_drop_grazing_views(renderer256):
    model = _plane()
    for yaw, expected in ((0.0, 1.0), (60.0, 0.25)):
        scene, view = _view(model, renderer256, yaw=yaw)
        w = view_angle_weights(view, scene, "cos2", 0.1)
        seen = np.unique(view.fragments.triangle_id[view.fragments.mask])
        np.testing.assert_allclose(w[seen], expected, atol=0.06)  # perspective bends rays a little
    scene, view = _view(model, renderer256, yaw=87.0)  # seen almost edge-on: below the grazing threshold
    assert view_angle_weights(view, scene, "cos2", 0.1).max() == 0.0
    part_map = np.where(view.fragments.mask, 0, -1).astype(np.int16)
    assert len(view_votes(view, part_map, scene, _settings(), n_parts=1).vertex) == 0


def test_unlabelled_pixels_vote_none_only_on_eligible_surface(renderer256):
    model = _plane()
    model.vote_mask[:] = model.vertices[:, 0] < 0  # only the left half may receive votes
    scene, view = _view(model, renderer256)
    part_map = np.full(view.fragments.mask.shape, -1, np.int16)  # the parser labels nothing
    votes = view_votes(view, part_map, scene, _settings(view_weight="none"), n_parts=2)
    assert set(np.unique(votes.part)) == {2}  # all "none"
    assert np.all(model.vote_mask[votes.vertex])


def test_exact_votes_never_cross_an_occlusion_edge_on_ict(ict_model, renderer256):
    """Lips over teeth, lids over eyeballs: no vote lands on hidden or non-eligible geometry."""
    settings = AnnotateSettings(variants=1, size=256, eyeballs=True)
    scene = make_scene(ict_model, 256, eyeballs=True)
    view = render_view(ict_model, frontal_variant(0), scene, renderer256, shade=False)
    # label every pixel on the model "up_lip" (part 4) except eyeball pixels, which are "left_eye" (0)
    on_ball = view.fragments.mask & ict_model.eyeball_mask[scene.triangles[np.maximum(view.fragments.triangle_id, 0)]].all(-1)
    part_map = np.where(view.fragments.mask, 4, -1).astype(np.int16)
    part_map[on_ball] = 0
    votes = view_votes(view, part_map, scene, settings, n_parts=8, eye_ids=np.array([0, 1]))
    teeth_etc = ~ict_model.vote_mask & ~ict_model.eyeball_mask
    assert not teeth_etc[votes.vertex].any()
    ball = ict_model.eyeball_mask[votes.vertex]
    assert ball.any() and set(np.unique(votes.part[ball])) <= {0, 1, 8}  # eyeballs take eye votes only
    knn = view_votes(view, part_map, scene, AnnotateSettings(variants=1, size=256, vote="knn"), n_parts=8)
    seen = np.zeros(ict_model.n_vertices, bool)
    seen[votes.visible] = True
    eligible_seen = seen & scene.vote_mask
    unreached_exact = eligible_seen.sum() - np.isin(np.flatnonzero(eligible_seen),
                                                    view_votes(view, part_map, scene, AnnotateSettings(
                                                        variants=1, size=256, vote="bary"), 8).vertex).sum()
    unreached_knn = eligible_seen.sum() - np.isin(np.flatnonzero(eligible_seen), knn.vertex).sum()
    print(f"\nICT frontal 256px: seen eligible vertices without a vote: bary {unreached_exact}, knn {unreached_knn}")
    assert unreached_exact < unreached_knn


def test_majority_confidence_ties_and_none():
    votes = np.array([[3, 1], [2, 2], [0, 0], [1, 0], [1, 0]])
    none = np.array([0, 0, 0, 2, 1])
    labels, conf = majority(votes, none)
    assert labels.tolist() == [0, 0, -1, -1, 0]
    np.testing.assert_allclose(conf, [0.75, 0.5, 0.0, 2 / 3, 0.5])


def test_union_is_every_part_ever_voted():
    votes = np.array([[3, 1], [0, 2], [0, 0]])
    assert union(votes).tolist() == [[True, True], [False, True], [False, False]]
    labels, _ = majority(votes)
    assert membership(votes, labels, "majority").tolist() == [[True, False], [False, True], [False, False]]


def _views(entries):
    out = []
    for i, (vertex, part, weight) in enumerate(entries):
        out.append(ViewVotes(i, np.array(vertex, np.int32), np.array(part, np.int16), np.array(weight, np.float32),
                             np.array(vertex, np.int32)))
    return out


def test_vote_table_sums_views_in_variant_order_whatever_order_they_come_in():
    views = _views([([0, 1], [0, 1], [0.1, 0.2]), ([1, 2], [1, 2], [0.3, 0.7]), ([0], [2], [1e-8])])
    a = vote_table(views, 3, 2)
    b = vote_table(views[::-1], 3, 2)
    assert np.array_equal(a, b)
    assert a.shape == (3, 3) and np.isclose(a[1, 1], 0.5)


def test_views_that_disagree_with_the_consensus_lose_their_weight():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 200)
    good = [(np.arange(200), truth, np.ones(200)) for _ in range(8)]
    flipped = [(np.arange(200), (truth + 1) % 3, np.ones(200)) for _ in range(2)]
    views = _views(good + flipped)
    agreement = view_agreement(views, truth, n_parts=3)
    assert np.allclose(agreement[:8], 1.0) and np.all(agreement[8:] < 0.1)
    weights = agreement_weights(agreement)
    assert np.all(weights[:8] == 1.0) and np.all(weights[8:] == 0.0)

    def labels_of(table):
        return majority(table[:, :-1], table[:, -1])[0]

    result = robust_consensus(views, 200, 3, labels_of)
    assert np.array_equal(labels_of(result.table), truth)
    assert np.allclose(result.table[:, 3], 0)


@pytest.mark.parametrize("k", [1, 3])
def test_knn_reference_path_gives_k_votes_per_pixel(renderer256, k):
    model = _plane()
    scene, view = _view(model, renderer256)
    part_map = np.where(view.fragments.mask, 0, -1).astype(np.int16)
    votes = view_votes(view, part_map, scene, _settings(vote="knn", k=k, view_weight="none"), n_parts=1)
    assert np.isclose(votes.weight.sum(), k * view.fragments.mask.sum())


@pytest.mark.parametrize("vote", ["nearest", "bary"])
def test_votes_from_the_renderers_surface_equal_the_host_geometry_path(vote, ict_model):
    """moderngl hands the vote each pixel's barycentrics and view-angle cosine; without them (pyrender) the
    host computes both. On the same render the two paths cast the same votes."""
    from facepart.annotate.variants import SamplingSettings, sample_variant
    from facepart.renderers.base import make_renderer
    from facepart.renderers.fragments import pixel_corners
    from facepart.segmenters.oracle import nearest_corner_labels

    settings = _settings(vote=vote)
    scene = make_scene(ict_model, 256, eyeballs=True)
    labels = (np.arange(ict_model.n_vertices) % 3).astype(np.int16)  # three interleaved parts: many boundaries
    with make_renderer("moderngl", 256) as r:
        for index in (0, 3):
            variant = sample_variant(ict_model, SamplingSettings(), seed=1, index=index)
            gpu = render_view(ict_model, variant, scene, r, shade=False)
            assert gpu.fragments.bary is not None and gpu.fragments.facing is not None
            frag = gpu.fragments._replace(bary=None, facing=None)
            host = gpu._replace(fragments=frag, pixels=pixel_corners(frag, scene.triangles, gpu.uv, gpu.depth))
            part_map = nearest_corner_labels(host, labels)
            a = view_votes(gpu, part_map, scene, settings, 3)
            b = view_votes(host, part_map, scene, settings, 3)
            np.testing.assert_array_equal(a.visible, b.visible)
            ta = np.zeros((ict_model.n_vertices, 4))
            tb = np.zeros((ict_model.n_vertices, 4))
            np.add.at(ta, (a.vertex, a.part), a.weight)
            np.add.at(tb, (b.vertex, b.part), b.weight)
            # a pixel centre within float rounding of a median line may pick the other corner
            assert np.abs(ta - tb).sum() < 1e-3 * ta.sum()
