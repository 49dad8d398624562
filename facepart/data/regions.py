"""Region sets a model file already carries (3DDFA-V3 ``annotation``, FLAME_masks.pkl, BFM 2009 ``segbin``,
FaceVerse v3 ``parsing``, Deep3D masks).

A :class:`RegionSet` is a dict of region name -> sorted 0-based vertex ids.
Regions may overlap (FLAME's ``face`` contains its ``nose``) and need not
cover every vertex. :meth:`RegionSet.labels` turns a set into one label per
vertex (the smallest containing region wins, so nested masks give their most
specific name), and :meth:`RegionSet.to_annotation` into an
:class:`~facepart.data.annotation.Annotation` that every facepart command
reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FacepartError
from .parts import PartTable
from .topology import Fingerprint


@dataclass
class RegionSet:
    """Named vertex regions of one topology, as found in a model's files."""

    name: str  # e.g. "3DDFA-V3 annotation"
    regions: dict[str, np.ndarray]  # region name -> sorted unique (N_r,) int64 vertex ids
    source: str = ""  # the file it was read from
    notes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.regions = {str(k): np.unique(np.asarray(v, dtype=np.int64).ravel()) for k, v in self.regions.items()}

    def check(self, n_vertices: int) -> "RegionSet":
        for key, idx in self.regions.items():
            if idx.size and (idx.min() < 0 or idx.max() >= n_vertices):
                raise FacepartError(f"{self.source or self.name}: region '{key}' has vertex ids outside "
                                    f"0..{n_vertices - 1}")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.regions)

    def overlapping(self) -> bool:
        total = sum(len(v) for v in self.regions.values())
        return total != len(self.covered())

    def covered(self) -> np.ndarray:
        if not self.regions:
            return np.zeros(0, np.int64)
        return np.unique(np.concatenate(list(self.regions.values())))

    def labels(self, n_vertices: int, parts: PartTable | None = None) -> np.ndarray:
        """(V,) int64 part id per vertex over ``parts`` (default: one part per region), -1 = none.

        Where regions overlap the smallest one wins. With ``parts`` given, regions
        whose names are not parts are left out.
        """
        parts = parts or self.part_table()
        out = np.full(n_vertices, -1, np.int64)
        for key, idx in sorted(self.regions.items(), key=lambda kv: -len(kv[1])):
            if key in parts.names:
                out[idx] = parts.index(key)
        return out

    def part_table(self) -> PartTable:
        return PartTable.from_names(self.names)

    def to_annotation(self, fingerprint: Fingerprint, parts: PartTable | None = None):
        """An :class:`Annotation` whose votes are region membership (rule "union" if regions overlap)."""
        from .annotation import Annotation

        parts = parts or self.part_table()
        n = fingerprint.n_vertices
        self.check(n)
        member = np.zeros((n, len(parts)), np.int32)
        for key, idx in self.regions.items():
            if key in parts.names:
                member[idx, parts.index(key)] = 1
        labels = self.labels(n, parts)
        count = member.sum(axis=1)
        confidence = np.where(count > 0, 1.0 / np.maximum(count, 1), 0.0).astype(np.float32)
        return Annotation(labels, member, confidence, np.zeros(n, np.int32), parts, fingerprint,
                          "union" if self.overlapping() else "majority",
                          {"source": self.source, "region_set": self.name})

    def as_json(self) -> dict[str, list[int]]:
        """The parts.json form: region name -> sorted vertex ids."""
        return {k: v.tolist() for k, v in self.regions.items()}

    def subset(self, kept: np.ndarray, n_old: int) -> "RegionSet":
        """The regions on a sub-topology whose vertex i is old vertex ``kept[i]``."""
        new_id = np.full(n_old, -1, np.int64)
        new_id[kept] = np.arange(len(kept))
        regions = {}
        for key, idx in self.regions.items():
            mapped = new_id[idx]
            regions[key] = mapped[mapped >= 0]
        return RegionSet(self.name, regions, self.source, list(self.notes))

    def describe(self, n_vertices: int) -> list[str]:
        sizes = ", ".join(f"{k} {len(v)}" for k, v in self.regions.items())
        cover = len(self.covered())
        lines = [f"existing regions: {self.name} ({len(self.regions)} regions, {cover} of {n_vertices} vertices"
                 + (", overlapping" if self.overlapping() else "") + f"): {sizes}"]
        lines += [f"  note: {n}" for n in self.notes]
        return lines


def fix_sides(regions: dict[str, np.ndarray], vertices: np.ndarray, notes: list[str]) -> dict[str, np.ndarray]:
    """Make "left"/"right" in region names the subject's (left at +x); swap the names if the file meant image sides.

    Decided by the sign of the mean x of each left/right pair; pairs that do
    not sit on opposite sides are left alone.
    """
    pairs = []
    for key in regions:
        if "left" in key:
            other = key.replace("left", "right")
            if other in regions and len(regions[key]) and len(regions[other]):
                pairs.append((key, other))
    if not pairs:
        return regions
    verdicts = []
    for left, right in pairs:
        xl, xr = float(vertices[regions[left], 0].mean()), float(vertices[regions[right], 0].mean())
        verdicts.append(0 if xl == xr else (1 if xl > xr else -1))
    if all(v < 0 for v in verdicts):
        notes.append("'left'/'right' region names referred to image sides; renamed to the subject's sides "
                     "(left = +x)")
        out = {}
        for key, idx in regions.items():
            swapped = key.replace("left", "\0").replace("right", "left").replace("\0", "right")
            out[swapped] = idx
        return out
    if any(v < 0 for v in verdicts):
        notes.append("warning: some left/right regions sit on the subject's left, others on the right")
    return regions
