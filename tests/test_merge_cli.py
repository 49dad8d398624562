"""Command-line input checks of `facepart merge`, `render` and `vote`: one line, exit 1, no output folder."""

import pytest
from click.testing import CliRunner

from facepart.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_merge_of_shards_from_two_runs_fails_and_makes_no_folder(tmp_path):
    tiny = ("--variants", 2, "--size", 32, "--eval-views", 0, "--no-preview", "--workers", 1)
    for shard, variants in (("0/2", 2), ("1/2", 4)):
        made = run("annotate", "demo", "--out", tmp_path / f"v{variants}", *tiny[2:], "--variants", variants,
                   "--shard", shard)
        assert made.exit_code == 0, made.output
    r = run("merge", tmp_path / "v2" / "shard-0-of-2.npz", tmp_path / "v4" / "shard-1-of-2.npz", "--model", "demo",
            "--out", tmp_path / "new" / "out")
    assert r.exit_code == 1 and "shard-1-of-2.npz: this and " in r.output
    assert "different runs (its run has 4 variants" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("yaw", [-5, 0])
def test_render_refuses_a_negative_or_zero_yaw(tmp_path, yaw):
    r = run("render", "demo", "--out", tmp_path / "out", "--variants", 1, "--size", 32, "--yaw", yaw)
    assert r.exit_code == 1 and f"--yaw must be a finite angle within 0..180 degrees, more than 0 (the range is " \
        f"+-YAW), got {yaw}" in r.output
    assert not (tmp_path / "out").exists()


def test_merge_names_an_annotation_given_for_a_shard_and_tolerance_0_is_refused_plainly(tmp_path):
    made = run("annotate", "demo", "--out", tmp_path / "run", "--variants", 2, "--size", 32, "--eval-views", 0)
    assert made.exit_code == 0, made.output
    r = run("merge", tmp_path / "run" / "annotation.npz", "--model", "demo", "--out", tmp_path / "m")
    assert r.exit_code == 1 and "annotation.npz: not a facepart votes file: expected a shard-I-of-N.npz" in r.output
    r = run("annotate", "demo", "--out", tmp_path / "t", "--until-stable", "--tolerance", 0)
    assert r.exit_code != 0 and "must be a percentage more than 0 and under 100, got 0" in r.output


def test_vote_says_when_the_masks_folder_holds_no_png(tmp_path):
    made = run("render", "demo", "--out", tmp_path / "set", "--variants", 1, "--size", 32)
    assert made.exit_code == 0, made.output
    (tmp_path / "set" / "masks").mkdir(exist_ok=True)
    (tmp_path / "set" / "masks" / "000000.jpg").write_bytes(b"not a png")
    r = run("vote", "demo", "--masks", tmp_path / "set", "--out", tmp_path / "out")
    assert r.exit_code == 1 and "masks: no mask PNGs found" in r.output and "+y up" not in r.output
    assert not (tmp_path / "out").exists()
