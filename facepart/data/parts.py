"""Part tables: which parts an annotation has, in which order, with which colours.

A part table is data. The default is the paper's 8 parts; ``PartTable.from_names``
makes others (ears, neck, inner mouth, ...) for parsers that have them.
Left and right always mean the subject's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import FacepartError

#: The 8 parts of the 3DDFA-V3 paper, in facepart's order.
PAPER_PARTS = (
    "left_eye",
    "right_eye",
    "left_eyebrow",
    "right_eyebrow",
    "up_lip",
    "down_lip",
    "nose",
    "skin",
)

#: Display colours (RGB) for well-known part names; others get a generated colour.
KNOWN_COLORS = {
    "left_eye": (30, 144, 255),
    "right_eye": (0, 200, 200),
    "left_eyebrow": (139, 69, 19),
    "right_eyebrow": (210, 140, 60),
    "up_lip": (220, 20, 60),
    "down_lip": (255, 105, 180),
    "nose": (50, 205, 50),
    "skin": (255, 218, 150),
    "left_ear": (148, 0, 211),
    "right_ear": (186, 85, 211),
    "neck": (128, 128, 0),
    "inner_mouth": (90, 0, 0),
    "hair": (60, 60, 60),
}

#: Colour of unlabelled vertices in previews.
UNLABELLED_COLOR = (128, 128, 128)

#: Part id meaning "no part / ignore" in part maps and label arrays.
IGNORE = -1


@dataclass(frozen=True)
class PartTable:
    """Names and display colours of the parts, in id order (id = position)."""

    names: tuple[str, ...]
    colors: np.ndarray  # (P, 3) uint8

    @classmethod
    def from_names(cls, names: Sequence[str]) -> "PartTable":
        names = tuple(str(n) for n in names)
        if not names:
            raise FacepartError("a part table needs at least one part")
        if len(set(names)) != len(names):
            raise FacepartError(f"part names must be unique, got {list(names)}")
        rng = np.random.default_rng(7)
        colors = np.array(
            [KNOWN_COLORS.get(n) or tuple(rng.integers(40, 230, 3)) for n in names], dtype=np.uint8
        )
        return cls(names, colors)

    @classmethod
    def paper(cls) -> "PartTable":
        return cls.from_names(PAPER_PARTS)

    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise FacepartError(f"unknown part '{name}'; parts are {list(self.names)}") from None

    def mirror(self) -> np.ndarray:
        """(P,) int: for each part, the id of its left/right counterpart (itself if none)."""
        out = np.arange(len(self.names))
        for i, name in enumerate(self.names):
            for a, b in (("left", "right"), ("right", "left")):
                if a in name:
                    other = name.replace(a, b)
                    if other in self.names:
                        out[i] = self.names.index(other)
        return out

    def colorize(self, labels: np.ndarray) -> np.ndarray:
        """Colour a label array: (...) int with -1 = none -> (..., 3) uint8."""
        labels = np.asarray(labels)
        lut = np.vstack([self.colors, np.array([UNLABELLED_COLOR], np.uint8)])
        return lut[np.where(labels < 0, len(self.names), labels)]
