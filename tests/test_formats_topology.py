"""BFM topology tools: index maps from the files users hold, chains of maps, label transfer, topology names."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from facepart.data import load_model
from facepart.data.bfm_topology import (FRONT_KEYPOINTS_68, IndexMap, find_chain, read_index_map, topology_name,
                                        transfer_annotation, transfer_labels, transfer_regions)
from facepart.data.parts import PartTable
from facepart.data.regions import RegionSet
from facepart.data.topology import Fingerprint
from facepart.errors import FacepartError


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """Index files of the real sizes (random subsets), written in their documented layouts."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("maps")
    trim = np.sort(rng.choice(53490, 53215, replace=False))  # 53215 -> 53490
    front = np.sort(rng.choice(53215, 35709, replace=False))  # 35709 -> 53215
    noneck = np.sort(rng.choice(53215, 38365, replace=False))  # 38365 -> 53215
    select = trim[front]  # 35709 -> 53490
    scipy.io.savemat(folder / "BFM_exp_idx.mat", {"trimIndex": (trim + 1).reshape(-1, 1).astype(np.uint16)})
    scipy.io.savemat(folder / "BFM_front_idx.mat", {"idx": (front + 1).reshape(-1, 1).astype(np.float32)})
    scipy.io.savemat(folder / "select_vertex_id.mat", {"select_id": (select + 1).reshape(-1, 1).astype(np.uint16)})
    np.save(folder / "indices_53215_35709.npy", front.astype(np.int64))
    np.save(folder / "indices_53490_35709.npy", select.astype(np.int64))
    np.save(folder / "indices.npy", noneck.astype(np.int32))  # 3DDFA_V2 configs/indices.npy
    return folder, {"trim": trim, "front": front, "noneck": noneck, "select": select}


def test_read_deep3d_and_3ddfa_maps(maps):
    folder, ref = maps
    m = read_index_map(folder / "BFM_exp_idx.mat")
    assert (m.n_child, m.n_parent) == (53215, 53490)
    np.testing.assert_array_equal(m.parent_index, ref["trim"])
    m = read_index_map(folder / "BFM_front_idx.mat")
    assert (m.n_child, m.n_parent) == (35709, 53215)
    np.testing.assert_array_equal(m.parent_index, ref["front"])
    m = read_index_map(folder / "select_vertex_id.mat")
    assert (m.n_child, m.n_parent) == (35709, 53490)
    m = read_index_map(folder / "indices_53215_35709.npy")
    assert (m.n_child, m.n_parent) == (35709, 53215)
    np.testing.assert_array_equal(m.parent_index, ref["front"])
    m = read_index_map(folder / "indices.npy")
    assert (m.n_child, m.n_parent) == (38365, 53215)


def test_chain_equals_direct_map(maps):
    folder, ref = maps
    exp_idx, front_idx, select = (read_index_map(folder / f) for f in
                                  ("BFM_exp_idx.mat", "BFM_front_idx.mat", "select_vertex_id.mat"))
    chain = find_chain([exp_idx, front_idx], 35709, 53490)
    assert [m.n_child for m in chain] == [35709, 53215]
    labels = np.random.default_rng(0).integers(0, 8, 35709)
    via_chain = transfer_labels(labels, [exp_idx, front_idx], 53490)
    direct = transfer_labels(labels, [select], 53490)
    np.testing.assert_array_equal(via_chain, direct)
    assert (direct >= 0).sum() == 35709
    back = transfer_labels(direct, [select], 35709)  # and back again
    np.testing.assert_array_equal(back, labels)
    # 35709 -> 38365 through the shared 53215 parent: only vertices in both subsets keep a label
    noneck = read_index_map(folder / "indices.npy")
    to_noneck = transfer_labels(labels, [front_idx, noneck], 38365)
    both = np.intersect1d(ref["front"], ref["noneck"])
    assert (to_noneck >= 0).sum() == len(both)


