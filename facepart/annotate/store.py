"""Per-view votes on disk: a run's checkpoint and the shards of a split run share one layout.

A votes file is a plain ``.npz`` (no pickles) holding the :class:`~facepart.annotate.vote.ViewVotes`
of some views, packed CSR-style, and a JSON header with the run key (the hash
of everything that decides a single view's votes) and what the run was.
A checkpoint is a folder of such files, one per save, each holding only the
views finished since the previous save, so saving costs what was added,
not the whole run. A shard is one such file.
"""

from __future__ import annotations

import contextlib
import json
import warnings
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import FacepartError
from ..io_utils import write_npz_atomic
from .vote import VOTED, ViewVotes

FORMAT = "facepart-votes"
FORMAT_VERSION = 1


def pack(views: Iterable[ViewVotes]) -> dict[str, np.ndarray]:
    """ViewVotes -> flat arrays (CSR-style offsets per view)."""
    views = list(views)
    counts = [len(v.vertex) for v in views]
    seen = [len(v.visible) for v in views]
    cat = (lambda arrays, dtype: np.concatenate(arrays).astype(dtype) if arrays else np.zeros(0, dtype))
    return {
        "index": np.array([v.index for v in views], np.int64),
        "status": np.array([v.status for v in views], dtype=str) if views else np.zeros(0, "<U1"),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        "vertex": cat([v.vertex for v in views], np.int32),
        "part": cat([v.part for v in views], np.int16),
        "weight": cat([v.weight for v in views], np.float32),
        "visible_offsets": np.concatenate([[0], np.cumsum(seen)]).astype(np.int64),
        "visible": cat([v.visible for v in views], np.int32),
    }


#: The largest id a votes file may hold (ids are stored as int32).
_MAX_ID = 2**31 - 1


def unpack(arrays, n_vertices: int | None = None, n_parts: int | None = None) -> list[ViewVotes]:
    """Flat arrays -> ViewVotes, checked: 1-D integer ids and offsets, offsets monotone and in range, finite
    non-negative weights; with ``n_vertices`` and ``n_parts``, every vertex id within the model and every part
    id within the part table (id ``n_parts`` is the "none" vote). A ValueError says what is wrong."""
    index, status = np.asarray(arrays["index"]), np.asarray(arrays["status"])
    off, voff = np.asarray(arrays["offsets"]), np.asarray(arrays["visible_offsets"])
    vertex, part, weight, visible = (np.asarray(arrays[k]) for k in ("vertex", "part", "weight", "visible"))
    limits = {"index": None, "offsets": None, "visible_offsets": None, "vertex": n_vertices, "visible": n_vertices,
              "part": None if n_parts is None else n_parts + 1}
    for name, arr in zip(limits, (index, off, voff, vertex, visible, part)):
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise ValueError(f"'{name}': expected a 1-D array of whole numbers, got {arr.dtype} of shape {arr.shape}")
        top = _MAX_ID if limits[name] is None else limits[name] - 1
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) > top):
            raise ValueError(f"'{name}': ids must lie in 0..{top}, got {int(arr.min())}..{int(arr.max())}")
    if weight.ndim != 1 or weight.dtype.kind != "f" or not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError(f"'weight': expected finite non-negative vote weights, got {weight.dtype} of shape "
                         f"{weight.shape}")
    if status.ndim != 1 or status.dtype.kind != "U":
        raise ValueError(f"'status': expected strings, got {status.dtype}")
    vertex, part, visible = vertex.astype(np.int32), part.astype(np.int16), visible.astype(np.int32)
    weight = weight.astype(np.float32)
    n = len(index)
    if (len(status) != n or len(off) != n + 1 or len(voff) != n + 1 or np.any(np.diff(off) < 0)
            or np.any(np.diff(voff) < 0) or off[-1] != len(vertex) or len(part) != len(vertex)
            or len(weight) != len(vertex) or voff[-1] != len(visible)):
        raise ValueError("inconsistent per-view vote arrays")
    skipped_with_votes = (status != VOTED) & ((np.diff(off) > 0) | (np.diff(voff) > 0))
    if skipped_with_votes.any():
        i = int(np.argmax(skipped_with_votes))
        raise ValueError(f"view {int(index[i])} has status '{str(status[i])[:40]}' (not '{VOTED}') but carries votes")
    return [ViewVotes(int(index[i]), vertex[off[i]:off[i + 1]], part[off[i]:off[i + 1]], weight[off[i]:off[i + 1]],
                      visible[voff[i]:voff[i + 1]], str(status[i])) for i in range(n)]


def write_votes(path: str | Path, key: str, views: Iterable[ViewVotes], header: dict | None = None) -> Path:
    """Write ``views`` with run ``key`` and a JSON ``header`` to ``path`` (.npz), atomically."""
    path = Path(path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "key": key, **(header or {})}
    return write_npz_atomic(path, {"header": np.array(json.dumps(meta, sort_keys=True)), **pack(views)},
                            compressed=False)


