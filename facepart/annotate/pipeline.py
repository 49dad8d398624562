"""Algorithm 1 end to end: sample -> render -> segment -> vote -> assign.

:func:`annotate` is the library entry point; the CLI only parses options,
calls it and writes the files. An optional checkpoint file makes a run
resumable: it holds the vote table after every few variants, and a re-run
with the same model, settings and segmenter continues where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, NamedTuple

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.face_model import FaceModel
from ..errors import FacepartError
from ..io_utils import atomic_path
from ..renderers.camera import Camera
from ..renderers.fragments import visible_vertices
from ..segmenters.base import PartSegmenter, View
from .assign import RULES, majority
from .variants import SamplingSettings, Variant, head_frame, posed_vertices, sample_variant
from .vote import vote


@dataclass(frozen=True)
class AnnotateSettings:
    """Settings of one annotation run (everything that changes its votes)."""

    variants: int = 50
    size: int = 512
    k: int = 1
    rule: str = "majority"
    seed: int = 0
    only_on_mesh: bool = True  # pixels off the rendered mesh do not vote
    none_votes: bool = True  # unlabelled pixels on eligible surface vote "none" (majority rule)
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    def __post_init__(self):
        if self.variants < 1:
            raise FacepartError(f"--variants must be at least 1, got {self.variants}")
        if not 32 <= self.size <= 4096:
            raise FacepartError(f"--size must be between 32 and 4096 pixels, got {self.size}")
        if self.k < 1:
            raise FacepartError(f"--k must be at least 1, got {self.k}")
        if self.rule not in RULES:
            raise FacepartError(f"--rule must be one of {', '.join(RULES)}, got '{self.rule}'")

    def as_dict(self) -> dict:
        return asdict(self)


def sampling_for(segmenter, yaw: float | None = None, **overrides) -> SamplingSettings:
    """Sampling settings that suit ``segmenter``: yaw +-``yaw`` if given, else the segmenter's own
    reliable yaw range (``segmenter.yaw_range``, e.g. MediaPipe's +-35 degrees), else the default."""
    if yaw is not None:
        overrides["yaw"] = (-abs(yaw), abs(yaw))
    elif getattr(segmenter, "yaw_range", None) is not None:
        overrides["yaw"] = tuple(segmenter.yaw_range)
    return SamplingSettings(**overrides)


class RunStats(NamedTuple):
    variants: int  # variants rendered in total (including resumed ones)
    skipped: int  # views the segmenter could not parse (no face found)
    resumed_from: int  # variants taken from a checkpoint
    seconds: float  # wall time of this process's share of the run
    variants_per_second: float


class AnnotateResult(NamedTuple):
    annotation: Annotation
    stats: RunStats


class Scene(NamedTuple):
    """What every view of a run shares: triangles drawn, pose pivot, camera."""

    triangles: np.ndarray  # (F_r, 3) the rendered triangles; fragment ids index this
    centre: np.ndarray  # (3,)
    camera: Camera
    eligible_triangles: np.ndarray  # (F_r,) bool, triangles with a vote-eligible corner
    depth_tolerance: float  # visibility test: metres, a few pixel footprints at the head


def depth_tolerance(camera: Camera, radius: float) -> float:
    """Three pixel footprints at the head's distance, at least 0.5% of its radius."""
    distance = float(np.linalg.norm(camera.translation))
    return max(3.0 * distance / camera.fx, 0.005 * radius)


def make_scene(model: FaceModel, size: int, whole: bool = False) -> Scene:
    """The shared camera and triangles of a run; ``whole`` frames the whole mesh, not just the face."""
    centre, radius = head_frame(model, whole)
    triangles = model.triangles[model.render_triangles]
    camera = Camera.looking_at(centre, radius, size)
    return Scene(triangles, centre, camera, model.vote_mask[triangles].any(axis=1), depth_tolerance(camera, radius))


def render_view(model: FaceModel, variant: Variant, scene: Scene, renderer, shade: bool = True) -> View:
    """Render one variant into a :class:`View` (shaded colour only when ``shade``)."""
    vertices = posed_vertices(model, variant, scene.centre)
    colors = model.colors(variant.albedo) if shade else None
    fragments = renderer.render(vertices, scene.triangles, scene.camera, colors=colors, light=variant.light)
    uv, depth = scene.camera.project(vertices)
    return View(variant.index, fragments, scene.camera, vertices, uv.astype(np.float32), depth.astype(np.float32),
                scene.triangles)


def iter_views(model: FaceModel, settings: AnnotateSettings, renderer, indices: Iterable[int],
               shade: bool = True, scene: Scene | None = None) -> Iterator[tuple[Variant, View]]:
    scene = scene or make_scene(model, settings.size)
    for i in indices:
        variant = sample_variant(model, settings.sampling, settings.seed, i)
        yield variant, render_view(model, variant, scene, renderer, shade)


def view_votes(view: View, part_map: np.ndarray, model: FaceModel, scene: Scene,
               settings: AnnotateSettings, n_parts: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, P + 1) votes (last column "none") and (V,) bool visibility of one view."""
    frag = view.fragments
    visible = visible_vertices(frag, view.triangles, view.uv, view.depth, scene.depth_tolerance)
    on_eligible = frag.mask & scene.eligible_triangles[np.maximum(frag.triangle_id, 0)]
    votes = vote(part_map, view.uv, visible & model.vote_mask, n_parts, settings.k,
                 pixel_mask=frag.mask if settings.only_on_mesh else None,
                 none_mask=on_eligible if settings.none_votes else None)
    return votes, visible


def check_part_map(part_map: np.ndarray, view: View, n_parts: int, who: str) -> np.ndarray:
    shape = view.fragments.triangle_id.shape
    part_map = np.asarray(part_map)
    if part_map.shape != shape:
        raise FacepartError(f"{who}: part map of shape {part_map.shape}, expected {shape} (the render size)")
    if part_map.size and (part_map.min() < -1 or part_map.max() >= n_parts):
        raise FacepartError(f"{who}: part ids outside -1..{n_parts - 1}")
    return part_map


def run_key(model: FaceModel, settings: AnnotateSettings, segmenter_desc: str) -> str:
    """Hash of everything that must match for a checkpoint to be resumed."""
    blob = json.dumps([model.fingerprint.as_dict(), settings.as_dict(), segmenter_desc], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _load_checkpoint(path: Path, key: str, shape: tuple[int, int]):
    try:
        with np.load(path, allow_pickle=False) as d:
            if str(d["key"]) != key or d["votes"].shape != shape:
                return None
            return d["votes"].copy(), d["visible_count"].copy(), int(d["done"]), int(d["skipped"])
    except Exception:  # a damaged checkpoint is only a lost head start
        return None


def _save_checkpoint(path: Path, key: str, votes, visible_count, done: int, skipped: int) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, key=np.array(key), votes=votes, visible_count=visible_count,
                     done=np.array(done), skipped=np.array(skipped))


def annotate(model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings | None = None, *,
             renderer=None, progress: Callable[[int, int], None] | None = None,
             checkpoint: str | Path | None = None, checkpoint_every: int = 10) -> AnnotateResult:
    """Run Algorithm 1 on ``model`` with ``segmenter``.

    Args:
        model: the face model.
        segmenter: turns each rendered view into a part map over ``segmenter.parts``.
        settings: run settings (default :class:`AnnotateSettings`).
        renderer: a renderer with ``render(vertices, triangles, camera, colors, light) -> Fragments``;
            default: a :class:`~facepart.renderers.pyrender_backend.PyrenderRenderer` of ``settings.size``.
        progress: called as ``progress(done, total)`` after each variant.
        checkpoint: file to save the running vote table to and resume from.

    Returns:
        The annotation (labels by ``settings.rule``'s majority, votes, confidence, visibility)
        and run statistics.
    """
    from ..renderers.base import renderer_for

    settings = settings or AnnotateSettings()
    parts = segmenter.parts
    n_vertices, n_parts = model.n_vertices, len(parts)
    desc = segmenter.describe() if hasattr(segmenter, "describe") else segmenter.name
    key = run_key(model, settings, desc)

    votes = np.zeros((n_vertices, n_parts + 1), np.int32)
    visible_count = np.zeros(n_vertices, np.int32)
    start, skipped = 0, 0
    checkpoint = Path(checkpoint) if checkpoint else None
    if checkpoint is not None and checkpoint.is_file():
        state = _load_checkpoint(checkpoint, key, votes.shape)
        if state is not None:
            votes, visible_count, start, skipped = state
    resumed_from = start

    t0 = time.perf_counter()
    scene = make_scene(model, settings.size)
    with renderer_for(renderer, settings.size) as renderer:
        for variant, view in iter_views(model, settings, renderer, range(start, settings.variants),
                                        shade=segmenter.needs_image, scene=scene):
            part_map = segmenter.part_map(view)
            if part_map is None:  # the parser found no face: count it, do not fail
                skipped += 1
            else:
                part_map = check_part_map(part_map, view, n_parts, segmenter.name)
                view_vote, visible = view_votes(view, part_map, model, scene, settings, n_parts)
                votes += view_vote
                visible_count += visible
            done = variant.index + 1
            if checkpoint is not None and (done - start) % checkpoint_every == 0 and done < settings.variants:
                _save_checkpoint(checkpoint, key, votes, visible_count, done, skipped)
            if progress is not None:
                progress(done, settings.variants)
    seconds = time.perf_counter() - t0

    labels, confidence = majority(votes[:, :n_parts], votes[:, n_parts])
    run_settings = {
        **settings.as_dict(),
        "segmenter": desc,
        "model": {"name": model.name, "format": model.meta.get("format"), "path": model.meta.get("path")},
        "facepart_version": __version__,
        "skipped_views": skipped,
    }
    annotation = Annotation(labels, votes[:, :n_parts], confidence, visible_count, parts, model.fingerprint,
                            settings.rule, run_settings, none_votes=votes[:, n_parts])
    ran = settings.variants - resumed_from
    stats = RunStats(settings.variants, skipped, resumed_from, seconds, ran / seconds if seconds > 0 else 0.0)
    return AnnotateResult(annotation, stats)


def agreement(labels: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """Share of vertices in ``where`` (V,) bool whose label equals ``truth`` (-1 = none counts too)."""
    return float((labels[where] == truth[where]).mean()) if where.any() else float("nan")


def union_agreement(votes: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    """Share of vertices in ``where`` whose union membership is exactly their true part (or nothing)."""
    member = votes > 0
    expected = np.zeros_like(member)
    has = truth >= 0
    expected[np.flatnonzero(has), truth[has]] = True
    ok = (member == expected).all(axis=1)
    return float(ok[where].mean()) if where.any() else float("nan")
