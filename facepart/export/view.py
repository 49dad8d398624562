"""What an export writes: the parts of an annotation under a rule, with merged groups and a chosen subset.

:class:`PartView` is the one place where ``--rule``, ``--group`` and ``--parts``
are applied, so every format writes the same vertex sets. Its parts may overlap
(the "union" rule, groups such as ``face=all``); where one vertex (or triangle)
must get one label (colours, per-triangle labels) the most specific part wins:
the smallest part containing it.

:func:`annotation_from_sets` is the way back: region name -> vertex ids (what
most foreign formats hold) to an :class:`~facepart.data.annotation.Annotation`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.annotation import Annotation
from ..data.parts import PAPER_PARTS, PartTable
from ..data.topology import Fingerprint
from ..errors import FacepartError
from .common import count_field
from .options import ExportOptions


@dataclass(frozen=True)
class PartView:
    """Vertex sets to export.

    Attributes:
        names: (P,) part and group names, in output order.
        colors: (P, 3) uint8 display colours.
        member: (V, P) bool, vertex ``v`` is in part ``p``.
        fingerprint: the topology the sets index.
        rule: the assignment rule the base parts came from.
        groups: the names among ``names`` that are merged groups.
    """

    names: tuple[str, ...]
    colors: np.ndarray
    member: np.ndarray
    fingerprint: Fingerprint
    rule: str
    groups: tuple[str, ...] = ()

    @classmethod
    def of(cls, annotation: Annotation, options: ExportOptions | dict | None = None) -> "PartView":
        opts = options if isinstance(options, ExportOptions) else ExportOptions.of(options or {})
        rule = opts.rule or annotation.rule
        member = annotation.membership(rule)
        names = list(annotation.parts.names)
        colors = list(annotation.parts.colors)
        columns = [member[:, i] for i in range(len(names))]
        group_names = []
        groups = opts.groups or {}
        generated = PartTable.from_names(list(dict.fromkeys([*names, *groups])))
        for group, members in groups.items():
            if group in names:
                raise FacepartError(f"group '{group}' has the name of a part; choose another name")
            if members == ("all",):
                col = member.any(axis=1)
            else:
                missing = [m for m in members if m not in annotation.parts.names]
                if missing:
                    raise FacepartError(f"group '{group}': unknown part(s) {', '.join(missing)}; parts are "
                                        f"{', '.join(annotation.parts.names)}")
                col = member[:, [annotation.parts.index(m) for m in members]].any(axis=1)
            names.append(group)
            columns.append(col)
            colors.append(generated.colors[generated.index(group)])
            group_names.append(group)
        order = list(range(len(names)))
        if opts.parts is not None:
            unknown = [p for p in opts.parts if p not in names]
            if unknown:
                raise FacepartError(f"--parts: unknown part(s) {', '.join(unknown)}; available: {', '.join(names)}")
            order = [names.index(p) for p in opts.parts]
        mem = np.stack([columns[i] for i in order], axis=1) if order else np.zeros((annotation.n_vertices, 0), bool)
        return cls(tuple(names[i] for i in order), np.array([colors[i] for i in order], np.uint8).reshape(-1, 3),
                   mem, annotation.fingerprint, rule, tuple(n for n in group_names if n in [names[i] for i in order]))

    @property
    def n_vertices(self) -> int:
        return int(self.member.shape[0])

    def indices(self) -> dict[str, np.ndarray]:
        """Part name -> sorted (N_p,) int64 vertex ids."""
        return {name: np.flatnonzero(self.member[:, i]) for i, name in enumerate(self.names)}

    def most_specific(self, member: np.ndarray) -> np.ndarray:
        out = np.full(member.shape[0], -1, np.int64)
        sizes = self.member.sum(axis=0)
        for i in sorted(range(len(self.names)), key=lambda i: (-sizes[i], -i)):  # largest first, smaller overwrite
            out[member[:, i]] = i
        return out

    def labels(self) -> np.ndarray:
        """(V,) int64 one part per vertex (the smallest containing one), -1 = none."""
        return self.most_specific(self.member)

    def overlapping(self) -> bool:
        return bool((self.member.sum(axis=1) > 1).any())

    def triangle_member(self, triangles: np.ndarray, tri_rule: str) -> np.ndarray:
        """(F, P) bool: triangle ``t`` is in part ``p`` when all / any / a majority of its corners are."""
        tri = np.asarray(triangles, np.int64)
        if tri.size and tri.max() >= self.n_vertices:
            raise FacepartError(f"triangles index vertex {int(tri.max())}, the annotation has {self.n_vertices}")
        count = self.member[tri].sum(axis=1)  # (F, P) corners in the part
        need = {"all": 3, "any": 1, "majority": 2}[tri_rule]
        return count >= need

    def triangle_labels(self, triangles: np.ndarray, tri_rule: str) -> np.ndarray:
        """(F,) int64 one part per triangle (the smallest containing one), -1 = none."""
        return self.most_specific(self.triangle_member(triangles, tri_rule))

    def part_table(self) -> PartTable:
        return PartTable(tuple(self.names), self.colors)

    def coverage_lines(self) -> list[str]:
        """Per part vertex counts, unlabelled vertices and overlaps, for the export summary."""
        count = self.member.sum(axis=1)
        width = max([len(n) for n in self.names] + [6])
        lines = [f"  {name:<{width}}  {int(self.member[:, i].sum()):>7} vertices"
                 + ("  (group)" if name in self.groups else "") for i, name in enumerate(self.names)]
        lines.append(f"  {'(none)':<{width}}  {int((count == 0).sum()):>7} of {self.n_vertices} vertices in no part")
        if (count > 1).any():
            lines.append(f"  {int((count > 1).sum())} vertices are in more than one part ({self.rule} rule"
                         + (", groups" if self.groups else "") + ")")
        return lines


def annotation_from_sets(sets: dict[str, np.ndarray], fingerprint: Fingerprint, source: str,
                         colors: dict[str, tuple] | None = None, settings: dict | None = None) -> Annotation:
    """An :class:`Annotation` from part name -> vertex ids (may overlap, need not cover every vertex).

    Votes are membership (1 per part a vertex is in); the label of a vertex is the
    smallest part containing it; the rule is "union" when parts overlap, else
    "majority", so that ``members()`` gives the sets back. The paper's 8 parts come
    in facepart's order, other names in the file's order.
    """
    n = fingerprint.n_vertices
    count_field(n, source, "the mesh's vertex count")
    names = list(sets)
    if set(names) == set(PAPER_PARTS):
        names = list(PAPER_PARTS)
    if not names:
        raise FacepartError(f"{source}: no parts in the file")
    parts = PartTable.from_names(names)
    if colors:
        parts = PartTable(parts.names, np.array([colors.get(nm, tuple(parts.colors[i]))
                                                 for i, nm in enumerate(names)], np.uint8))
    member = np.zeros((n, len(names)), bool)
    for i, name in enumerate(names):
        idx = np.asarray(sets[name])
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            if not np.all(np.mod(idx, 1) == 0):
                raise FacepartError(f"{source}: part '{name}' holds non-integer vertex ids")
        idx = idx.astype(np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise FacepartError(f"{source}: part '{name}' has vertex ids outside 0..{n - 1} "
                                f"(the mesh has {n} vertices)")
        member[idx, i] = True
    sizes = member.sum(axis=0)
    labels = np.full(n, -1, np.int64)
    for i in sorted(range(len(names)), key=lambda i: (-sizes[i], -i)):
        labels[member[:, i]] = i
    count = member.sum(axis=1)
    confidence = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0).astype(np.float32)
    rule = "union" if (count > 1).any() else "majority"
    return Annotation(labels, member.astype(np.int32), confidence, np.zeros(n, np.int32), parts, fingerprint, rule,
                      {"source": str(source), **(settings or {})})


def subset_annotation(annotation: Annotation, parts: tuple[str, ...]) -> Annotation:
    """The annotation restricted to ``parts`` (in that order); other parts' vertices become unlabelled."""
    idx = [annotation.parts.index(p) for p in parts]
    new_id = np.full(len(annotation.parts) + 1, -1, np.int64)
    new_id[idx] = np.arange(len(idx))
    labels = new_id[np.where(annotation.labels < 0, len(annotation.parts), annotation.labels)]
    table = PartTable(tuple(parts), annotation.parts.colors[idx])
    return Annotation(labels, annotation.votes[:, idx], np.where(labels >= 0, annotation.confidence, 0).astype(
        np.float32), annotation.visible_count, table, annotation.fingerprint, annotation.rule,
        dict(annotation.settings), none_votes=annotation.none_votes, edited=annotation.edited,
        edit_log=list(annotation.edit_log))
