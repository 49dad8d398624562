"""Each clean-up step on constructed part maps: it removes what it should and keeps the rest."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facepart.data.parts import PAPER_PARTS, PartTable
from facepart.errors import FacepartError
from facepart.segmenters.cleanup import (CleanupOptions, brow_tangent, clean_part_map, forehead_cut, parse_cleanup,
                                         remove_ears, remove_forehead, remove_hair, remove_islands)

PARTS = PartTable.paper()
LE, RE, LB, RB, UL, DL, NOSE, SKIN = range(8)
H = W = 200


def face() -> np.ndarray:
    """A skin ellipse with eyes, brows, nose and lips (subject's left on the image right)."""
    m = np.full((H, W), -1, np.int16)
    cv2.ellipse(m, (100, 110), (60, 80), 0, 0, 360, SKIN, -1)
    cv2.ellipse(m, (75, 90), (10, 4), 0, 0, 360, RE, -1)
    cv2.ellipse(m, (125, 90), (10, 4), 0, 0, 360, LE, -1)
    cv2.fillPoly(m, [np.array([[92, 95], [108, 95], [112, 125], [88, 125]], np.int32)], NOSE)
    cv2.ellipse(m, (100, 142), (18, 4), 0, 0, 360, UL, -1)
    cv2.ellipse(m, (100, 150), (18, 4), 0, 0, 360, DL, -1)
    return m


def add_brows(m: np.ndarray, tilt: float = 0.0) -> np.ndarray:
    """Two 5-px-thick brow bands over x 60..90 and 110..140; top edge y = 72 + tilt * (x - 100)."""
    m = m.copy()
    for x0, x1, part in ((60, 90, RB), (110, 140, LB)):
        top = [72 + tilt * (x - 100) for x in (x0, x1)]
        poly = np.array([[x0, top[0]], [x1, top[1]], [x1, top[1] + 5], [x0, top[0] + 5]])
        cv2.fillPoly(m, [np.round(poly).astype(np.int32)], part)
    return m


def changed(a, b) -> np.ndarray:
    return a != b


# --- ears --------------------------------------------------------------------------------

def test_ears_removes_ear_regions_merged_into_skin():
    m = face()
    ears = np.zeros((H, W), bool)
    cv2.ellipse(m, (38, 110), (8, 16), 0, 0, 360, SKIN, -1)  # an 11-class parser: ears are skin
    cv2.ellipse(m, (162, 110), (8, 16), 0, 0, 360, SKIN, -1)
    ear_img = np.zeros((H, W), np.uint8)
    cv2.ellipse(ear_img, (38, 110), (8, 16), 0, 0, 360, 1, -1)
    cv2.ellipse(ear_img, (162, 110), (8, 16), 0, 0, 360, 1, -1)
    ears = ear_img.astype(bool)
    out = remove_ears(m, PARTS, ears)
    assert (out[ears] == -1).all()
    assert (out[~ears] == m[~ears]).all()  # the rest untouched
    # with a margin, skin next to the ears goes too, but not further than the margin
    grown = remove_ears(m, PARTS, ears, margin_px=2)
    diff = changed(m, grown) & ~ears
    assert diff.any()
    dist = cv2.distanceTransform((~ears).astype(np.uint8), cv2.DIST_L2, 5)
    assert dist[diff].max() <= 2.5
    # ear parts of a part table that has them are kept
    parts = PartTable.from_names(PAPER_PARTS + ("left_ear",))
    m2 = m.copy()
    m2[ear_img.astype(bool) & (np.arange(W)[None, :] > 100)] = 8
    out2 = remove_ears(m2, parts, ears)
    assert (out2[m2 == 8] == 8).all() and (out2[ears & (m2 == SKIN)] == -1).all()


# --- islands -----------------------------------------------------------------------------

def test_islands_removes_small_components_and_keeps_the_rest():
    m = face()
    cv2.circle(m, (140, 150), 1, LE, -1)  # a stray left-eye blob in the cheek
    cv2.circle(m, (20, 20), 3, SKIN, -1)  # a skin speck in the background
    cv2.circle(m, (60, 120), 2, NOSE, -1)  # a nose speck in the skin
    cv2.circle(m, (40, 110), 1, RE, -1)  # a right-eye speck on the face's edge: half skin, half nothing
    out = remove_islands(m, share=0.1)
    base = face()
    # enclosed stray blobs take the label around them: skin in the cheek, nothing in the background
    assert out[150, 140] == SKIN and out[20, 20] == -1 and out[120, 60] == SKIN
    # a blob on a border between labels is just removed
    assert out[110, 40] == -1 and (out[m == RE] != RE).sum() == 5
    speck = np.zeros((H, W), np.uint8)
    cv2.circle(speck, (40, 110), 1, 1, -1)
    assert (out[speck == 0] == base[speck == 0]).all()  # everything else as it was


def test_islands_keeps_large_second_components():
    m = face()
    m[m == RE] = LE  # both eyes the same part: two components of similar size, both kept
    assert (remove_islands(m, share=0.1) == m).all()
    # a higher share drops the smaller one only if it is below that share
    m2 = m.copy()
    cv2.circle(m2, (110, 170), 1, LE, -1)
    out = remove_islands(m2, share=0.5)
    assert out[170, 110] == SKIN and (out == m).all()


# --- forehead ----------------------------------------------------------------------------

@pytest.mark.parametrize("tilt", [0.0, 0.15])
def test_forehead_drops_skin_above_the_brow_tangents(tilt):
    m = add_brows(face(), tilt)
    out = remove_forehead(m, PARTS)
    cut = forehead_cut(m, PARTS)
    rows = np.arange(H)[:, None]
    above = rows < cut[None, :] - 1e-6
    # only skin changes, and only above the cut
    diff = changed(m, out)
    assert (m[diff] == SKIN).all() and (out[diff] == -1).all()
    assert not (diff & ~above).any()
    assert not ((out == SKIN) & above).any()
    # brows, eyes and skin below the brows are kept
    for p in (LB, RB, LE, RE, NOSE, UL, DL):
        assert ((out == p) == (m == p)).all()
    assert out[100, 100] == NOSE and out[110, 70] == SKIN
    # over each brow the cut follows its top edge (the tangent), with the tilt
    for x in (65, 85, 115, 135):
        top = np.flatnonzero((m[:, x] == LB) | (m[:, x] == RB)).min()
        assert abs(cut[x] - top) <= 1.0
        assert out[top - 3, x] == -1 and m[top - 3, x] == SKIN
    assert np.isclose(cut[135] - cut[115], tilt * 20, atol=1.0)
    # skin well above the brows went, skin between the eyes stayed
    assert out[50, 100] == -1 and m[50, 100] == SKIN
    assert out[88, 100] == NOSE or out[88, 100] == SKIN


def test_forehead_with_one_brow_and_without_brows():
    m = add_brows(face())
    m[m == RB] = SKIN  # far side: only one brow visible
    out = remove_forehead(m, PARTS)
    assert out[50, 60] == -1 and out[100, 60] == SKIN
    assert (remove_forehead(face(), PARTS) == face()).all()  # no brows: nothing to cut
    assert forehead_cut(face(), PARTS) is None


def test_brow_tangent_of_an_arch():
    brow = np.zeros((40, 60), bool)
    cv2.ellipse(brow.view(np.uint8), (30, 25), (25, 10), 0, 180, 360, 1, 3)  # an arch
    a, b, x0, x1 = brow_tangent(brow)
    rows, cols = np.nonzero(brow)
    assert (rows >= a * cols + b - 1e-6).all()  # every brow pixel on or below the line
    assert np.isclose((rows - (a * cols + b)).min(), 0.0)  # and the line touches it
    assert abs(a) < 0.05 and (x0, x1) == (cols.min(), cols.max())


# --- hair --------------------------------------------------------------------------------

def test_hair_over_the_face_is_dropped_hair_elsewhere_kept():
    parts = PartTable.from_names(PAPER_PARTS + ("hair",))
    hair = 8
    m = add_brows(face())
    hair_mask = np.zeros((H, W), bool)
    hair_mask[5:30, 60:140] = True  # on top of the head, outside the face
    hair_mask[40:55, 80:120] = True  # a fringe over the forehead
    m[hair_mask] = hair
    out = remove_hair(m, parts, hair_mask, margin_px=2)
    fringe = np.zeros_like(hair_mask)
    fringe[40:55, 80:120] = True
    assert (out[fringe] == -1).all()
    assert (out[10:25, 65:135] == hair).all()  # top hair not over the face: kept
    # skin touching the fringe goes (margin), skin further away stays
    assert out[56, 100] == -1 and out[38, 100] == -1
    assert out[60, 100] == SKIN and out[47, 70] == SKIN
    diff = changed(m, out)
    dist = cv2.distanceTransform((~fringe).astype(np.uint8), cv2.DIST_L2, 5)
    assert dist[diff].max() <= 2.5


def test_hair_with_the_default_parts_trims_skin_next_to_hair():
    m = face()
    hair_mask = np.zeros((H, W), bool)
    hair_mask[40:50, 80:120] = True
    m[hair_mask] = -1  # hair is not one of the 8 parts: already ignored
    out = remove_hair(m, PARTS, hair_mask, margin_px=3)
    assert out[52, 100] == -1 and out[60, 100] == SKIN
    assert (out != m).sum() < 400  # a 3-px ring around the hair, nothing more


# --- the whole chain -----------------------------------------------------------------------

def test_clean_part_map_switches_and_reports():
    m = add_brows(face())
    cv2.circle(m, (140, 150), 1, LE, -1)
    before = m.copy()
    res = clean_part_map(m, PARTS, CleanupOptions.none())
    assert (res.part_map == m).all() and res.removed == {}
    res = clean_part_map(m, PARTS, CleanupOptions.only("islands"))
    assert set(res.removed) == {"islands"} and res.removed["islands"] > 0
    res = clean_part_map(m, PARTS)  # all steps; no ear or hair mask: those do not run
    assert set(res.removed) == {"forehead", "islands"}
    assert res.part_map.dtype == np.int16 and (m == before).all()  # the input is not changed


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_cleanup_never_invents_labels(seed):
    """On random blobby maps: every step only turns pixels into -1 or into a label already there;
    forehead only touches skin, ears only the ear region, hair only near hair."""
    rng = np.random.default_rng(seed)
    m = add_brows(face(), tilt=float(rng.uniform(-0.2, 0.2)))
    for _ in range(rng.integers(0, 8)):
        cv2.circle(m, tuple(int(v) for v in rng.integers(0, W, 2)), int(rng.integers(1, 6)), int(rng.integers(-1, 8)), -1)
    ears = np.zeros((H, W), bool)
    ears[rng.integers(0, H - 20):, :10] = True
    hair = np.zeros((H, W), bool)
    hair[: rng.integers(0, 60), :] = True
    res = clean_part_map(m, PARTS, ear_mask=ears, hair_mask=hair)
    out = res.part_map
    diff = out != m
    assert set(np.unique(out[diff]).tolist()) <= set(np.unique(m).tolist()) | {-1}
    assert set(res.removed) == {"ears", "hair", "forehead", "islands"}
    assert int(diff.sum()) <= sum(res.removed.values())
    assert (remove_forehead(m, PARTS) != m).sum() == ((remove_forehead(m, PARTS) != m) & (m == SKIN)).sum()
    e = remove_ears(m, PARTS, ears)
    assert not ((e != m) & ~ears).any()
    h = remove_hair(m, PARTS, hair, margin_px=2)
    near = cv2.dilate(hair.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert not ((h != m) & ~near).any()


def test_parse_cleanup():
    assert parse_cleanup(None) == CleanupOptions()
    assert parse_cleanup("none").steps == ()
    assert parse_cleanup("ears, islands").steps == ("ears", "islands")
    with pytest.raises(FacepartError, match="unknown clean-up step"):
        parse_cleanup("ears,nose")
