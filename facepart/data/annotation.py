"""The annotation file: facepart's canonical per-vertex part labelling.

``annotation.npz`` (numpy, no pickles) holds:

======================  ==========  ==============================================
key                     shape       meaning
======================  ==========  ==============================================
format                  ()          "facepart-annotation"
format_version          ()          2 (version-1 files, without the last two keys, still load)
labels                  (V,) int16  part id per vertex, -1 = none
votes                   (V, P) i4   votes per vertex and part, summed over variants
none_votes              (V,) i4     votes for "no part" (unlabelled pixels on the model)
confidence              (V,) f4     share of the vertex's votes its label got
visible_count           (V,) i4     in how many renders the vertex was visible
part_names              (P,) str    part table, in id order
part_colors             (P, 3) u1   display colours
n_vertices, n_triangles ()          topology fingerprint ...
triangle_hash           ()          ... sha256 of the int64 triangle array (16 hex)
rule                    ()          "majority" or "union" (what parts.json holds)
settings                ()          JSON: the run's settings, seed, segmenter, model
facepart_version        ()          version that wrote it
edited                  (V,) bool   vertices whose label a person set by hand (optional)
edit_log                ()          JSON list of hand edits in effect, oldest first: time (ISO 8601
                                    UTC), operation, count (vertices changed), part (optional)
======================  ==========  ==============================================

``parts.json`` maps each part name to its sorted vertex indices (0-based)
under the file's rule; under "union" parts may overlap.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FacepartError
from ..io_utils import atomic_path, write_json_atomic
from .parts import PartTable
from .topology import Fingerprint

FORMAT = "facepart-annotation"
FORMAT_VERSION = 2
ANNOTATION_FILE = "annotation.npz"
PARTS_FILE = "parts.json"


@dataclass
class Annotation:
    """Per-vertex parts of one topology, with the votes behind them."""

    labels: np.ndarray  # (V,) int
    votes: np.ndarray  # (V, P) int32
    confidence: np.ndarray  # (V,) float32
    visible_count: np.ndarray  # (V,) int32
    parts: PartTable
    fingerprint: Fingerprint
    rule: str = "majority"
    settings: dict = field(default_factory=dict)
    none_votes: np.ndarray | None = None  # (V,) int32 votes for "no part" (majority rule)
    edited: np.ndarray | None = None  # (V,) bool set by hand (correction viewer); None = never corrected
    edit_log: list = field(default_factory=list)  # dicts: time, operation, count[, part]

    def __post_init__(self):
        if self.none_votes is None:
            self.none_votes = np.zeros(len(self.labels), np.int32)

    @property
    def n_vertices(self) -> int:
        return int(self.labels.shape[0])

    def membership(self, rule: str | None = None) -> np.ndarray:
        """(V, P) bool: which vertices belong to which part under ``rule`` (default: the file's).

        Vertices edited by hand belong to their label only, under either rule.
        """
        from ..annotate.assign import membership

        member = membership(self.votes, self.labels, rule or self.rule)
        if self.edited is not None and self.edited.any():
            idx = np.flatnonzero(self.edited)
            member[idx] = False
            has = self.labels[idx] >= 0
            member[idx[has], self.labels[idx[has]]] = True
        return member

    def members(self, rule: str | None = None) -> dict[str, np.ndarray]:
        """Part name -> sorted (N_p,) int64 vertex indices."""
        member = self.membership(rule)
        return {name: np.flatnonzero(member[:, i]) for i, name in enumerate(self.parts.names)}

    def check_topology(self, fingerprint: Fingerprint, against: str) -> None:
        self.fingerprint.check_matches(fingerprint, "this annotation", against)

    def summary_lines(self) -> list[str]:
        member = self.members()
        width = max(len(n) for n in self.parts.names)
        lines = [f"  {name:<{width}}  {len(idx):>7} vertices" for name, idx in member.items()]
        lines.append(f"  {'(none)':<{width}}  {int((self.labels < 0).sum()):>7} vertices unlabelled "
                     f"({int(((self.labels < 0) & (self.visible_count > 0)).sum())} of them seen in a render)")
        return lines


def save_annotation(annotation: Annotation, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``annotation.npz`` and ``parts.json`` into ``out_dir`` atomically; return both paths."""
    out_dir = Path(out_dir)
    fp = annotation.fingerprint
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "labels": annotation.labels.astype(np.int16),
        "votes": annotation.votes.astype(np.int32),
        "none_votes": annotation.none_votes.astype(np.int32),
        "confidence": annotation.confidence.astype(np.float32),
        "visible_count": annotation.visible_count.astype(np.int32),
        "part_names": np.array(annotation.parts.names),
        "part_colors": annotation.parts.colors.astype(np.uint8),
        "n_vertices": np.array(fp.n_vertices),
        "n_triangles": np.array(fp.n_triangles),
        "triangle_hash": np.array(fp.triangle_hash),
        "rule": np.array(annotation.rule),
        "settings": np.array(json.dumps(annotation.settings, sort_keys=True)),
        "facepart_version": np.array(__version__),
    }
    if annotation.edited is not None:
        arrays["edited"] = np.asarray(annotation.edited, bool)
        arrays["edit_log"] = np.array(json.dumps(list(annotation.edit_log)))
    npz = out_dir / ANNOTATION_FILE
    with atomic_path(npz) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    parts_json = out_dir / PARTS_FILE
    write_json_atomic(parts_json, {k: v.tolist() for k, v in annotation.members().items()})
    return npz, parts_json


