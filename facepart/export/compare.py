"""Compare two annotations of one topology: per-part IoU, and where they differ.

Typical pairs: facepart's annotation against 3DDFA-V3's released one, two runs
with different seeds or parsers, before and after a correction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.annotation import Annotation
from ..errors import FacepartError
from ..io_utils import check_output_file, write_json_atomic


@dataclass
class Comparison:
    """Per-part agreement of annotations A and B (same topology).

    Attributes:
        names: (P,) parts compared: A's parts, then B's parts A lacks.
        iou: (P,) float |A_p & B_p| / |A_p | B_p| (NaN when both are empty).
        size_a, size_b, intersection: (P,) int vertex counts.
        labels_a, labels_b: (V,) int64 one label per vertex over ``names`` (-1 = none).
        member_a, member_b: (V, P) bool part membership under ``rule``.
        rule: the rule both were read under.
        groups: parts that one file holds as a merged group of its other parts (a plain parts.json or CSV
            written with ``export --group``): name -> (which file, "A" or "B"; the parts it merges). The
            other file's membership of such a part is the union of the same parts, so it compares like any
            part and is not a difference by itself.
    """

    names: tuple[str, ...]
    iou: np.ndarray
    size_a: np.ndarray
    size_b: np.ndarray
    intersection: np.ndarray
    labels_a: np.ndarray
    labels_b: np.ndarray
    member_a: np.ndarray
    member_b: np.ndarray
    rule: str
    groups: dict[str, tuple[str, tuple[str, ...]]] | None = None

    @property
    def differ(self) -> np.ndarray:
        """(V,) bool: vertices whose part membership differs."""
        return (self.member_a != self.member_b).any(axis=1)

    @property
    def mean_iou(self) -> float:
        valid = ~np.isnan(self.iou)
        return float(self.iou[valid].mean()) if valid.any() else float("nan")

    def differences(self) -> dict[str, list[int]]:
        """The parts.json of the differences: ``"A->B"`` (e.g. ``"skin->nose"``, ``"none->skin"``) -> vertex ids,
        plus ``"all"``: every vertex whose membership differs."""
        names = list(self.names) + ["none"]
        a = np.where(self.labels_a < 0, len(self.names), self.labels_a)
        b = np.where(self.labels_b < 0, len(self.names), self.labels_b)
        out: dict[str, list[int]] = {"all": np.flatnonzero(self.differ).tolist()}
        pairs = np.flatnonzero(a != b)
        for i, j in sorted({(int(a[v]), int(b[v])) for v in pairs}):
            out[f"{names[i]}->{names[j]}"] = np.flatnonzero((a == i) & (b == j)).tolist()
        return out

    def table(self) -> str:
        width = max([len(n) for n in self.names] + [4])
        rows = [f"  {'part':<{width}}  {'IoU':>6}  {'A':>7}  {'B':>7}  {'both':>7}"]
        for i, n in enumerate(self.names):
            iou = "n/a" if np.isnan(self.iou[i]) else f"{self.iou[i]:.4f}"
            rows.append(f"  {n:<{width}}  {iou:>6}  {int(self.size_a[i]):>7}  {int(self.size_b[i]):>7}  "
                        f"{int(self.intersection[i]):>7}")
        rows.append(f"  {'mean':<{width}}  {self.mean_iou:>6.4f}")
        return "\n".join(rows)

    def lines(self) -> list[str]:
        n = len(self.labels_a)
        d = int(self.differ.sum())
        notes = [f"  {name}: a group in {who} ({'+'.join(members)}); in {'B' if who == 'A' else 'A'} the same "
                 "parts merged" for name, (who, members) in (self.groups or {}).items()]
        return [f"per-part IoU ({self.rule} rule):", self.table(), *notes,
                f"{d} of {n} vertices differ ({100.0 * d / max(n, 1):.2f}%)"]


def merged_groups(annotation: Annotation) -> dict[str, tuple[str, ...]]:
    """Parts of ``annotation`` that are exactly the union of two or more of its other parts (a group written
    into a format that cannot mark it, like ``export --to parts --group eyes=left_eye+right_eye``):
    name -> the parts it merges (only those not themselves such a group)."""
    m = annotation.membership()
    names = annotation.parts.names
    sizes = m.sum(axis=0)
    found: dict[str, tuple[str, ...]] = {}
    for i, name in enumerate(names):
        if sizes[i] == 0:
            continue
        inside = [j for j in range(len(names))
                  if j != i and 0 < sizes[j] <= sizes[i] and not (m[:, j] & ~m[:, i]).any()]
        if len(inside) >= 2 and np.array_equal(m[:, inside].any(axis=1), m[:, i]):
            found[name] = tuple(names[j] for j in inside)
    # a group of groups (face=all beside eyes=...) lists the plain parts only
    return {g: tuple(p for p in members if p not in found) for g, members in found.items()}


def compare(a: Annotation, b: Annotation, rule: str | None = None) -> Comparison:
    """Per-part IoU of ``a`` and ``b`` (parts matched by name) under ``rule`` (default: each file's own)."""
    a.fingerprint.check_matches(b.fingerprint, "annotation B", "annotation A")
    names = list(a.parts.names) + [n for n in b.parts.names if n not in a.parts.names]
    n = a.n_vertices

    # a part one file holds as a group of its other parts, which the other file lacks: merge the same parts there
    groups = {}
    for who, ann, other in (("A", a, b), ("B", b, a)):
        for g, parts in merged_groups(ann).items():
            if g not in other.parts.names and parts and all(p in other.parts.names for p in parts):
                groups[g] = (who, parts)

    def members(ann: Annotation) -> np.ndarray:
        m = ann.membership(rule)
        out = np.zeros((n, len(names)), bool)
        for i, name in enumerate(ann.parts.names):
            out[:, names.index(name)] = m[:, i]
        for g, (_, parts) in groups.items():
            if g not in ann.parts.names:
                out[:, names.index(g)] = out[:, [names.index(p) for p in parts]].any(axis=1)
        return out

    def labels(ann: Annotation) -> np.ndarray:
        remap = np.array([names.index(p) for p in ann.parts.names] + [-1], np.int64)
        return remap[np.where(ann.labels < 0, len(ann.parts), ann.labels)]

    ma, mb = members(a), members(b)
    inter = (ma & mb).sum(axis=0)
    union = (ma | mb).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
    return Comparison(tuple(names), iou, ma.sum(axis=0), mb.sum(axis=0), inter, labels(a), labels(b), ma, mb,
                      rule or (a.rule if a.rule == b.rule else f"{a.rule}/{b.rule}"), groups)


def compare_files(path_a, path_b, out: str | Path | None = None, *, model=None, rule: str | None = None,
                  format_a: str | None = None, format_b: str | None = None) -> Comparison:
    """:func:`compare` two annotation files (any readable format); write the differences as a parts.json.

    A file that does not name its topology (parts.json, csv...) takes the other's.
    """
    from .api import read_annotation

    if out is not None:
        check_output_file(out)  # before reading: a typo in --out is reported first, and cheaply

    def read(path, fmt, topology=None):
        return read_annotation(path, fmt, model=model, topology=topology)

    def read_or_none(path, fmt):  # None: the file does not name its mesh (it takes the other's)
        try:
            return read(path, fmt)
        except FacepartError as err:
            if "does not say which mesh" not in str(err):
                raise
            return None

    a, b = read_or_none(path_a, format_a), read_or_none(path_b, format_b)
    if a is None and b is None:
        a = read(path_a, format_a)  # neither names its mesh and no model: the reader's own message
    a = a if a is not None else read(path_a, format_a, b.fingerprint)
    b = b if b is not None else read(path_b, format_b, a.fingerprint)
    if a.n_vertices != b.n_vertices or a.fingerprint != b.fingerprint:
        b.fingerprint.check_matches(a.fingerprint, f"{path_b}", f"{path_a}")
    result = compare(a, b, rule)
    if out is not None:
        write_json_atomic(Path(out), result.differences())
    return result
