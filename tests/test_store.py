"""The checkpoint folder and the run key: what a resumed run may take from it."""

import dataclasses

import numpy as np
import pytest

from facepart.annotate.pipeline import annotate, run_key
from facepart.annotate.settings import AnnotateSettings
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


def _changed(model, what: str):
    """A copy of ``model`` with one thing a render depends on changed, its topology kept."""
    if what == "copy":
        return dataclasses.replace(model, vertices=model.vertices.copy())
    if what == "turned":  # the same mesh loaded in other axes (-O up=... front=...)
        return dataclasses.replace(model, vertices=model.vertices[:, [0, 2, 1]] * [1, 1, -1])
    if what == "unit":
        return dataclasses.replace(model, vertices=model.vertices * 10)
    if what == "colours":
        return dataclasses.replace(model, albedo=np.full((model.n_vertices, 3), 0.5, np.float32))
    if what == "expressions":
        return dataclasses.replace(model, expression_basis=model.expression_basis[:-1])
    raise ValueError(what)


@pytest.mark.parametrize("what", ["turned", "unit", "colours", "expressions"])
def test_the_run_key_changes_with_the_model_s_content_not_only_its_topology(demo_model, what):
    settings = AnnotateSettings(variants=4, size=96)
    key = run_key(demo_model, settings, "oracle")
    assert run_key(_changed(demo_model, "copy"), settings, "oracle") == key
    other = _changed(demo_model, what)
    assert other.fingerprint == demo_model.fingerprint  # the same topology ...
    assert run_key(other, settings, "oracle") != key  # ... but another run


def test_a_checkpoint_of_another_shape_of_the_same_mesh_is_not_resumed(demo_model, demo_truth, tmp_path):
    from facepart.data.parts import PartTable
    from facepart.segmenters.oracle import OracleSegmenter

    oracle = OracleSegmenter(demo_truth, PartTable.paper())
    settings = AnnotateSettings(variants=4, size=96)
    first = annotate(demo_model, oracle, settings, checkpoint=tmp_path / "checkpoint")
    assert first.stats.resumed_from == 0
    again = annotate(demo_model, oracle, settings, checkpoint=tmp_path / "checkpoint")
    assert again.stats.resumed_from == 4  # the same model: every view from the checkpoint
    turned = annotate(_changed(demo_model, "turned"), oracle, settings, checkpoint=tmp_path / "checkpoint")
    assert turned.stats.resumed_from == 0  # the views of the other pose are computed, not reused