def test_transfer_regions_and_annotation(maps):
    folder, ref = maps
    select = read_index_map(folder / "select_vertex_id.mat")
    regions = {"nose": np.arange(100), "skin": np.arange(100, 300)}
    out = transfer_regions(regions, 35709, [select], 53490)
    np.testing.assert_array_equal(out["nose"], np.sort(ref["select"][:100]))
    parts = PartTable.from_names(["nose", "skin"])
    rs = RegionSet("test", regions)
    fp_front = Fingerprint.of(35709, np.zeros((1, 3), np.int64))
    ann = rs.to_annotation(fp_front, parts)
    fp_full = Fingerprint.of(53490, np.ones((1, 3), np.int64))
    moved = transfer_annotation(ann, [select], fp_full)
    assert moved.fingerprint == fp_full and moved.n_vertices == 53490
    assert (moved.labels == 0).sum() == 100 and moved.votes.shape == (53490, 2)
    assert moved.settings["transferred_from"]["n_vertices"] == 35709


def test_bad_maps_are_clear_errors(tmp_path, maps):
    folder, _ = maps
    np.save(tmp_path / "indices_53215_35709.npy", np.arange(10))
    with pytest.raises(FacepartError, match="one entry per vertex"):
        read_index_map(tmp_path / "indices_53215_35709.npy")
    scipy.io.savemat(tmp_path / "other.mat", {"foo": np.ones(3)})
    with pytest.raises(FacepartError, match="not a BFM index map"):
        read_index_map(tmp_path / "other.mat")
    with pytest.raises(FacepartError, match="no chain"):
        find_chain([read_index_map(folder / "BFM_exp_idx.mat")], 35709, 53490)
    with pytest.raises(FacepartError, match="links"):
        IndexMap(3, 5, np.arange(3)).pairs(4, 5)


def test_topology_names():
    for n in (53490, 53215, 38365, 35709):
        assert str(f"{n:,}") in topology_name(n)
    assert topology_name(1234) is None


def test_mesh_with_a_bfm_vertex_count_is_named(tmp_path):
    rng = np.random.default_rng(0)
    n = 35709
    v = rng.standard_normal((n, 3)) * 0.05
    lines = [f"v {a:.5f} {b:.5f} {c:.5f}" for a, b, c in v] + ["f 1 2 3", "f 3 2 4"]
    (tmp_path / "recon.obj").write_text("\n".join(lines))
    model = load_model(tmp_path / "recon.obj")
    assert "35,709" in model.meta["topology"] and "vertex count" in model.meta["topology"]


def test_bfm2009_full_size_gets_deep3d_landmarks(maps, tmp_path):
    """With select_vertex_id.mat beside a 53,490-vertex model, the 68 Deep3D keypoints are mapped onto it."""
    folder, ref = maps
    rng = np.random.default_rng(1)
    n = 53490
    mu = rng.standard_normal((n, 3)) * 5e4
    scipy.io.savemat(tmp_path / "01_MorphableModel.mat", {
        "shapeMU": mu.reshape(-1, 1).astype(np.float32), "shapePC": np.zeros((3 * n, 1), np.float32),
        "shapeEV": np.ones((1, 1), np.float32), "tl": np.array([[1, 3, 2], [2, 3, 4]], np.float64)})
    (tmp_path / "select_vertex_id.mat").write_bytes((folder / "select_vertex_id.mat").read_bytes())
    model = load_model(tmp_path / "01_MorphableModel.mat")
    np.testing.assert_array_equal(model.landmarks68, ref["select"][FRONT_KEYPOINTS_68 - 1])
    assert model.meta["topology"].startswith("BFM 2009 full")
    front = load_model(tmp_path / "01_MorphableModel.mat", topology=35709)
    assert front.n_vertices == 35709
    np.testing.assert_array_equal(front.landmarks68, FRONT_KEYPOINTS_68 - 1)
