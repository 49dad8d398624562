"""The settings of an annotation run, checked once, with the choices the CLI offers typed here only."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

from ..data.membership import RULES  # the rules: majority, and the paper's union
from ..checks import dataclass_from_dict
from ..errors import FacepartError
from .regularize import DEFAULT_CONTRAST, DEFAULT_SMOOTH  # noqa: F401  (re-exported for the CLI)
from .variants import SamplingSettings

#: How a labelled pixel votes: for the corners of its triangle by barycentric weight (``bary``), for the
#: nearest corner of its triangle (``nearest``), or for the k nearest visible projected vertices (``knn``,
#: the paper's KD-tree search; the reference path, and the one ``k > 1`` uses).
VOTE_MODES = ("bary", "nearest", "knn")
#: Weight of a vote by the angle between the surface normal and the view ray.
VIEW_WEIGHTS = ("cos2", "cos", "none")
#: The most variants one run may render (a larger number is a typo: 10^6 views at 512 px take days); the
#: held-out check views are numbered from here on, so they never repeat a voting view.
MAX_VARIANTS = 1_000_000
#: Default yaw half-range (degrees) when the parser has no reliable range of its own.
DEFAULT_YAW = 80.0


@dataclass(frozen=True)
class AnnotateSettings:
    """Everything that decides an annotation's votes and labels.

    Attributes:
        variants: views rendered and voted.
        size: render size in pixels (square).
        k: with ``vote="knn"``, each pixel votes for its k nearest visible vertices.
        rule: "majority" or "union" (what ``parts.json`` holds).
        seed: variants, noise and everything random depend on it alone.
        only_on_mesh: pixels off the rendered mesh do not vote.
        none_votes: unlabelled pixels on vote-eligible surface vote "none".
        vote: "bary", "nearest" or "knn" (see :data:`VOTE_MODES`).
        view_weight: "cos2", "cos" or "none": weight of a vote by the view angle.
        grazing: votes from surface seen at |cos| below this are dropped.
        eyeballs: eyeball geometry seen through the eye opening may receive eye votes.
        reweight_views: views that disagree with the consensus lose weight (no re-rendering).
        symmetry: pool the votes of mirror-partner vertices when the model is mirror-symmetric.
        smooth: strength of the mesh-space graph cut (0 = off).
        contrast: how much cheaper the cut's boundaries are between vertices whose votes disagree
            (0: a plain Potts term; see :mod:`facepart.annotate.regularize`).
        sampling: variant ranges.
    """

    variants: int = 50
    size: int = 512
    k: int = 1
    rule: str = "majority"
    seed: int = 0
    only_on_mesh: bool = True
    none_votes: bool = True
    vote: str = "nearest"
    view_weight: str = "cos2"
    grazing: float = 0.1
    eyeballs: bool = True
    reweight_views: bool = True
    symmetry: bool = True
    smooth: float = DEFAULT_SMOOTH
    contrast: float = DEFAULT_CONTRAST
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    def __post_init__(self):
        check_finite_fields(self)
        check_int_option(self.variants, "variants", 1, MAX_VARIANTS)
        check_int_option(self.size, "size", 32, 4096)
        check_int_option(self.k, "k", 1, 64)
        check_int_option(self.seed, "seed", 0, 2**63 - 1)
        check_choice_option(self.rule, "rule", RULES)
        check_choice_option(self.vote, "vote", VOTE_MODES)
        check_choice_option(self.view_weight, "view-weight", VIEW_WEIGHTS)
        if self.k > 1 and self.vote != "knn":
            object.__setattr__(self, "vote", "knn")  # k nearest vertices is the KD-tree path
        if not 0.0 <= self.grazing < 1.0:
            raise FacepartError(f"--grazing must lie in [0, 1), got {self.grazing}")
        if not 0.0 <= self.smooth <= 100.0:
            raise FacepartError(f"--smooth must lie in [0, 100], got {self.smooth}")
        if not 0.0 <= self.contrast <= 20.0:
            raise FacepartError(f"--contrast must lie in [0, 20], got {self.contrast}")
        if not isinstance(self.sampling, SamplingSettings):
            raise FacepartError("sampling must be a SamplingSettings")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict, what: str = "settings") -> "AnnotateSettings":
        """From a JSON object (a manifest's or an annotation's settings; keys of the run record that are not
        settings are skipped), every value checked against its default's type; one line naming ``what``."""
        if not isinstance(d, dict):
            raise FacepartError(f"{what}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        return dataclass_from_dict(cls, {k: v for k, v in d.items() if k in known}, what)

    def view_key(self) -> dict:
        """The settings that change a single view's votes (a checkpoint or shard is reusable when they match)."""
        keep = ("size", "k", "seed", "only_on_mesh", "none_votes", "vote", "view_weight", "grazing", "eyeballs",
                "sampling")
        d = self.as_dict()
        return {k: d[k] for k in keep}


def check_finite_fields(settings) -> None:
    """One line naming the option of the first float field of dataclass ``settings`` that is NaN or infinite."""
    for f in fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise FacepartError(f"--{f.name.replace('_', '-')} must be a finite number, got {value}")


def check_int_option(value, name: str, lo: int, hi: int | None = None) -> None:
    """One line naming ``--name`` unless ``value`` is a whole number (not a bool) in ``lo..hi``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FacepartError(f"--{name} must be a whole number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise FacepartError(f"--{name} must be {bound}, got {value}")


def check_choice_option(value, name: str, choices) -> None:
    """One line naming ``--name`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise FacepartError(f"--{name} must be one of {', '.join(choices)}, got '{value}'")


def sampling_for(segmenter, yaw: float | None = None, **overrides) -> SamplingSettings:
    """Sampling settings that suit ``segmenter``: yaw +-``yaw`` if given, else the segmenter's own
    reliable yaw range (``segmenter.yaw_range``, e.g. MediaPipe's +-35 degrees), else +-:data:`DEFAULT_YAW`."""
    if yaw is not None:
        if not math.isfinite(yaw) or not 0 < yaw <= 180:  # a negative range is refused, not read as its size
            raise FacepartError(f"--yaw must be a finite angle within 0..180 degrees, more than 0 (the range is "
                                f"+-YAW), got {yaw:g}")
        overrides["yaw"] = (-yaw, yaw)
    elif getattr(segmenter, "yaw_range", None) is not None:
        overrides["yaw"] = tuple(segmenter.yaw_range)
    else:
        overrides.setdefault("yaw", (-DEFAULT_YAW, DEFAULT_YAW))
    return SamplingSettings(**overrides)
