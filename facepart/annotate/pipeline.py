"""Algorithm 1 end to end: sample -> render -> segment -> vote -> consensus -> assign.

:func:`annotate` is the computation (an :class:`Annotation` and the per-view
votes behind it); :func:`facepart.workflow.annotate_model` wraps it with the
parser's calibration, the held-out check and the files. A checkpoint folder
makes a run resumable: it holds the votes of every finished view, and a run
with the same run key (model, per-view settings, segmenter, vote mask)
continues where it stopped, with exactly the votes an uninterrupted run gets.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Iterable, NamedTuple, Sequence

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.loaders import recorded_model_settings
from ..data.face_model import FaceModel
from ..errors import FacepartError
from ..interrupts import Interrupted
from ..renderers.base import DEFAULT_RENDERER, Renderer
from ..segmenters.base import PartSegmenter, as_segmenter
from .assign import assign_labels
from .consensus import Consensus, robust_consensus, visible_count
from .settings import RULES, AnnotateSettings, sampling_for  # noqa: F401  (re-exported)
from .store import Checkpoint
from .views import (Scene, depth_tolerance, frontal_view, iter_views, make_scene, render_view,  # noqa: F401
                    scene_vote_mask)
from .vote import VOTED, ViewVotes, check_part_map  # noqa: F401  (re-exported)
from .workers import ViewComputer

#: Views between checkpoint saves.
CHECKPOINT_EVERY = 10
#: Settings key of a run on a mesh dense for its render (``{"median_edge_px"}``; see ``views.DENSE_EDGE_PIXELS``).
DENSE_MESH = "dense_mesh"


class RunStats(NamedTuple):
    variants: int  # views voted or skipped in total (including resumed ones)
    skipped: int  # views the segmenter could not use (no face, out of its yaw range)
    resumed_from: int  # views taken from a checkpoint
    seconds: float  # wall time of this process's share of the run
    variants_per_second: float  # views computed by this process per second
    workers: int = 1
    stopped_early: bool = False  # --until-stable stopped before the maximum
    checkpoint_warning: str | None = None  # why saving the checkpoint failed, if it did


class AnnotateResult(NamedTuple):
    annotation: Annotation
    stats: RunStats
    views: list[ViewVotes]  # every view's votes, in variant order
    consensus: Consensus


def run_key(model: FaceModel, settings: AnnotateSettings, segmenter_desc: str, vote_mask: np.ndarray | None = None,
            renderer: str | None = None, dense: bool = False) -> str:
    """Hash of everything that decides a single view's votes (a checkpoint or shard is reusable when it matches):
    the model's topology and content, the settings that shape a view, the segmenter, the vote mask, the
    renderer backend (pyrender and moderngl rasterise edges differently; None: a shard header from before it
    was recorded), and whether the mesh is dense for the render (``Scene.dense``: own-pixel votes; not part of
    the key otherwise, so keys of other runs stay as they were)."""
    mask = np.packbits(model.vote_mask if vote_mask is None else vote_mask)
    parts = [model.fingerprint.as_dict(), model.content_digest(), settings.view_key(), segmenter_desc,
             hashlib.sha256(mask.tobytes()).hexdigest()[:16]]
    extra = ([renderer] if renderer is not None else []) + (["own-pixel votes"] if dense else [])
    blob = json.dumps(parts + extra, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def collect_views(model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings,
                  indices: Iterable[int], *, renderer: Renderer | None = None, workers: int = 1,
                  checkpoint: Checkpoint | None = None, checkpoint_every: int = CHECKPOINT_EVERY,
                  progress: Callable[[int, int], None] | None = None,
                  stop: Callable[[Sequence[ViewVotes]], bool] | None = None,
                  block: int = 10) -> tuple[list[ViewVotes], int, bool]:
    """The votes of the views ``indices``, resuming from and saving to ``checkpoint``.

    Args:
        stop: called with the views so far (variant order) after each ``block`` of views; True ends the run early.

    Returns:
        (views in variant order, how many came from the checkpoint, whether ``stop`` ended the run).
        On Ctrl-C the finished views are saved and :class:`~facepart.interrupts.Interrupted` says where.
    """
    indices = list(indices)
    wanted = set(indices)
    done: dict[int, ViewVotes] = {}
    if checkpoint is not None:
        done = {v.index: v for v in checkpoint.load() if v.index in wanted}
    resumed = len(done)
    unsaved: list[ViewVotes] = []
    total = len(indices)
    if progress is not None and resumed:
        progress(resumed, total)
    stopped = False

    def save() -> None:
        if checkpoint is not None and unsaved:
            if checkpoint.save(unsaved):
                unsaved.clear()

    # Blocks are fixed slices of ``indices`` and ``stop`` sees each whole prefix, so a resumed run checks
    # stability at the same views as an uninterrupted one (views from a checkpoint are only not recomputed).
    block = block if stop is not None else max(1, len(indices))
    end = len(indices)
    try:
        with ViewComputer(model, segmenter, settings, renderer=renderer, workers=workers) as computer:
            for start in range(0, len(indices), block):
                for view_votes in computer.compute([i for i in indices[start:start + block] if i not in done]):
                    done[view_votes.index] = view_votes
                    unsaved.append(view_votes)
                    if len(unsaved) >= checkpoint_every:
                        save()
                    if progress is not None:
                        progress(len(done), total)
                if stop is not None and start + block < len(indices):
                    if stop([done[i] for i in indices[:start + block]]):
                        stopped, end = True, start + block
                        break
        save()
    except KeyboardInterrupt:
        save()
        if checkpoint is not None and not unsaved and done:
            raise Interrupted(f"interrupted after {len(done)} of {total} views; they are kept in "
                              f"{checkpoint.folder}: run the same command again to resume") from None
        raise Interrupted(f"interrupted after {len(done)} of {total} views; nothing was kept"
                          + (f" (the checkpoint could not be written: {checkpoint.failed})"
                             if checkpoint is not None and checkpoint.failed else "")) from None
    except FacepartError as err:  # e.g. a worker process died: say what the checkpoint kept
        save()
        if checkpoint is not None and not unsaved and done:
            raise FacepartError(f"{err}; the {len(done)} views finished are kept in {checkpoint.folder}: the same "
                                "command resumes from them") from None
        raise
    return [done[i] for i in indices[:end] if i in done], resumed, stopped


class StabilityRule:
    """A ``stop`` rule: True once fewer than ``tolerance`` of the labelled vertices changed over the last block.

    The vote table (``table``, (V * (P + 1),) float64) is kept between calls and only the new views are
    added: a run's views arrive as growing prefixes of its variant order; when they do not it is summed anew,
    so it always equals ``vote_table`` of the views given. ``changed``: the share measured last.
    """

    def __init__(self, n_vertices: int, n_parts: int, tolerance: float):
        self.n_vertices, self.n_parts, self.tolerance = n_vertices, n_parts, tolerance
        self.table = np.zeros(n_vertices * (n_parts + 1))
        self.labels: np.ndarray | None = None
        self.changed = float("nan")
        self._n, self._last = 0, None

    def __call__(self, views: Sequence[ViewVotes]) -> bool:
        from .assign import majority_labels
        from .consensus import add_votes

        n = self._n
        if n and (len(views) < n or views[n - 1].index != self._last):  # a view came in before the last one
            self.table[:], n = 0.0, 0
        add_votes(self.table, views[n:], self.n_parts)
        self._n, self._last = len(views), views[-1].index if views else None
        labels = majority_labels(self.table.reshape(self.n_vertices, self.n_parts + 1))
        previous, self.labels = self.labels, labels
        if previous is None:
            return False
        labelled = (labels >= 0) | (previous >= 0)
        self.changed = np.count_nonzero((labels != previous) & labelled) / max(1, np.count_nonzero(labelled))
        return self.changed < self.tolerance


def annotate(model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings | None = None, *,
             renderer: Renderer | None = None, progress: Callable[[int, int], None] | None = None,
             checkpoint: str | Path | None = None, checkpoint_every: int = CHECKPOINT_EVERY, workers: int = 1,
             indices: Sequence[int] | None = None, until_stable: float | None = None) -> AnnotateResult:
    """Run Algorithm 1 on ``model`` with ``segmenter``.

    Args:
        model: the face model.
        segmenter: turns each rendered view into a part map over ``segmenter.parts``.
        settings: run settings (default :class:`AnnotateSettings`).
        renderer: a :class:`~facepart.renderers.base.Renderer` of ``settings.size`` (default: a new one).
        progress: called as ``progress(done, total)`` after each view.
        checkpoint: folder to save the finished views to and resume from.
        workers: processes rendering and segmenting in parallel (the result is the same for any number).
        indices: the variant indices to compute (default ``range(settings.variants)``; a shard passes its own).
        until_stable: stop once fewer than this share of the labelled vertices changed over a block of
            10 views (``settings.variants`` is then the maximum).

    Returns:
        The annotation, run statistics, every view's votes and the consensus (view weights).
    """
    settings = settings or AnnotateSettings()
    segmenter = as_segmenter(segmenter)
    parts = segmenter.parts
    desc = segmenter.describe()
    scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
    key = run_key(model, settings, desc, make_scene_mask(model, settings), renderer_name(renderer), scene.dense)
    store = Checkpoint(checkpoint, key, model.n_vertices, len(parts)) if checkpoint is not None else None
    indices = list(range(settings.variants)) if indices is None else list(indices)
    stop = StabilityRule(model.n_vertices, len(parts), until_stable) if until_stable else None

    t0 = time.perf_counter()
    views, resumed, stopped = collect_views(model, segmenter, settings, indices, renderer=renderer,
                                            workers=workers, checkpoint=store, checkpoint_every=checkpoint_every,
                                            progress=progress, stop=stop)
    seconds = time.perf_counter() - t0
    try:
        annotation, consensus = build_annotation(model, parts, views, settings, desc)
    except KeyboardInterrupt:  # every view is voted and saved: say so, not "nothing was written"
        if store is None or store.failed:
            raise
        raise all_votes_kept(len(views), store.folder, "while the labels were assigned") from None
    annotation.settings["run_key"] = key
    record_dense_mesh(annotation.settings, scene)
    if until_stable:
        annotation.settings["until_stable"] = {"tolerance": until_stable, "variants_used": len(views),
                                               "stopped_early": stopped}
    ran = len(views) - resumed
    skipped = sum(v.status != VOTED for v in views)
    stats = RunStats(len(views), skipped, resumed, seconds, ran / seconds if seconds > 0 else 0.0, workers,
                     stopped, store.failed if store is not None else None)
    return AnnotateResult(annotation, stats, views, consensus)


def record_dense_mesh(settings: dict, scene: Scene) -> None:
    """Note in a run's ``settings`` (:data:`DENSE_MESH`) that its mesh was dense for the render (own-pixel votes)."""
    if scene.dense:
        settings[DENSE_MESH] = {"median_edge_px": round(float(scene.edge_pixels), 3)}


