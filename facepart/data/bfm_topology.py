"""The four BFM 2009 topologies and the index maps between them.

=========  ============================================================================
vertices   topology
=========  ============================================================================
53,490     BFM 2009 full (``01_MorphableModel.mat``)
53,215     BFM 2009 without inner-mouth vertices (3DDFA, ``Exp_Pca.bin``, face3d ``BFM.mat``)
38,365     3DDFA_V2 "no neck" (``bfm_noneck_v3.pkl``)
35,709     BFM "front" (Deep3D ``BFM_model_front.mat``, 3DDFA-V3, HRN, MGCNet)
=========  ============================================================================

An :class:`IndexMap` says which vertex of a larger topology each vertex of a
smaller one is: ``parent_index[i]`` (0-based, -1 where none). Index files
users hold (formats.md 2a, 2c and §1):

* Deep3D ``BFM_exp_idx.mat['trimIndex']`` (53215 -> 53490, 1-based),
  ``BFM_front_idx.mat['idx']`` (35709 -> 53215, 1-based),
  ``select_vertex_id.mat['select_id']`` (35709 -> 53490, 1-based);
* 3DDFA_V2 ``configs/indices.npy`` (38365 -> 53215, 0-based);
* 3DDFA-V3 ``indices_A_B.npy`` (0-based; the direction is read from the array:
  its length is one count and its values index the other).

Maps chain (:func:`find_chain`), so labels move between any two topologies the
maps connect (:func:`transfer_labels`, :func:`transfer_annotation`).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import FacepartError
from .formats.arrays import numeric
from .formats.containers import mat_variable_names, read_mat
from .formats.safe_pickle import load_npy
from .topology import BFM_TOPOLOGIES, OTHER_TOPOLOGIES, topology_name  # noqa: F401  (named here too)

#: 68 iBUG landmarks on the 35,709-vertex front topology, 1-based (Deep3D facemodel_info.mat 'keypoints').
FRONT_KEYPOINTS_68 = np.array([
    16645, 16889, 16468, 16265, 32245, 32940, 33376, 33655, 33839, 34023, 34313, 34767, 35473, 27817, 27609, 27209,
    27441, 28112, 28788, 29178, 29383, 29550, 30289, 30455, 30663, 31057, 31717, 8162, 8178, 8188, 8193, 6516, 7244,
    8205, 9164, 9884, 2216, 3887, 4921, 5829, 4802, 3641, 10456, 11354, 12384, 14067, 12654, 11493, 5523, 6026, 7496,
    8216, 8936, 10396, 10796, 9556, 8837, 8237, 7637, 6916, 5910, 7385, 8224, 9065, 10538, 8830, 8230, 7630,
], dtype=np.int64)


@dataclass(frozen=True)
class IndexMap:
    """Vertex ``i`` of the child topology is vertex ``parent_index[i]`` of the parent (-1: none)."""

    n_child: int
    n_parent: int
    parent_index: np.ndarray  # (n_child,) int64, 0-based, -1 = no counterpart
    source: str = ""

    def describe(self) -> str:
        known = int((self.parent_index >= 0).sum())
        return (f"BFM index map: each of {self.n_child} vertices -> one of {self.n_parent} vertices "
                f"({known} mapped){' from ' + self.source if self.source else ''}\n"
                f"  child:  {topology_name(self.n_child) or f'{self.n_child} vertices'}\n"
                f"  parent: {topology_name(self.n_parent) or f'{self.n_parent} vertices'}")

    def pairs(self, n_from: int, n_to: int) -> tuple[np.ndarray, np.ndarray]:
        """Corresponding (from ids, to ids) for a transfer from ``n_from`` to ``n_to`` vertices."""
        child = np.flatnonzero(self.parent_index >= 0)
        parent = self.parent_index[child]
        if (n_from, n_to) == (self.n_child, self.n_parent):
            return child, parent
        if (n_from, n_to) == (self.n_parent, self.n_child):
            return parent, child
        raise FacepartError(f"index map {self.source} links {self.n_child} and {self.n_parent} vertices, "
                            f"not {n_from} and {n_to}")


#: .mat variable -> (child count, parent count) of Deep3D's maps
MAT_MAPS = {"trimIndex": (53215, 53490), "idx": (35709, 53215), "select_id": (35709, 53490)}


def _from_array(arr: np.ndarray, base: int, source: str, counts: tuple[int, int] | None) -> IndexMap:
    arr = numeric(arr, source, "index map").reshape(-1)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise FacepartError(f"{source}: an index map must hold whole numbers")
    idx = arr.astype(np.int64)
    valid = idx >= base
    idx = np.where(valid, idx - base, -1)
    hi = int(idx.max()) + 1 if idx.size else 0
    if counts is None:
        raise FacepartError(f"{source}: cannot tell which topologies this index map links")
    a, b = counts
    if len(idx) == b and hi <= a:
        n_child, n_parent = b, a
    elif len(idx) == a and hi <= b:
        n_child, n_parent = a, b
    else:
        raise FacepartError(f"{source}: an index map between {a} and {b} vertices must have one entry per vertex "
                            f"of one of them indexing the other; got {len(idx)} entries up to {hi - 1}")
    return IndexMap(n_child, n_parent, idx, source)


def read_index_map(path: str | Path) -> IndexMap:
    """Read a Deep3D ``.mat`` map (trimIndex / idx / select_id, 1-based) or a 0-based ``.npy`` map."""
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: index map file not found")
    if path.suffix.lower() == ".mat":
        data = read_mat(path)
        for key, counts in MAT_MAPS.items():
            if key in data:
                return _from_array(data[key], 1, str(path), counts)
        raise FacepartError(f"{path}: not a BFM index map (expected one of {', '.join(MAT_MAPS)}; "
                            f"found {', '.join(data) or 'nothing'})")
    if path.suffix.lower() == ".npy":
        arr = load_npy(path)
        if not isinstance(arr, np.ndarray):
            raise FacepartError(f"{path}: not a BFM index map (expected an integer array)")
        m = re.search(r"(\d{5})_(\d{5})", path.name)
        if m:
            counts = (int(m.group(1)), int(m.group(2)))
        elif np.asarray(arr).size == 38365:  # 3DDFA_V2 configs/indices.npy
            counts = (53215, 38365)
        else:
            counts = None
        return _from_array(arr, 0, str(path), counts)
    raise FacepartError(f"{path}: not a BFM index map (expected a .mat or .npy file)")


def looks_like_index_map(path: str | Path) -> bool:
    """Cheap test used by ``facepart info``: a Deep3D map .mat or an ``indices*.npy``."""
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() == ".mat":
        names = mat_variable_names(path)
        return bool(names) and bool(names & set(MAT_MAPS)) and not names & {"shapeMU", "meanshape"}
    return path.suffix.lower() == ".npy" and path.name.startswith("indices")


def find_chain(maps: Sequence[IndexMap], n_from: int, n_to: int) -> list[IndexMap]:
    """The shortest sequence of ``maps`` linking ``n_from`` to ``n_to`` vertices (each step in either direction)."""
    if n_from == n_to:
        return []
    prev: dict[int, tuple[int, IndexMap] | None] = {n_from: None}
    queue = deque([n_from])
    while queue:
        node = queue.popleft()
        for m in maps:
            for a, b in ((m.n_child, m.n_parent), (m.n_parent, m.n_child)):
                if a == node and b not in prev:
                    prev[b] = (node, m)
                    queue.append(b)
    if n_to not in prev:
        have = ", ".join(f"{m.n_child}->{m.n_parent}" for m in maps) or "none"
        raise FacepartError(f"no chain of index maps leads from {n_from} to {n_to} vertices (maps given: {have})")
    chain, node = [], n_to
    while prev[node] is not None:
        node_prev, m = prev[node]
        chain.append((node_prev, node, m))
        node = node_prev
    return [m for _, _, m in reversed(chain)]


def vertex_correspondence(maps: Sequence[IndexMap], n_from: int, n_to: int) -> np.ndarray:
    """(n_to,) int64: for each target vertex, its source vertex (-1 where the chain has no counterpart)."""
    current = np.arange(n_from, dtype=np.int64)  # source id carried by each vertex of the current topology
    n_cur = n_from
    for m in find_chain(maps, n_from, n_to):
        n_next = m.n_parent if n_cur == m.n_child else m.n_child
        src, dst = m.pairs(n_cur, n_next)
        nxt = np.full(n_next, -1, np.int64)
        nxt[dst] = current[src]
        current, n_cur = nxt, n_next
    return current


def transfer_labels(labels: np.ndarray, maps: Sequence[IndexMap], n_to: int) -> np.ndarray:
    """Per-vertex labels (V_from,) carried to ``n_to`` vertices; vertices without a counterpart get -1."""
    labels = np.asarray(labels)
    source = vertex_correspondence(maps, len(labels), n_to)
    out = np.full(n_to, -1, dtype=labels.dtype if labels.dtype.kind in "iu" else np.int64)
    ok = source >= 0
    out[ok] = labels[source[ok]]
    return out


def transfer_regions(regions: dict[str, np.ndarray], n_from: int, maps: Sequence[IndexMap],
                     n_to: int) -> dict[str, np.ndarray]:
    """Region name -> vertex ids carried from ``n_from`` to ``n_to`` vertices."""
    source = vertex_correspondence(maps, n_from, n_to)
    member = np.zeros(n_from, bool)
    out = {}
    for key, idx in regions.items():
        member[:] = False
        member[np.asarray(idx, np.int64)] = True
        out[key] = np.flatnonzero((source >= 0) & member[np.maximum(source, 0)])
    return out


def transfer_annotation(annotation, maps: Sequence[IndexMap], target_fingerprint):
    """An :class:`Annotation` carried to another BFM topology; unmapped target vertices get no label or votes."""
    from .annotation import Annotation

    n_to = target_fingerprint.n_vertices
    source = vertex_correspondence(maps, annotation.n_vertices, n_to)
    ok = source >= 0
    src = np.maximum(source, 0)

    def carry(arr, fill):
        out = np.full((n_to, *arr.shape[1:]), fill, dtype=arr.dtype)
        out[ok] = arr[src[ok]]
        return out

    settings = {**annotation.settings, "transferred_from": annotation.fingerprint.as_dict()}
    return Annotation(carry(annotation.labels, -1), carry(annotation.votes, 0), carry(annotation.confidence, 0),
                      carry(annotation.visible_count, 0), annotation.parts, target_fingerprint, annotation.rule,
                      settings, none_votes=carry(annotation.none_votes, 0))
