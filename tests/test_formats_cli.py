"""`facepart annotate` and `facepart info` on layout-exact files of several formats."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from facepart.cli import main
from facepart.data.annotation import load_annotation
from facepart.data.parts import PAPER_PARTS
from test_formats_layouts import (  # noqa: F401 - face_source is a fixture
    face_source, faceverse_v3_dict, write_3ddfa_v2, write_3ddfa_v3, write_bfm2009, write_bfm2017, write_deep3d,
    write_flame, write_flame_masks)


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def files(face_source, tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    out = {}
    (root / "bfm").mkdir()
    out["bfm2009"] = write_bfm2009(root / "bfm", face_source)
    out["deep3d"] = write_deep3d(root / "BFM_model_front.mat", face_source)
    out["3ddfa-v3"] = write_3ddfa_v3(root / "face_model.npy", face_source)
    (root / "v2").mkdir()
    out["3ddfa-v2"] = write_3ddfa_v2(root / "v2", face_source)
    out["bfm2017"] = write_bfm2017(root / "model2017-1_bfm_nomouth.h5", face_source)
    np.save(root / "faceverse_v3.npy", faceverse_v3_dict(face_source), allow_pickle=True)
    out["faceverse"] = root / "faceverse_v3.npy"
    (root / "flame").mkdir()
    write_flame_masks(root / "flame", face_source)
    out["flame"] = write_flame(root / "flame", face_source, n_shape=6, n_exp=5)
    truth = root / "parts.json"
    truth.write_text(json.dumps({k: v.tolist() for k, v in face_source.parts.items()}))
    out["truth"] = truth
    out["root"] = root
    return out


@pytest.mark.parametrize("fmt", ["bfm2009", "deep3d", "3ddfa-v3", "3ddfa-v2", "bfm2017", "faceverse", "flame"])
def test_info_names_format_topology_counts_bases_units(files, face_source, fmt):
    extra = ["-O", "n_shape=6"] if fmt == "flame" else []
    result = run("info", files[fmt], *extra)
    assert result.exit_code == 0, result.output
    text = result.output
    assert f"({fmt}" in text
    assert f"{face_source.n} vertices, {len(face_source.triangles)} triangles" in text
    assert "bases: identity" in text and "units: metres (source: " in text


@pytest.mark.parametrize("fmt", ["bfm2009", "deep3d", "3ddfa-v3", "3ddfa-v2", "bfm2017", "faceverse", "flame"])
def test_annotate_end_to_end(files, face_source, tmp_path, fmt):
    extra = ["-O", "n_shape=6"] if fmt == "flame" else []
    out = tmp_path / "out"
    result = run("annotate", files[fmt], "--out", out, "--variants", 3, "--size", 128, "--truth", files["truth"],
                 "--no-preview", *extra)
    assert result.exit_code == 0, result.output
    ann = load_annotation(out)
    assert ann.n_vertices == face_source.n
    assert ann.settings["model"]["format"] == fmt
    assert (ann.visible_count > 0).sum() > face_source.n // 4
    seen = ann.visible_count > 0
    assert (ann.labels[seen] >= 0).mean() > 0.5


def test_annotate_with_the_files_own_annotation_as_truth_and_a_texture(files, tmp_path):
    """info --export-regions writes 3DDFA-V3's own annotation as a parts.json that annotate can use."""
    from PIL import Image

    regions = tmp_path / "regions"
    result = run("info", files["3ddfa-v3"], "--export-regions", regions)
    assert result.exit_code == 0, result.output
    assert "existing regions: 3DDFA-V3 annotation (8 regions" in result.output
    exported = regions / "3DDFA-V3_annotation.parts.json"
    assert set(json.loads(exported.read_text())) == set(PAPER_PARTS)
    Image.fromarray(np.full((32, 32, 3), 180, np.uint8)).save(tmp_path / "skin.png")
    result = run("annotate", files["3ddfa-v3"], "--out", tmp_path / "out", "--variants", 3, "--size", 128,
                 "--truth", exported, "--no-preview", "--texture", tmp_path / "skin.png")
    assert result.exit_code == 0, result.output
    assert "Agreement with the oracle" in result.output


def test_info_on_index_map(tmp_path):
    import scipy.io

    scipy.io.savemat(tmp_path / "BFM_front_idx.mat",
                     {"idx": (np.arange(35709) + 1).reshape(-1, 1).astype(np.float32)})
    result = run("info", tmp_path / "BFM_front_idx.mat")
    assert result.exit_code == 0, result.output
    assert "35709 vertices -> one of 53215" in result.output and "BFM front" in result.output


def test_cli_errors_are_one_line(files, tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    bad = tmp_path / "generic_model.pkl"
    bad.write_bytes(pickle.dumps({"v_template": Evil()}))
    for args in (["info", bad], ["info", files["flame"], "-O", "jaw_open=wide"],
                 ["info", files["deep3d"], "-O", "nonsense"], ["info", files["deep3d"], "-O", "topology=3"],
                 ["info", files["bfm2009"], "-O", "topology=123"]):
        result = CliRunner().invoke(main, [str(a) for a in args])
        assert result.exit_code == 1, (args, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["info", str(bad)])
    assert "refused" in result.output and "pwned" not in result.output


def test_info_on_a_region_file(files):
    result = run("info", files["flame"].parent / "FLAME_masks.pkl")
    assert result.exit_code == 0, result.output
    assert "region file" in result.output and "existing regions: FLAME_masks (7 regions" in result.output
