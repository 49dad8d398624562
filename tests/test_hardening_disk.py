"""A full disk and a read-only folder, on a real small tmpfs the test mounts itself (root only).

Checks: ENOSPC and EROFS are one FacepartError line naming the file; the
previous file (or set of files) stays whole; no temporary file or staging
folder is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from facepart.errors import FacepartError
from facepart.io_utils import STAGING_PREFIX, atomic_file_set, write_bytes_atomic, write_json_atomic, write_npz_atomic

SIZE = 512 * 1024  # bytes of the tmpfs


def _mount(cmd: list[str]) -> str | None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or f"exit {r.returncode}")


@pytest.fixture
def small_disk():
    """A fresh 512 KiB tmpfs; yields (folder, remount_read_only). Skipped when it cannot be mounted."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    where = Path(tempfile.mkdtemp(prefix="facepart-tmpfs-"))
    problem = _mount(["mount", "-t", "tmpfs", "-o", f"size={SIZE},mode=0755", "tmpfs", str(where)])
    if problem is not None:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here ({problem}); a container without CAP_SYS_ADMIN?")
    try:
        yield where, lambda: _mount(["mount", "-o", "remount,ro", str(where)])
    finally:
        for _ in range(3):
            if _mount(["umount", str(where)]) is None:
                break
        with contextlib.suppress(OSError):
            where.rmdir()


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _one_line(err, *needles):
    text = str(err.value)
    assert "\n" not in text, text
    for needle in needles:
        assert needle in text, text


def _fill(folder: Path) -> None:
    """Leave only a few KiB free on the tmpfs."""
    fd = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT)
    try:
        with contextlib.suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    os.truncate(folder / "ballast", os.path.getsize(folder / "ballast") - 8192)


def test_a_full_disk_is_one_line_and_keeps_the_previous_file(small_disk):
    disk, _ = small_disk
    target = disk / "annotation.npz"
    write_bytes_atomic(target, b"previous")
    _fill(disk)
    with pytest.raises(FacepartError) as err:
        write_npz_atomic(target, {"votes": np.random.default_rng(0).integers(0, 9, 100_000)})
    _one_line(err, str(target), "the disk is full", os.strerror(errno.ENOSPC))
    assert target.read_bytes() == b"previous"
    assert _listing(disk) == ["annotation.npz", "ballast"]  # no temporary file left


def test_a_read_only_folder_is_one_line_and_keeps_the_previous_file(small_disk):
    disk, read_only = small_disk
    target = disk / "parts.json"
    write_json_atomic(target, {"nose": [1, 2]})
    assert read_only() is None
    with pytest.raises(FacepartError) as err:
        write_json_atomic(target, {"nose": [3]})
    _one_line(err, str(target), "read-only", os.strerror(errno.EROFS))
    assert target.read_text().strip() == '{"nose": [1, 2]}'
    assert _listing(disk) == ["parts.json"]


def _write_set(out: Path, tag: str, big: int = 0, preview: bool = True):
    with atomic_file_set(out, members=("annotation.npz", "parts.json", "preview.png")) as stage:
        write_bytes_atomic(stage / "annotation.npz", tag.encode() + b"\0" * big)
        write_json_atomic(stage / "parts.json", {"tag": tag})
        if preview:
            (stage / "preview.png").write_bytes(tag.encode())


def _read_set(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_a_set_of_files_is_replaced_as_a_set_or_not_at_all(small_disk):
    disk, read_only = small_disk
    out = disk / "run"
    _write_set(out, "one")
    first = _read_set(out)
    assert sorted(first) == ["annotation.npz", "parts.json", "preview.png"]

    # the disk fills while the set is written: nothing of the new set appears
    with pytest.raises(FacepartError) as err:
        _write_set(out, "two", big=2 * SIZE)
    _one_line(err, str(out / "annotation.npz"), "the disk is full", f"{out} keeps its previous files")
    assert _read_set(out) == first
    assert not any(p.name.startswith(STAGING_PREFIX) for p in out.iterdir())

    # an error in the caller's code half-way through: same
    with pytest.raises(RuntimeError):
        with atomic_file_set(out) as stage:
            (stage / "annotation.npz").write_bytes(b"half")
            raise RuntimeError("boom")
    assert _read_set(out) == first

    # a complete set replaces the old one; a member it lacks is removed, not left over from the old set
    _write_set(out, "three", preview=False)
    now = _read_set(out)
    assert sorted(now) == ["annotation.npz", "parts.json"] and now["annotation.npz"] == b"three"

    # read-only: one line, the set untouched
    assert read_only() is None
    with pytest.raises(FacepartError) as err:
        _write_set(out, "four")
    _one_line(err, str(out), "read-only")
    assert _read_set(out) == now


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard links", "no hard links"])
def test_a_rename_failing_midway_undoes_the_renames_before_it(tmp_path, monkeypatch, hard_links):
    out = tmp_path / "run"
    _write_set(out, "one")
    first = _read_set(out)
    if not hard_links:  # a file system without them (FAT, exFAT, some network shares): the undo copies
        def no_link(src, dst):
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(src))

        monkeypatch.setattr(os, "link", no_link)
    real_replace = os.replace
    calls = []

    def failing_replace(src, dst):
        calls.append(Path(dst).name)
        if Path(dst).name == "parts.json" and Path(dst).parent == out:
            raise OSError(errno.EIO, os.strerror(errno.EIO), str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(FacepartError) as err:
        _write_set(out, "two")
    monkeypatch.setattr(os, "replace", real_replace)
    _one_line(err, str(out / "parts.json"), os.strerror(errno.EIO))
    assert "annotation.npz" in calls  # it was moved before parts.json failed, and moved back
    assert _read_set(out) == first
    assert _listing(out) == ["annotation.npz", "parts.json", "preview.png"]


def test_staging_folders_of_killed_writers_are_cleaned_up(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = out / f"{STAGING_PREFIX}{dead.pid}-abc"
    stale.mkdir()
    (stale / "annotation.npz").write_bytes(b"x")
    alive = out / f"{STAGING_PREFIX}1-abc"  # pid 1 is alive: another writer's folder is left alone
    alive.mkdir()
    _write_set(out, "one")
    assert not stale.exists() and alive.exists()


def test_writing_under_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(FacepartError) as err:
        write_bytes_atomic(tmp_path / "no" / "such" / "file.png", b"x")
    _one_line(err, "file.png", f"the folder {tmp_path / 'no' / 'such'} does not exist")


def test_an_output_that_is_a_pipe_or_device_is_refused_and_a_link_is_written_through(tmp_path):
    # before: the temp file was renamed onto it: `facepart compare ... --out /dev/null` as root replaced the
    # machine's /dev/null with a regular file; a symbolic link was replaced by a file instead of written through
    from facepart.io_utils import check_output_file

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    for write in (lambda p: write_bytes_atomic(p, b"x"), lambda p: write_json_atomic(p, {"a": 1}),
                  lambda p: write_npz_atomic(p, {"a": np.zeros(2)}), check_output_file):
        with pytest.raises(FacepartError, match="pipe.json: not a regular file"):
            write(fifo)
        assert fifo.is_fifo()
    (tmp_path / "real.json").write_text("{}")
    (tmp_path / "link.json").symlink_to("real.json")
    write_json_atomic(tmp_path / "link.json", {"b": 2})
    assert (tmp_path / "link.json").is_symlink() and json.loads((tmp_path / "real.json").read_text()) == {"b": 2}
