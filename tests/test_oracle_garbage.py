"""The oracle's garbage views: the share and kinds asked for, reproducible, and each kind what it says."""

import numpy as np
import pytest

from facepart.annotate.pipeline import make_scene, render_view
from facepart.annotate.variants import frontal_variant
from facepart.data.parts import IGNORE, PartTable
from facepart.errors import FacepartError
from facepart.segmenters.oracle import (GARBAGE_KINDS, OracleNoise, OracleSegmenter, garbage_kind,
                                        nearest_corner_labels)

PARTS = PartTable.paper()


def only_garbage(kinds=GARBAGE_KINDS, share=1.0) -> OracleNoise:
    """No parser-like noise, so a garbage map can be compared with the exact one."""
    return OracleNoise(jitter=0.0, islands=0.0, drop_thin=0.0, garbage=share, garbage_kinds=kinds)


@pytest.fixture(scope="module")
def view(demo_model, renderer256):
    return render_view(demo_model, frontal_variant(3), make_scene(demo_model, 256), renderer256, shade=False)


@pytest.mark.parametrize("share", [0.05, 0.15, 0.5])
def test_the_share_of_garbage_views_is_the_one_asked_for_in_any_stretch_of_views(share):
    noise = OracleNoise(garbage=share)
    for seed in range(4):
        is_garbage = np.array([garbage_kind(noise, seed, i) is not None for i in range(400)])
        for start, n in ((0, 50), (0, 400), (123, 200)):
            got = is_garbage[start:start + n].sum()
            assert abs(got - share * n) <= 3.5, (seed, start, n, got)


def test_garbage_kinds_are_drawn_evenly_from_those_asked_for():
    kinds = [garbage_kind(OracleNoise(garbage=0.5), 7, i) for i in range(3000)]
    counts = {k: kinds.count(k) for k in GARBAGE_KINDS}
    assert sum(counts.values()) == pytest.approx(1500, abs=4)
    for k, c in counts.items():  # 500 expected each; a binomial sd is about 18
        assert 420 < c < 580, counts
    only_shift = {garbage_kind(OracleNoise(garbage=0.5, garbage_kinds=("shift",)), 7, i) for i in range(200)}
    assert only_shift == {"shift", None}
    assert {garbage_kind(OracleNoise(), 7, i) for i in range(200)} == {None}
    assert None not in {garbage_kind(OracleNoise(garbage=1.0), 7, i) for i in range(200)}


def test_garbage_views_are_reproducible_and_depend_on_the_seed():
    noise = OracleNoise(garbage=0.15)
    run = [garbage_kind(noise, 1, i) for i in range(300)]
    assert run == [garbage_kind(noise, 1, i) for i in range(300)]
    assert run != [garbage_kind(noise, 2, i) for i in range(300)]
    # a view's kind does not depend on which other views were asked about (resumed runs)
    assert [garbage_kind(noise, 1, i) for i in range(150, 300)] == run[150:]


def test_mirror_garbage_is_the_exact_map_flipped_left_right(view, demo_truth):
    exact = nearest_corner_labels(view, demo_truth.astype(np.int16))
    seg = OracleSegmenter(demo_truth, PARTS, only_garbage(("mirror",)), seed=0)
    out = seg.part_map(view)
    assert seg.garbage_kind(view.index) == "mirror"
    assert np.array_equal(out, exact[:, ::-1])
    assert not np.array_equal(out, exact)  # the demo's left and right parts trade places


def test_shift_garbage_moves_the_map_by_a_tenth_to_a_quarter_of_the_image(view, demo_truth):
    exact = nearest_corner_labels(view, demo_truth.astype(np.int16))
    size = exact.shape[0]
    for seed in range(6):
        out = OracleSegmenter(demo_truth, PARTS, only_garbage(("shift",)), seed=seed).part_map(view)
        # find the translation that reproduces `out` from the exact map
        found = None
        for dy in range(-size // 4 - 1, size // 4 + 2):
            rows = exact[max(-dy, 0):size + min(-dy, 0)]
            target = out[max(dy, 0):size + min(dy, 0)]
            for dx in range(-size // 4 - 1, size // 4 + 2):
                moved = rows[:, max(-dx, 0):size + min(-dx, 0)]
                if np.array_equal(target[:, max(dx, 0):size + min(dx, 0)], moved):
                    found = (dy, dx)
                    break
            if found:
                break
        assert found is not None, seed
        assert 0.1 * size - 1 <= np.hypot(*found) <= 0.25 * size + 1, found
        # what moved in from outside the image is "ignore"
        dy, dx = found
        uncovered = np.ones_like(out, bool)
        uncovered[max(dy, 0):size + min(dy, 0), max(dx, 0):size + min(dx, 0)] = False
        assert np.all(out[uncovered] == IGNORE)


def test_wrong_class_garbage_gives_every_part_another_part(view, demo_truth):
    exact = nearest_corner_labels(view, demo_truth.astype(np.int16))
    for seed in range(5):
        out = OracleSegmenter(demo_truth, PARTS, only_garbage(("wrong_class",)), seed=seed).part_map(view)
        assert np.array_equal(out == IGNORE, exact == IGNORE)
        mapping = {}
        for p in np.unique(exact[exact >= 0]):
            got = np.unique(out[exact == p])
            assert len(got) == 1 and got[0] != p and got[0] >= 0  # one other part, everywhere
            mapping[int(p)] = int(got[0])
        assert len(set(mapping.values())) == len(mapping)  # a permutation: two parts never merge


def test_regular_views_are_unchanged_by_the_garbage_option(view, demo_truth):
    noise = OracleNoise(garbage=0.15)
    regular = next(s for s in range(100) if garbage_kind(noise, s, view.index) is None)
    garbage = next(s for s in range(100) if garbage_kind(noise, s, view.index) is not None)
    for seed, same in ((regular, True), (garbage, False)):
        plain = OracleSegmenter(demo_truth, PARTS, OracleNoise(), seed=seed)
        with_garbage = OracleSegmenter(demo_truth, PARTS, noise, seed=seed)
        assert np.array_equal(plain.part_map(view), with_garbage.part_map(view)) == same, seed
    assert "garbage" not in plain.describe() and "garbage" in with_garbage.describe()


def test_bad_garbage_settings_are_one_clear_error():
    with pytest.raises(FacepartError, match="share in 0..1"):
        OracleNoise(garbage=1.5)
    with pytest.raises(FacepartError, match="garbage kinds must be some of"):
        OracleNoise(garbage=0.1, garbage_kinds=("upside_down",))
    with pytest.raises(FacepartError, match="garbage kinds must be some of"):
        OracleNoise(garbage=0.1, garbage_kinds=())


def test_garbage_views_are_refused_for_an_image_parser_by_the_library_too(demo_model):
    from facepart.segmenters import make_segmenter

    with pytest.raises(FacepartError, match="--garbage applies to the oracle segmenter only"):
        make_segmenter("mediapipe", model=demo_model, garbage=0.15)
    assert make_segmenter(" Oracle ", model=demo_model, garbage=0.15).noise.garbage == 0.15
