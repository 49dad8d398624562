"""Voting and assignment on hand-made inputs with hand-computed answers."""

import numpy as np

from facepart.annotate.assign import majority, membership, union
from facepart.annotate.vote import vote


def test_each_labelled_pixel_votes_for_its_nearest_visible_vertex():
    part_map = np.full((4, 4), -1, np.int16)
    part_map[0, 0] = 1  # pixel centre (0.5, 0.5)
    part_map[3, 3] = 0  # pixel centre (3.5, 3.5)
    uv = np.array([[0.6, 0.4], [3.4, 3.6], [3.5, 3.5]])
    visible = np.array([True, True, False])  # vertex 2 is exactly on pixel (3,3) but hidden
    votes = vote(part_map, uv, visible, n_parts=2)
    assert votes.shape == (3, 3)
    assert votes[0].tolist() == [0, 1, 0]
    assert votes[1].tolist() == [1, 0, 0]
    assert votes[2].sum() == 0


def test_k_nearest_each_get_a_vote_and_masks_apply():
    part_map = np.zeros((1, 3), np.int16)  # three pixels of part 0
    uv = np.array([[0.5, 0.5], [1.5, 0.5], [2.5, 0.5], [9.0, 9.0]])
    votes = vote(part_map, uv, np.ones(4, bool), n_parts=1, k=2)
    assert votes[:, 0].sum() == 6 and votes[3, 0] == 0
    pixel_mask = np.array([[True, False, False]])
    votes = vote(part_map, uv, np.ones(4, bool), n_parts=1, k=1, pixel_mask=pixel_mask)
    assert votes[:, 0].tolist() == [1, 0, 0, 0]


def test_unlabelled_pixels_on_the_model_vote_none():
    part_map = np.array([[0, -1, -1]], np.int16)
    uv = np.array([[0.5, 0.5], [2.5, 0.5]])
    on_model = np.array([[True, True, False]])
    votes = vote(part_map, uv, np.ones(2, bool), n_parts=1, none_mask=on_model)
    # pixel 1 (centre 1.5) is equidistant: the KD-tree picks one; pixel 2 is off the model
    assert votes[:, 1].sum() == 1 and votes[:, 0].tolist() == [1, 0]


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
