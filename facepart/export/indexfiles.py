"""Part -> vertex-index text files: ``json`` (with topology and part table), ``parts`` (the plain
``parts.json`` a run writes), ``meshcapade`` (Meshcapade's SMPL/SMPL-X segmentation layout) and ``csv``.

``json`` (``facepart export A --to json``)::

    {"format": "facepart-parts", "format_version": 1,
     "topology": {"n_vertices": V, "n_triangles": F, "triangle_hash": "..."},
     "rule": "majority", "index_base": 0,
     "part_table": [{"id": 0, "name": "left_eye", "color": [30, 144, 255], "group": false}, ...],
     "groups": {"eyes": ["left_eye", "right_eye"]},
     "parts": {"left_eye": [sorted 0-based vertex ids], ...},
     "facepart_version": "0.1.0"}

``parts``: ``{"left_eye": [sorted ids], ...}`` and nothing else (what ``annotate``
writes as ``parts.json`` and ``--truth`` reads).

``meshcapade``: ``{"leftEye": [ids], ...}``: Meshcapade's ``smplx_vert_segmentation.json``
layout, one flat JSON object of camelCase part name -> list of int vertex ids.

``csv``: a header ``vertex,part`` and one row per (vertex, part) pair, sorted by
vertex; a vertex in several parts (union rule, groups) has several rows, a
vertex in none has no row.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import open_input, read_json_file, write_bytes_atomic, write_json_atomic
from .common import (MAX_ID, check_fingerprint, file_fingerprint, index_array, int_list, plain_int,
                     reader_fingerprint, unique_file_names)
from .options import ExportOptions
from .view import PartView, annotation_from_sets

JSON_FORMAT = "facepart-parts"
JSON_VERSION = 1


def _no_duplicate_keys(path: Path):
    def hook(pairs):
        out = {}
        for key, value in pairs:
            if key in out:
                raise FacepartError(f"{path}: the key '{key}' appears twice in one JSON object; "
                                    "expected each part (key) once")
            out[key] = value
        return out
    return hook


def _read_json(path: Path, what: str):
    """The file's JSON, refusing an object with a repeated key (json would silently keep the last one)."""
    return read_json_file(path, re.sub(r"^(a|an) ", "", what), object_pairs_hook=_no_duplicate_keys(path))


def json_or_none(path: Path):
    """The JSON content of ``path``, or None when it is not readable JSON (for format detection, which never fails)."""
    try:
        return read_json_file(path, "JSON")
    except FacepartError:
        return None


def _index_dict(data, path: Path, what: str, base: int = 0) -> dict[str, np.ndarray]:
    if not isinstance(data, dict) or not data:
        raise FacepartError(f"{path}: expected {what}: a JSON object of part name -> list of vertex ids")
    out = {}
    for name, idx in data.items():
        if not isinstance(idx, list):
            raise FacepartError(f"{path}: part '{name}' is not a list of integer vertex ids")
        out[str(name)] = index_array(idx, str(path), str(name), base)
    return out


def _part_table(table, path: Path) -> tuple[dict[str, tuple], set[str]]:
    """(name -> colour, names marked as groups) from a rich JSON's ``part_table``, every entry checked."""
    if table is None:
        return {}, set()
    if not isinstance(table, list):
        raise FacepartError(f"{path}: 'part_table' must be a list of {{name, color, group}} objects")
    colors, groups = {}, set()
    for k, t in enumerate(table):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise FacepartError(f"{path}: part_table entry {k} must be an object with a string 'name'")
        name = t["name"]
        if "color" in t:
            c = t["color"]
            if not (isinstance(c, list) and len(c) == 3
                    and all(plain_int(v) and 0 <= v <= 255 for v in c)):
                raise FacepartError(f"{path}: part_table colour of '{name}' must be 3 integers in 0..255, "
                                    f"got {c!r:.60}")
            colors[name] = tuple(c)
        g = t.get("group", False)
        if not isinstance(g, bool):
            raise FacepartError(f"{path}: part_table 'group' of '{name}' must be true or false, got {g!r:.40}")
        if g:
            groups.add(name)
    return colors, groups


# -- json ---------------------------------------------------------------------------------

