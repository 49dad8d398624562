"""The annotation file: facepart's canonical per-vertex part labelling.

``annotation.npz`` (numpy, no pickles) holds:

======================  ==========  ==============================================
key                     shape       meaning
======================  ==========  ==============================================
format                  ()          "facepart-annotation"
format_version          ()          3 (1: int32 votes; 2: float32 votes; 3: hand edits)
labels                  (V,) int16  part id per vertex, -1 = none
votes                   (V, P) f4   weighted votes per vertex and part, summed over variants
none_votes              (V,) f4     votes for "no part" (unlabelled pixels on the model)
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
                                    UTC), operation, count (labels changed), part, ... (optional)
======================  ==========  ==============================================

``parts.json`` maps each part name to its sorted vertex indices (0-based)
under the file's rule; under "union" parts may overlap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..checks import check_array, check_finite, check_index_array, check_range, json_index_list
from ..errors import FacepartError
from ..io_utils import loads_json, read_json_file, write_json_atomic, write_npz_atomic
from .membership import RULES, membership
from .parts import PartTable
from .topology import Fingerprint

FORMAT = "facepart-annotation"
FORMAT_VERSION = 3  # 2: float32 (weighted) votes; 3: optional edited mask and edit log
ANNOTATION_FILE = "annotation.npz"
PARTS_FILE = "parts.json"


@dataclass
class Annotation:
    """Per-vertex parts of one topology, with the votes behind them."""

    labels: np.ndarray  # (V,) int
    votes: np.ndarray  # (V, P) float32 (weighted votes; version-1 files held int32 counts)
    confidence: np.ndarray  # (V,) float32
    visible_count: np.ndarray  # (V,) int32
    parts: PartTable
    fingerprint: Fingerprint
    rule: str = "majority"
    settings: dict = field(default_factory=dict)
    none_votes: np.ndarray | None = None  # (V,) float32 votes for "no part" (majority rule)
    edited: np.ndarray | None = None  # (V,) bool set by hand (correction viewer); None = never corrected
    edit_log: list = field(default_factory=list)  # dicts: time, operation, count, part, ...

    def __post_init__(self):
        if self.none_votes is None:
            self.none_votes = np.zeros(len(self.labels), np.float32)

    @property
    def n_vertices(self) -> int:
        return int(self.labels.shape[0])

    @property
    def has_votes(self) -> bool:
        """Whether the annotation holds a run's render data (views per vertex, vote shares). Files of labels
        only (a parts.json, an export, a model's region set) do not: their ``confidence`` is part membership
        (1, or 1/k for a vertex in k parts), not a share of votes."""
        return bool(np.any(self.visible_count))

    def membership(self, rule: str | None = None) -> np.ndarray:
        """(V, P) bool: which vertices belong to which part under ``rule`` (default: the file's).

        Vertices edited by hand belong to their label only, under either rule.
        """
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

    def check_topology(self, fingerprint: Fingerprint, against: str, what: str = "this annotation") -> None:
        """One line unless ``fingerprint`` is this annotation's topology (``what``: the annotation's file)."""
        self.fingerprint.check_matches(fingerprint, what, against)

    def summary_lines(self) -> list[str]:
        member = self.members()
        width = max(len(n) for n in self.parts.names)
        lines = [f"  {name:<{width}}  {len(idx):>7} vertices" for name, idx in member.items()]
        unlabelled = f"  {'(none)':<{width}}  {int((self.labels < 0).sum()):>7} vertices unlabelled"
        seen = int(((self.labels < 0) & (self.visible_count > 0)).sum())
        if not (self.visible_count > 0).any():  # labels only (a parts.json, a CSV): nothing known of renders
            lines.append(unlabelled)
        elif isinstance(self.settings, dict) and isinstance(self.settings.get("transfer"), dict):
            lines.append(f"{unlabelled} ({seen} of them at points the source run saw)")
        else:
            lines.append(f"{unlabelled} ({seen} of them seen in a render)")
        return lines


def save_annotation(annotation: Annotation, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``annotation.npz`` and ``parts.json`` into ``out_dir`` atomically; return both paths."""
    out_dir = Path(out_dir)
    npz = write_annotation_npz(annotation, out_dir / ANNOTATION_FILE)
    parts_json = out_dir / PARTS_FILE
    write_json_atomic(parts_json, {k: v.tolist() for k, v in annotation.members().items()})
    return npz, parts_json


def write_annotation_npz(annotation: Annotation, path: str | Path) -> Path:
    """Write the canonical ``.npz`` (the table in the module docstring) at ``path`` atomically."""
    path = Path(path)
    fp = annotation.fingerprint
    arrays = {
        "format": np.array(FORMAT),
        "format_version": np.array(FORMAT_VERSION),
        "labels": annotation.labels.astype(np.int16),
        "votes": annotation.votes.astype(np.float32),
        "none_votes": annotation.none_votes.astype(np.float32),
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
    return write_npz_atomic(path, arrays)


#: The entries of annotation.npz: key -> (dtype kinds, shape, required), checked in this order. V is the
#: fingerprint's vertex count (``n_vertices``), P the number of ``part_names``.
LAYOUT = {
    "format": ("U", (), True),
    "format_version": ("iu", (), False),
    "n_vertices": ("iu", (), True),
    "n_triangles": ("iu", (), True),
    "triangle_hash": ("U", (), True),
    "rule": ("U", (), True),
    "settings": ("U", (), True),
    "facepart_version": ("U", (), False),
    "part_names": ("U", ("P",), True),
    "part_colors": ("iu", ("P", 3), True),
    "labels": ("iu", ("V",), True),
    "votes": ("iuf", ("V", "P"), True),  # int32 counts in format 1, float32 weighted votes since 2
    "none_votes": ("iuf", ("V",), True),
    "confidence": ("f", ("V",), True),
    "visible_count": ("iu", ("V",), True),
    "edited": ("b", ("V",), False),  # format 3: hand edits from the correction viewer
    "edit_log": ("U", (), False),
}

_COUNT_MAX = np.iinfo(np.int32).max


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every :data:`LAYOUT` entry of the archive, each checked for its dtype kind and shape."""
    from ..io_utils import check_regular_file

    check_regular_file(path, "an annotation file (.npz)")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - BadZipFile, ValueError, OSError, EOFError... on damaged files
        raise FacepartError(f"{path}: not a readable annotation file ({_first_line(exc)})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FacepartError(f"{path}: not a facepart annotation (a single numpy array, not an .npz archive)")
    with archive:
        missing = [k for k, (_, _, required) in LAYOUT.items() if required and k not in archive.files]
        if missing:
            raise FacepartError(f"{path}: not a facepart annotation (missing {', '.join(missing)})")
        dims: dict = {}
        out = {}
        for key, (kinds, shape, _) in LAYOUT.items():
            if key in archive.files:
                out[key] = check_array(_read_member(archive, key, path), kinds, shape, f"{path}: '{key}'", dims)
                if key == "format" and str(out[key]) != FORMAT:
                    raise FacepartError(f"{path}: not a facepart annotation (format '{str(out[key])[:40]}')")
                if key == "format_version" and int(out[key]) > FORMAT_VERSION:
                    raise FacepartError(f"{path}: written by a newer facepart (format {int(out[key])}); "
                                        "please upgrade")
                if key == "n_vertices":
                    dims["V"] = int(out[key])
    return out


def _read_member(archive, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except MemoryError:
        raise FacepartError(f"{path}: the entry '{key}' claims more memory than there is; is the file damaged?") \
            from None
    except Exception as exc:  # noqa: BLE001 - zlib.error, BadZipFile (CRC), ValueError (header, pickled data)...
        raise FacepartError(f"{path}: the entry '{key}' is damaged ({type(exc).__name__}: {_first_line(exc)})") \
            from None


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:160]


def load_annotation(path: str | Path) -> Annotation:
    """Read an ``annotation.npz`` (or the folder holding one). Never unpickles.

    Every entry is checked for its dtype kind, shape (:data:`LAYOUT`) and
    values; a damaged or hand-edited file is one ``FacepartError`` line.
    Labels that are not integers (floats, booleans, complex) are refused,
    never truncated.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ANNOTATION_FILE
    if not path.exists():
        raise FacepartError(f"{path}: annotation file not found")
    d = _read_arrays(path)  # refuses a FIFO or a device
    names = [str(n) for n in d["part_names"]]
    v, p = d["labels"].shape[0], len(names)
    if v == 0 or p == 0:
        raise FacepartError(f"{path}: an annotation of {v} vertices and {p} parts; expected at least one of each")
    if len(set(names)) != p or not all(names):
        raise FacepartError(f"{path}: 'part_names' must be distinct, non-empty names")
    check_range(d["part_colors"], 0, 255, f"{path}: 'part_colors'")
    check_range(d["labels"], -1, p - 1, f"{path}: 'labels' (part ids, -1 = none)")
    for key in ("votes", "none_votes"):
        check_range(check_finite(d[key], f"{path}: '{key}'"), 0, _COUNT_MAX, f"{path}: '{key}'")
    check_range(d["visible_count"], 0, _COUNT_MAX, f"{path}: 'visible_count'")
    check_range(check_finite(d["confidence"], f"{path}: 'confidence'"), 0, 1, f"{path}: 'confidence'")
    n_vertices, n_triangles = int(d["n_vertices"]), int(d["n_triangles"])
    if not 0 < n_triangles <= _COUNT_MAX:
        raise FacepartError(f"{path}: the fingerprint says {n_triangles} triangles")
    rule = str(d["rule"])
    if rule not in RULES:
        raise FacepartError(f"{path}: unknown rule '{rule[:40]}'; expected one of {', '.join(RULES)}")
    settings = loads_json(str(d["settings"]), f"{path}: the settings entry", "JSON object")
    if not isinstance(settings, dict):
        raise FacepartError(f"{path}: the settings entry must be a JSON object, got {type(settings).__name__}")
    parts = PartTable(tuple(names), d["part_colors"].astype(np.uint8))
    fingerprint = Fingerprint(n_vertices, n_triangles, str(d["triangle_hash"]))
    edit_log = []
    if "edit_log" in d:
        edit_log = loads_json(str(d["edit_log"]), f"{path}: the edit_log entry", "JSON list")
        if not isinstance(edit_log, list) or not all(isinstance(e, dict) for e in edit_log):
            raise FacepartError(f"{path}: the edit_log entry must be a JSON list of objects")
    edited = d["edited"].astype(bool) if "edited" in d else None
    return Annotation(d["labels"].astype(np.int64), d["votes"].astype(np.float32), d["confidence"].astype(np.float32),
                      d["visible_count"].astype(np.int32), parts, fingerprint, rule, settings,
                      none_votes=d["none_votes"].astype(np.float32), edited=edited, edit_log=edit_log)


def read_parts_json(path: str | Path, n_vertices: int | None = None,
                    parts: PartTable | None = None) -> dict[str, np.ndarray]:
    """Part name -> (N_p,) int64 vertex indices from a parts.json, checked.

    The file must be a JSON object whose values are lists of integer vertex
    indices, each in ``0..n_vertices - 1`` (or at least >= 0 when
    ``n_vertices`` is None); with ``parts`` given every name must be one of
    its parts. Shared by ``--truth`` (:func:`read_labels`) and ``facepart info``.
    """
    path = Path(path)
    mapping = read_json_file(path, "parts.json (part name -> vertex indices)")
    if not isinstance(mapping, dict):
        raise FacepartError(f"{path}: expected a JSON object of part name -> vertex indices, "
                            f"got {type(mapping).__name__}")
    out = {}
    for name, idx in mapping.items():
        if parts is not None and name not in parts.names:
            raise FacepartError(f"{path}: unknown part '{name[:40]}'; parts are {list(parts.names)}")
        what = f"{path}: part '{name[:40]}'"
        idx = json_index_list(idx, what)
        if n_vertices is None:
            check_range(idx, 0, None, f"{what} (vertex indices)")
        else:
            check_index_array(idx, n_vertices, what)
        out[name] = idx
    return out


def read_labels(path: str | Path, parts: PartTable, n_vertices: int, fingerprint: Fingerprint | None = None,
                model_name: str = "the model") -> np.ndarray:
    """(V,) int64 labels over ``parts`` from an annotation (.npz / folder) or a parts.json.

    In a parts.json a vertex listed under several parts takes the last one;
    part names outside ``parts`` are an error. With ``fingerprint``, an annotation.npz made for another
    topology (the same vertex count, other triangles or vertex order) is refused.
    """
    path = Path(path)
    if path.is_dir() or path.suffix == ".npz":
        ann = load_annotation(path)
        if ann.n_vertices != n_vertices:
            raise FacepartError(f"{path}: labels for {ann.n_vertices} vertices, the model has {n_vertices}")
        if fingerprint is not None:
            ann.check_topology(fingerprint, model_name, str(path))
        labels = np.full(n_vertices, -1, np.int64)
        for i, name in enumerate(ann.parts.names):
            if name in parts.names:
                labels[ann.labels == i] = parts.index(name)
        return labels
    labels = np.full(n_vertices, -1, np.int64)
    for name, idx in read_parts_json(path, n_vertices, parts).items():
        labels[idx] = parts.index(name)
    return labels
