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


def test_a_first_save_on_a_full_disk_leaves_no_empty_checkpoint_folder(tmp_path, monkeypatch):
    import errno

    from facepart.annotate import store

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "write_votes", full_disk)
    run = Checkpoint(tmp_path / "run" / "checkpoint", key="run", n_vertices=100, n_parts=2)
    assert not run.save([_view(0)]) and "No space left" in run.failed
    assert not (tmp_path / "run" / "checkpoint").exists()  # so a failed run's folder can be removed too
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "part-000000.npz").write_bytes(b"an earlier part")
    kept = Checkpoint(tmp_path / "kept", key="run", n_vertices=100, n_parts=2)
    assert not kept.save([_view(1)]) and (tmp_path / "kept" / "part-000000.npz").is_file()  # never an old one


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


def test_a_checkpoint_of_another_renderer_is_not_resumed(demo_model, demo_truth, tmp_path):
    # pyrender and moderngl rasterise edges differently: their views' votes differ, so they are not mixed
    from facepart.data.parts import PartTable
    from facepart.renderers.base import make_renderer
    from facepart.segmenters.oracle import OracleSegmenter

    oracle = OracleSegmenter(demo_truth, PartTable.paper())
    settings = AnnotateSettings(variants=3, size=64)
    for name, resumed in (("moderngl", 0), ("moderngl", 3), ("pyrender", 0), ("pyrender", 3)):
        with make_renderer(name, 64) as renderer:
            run = annotate(demo_model, oracle, settings, renderer=renderer, checkpoint=tmp_path / "checkpoint")
        assert run.stats.resumed_from == resumed, name
    assert run_key(demo_model, settings, "oracle", renderer="pyrender") != \
        run_key(demo_model, settings, "oracle", renderer="moderngl")


@pytest.fixture(scope="module")
def shards(demo_model, demo_truth, tmp_path_factory):
    """Shards 0/2 and 1/2 of one run, 1/3 of the same run cut in three, 1/2 of a run with 6 variants."""
    from facepart.data.parts import PartTable
    from facepart.segmenters.oracle import OracleSegmenter
    from facepart.workflow import annotate_shard

    oracle = OracleSegmenter(demo_truth, PartTable.paper())
    root = tmp_path_factory.mktemp("shards")
    run = lambda shard, variants=4: annotate_shard(demo_model, oracle, AnnotateSettings(variants=variants, size=32),
                                                   shard, root / f"v{variants}")
    return {"0/2": run((0, 2)), "1/2": run((1, 2)), "1/3": run((1, 3)), "1/2 of 6": run((1, 2), 6)}


@pytest.mark.parametrize("pair, says", [(("0/2", "1/3"), "one of 3 shards"), (("0/2", "1/2 of 6"), "6 variants"),
                                        (("0/2", "0/2"), "given twice"), (("0/2",), "1/2 of the run")])
def test_merge_takes_only_every_shard_of_one_run_once(demo_model, shards, tmp_path, pair, says):
    from facepart.errors import FacepartError
    from facepart.workflow import merge_shards

    with pytest.raises(FacepartError, match=says):
        merge_shards([shards[s] for s in pair], demo_model, tmp_path / "out", preview=False)
    assert not (tmp_path / "out").exists()  # no empty output folder left behind
    assert merge_shards([shards["0/2"], shards["1/2"]], demo_model, tmp_path / "ok", preview=False).files


@pytest.mark.parametrize("field, value, says", [("shard", "abc", "'shard' must be"), ("shard", [0, 10**12], "'shard'"),
                                                ("parts", "abc", "'parts' must be"), ("shard", [0, 0], "'shard'")])
def test_merge_names_the_shard_whose_header_is_bad(demo_model, shards, tmp_path, field, value, says):
    from facepart.annotate.store import read_votes, write_votes
    from facepart.errors import FacepartError
    from facepart.workflow import merge_shards

    header, views = read_votes(shards["0/2"])
    bad = write_votes(tmp_path / "bad.npz", header["key"], views, {**header, field: value})
    with pytest.raises(FacepartError, match=f"bad.npz: .*{says}"):
        merge_shards([bad, shards["1/2"]], demo_model, tmp_path / "out")


def test_a_shard_whose_voting_view_claims_another_status_is_refused(demo_model, shards, tmp_path):
    """A view that carries votes must say it voted: otherwise its votes would count while the run reports
    it as skipped (the summary's parsed-views figure would be wrong)."""
    from facepart.annotate.store import read_votes, write_votes
    from facepart.errors import FacepartError
    from facepart.workflow import merge_shards

    header, views = read_votes(shards["0/2"])
    views[0] = views[0]._replace(status="garbage")
    bad = write_votes(tmp_path / "bad.npz", header["key"], views, header)
    with pytest.raises(FacepartError, match="bad.npz: .*status 'garbage'.* carries votes"):
        merge_shards([bad, shards["1/2"]], demo_model, tmp_path / "out")


def test_a_finished_run_keeps_another_interrupted_run_s_views_in_the_folder(demo_model, tmp_path):
    # before: a run with other settings into the folder of an interrupted run finished by deleting the whole
    # checkpoint, the other run's views with it, and said nothing
    import facepart

    other = Checkpoint(tmp_path / ".facepart-checkpoint", key="another run", n_vertices=demo_model.n_vertices,
                       n_parts=8)
    assert other.save([_view(0), _view(1), _view(2)])
    seg = facepart.make_segmenter("oracle", model=demo_model)
    result = facepart.annotate_model(demo_model, seg, AnnotateSettings(variants=3, size=64), out=tmp_path,
                                     eval_views=0, preview=False)
    kept = Checkpoint(tmp_path / ".facepart-checkpoint", key="another run", n_vertices=demo_model.n_vertices,
                      n_parts=8).load()
    assert [v.index for v in kept] == [0, 1, 2]
    this_run = result.annotation.settings["run_key"]
    assert Checkpoint(tmp_path / ".facepart-checkpoint", key=this_run).load() == []  # its own views are gone
    note = result.summary_lines("demo")[-1]
    assert note.startswith(f"note: {tmp_path / '.facepart-checkpoint'} keeps 3 views of another interrupted run")
    # without another run's views the folder goes, and no note is printed
    (tmp_path / "again").mkdir()
    result = facepart.annotate_model(demo_model, seg, AnnotateSettings(variants=3, size=64), out=tmp_path / "again",
                                     eval_views=0, preview=False)
    assert not (tmp_path / "again" / ".facepart-checkpoint").exists()
    assert not any(line.startswith("note:") for line in result.summary_lines("demo"))


def test_a_run_whose_views_all_came_from_the_checkpoint_gives_no_speed(demo_model, demo_truth, tmp_path):
    # before: "4 variants in 0.0 s (0.0 variants/s for render+segment+vote...; 4 resumed from a checkpoint)"
    from facepart.data.parts import PartTable
    from facepart.segmenters.oracle import OracleSegmenter
    from facepart.workflow import RunResult

    oracle = OracleSegmenter(demo_truth, PartTable.paper())
    settings = AnnotateSettings(variants=4, size=64)
    annotate(demo_model, oracle, settings, checkpoint=tmp_path / "checkpoint")
    again = annotate(demo_model, oracle, settings, checkpoint=tmp_path / "checkpoint")
    assert again.stats.resumed_from == 4
    lines = RunResult(again.annotation, again.stats, None, None, None, "", [], []).summary_lines("demo")
    assert "4 variants, all resumed from a checkpoint (no view computed)." in lines
    assert not any("variants/s" in line for line in lines)