def read_votes(path: str | Path, n_vertices: int | None = None, n_parts: int | None = None
               ) -> tuple[dict, list[ViewVotes]]:
    """(header, views) of a votes file; a one-line error when it is not one, or when its ids do not fit
    ``n_vertices`` and ``n_parts`` (a shard's own header gives them when not passed: its model and part table)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            if "header" not in data.files:
                raise FacepartError(f"{path}: not a facepart votes file: expected a shard-I-of-N.npz written by "
                                    "`facepart annotate --shard I/N` (or a checkpoint part)")
            header = json.loads(str(data["header"]))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise FacepartError(f"{path}: not a facepart votes file (shard or checkpoint)")
            if int(header.get("format_version", 0)) > FORMAT_VERSION:
                raise FacepartError(f"{path}: written by a newer facepart; please upgrade")
            if n_vertices is None and isinstance(header.get("fingerprint"), dict):
                n_vertices = int(header["fingerprint"]["n_vertices"])
            if n_parts is None and isinstance(header.get("parts"), list):
                n_parts = len(header["parts"])
            views = unpack(data, n_vertices, n_parts)
    except FacepartError:
        raise
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, EOFError, json.JSONDecodeError,
            RecursionError) as exc:
        raise FacepartError(f"{path}: not a readable facepart votes file ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # zlib.error and friends from a damaged archive member
        raise FacepartError(f"{path}: damaged facepart votes file ({type(exc).__name__})") from None
    return header, views


class Checkpoint:
    """A folder of votes files: the views a run finished, saved as it goes.

    Args:
        folder: the checkpoint folder (created on the first save).
        key: the run key; files of another key are ignored when loading.
        n_vertices, n_parts: the model's vertex count and the part count: a saved view with other ids is
            damaged and skipped with a warning.
    """

    def __init__(self, folder: str | Path, key: str, n_vertices: int | None = None, n_parts: int | None = None):
        self.folder = Path(folder)
        self.key = key
        self.limits = (n_vertices, n_parts)  # the ids a saved view may hold: a damaged file is skipped
        self._saved = 0
        self.failed: str | None = None  # why the last save failed (the run goes on in memory)

    def load(self) -> list[ViewVotes]:
        """Every view saved under this key (damaged or foreign files are skipped with a warning)."""
        views: dict[int, ViewVotes] = {}
        if not self.folder.is_dir():
            return []
        for path in sorted(self.folder.glob("part-*.npz")):
            try:
                header, part = read_votes(path, *self.limits)
            except FacepartError as exc:
                warnings.warn(f"checkpoint file skipped: {exc}", stacklevel=2)
                continue
            if header.get("key") != self.key:
                continue
            for v in part:
                views[v.index] = v
        self._saved = next_part_number(self.folder)
        return [views[i] for i in sorted(views)]

    def save(self, views: list[ViewVotes]) -> bool:
        """Add ``views`` (those finished since the last save). A failure is kept in ``failed``, not raised."""
        if not views:
            return True
        made = not self.folder.exists()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_votes(self.folder / f"part-{self._saved:06d}.npz", self.key, views)
        except (OSError, FacepartError) as exc:
            self.failed = str(exc)
            if made:  # a full disk: no empty checkpoint folder left behind (it would keep the run's folder too)
                with contextlib.suppress(OSError):
                    self.folder.rmdir()
            return False
        self._saved += 1
        self.failed = None
        return True

    def remove(self) -> None:
        """Delete the checkpoint (after the run's files were written)."""
        remove_checkpoint(self.folder)


def next_part_number(folder: Path) -> int:
    """One past the highest ``part-NNNNNN.npz`` number in ``folder``, so a save never lands on an existing
    file (counting the files would, after one of them was deleted)."""
    numbers = [int(p.stem[5:]) for p in folder.glob("part-*.npz") if p.stem[5:].isdigit()]
    return max(numbers, default=-1) + 1


def _file_key_and_views(path: Path) -> tuple[str | None, int]:
    """(run key, number of views) of a votes file, from its header and index only; (None, 0) when unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            return (header.get("key") if isinstance(header, dict) else None), int(np.asarray(data["index"]).size)
    except Exception:  # noqa: BLE001 - a damaged part is nobody's: removed with the run's own files
        return None, 0


def remove_checkpoint(folder: str | Path, key: str | None = None) -> int:
    """Delete a checkpoint folder's votes files (and the folder when nothing else is in it).

    With ``key``, only the files of that run (and damaged ones) go: the views another, interrupted run
    (other settings, same ``--out``) saved there stay, to be resumed by its own command. Returns how
    many views of other runs are left.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    left = 0
    for path in folder.glob("part-*.npz"):
        found, views = _file_key_and_views(path) if key is not None else (None, 0)
        if found is not None and found != key:
            left += views
            continue
        path.unlink(missing_ok=True)
    for path in folder.glob(".part-*"):  # interrupted saves
        path.unlink(missing_ok=True)
    try:
        folder.rmdir()
    except OSError:
        pass
    return left
