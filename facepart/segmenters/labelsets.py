"""Label sets of 2D face parsers, and the one place that maps them onto facepart's parts.

A :class:`LabelSet` is a parser's classes in its own index order (``classes``)
plus, per class, a *canonical* facepart name (``canonical``): ``skin``,
``left_eye``, ``inner_mouth``, ``left_ear``, ``hair``... Left and right in
canonical names mean the subject's, as the label set *declares* them
(``sides``); :mod:`facepart.segmenters.calibration` checks the declaration on
a frontal render, because parsers disagree (formats.md 3.6).

A :class:`PartMapping` says which canonical classes vote for which part of a
:class:`~facepart.data.parts.PartTable`. By default a class votes for the part
of the same name (so a part table with ``left_ear`` picks up a parser's ears);
every other class is *ignored* (-1): background, hair, ears, neck, inner
mouth, glasses, cloth...

Built-in tables (:data:`TABLES`): ``helen``, ``ibugmask`` (11), ``ibugmask14``,
``lapa``, ``celebamask`` (official order), ``celebamask-bisenet``
(face-parsing.PyTorch / ``79999_iter.pth`` order), ``farl-lapa``,
``farl-celebm`` (facer's names) and ``mediapipe`` (facepart's landmark parser).
A user's own table is a small YAML or JSON file, see :func:`load_label_set`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..data.parts import IGNORE, PartTable
from ..errors import FacepartError, one_line
from ..io_utils import read_mapping_file

#: Canonical class names facepart knows (subject's left/right).
CANONICAL = (
    "background", "skin", "left_eye", "right_eye", "left_eyebrow", "right_eyebrow", "nose", "up_lip",
    "down_lip", "inner_mouth", "hair", "left_ear", "right_ear", "earring", "glasses", "neck", "necklace",
    "cloth", "hat",
)

#: Left/right pairs of canonical classes (left first).
LR_PAIRS = (("left_eye", "right_eye"), ("left_eyebrow", "right_eyebrow"), ("left_ear", "right_ear"))

_ALIAS_LISTS = {
    "background": ("background", "bg", "_background_", "back", "none"),
    "skin": ("skin", "face", "face_skin", "facial_skin", "face_lr_rr"),
    "left_eye": ("left_eye", "l_eye", "le", "eye_l", "leye", "eye_left"),
    "right_eye": ("right_eye", "r_eye", "re", "eye_r", "reye", "eye_right"),
    "left_eyebrow": ("left_eyebrow", "l_brow", "lb", "left_brow", "brow_l", "l_eyebrow", "eyebrow_left",
                     "brow_left", "eyebrow_l"),
    "right_eyebrow": ("right_eyebrow", "r_brow", "rb", "right_brow", "brow_r", "r_eyebrow", "eyebrow_right",
                      "brow_right", "eyebrow_r"),
    "nose": ("nose",),
    # CelebAMask-HQ's l_lip is the LOWER lip (formats.md 3.4), not the left one
    "up_lip": ("up_lip", "upper_lip", "u_lip", "ulip", "ul", "lip_upper", "top_lip", "lip_top", "upperlip"),
    "down_lip": ("down_lip", "lower_lip", "l_lip", "llip", "ll", "lip_lower", "bottom_lip", "lip_bottom", "lowerlip"),
    "inner_mouth": ("inner_mouth", "mouth", "imouth", "im", "mouth_interior", "teeth"),
    "hair": ("hair",),
    # FaRL calls the ears rr/lr
    "left_ear": ("left_ear", "l_ear", "lr", "ear_l", "ear_left"),
    "right_ear": ("right_ear", "r_ear", "rr", "ear_right"),
    "earring": ("earring", "ear_r", "earr"),
    "glasses": ("glasses", "eye_g", "eyeg", "glass", "eyeglasses"),
    "neck": ("neck",),
    "necklace": ("necklace", "neck_l", "neckl"),
    "cloth": ("cloth", "clothes"),
    "hat": ("hat",),
}

#: Raw class name (normalised: lower case, spaces and dashes as ``_``) -> canonical name.
ALIASES = {alias: canon for canon, aliases in _ALIAS_LISTS.items() for alias in aliases}

SIDES = ("subject", "image")


def normalise_name(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def canonical_name(raw: str) -> str:
    """Canonical name of a raw class name (an unknown name stays itself, normalised)."""
    norm = normalise_name(raw)
    return ALIASES.get(norm, norm)


def _name_list(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _other_side(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


@dataclass(frozen=True)
class LabelSet:
    """A parser's classes in index order and what each one is.

    Attributes:
        name: table name, e.g. ``"helen"``.
        classes: (C,) the parser's own class names, index = class id.
        canonical: (C,) facepart's name of each class (subject's left/right as declared).
        sides: what "left" in ``classes`` means, as declared by the source: ``"subject"``
            (the subject's left) or ``"image"`` (the image's left, i.e. the subject's
            right in a frontal photo). Checked at run time by the calibration.
        source: where the index order comes from.
    """

    name: str
    classes: tuple[str, ...]
    canonical: tuple[str, ...]
    sides: str = "subject"
    source: str = ""

    def __post_init__(self):
        if len(self.classes) != len(self.canonical):
            raise FacepartError(f"label set '{self.name}': {len(self.classes)} classes but "
                                f"{len(self.canonical)} canonical names")
        if self.sides not in SIDES:
            raise FacepartError(f"label set '{self.name}': sides must be one of {SIDES}, got '{self.sides}'")

    @classmethod
    def from_names(cls, name: str, classes: Sequence[str], overrides: Mapping[str, str] | None = None,
                   sides: str = "subject", source: str = "") -> "LabelSet":
        """Build a label set, resolving each raw class name through :data:`ALIASES`.

        Args:
            classes: (C,) raw names in index order.
            overrides: raw name -> canonical name, for names facepart does not know.
            sides: see :class:`LabelSet`; with ``"image"`` the canonical left/right are swapped.
        """
        classes = tuple(str(c) for c in classes)
        if not classes:
            raise FacepartError(f"label set '{name}' has no classes")
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise FacepartError(f"label set '{name}': class names must be unique, repeated: {dup}")
        overrides = {str(k): normalise_name(v) for k, v in (overrides or {}).items()}
        unknown = sorted(set(overrides) - set(classes))
        if unknown:
            raise FacepartError(f"label set '{name}': overrides name classes it does not have: {unknown}")
        canon = [overrides.get(c) or canonical_name(c) for c in classes]
        if sides == "image":
            canon = [_other_side(c) for c in canon]
        return cls(str(name), classes, tuple(canon), sides, source)

    def __len__(self) -> int:
        return len(self.classes)

    def ids(self, canonical: str | Iterable[str]) -> np.ndarray:
        """(n,) int class ids whose canonical name is ``canonical`` (a name or several)."""
        names = {canonical} if isinstance(canonical, str) else set(canonical)
        return np.array([i for i, c in enumerate(self.canonical) if c in names], dtype=np.int64)

    def has(self, canonical: str) -> bool:
        return canonical in self.canonical

    def mask(self, label_map: np.ndarray, canonical: str | Iterable[str]) -> np.ndarray:
        """(H, W) bool: pixels of ``label_map`` (H, W) whose class is ``canonical``."""
        return np.isin(label_map, self.ids(canonical))

    def as_dict(self) -> dict:
        return {"name": self.name, "classes": list(self.classes), "canonical": list(self.canonical),
                "sides": self.sides}

    def describe(self) -> str:
        return f"{self.name} ({len(self)} classes: " + ", ".join(
            c if c == k else f"{c}={k}" for c, k in zip(self.classes, self.canonical)) + ")"


def _table(name: str, classes: str, source: str) -> LabelSet:
    return LabelSet.from_names(name, classes.split(), source=source)


#: Built-in label sets (formats.md section 3), by name.
TABLES: dict[str, LabelSet] = {}
for _ls in (
    _table("helen", "background skin left_eyebrow right_eyebrow left_eye right_eye nose upper_lip inner_mouth "
           "lower_lip hair", "Smith et al. Helen README (face skin excludes ears and neck)"),
    _table("ibugmask", "background skin left_eyebrow right_eyebrow left_eye right_eye nose upper_lip "
           "inner_mouth lower_lip hair", "hhj1897/face_parsing README, 11 classes (skin includes scalp)"),
    _table("ibugmask14", "background skin left_eyebrow right_eyebrow left_eye right_eye nose upper_lip "
           "inner_mouth lower_lip hair left_ear right_ear glasses", "hhj1897/face_parsing README, 14 classes"),
    _table("lapa", "background skin left_eyebrow right_eyebrow left_eye right_eye nose upper_lip inner_mouth "
           "lower_lip hair", "LaPa (same order as Helen)"),
    _table("celebamask", "background skin nose eye_g l_eye r_eye l_brow r_brow l_ear r_ear mouth u_lip l_lip "
           "hair hat ear_r neck_l neck cloth", "CelebAMask-HQ official order (g_mask.py)"),
    _table("celebamask-bisenet", "background skin l_brow r_brow l_eye r_eye eye_g l_ear r_ear ear_r nose mouth "
           "u_lip l_lip neck neck_l cloth hair hat", "face-parsing.PyTorch / BiSeNet 79999_iter.pth"),
    _table("farl-lapa", "background face rb lb re le nose ulip imouth llip hair", "facer farl lapa/448"),
    _table("farl-celebm", "background neck face cloth rr lr rb lb re le nose imouth llip ulip hair eyeg hat earr "
           "neck_l", "facer farl celebm/448"),
    _table("mediapipe", "background skin nose left_eyebrow right_eyebrow left_eye right_eye up_lip down_lip "
           "inner_mouth", "facepart's MediaPipe landmark polygons (MediaPipe LEFT = subject's left)"),
):
    TABLES[_ls.name] = _ls
TABLE_ALIASES = {"ibugmask11": "ibugmask", "bisenet": "celebamask-bisenet", "celebamask-hq": "celebamask",
                 "face-parsing": "celebamask-bisenet", "facer-lapa": "farl-lapa", "facer-celebm": "farl-celebm"}


def load_label_set(spec: "str | Path | LabelSet") -> LabelSet:
    """A built-in table by name (:data:`TABLES`), or a user's YAML/JSON file.

    File layout (YAML or JSON)::

        name: my-parser            # optional, default: the file name
        classes: [background, skin, l_brow, r_brow, ...]   # index order (or {0: background, ...})
        canonical: {blob: skin}    # optional: raw name -> facepart name, for names facepart does not know
        sides: subject             # optional: "subject" (default) or "image"

    Raw names facepart knows (``l_brow``, ``lb``, ``u_lip``, ``imouth``, ``eye_g``...) resolve
    through :data:`ALIASES`; unknown names become their own canonical name, so a part
    table with a part of that name picks them up; otherwise the run refuses them
    (:meth:`PartMapping.check_labels`): map them in ``canonical`` (e.g. ``{blob: background}``).
    """
    if isinstance(spec, LabelSet):
        return spec
    text = str(spec)
    key = TABLE_ALIASES.get(text.lower(), text.lower())
    if key in TABLES:
        return TABLES[key]
    path = Path(text)
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise FacepartError(f"unknown label table '{text}': give one of {', '.join(TABLES)}, "
                            f"or a .yaml/.json file")
    data = read_mapping_file(path, "label table")
    return label_set_from_dict(data, str(path), default_name=path.stem)


def label_set_from_dict(data, where: str, default_name: str = "custom") -> LabelSet:
    """Build a label set from the mapping of a label-table file (see :func:`load_label_set`)."""
    expected = "expected a mapping with 'classes' (class names in index order)"
    if not isinstance(data, dict) or "classes" not in data:
        raise FacepartError(f"{where}: {expected}")
    classes = data["classes"]
    if isinstance(classes, dict):
        try:
            by_id = {int(k): v for k, v in classes.items()}
        except (TypeError, ValueError):
            raise FacepartError(f"{where}: 'classes' as a mapping needs integer ids as keys") from None
        if sorted(by_id) != list(range(len(by_id))):
            raise FacepartError(f"{where}: class ids must run 0..{len(by_id) - 1} without gaps")
        classes = [by_id[i] for i in range(len(by_id))]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise FacepartError(f"{where}: 'classes' must be a non-empty list of class names")
    overrides = data.get("canonical") or {}
    if not isinstance(overrides, dict) or not all(isinstance(v, str) for v in overrides.values()):
        raise FacepartError(f"{where}: 'canonical' must map class names to facepart names")
    sides = data.get("sides", "subject")
    if sides not in SIDES:
        raise FacepartError(f"{where}: 'sides' must be one of {', '.join(SIDES)}, got '{sides}'")
    try:
        return LabelSet.from_names(str(data.get("name") or default_name), classes, overrides, sides, source=where)
    except FacepartError as exc:
        raise FacepartError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class PartMapping:
    """Which canonical classes vote for which part; every other class is ignored (-1).

    Attributes:
        parts: the run's part table.
        sources: part name -> canonical class names that vote for it. Parts not listed
            take the class of their own name.
    """

    parts: PartTable
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self):
        unknown = sorted(set(self.sources) - set(self.parts.names))
        if unknown:
            raise FacepartError(f"part mapping names parts the part table lacks: {unknown}; "
                                f"parts are {list(self.parts.names)}")
        taken: dict[str, str] = {}
        for part, names in self.full_sources().items():
            for n in names:
                if n in taken and taken[n] != part:
                    raise FacepartError(f"class '{n}' is mapped to two parts: '{taken[n]}' and '{part}'")
                taken[n] = part

    @classmethod
    def default(cls, parts: PartTable | None = None, assign: Mapping[str, Sequence[str] | str] | None = None
                ) -> "PartMapping":
        """Each part takes the class of its own name, except the parts in ``assign``.

        ``assign`` maps part name -> canonical class name(s), e.g. ``{"skin": ["skin", "neck"]}``.
        """
        parts = parts or PartTable.paper()
        sources = {p: ((v,) if isinstance(v, str) else tuple(v)) for p, v in (assign or {}).items()}
        return cls(parts, {p: tuple(canonical_name(n) for n in v) for p, v in sources.items()})

    def full_sources(self) -> dict[str, tuple[str, ...]]:
        return {p: tuple(self.sources.get(p, (p,))) for p in self.parts.names}

    def unknown_classes(self, labels: LabelSet) -> list[str]:
        """Class names of ``labels`` whose canonical name is neither facepart's (:data:`CANONICAL`) nor a
        source of one of the parts: a name facepart cannot place (``eye``, ``brow2``, ``lips``...)."""
        known = set(CANONICAL).union(*self.full_sources().values())
        return [c for c, k in zip(labels.classes, labels.canonical) if k not in known]

    def check_labels(self, labels: LabelSet) -> None:
        """One line naming the classes of ``labels`` facepart does not know (they would silently vote for nothing)."""
        unknown = self.unknown_classes(labels)
        if unknown:
            where = f"{labels.source}: " if labels.source else ""
            raise FacepartError(one_line(
                f"{where}label set '{labels.name}' has class names facepart does not know: {_name_list(unknown)}; "
                f"use facepart's names ({', '.join(CANONICAL)}), a part's name or an alias (l_eye, r_brow, "
                f"u_lip, lower_lip...), or map each in the table's 'canonical' to one of them (background: ignored)"))

    def lut(self, labels: LabelSet, swaps: Iterable[tuple[str, str]] = ()) -> np.ndarray:
        """(C,) int16: part id per class of ``labels`` (-1 = ignore).

        ``swaps``: canonical (left, right) pairs whose sides this parser gets wrong
        (from the calibration); their classes vote for the other side's part.
        Classes facepart does not know are refused (:meth:`check_labels`).
        """
        self.check_labels(labels)
        swap = {}
        for a, b in swaps:
            swap[a], swap[b] = b, a
        owner = {n: i for i, (p, names) in enumerate(self.full_sources().items()) for n in names}
        out = np.full(len(labels), IGNORE, np.int16)
        for c, canon in enumerate(labels.canonical):
            canon = swap.get(canon, canon)
            if canon in owner:
                out[c] = owner[canon]
        return out

    def apply(self, label_map: np.ndarray, labels: LabelSet, swaps: Iterable[tuple[str, str]] = ()) -> np.ndarray:
        """(H, W) class ids of ``labels`` -> (H, W) int16 part ids, -1 = ignore."""
        lut = self.lut(labels, swaps)
        label_map = np.asarray(label_map)
        if label_map.size and (label_map.min() < 0 or label_map.max() >= len(labels)):
            raise FacepartError(f"label map has class ids {label_map.min()}..{label_map.max()}, "
                                f"but label set '{labels.name}' has {len(labels)} classes")
        return lut[label_map]

    def ignored(self, labels: LabelSet) -> list[str]:
        """Class names of ``labels`` that vote for no part."""
        lut = self.lut(labels)
        return [c for c, p in zip(labels.classes, lut) if p == IGNORE]

    def describe(self, labels: LabelSet | None = None) -> str:
        text = ", ".join(p if s == (p,) else f"{p}<-{'+'.join(s)}" for p, s in self.full_sources().items())
        if labels is not None:
            text += "; ignored: " + (", ".join(self.ignored(labels)) or "nothing")
        return text