def write_json(annotation: Annotation, path: Path, **options) -> list[Path]:
    """The rich JSON: part -> sorted vertex ids, with the topology fingerprint and the part table."""
    opts = ExportOptions.of(options)
    view = PartView.of(annotation, opts)
    doc = {
        "format": JSON_FORMAT,
        "format_version": JSON_VERSION,
        "topology": view.fingerprint.as_dict(),
        "rule": view.rule,
        "index_base": 0,
        "part_table": [{"id": i, "name": n, "color": [int(c) for c in view.colors[i]], "group": n in view.groups}
                       for i, n in enumerate(view.names)],
        "groups": {g: list(m) for g, m in (opts.groups or {}).items() if g in view.names},
        "parts": {n: int_list(idx) for n, idx in view.indices().items()},
        "facepart_version": __version__,
    }
    write_json_atomic(path, doc)
    return [Path(path)]


def is_facepart_json(path: Path) -> bool:
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(200)
    except OSError:
        return False
    return re.search(rb'"format"\s*:\s*"' + JSON_FORMAT.encode() + rb'"', head) is not None


def read_json(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    doc = _read_json(path, "a facepart parts JSON")
    if isinstance(doc, dict) and doc and "format" not in doc:  # meant as a plain parts.json, with a bad value
        bad = next((k for k, v in doc.items() if not isinstance(v, list)), None)
        if bad is not None:
            raise FacepartError(f"{path}: part '{bad}' is not a list of vertex ids (a parts.json maps each part "
                                "name to a list of vertex ids)")
    if not isinstance(doc, dict) or doc.get("format") != JSON_FORMAT:
        raise FacepartError(f"{path}: not a facepart parts JSON (no \"format\": \"{JSON_FORMAT}\")")
    version = doc.get("format_version", 1)
    if not plain_int(version) or version < 1:
        raise FacepartError(f"{path}: 'format_version' must be a positive integer, got {version!r:.40}")
    if version > JSON_VERSION:
        raise FacepartError(f"{path}: written by a newer facepart (format {version}); please upgrade")
    index_base = doc.get("index_base", 0)
    if index_base not in (0, 1) or isinstance(index_base, bool):
        raise FacepartError(f"{path}: 'index_base' must be 0 or 1, got {index_base!r:.40}")
    found = file_fingerprint(doc.get("topology"), str(path))
    fingerprint = check_fingerprint(found, path, model, topology)
    sets = _index_dict(doc.get("parts"), path, "'parts'", base=index_base)
    colors, groups = _part_table(doc.get("part_table"), path)
    return annotation_from_sets(_drop_groups(sets, groups, doc.get("groups"), path), fingerprint, str(path), colors)


def _drop_groups(sets: dict, groups: set[str], defined, path: Path) -> dict:
    """The parts without the groups that can be derived again (:class:`PartView` merges them on export).

    A part_table entry marked ``"group": true`` is dropped only when ``groups`` defines it from parts present in
    the file and its vertices are exactly their union. Otherwise (its member parts were left out by ``--parts``,
    ``groups`` does not define it, or the file was edited) it is kept as a plain part: dropping it would lose
    its vertices.
    """
    plain = [k for k in sets if k not in groups]
    defined = defined if isinstance(defined, dict) else {}
    derived = set()
    for g in groups & set(sets):
        members = defined.get(g)
        if members == ["all"]:
            members = plain
        if (isinstance(members, list) and members and plain
                and all(isinstance(m, str) and m in plain for m in members)):
            union = np.unique(np.concatenate([sets[m] for m in members]))
            if np.array_equal(union, np.unique(sets[g])):
                derived.add(g)
    return {k: v for k, v in sets.items() if k not in derived}


# -- parts.json (plain) ----------------------------------------------------------------------

def write_parts(annotation: Annotation, path: Path, **options) -> list[Path]:
    """``{part: sorted vertex ids}`` and nothing else."""
    view = PartView.of(annotation, ExportOptions.of(options))
    write_json_atomic(path, {n: int_list(idx) for n, idx in view.indices().items()})
    return [Path(path)]


def is_plain_parts(path: Path) -> bool:
    """A .json object of lists that is neither facepart's rich JSON nor a Meshcapade file."""
    if path.suffix.lower() != ".json" or not path.is_file() or is_facepart_json(path) or is_meshcapade(path):
        return False
    data = json_or_none(path)
    return isinstance(data, dict) and all(isinstance(v, list) for v in data.values())


def read_parts(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    sets = _index_dict(_read_json(path, "a parts JSON"), path, "a parts.json")
    return annotation_from_sets(sets, reader_fingerprint(path, "parts.json", model, topology), str(path))


# -- meshcapade -------------------------------------------------------------------------------

def camel(name: str) -> str:
    """``left_eyebrow`` -> ``leftEyebrow`` (Meshcapade's part names are camelCase: leftEye, rightHand)."""
    head, *rest = [w for w in re.split(r"[_\s-]+", str(name)) if w]
    return head + "".join(w[:1].upper() + w[1:] for w in rest) if head else str(name)


def snake(name: str) -> str:
    """``leftEyebrow`` -> ``left_eyebrow``; ``spine1`` stays ``spine1``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "_" + m.group(1).lower(), str(name))


def write_meshcapade(annotation: Annotation, path: Path, **options) -> list[Path]:
    """``{camelCaseName: [vertex ids]}`` like ``smplx_vert_segmentation.json``."""
    view = PartView.of(annotation, ExportOptions.of(options))
    indices = view.indices()
    keys = unique_file_names(indices, f"{path}: Meshcapade keys", make=camel, fold_case=False)
    out = {keys[n]: int_list(idx) for n, idx in indices.items()}
    write_json_atomic(path, out)
    return [Path(path)]


def is_meshcapade(path: Path) -> bool:
    """A .json object of lists whose keys include a camelCase name (leftEye, rightHand...)."""
    if path.suffix.lower() != ".json" or not path.is_file() or is_facepart_json(path):
        return False
    data = json_or_none(path)
    return isinstance(data, dict) and bool(data) and all(isinstance(v, list) for v in data.values()) and any(
        re.search(r"[a-z0-9][A-Z]", str(k)) for k in data)


def read_meshcapade(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    raw = _index_dict(_read_json(path, "a Meshcapade segmentation JSON"), path, "a Meshcapade segmentation")
    sets, keys = {}, {}
    for key, idx in raw.items():
        name = snake(key)
        if name in sets:
            raise FacepartError(f"{path}: keys '{keys[name]}' and '{key}' both name the part '{name}'; "
                                "expected one key per part")
        sets[name], keys[name] = idx, key
    return annotation_from_sets({k: np.unique(v) for k, v in sets.items()},
                                reader_fingerprint(path, "Meshcapade segmentation", model, topology), str(path))


# -- csv ---------------------------------------------------------------------------------------

CSV_HEADER = ("vertex", "part")


def write_csv(annotation: Annotation, path: Path, **options) -> list[Path]:
    """Rows ``vertex,part``, sorted by vertex (then part order)."""
    view = PartView.of(annotation, ExportOptions.of(options))
    v, p = np.nonzero(view.member)  # row-major: sorted by vertex, then part
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    names = view.names
    writer.writerows((int(a), names[b]) for a, b in zip(v, p))
    write_bytes_atomic(path, buf.getvalue().encode("utf-8"))
    return [Path(path)]


def is_facepart_csv(path: Path) -> bool:
    """Whether ``path`` is a file whose first line is the ``vertex,part`` header (read from its first bytes)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as fh:
        head = fh.read(64).split(b"\n", 1)[0].strip().lower()
    return head.replace(b" ", b"").startswith(b",".join(c.encode() for c in CSV_HEADER))


def read_csv(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    path = Path(path)
    with open_input(path, "r", "a CSV file", encoding="utf-8", newline="") as fh:
        try:
            rows = list(csv.reader(fh))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise FacepartError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != list(CSV_HEADER):
        raise FacepartError(f"{path}: expected a CSV file whose header is 'vertex,part'")
    sets: dict[str, list[int]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < 2:
            raise FacepartError(f"{path}:{line}: expected 'vertex,part'")
        try:
            vertex = int(row[0])
        except ValueError:
            raise FacepartError(f"{path}:{line}: '{row[0]}' is not a vertex index") from None
        if not -MAX_ID < vertex < MAX_ID:
            raise FacepartError(f"{path}:{line}: vertex index {row[0][:40]} is far outside any mesh")
        sets.setdefault(row[1].strip(), []).append(vertex)
    return annotation_from_sets({k: np.asarray(v, np.int64) for k, v in sets.items()},
                                reader_fingerprint(path, "csv", model, topology), str(path))