_REQUIRED = ("format", "labels", "votes", "none_votes", "confidence", "visible_count", "part_names", "part_colors",
             "n_vertices", "n_triangles", "triangle_hash", "rule", "settings")
_OPTIONAL = ("edited", "edit_log")  # format 2: hand edits from the correction viewer


def load_annotation(path: str | Path) -> Annotation:
    """Read an ``annotation.npz`` (or the folder holding one). Never unpickles."""
    path = Path(path)
    if path.is_dir():
        path = path / ANNOTATION_FILE
    if not path.is_file():
        raise FacepartError(f"{path}: annotation file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _REQUIRED if k not in data.files]
            if missing:
                raise FacepartError(f"{path}: not a facepart annotation (missing {', '.join(missing)})")
            if str(data["format"]) != FORMAT:
                raise FacepartError(f"{path}: not a facepart annotation (format '{data['format']}')")
            version = int(data["format_version"]) if "format_version" in data.files else 1
            if version > FORMAT_VERSION:
                raise FacepartError(f"{path}: written by a newer facepart (format {version}); please upgrade")
            d = {k: data[k] for k in _REQUIRED + _OPTIONAL if k in data.files}
    except FacepartError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise FacepartError(f"{path}: not a readable annotation file ({exc})") from None

    names = [str(n) for n in d["part_names"]]
    labels = d["labels"].astype(np.int64)
    v, p = len(labels), len(names)
    if d["votes"].shape != (v, p) or any(d[k].shape != (v,) for k in ("none_votes", "confidence", "visible_count")):
        raise FacepartError(f"{path}: inconsistent array shapes (labels {labels.shape}, votes {d['votes'].shape})")
    if v != int(d["n_vertices"]):
        raise FacepartError(f"{path}: {v} labels but the fingerprint says {int(d['n_vertices'])} vertices")
    if labels.size and (labels.min() < -1 or labels.max() >= p):
        raise FacepartError(f"{path}: labels outside -1..{p - 1}")
    try:
        settings = json.loads(str(d["settings"]))
    except json.JSONDecodeError:
        raise FacepartError(f"{path}: the settings entry is not valid JSON") from None
    edited, edit_log = _read_edits(path, d, v)
    parts = PartTable(tuple(names), d["part_colors"].astype(np.uint8))
    fingerprint = Fingerprint(int(d["n_vertices"]), int(d["n_triangles"]), str(d["triangle_hash"]))
    return Annotation(labels, d["votes"].astype(np.int32), d["confidence"].astype(np.float32),
                      d["visible_count"].astype(np.int32), parts, fingerprint, str(d["rule"]), settings,
                      none_votes=d["none_votes"].astype(np.int32), edited=edited, edit_log=edit_log)


def _read_edits(path: Path, d: dict, n_vertices: int) -> tuple[np.ndarray | None, list]:
    """The optional ``edited`` mask and ``edit_log`` of a format-2 file (None, [] when absent)."""
    if "edited" not in d:
        return None, []
    edited = d["edited"]
    if edited.shape != (n_vertices,) or edited.dtype != bool:
        raise FacepartError(f"{path}: 'edited' must be ({n_vertices},) bool, got {edited.shape} {edited.dtype}")
    try:
        log = json.loads(str(d["edit_log"])) if "edit_log" in d else []
    except json.JSONDecodeError:
        raise FacepartError(f"{path}: the edit_log entry is not valid JSON") from None
    if not isinstance(log, list) or not all(isinstance(e, dict) for e in log):
        raise FacepartError(f"{path}: the edit_log entry must be a JSON list of objects")
    return edited.copy(), log


def read_labels(path: str | Path, parts: PartTable, n_vertices: int) -> np.ndarray:
    """(V,) int64 labels over ``parts`` from an annotation (.npz / folder) or a parts.json.

    In a parts.json a vertex listed under several parts takes the last one;
    part names outside ``parts`` are an error.
    """
    path = Path(path)
    if path.is_dir() or path.suffix == ".npz":
        ann = load_annotation(path)
        if ann.n_vertices != n_vertices:
            raise FacepartError(f"{path}: labels for {ann.n_vertices} vertices, the model has {n_vertices}")
        labels = np.full(n_vertices, -1, np.int64)
        for i, name in enumerate(ann.parts.names):
            if name in parts.names:
                labels[ann.labels == i] = parts.index(name)
        return labels
    try:
        mapping = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise FacepartError(f"{path}: not a JSON file of part name -> vertex indices ({exc})") from None
    if not isinstance(mapping, dict):
        raise FacepartError(f"{path}: expected a JSON object of part name -> vertex indices")
    labels = np.full(n_vertices, -1, np.int64)
    for name, idx in mapping.items():
        if name not in parts.names:
            raise FacepartError(f"{path}: unknown part '{name}'; parts are {list(parts.names)}")
        try:
            idx = np.asarray(idx, dtype=np.int64).ravel()
        except (TypeError, ValueError):
            raise FacepartError(f"{path}: part '{name}' is not a list of vertex indices") from None
        if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
            raise FacepartError(f"{path}: part '{name}' has indices outside 0..{n_vertices - 1}")
        labels[idx] = parts.index(name)
    return labels
