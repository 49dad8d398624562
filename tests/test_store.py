"""The checkpoint folder: what a resumed run finds in it."""

import numpy as np

from facepart.annotate.store import Checkpoint
from facepart.annotate.vote import ViewVotes


def _view(index: int) -> ViewVotes:
    ids = np.array([index, index + 1], np.int32)
    return ViewVotes(index, ids, np.array([0, 1], np.int16), np.array([1.0, 0.5], np.float32), ids)


def test_a_save_after_a_deleted_checkpoint_file_overwrites_nothing(tmp_path):
    run = Checkpoint(tmp_path / "checkpoint", key="run", n_vertices=100, n_parts=2)
    for batch in ([0, 1], [2, 3], [4, 5]):
        assert run.save([_view(i) for i in batch])
    (tmp_path / "checkpoint" / "part-000001.npz").unlink()  # a user removed a damaged file

    resumed = Checkpoint(tmp_path / "checkpoint", key="run", n_vertices=100, n_parts=2)
    assert [v.index for v in resumed.load()] == [0, 1, 4, 5]
    assert resumed.save([_view(2), _view(3)])  # the views of the deleted file, computed again

    again = Checkpoint(tmp_path / "checkpoint", key="run", n_vertices=100, n_parts=2).load()
    assert [v.index for v in again] == [0, 1, 2, 3, 4, 5]
    assert all(np.array_equal(v.vertex, _view(v.index).vertex) for v in again)