def all_votes_kept(views: int, folder, when: str) -> Interrupted:
    """The Ctrl-C message once every view of a run is voted and saved in the checkpoint ``folder``."""
    return Interrupted(f"interrupted {when}; the votes of all {views} views are kept in {folder}: run the same "
                       "command again to finish")


def renderer_name(renderer: Renderer | None) -> str:
    """The backend name of ``renderer`` (None: the default backend a run makes)."""
    return getattr(renderer, "name", None) or DEFAULT_RENDERER


def make_scene_mask(model: FaceModel, settings: AnnotateSettings) -> np.ndarray:
    """(V,) bool, the vertices that may receive votes in a run with ``settings``."""
    return scene_vote_mask(model, settings.eyeballs)


def build_annotation(model: FaceModel, parts, views: Sequence[ViewVotes], settings: AnnotateSettings,
                     segmenter_desc: str, extra: dict | None = None) -> tuple[Annotation, Consensus]:
    """Consensus of ``views`` and the labels the run's rules give it, as an :class:`Annotation`."""
    n_parts = len(parts)
    assignment = assign_labels(model, parts, settings, make_scene_mask(model, settings))
    consensus = robust_consensus(views, model.n_vertices, n_parts, assignment.quick_labels,
                                 reweight=settings.reweight_views and settings.rule != "union")
    counts = visible_count(views, model.n_vertices)
    seen = counts > 0
    labels, confidence, report = assignment.final(consensus.table, seen)
    skipped = [v.index for v in views if v.status != VOTED]
    reasons: dict[str, int] = {}
    for v in views:
        if v.status != VOTED:
            reasons[v.status] = reasons.get(v.status, 0) + 1
    run_settings = {
        **settings.as_dict(),
        "variants": len(views),
        "segmenter": segmenter_desc,
        "model": recorded_model_settings(model),
        "facepart_version": __version__,
        "skipped_views": len(skipped),
        "skip_reasons": reasons,
        "view_weights": {"down_weighted": int(np.count_nonzero(consensus.view_weights < 1)),
                         "dropped": int(np.count_nonzero(consensus.view_weights == 0)),
                         "median_agreement": _round(np.nanmedian(consensus.agreement))
                         if np.isfinite(consensus.agreement).any() else None},
        **report,
        **(extra or {}),
    }
    table = consensus.table
    annotation = Annotation(labels, table[:, :n_parts].astype(np.float32), confidence,
                            counts, parts, model.fingerprint, settings.rule,
                            run_settings, none_votes=table[:, n_parts].astype(np.float32))
    return annotation, consensus


def _round(x) -> float:
    return round(float(x), 4)


def convergence(views: Sequence[ViewVotes], final_labels: np.ndarray, n_parts: int, points: int = 12
                ) -> list[list[float]]:
    """[[n, share], ...]: after the first n views (variant order), the share of vertices labelled (by the plain
    majority of their votes) that agree with ``final_labels``, among vertices labelled in either."""
    from .assign import majority_labels
    from .consensus import add_votes

    n_vertices = len(final_labels)
    ordered = sorted(views, key=lambda v: v.index)
    marks = sorted({max(1, round(len(ordered) * (i + 1) / points)) for i in range(points)})
    table = np.zeros(n_vertices * (n_parts + 1))
    out, at = [], 0
    for n in marks:
        add_votes(table, ordered[at:n], n_parts)
        at = n
        labels = majority_labels(table.reshape(n_vertices, n_parts + 1))
        either = (labels >= 0) | (final_labels >= 0)
        share = float(np.mean(labels[either] == final_labels[either])) if either.any() else float("nan")
        out.append([n, _round(share)])
    return out


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
