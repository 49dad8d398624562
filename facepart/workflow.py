"""Whole runs, from a model and a segmenter to files: what ``facepart annotate`` and ``vote`` do, for Python.

:func:`annotate_model` calibrates the parser, checks it can serve the run,
votes (resumably, in parallel when asked), measures the held-out Part IoU,
writes ``annotation.npz``, ``parts.json`` and ``preview.png`` as one set, and
removes the checkpoint. :func:`annotate_shard` writes only shard ``(i, n)``'s
share of the per-view votes; :func:`merge_shards` sums shards into the annotation
an unsharded run gives.

    >>> import facepart
    >>> model = facepart.load_model("demo")
    >>> seg = facepart.make_segmenter("oracle", model=model)
    >>> result = facepart.annotate_model(model, seg, facepart.AnnotateSettings(variants=8, size=128),
    ...                                  out="out/demo", eval_views=0, preview=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .annotate.evaluate import HELD_OUT_MEAN, HELD_OUT_SKIPPED, PartIoU, part_iou
from .annotate.refine import agreement_warning, empty_part_warnings, stored_quality_lines
from .annotate.pipeline import (DENSE_MESH, AnnotateResult, RunStats, agreement, all_votes_kept, annotate,
                                build_annotation, convergence, make_scene_mask, record_dense_mesh, renderer_name,
                                run_key, union_agreement)
from .annotate.settings import AnnotateSettings, sampling_for
from .annotate.store import read_votes, remove_checkpoint, write_votes
from .annotate.views import AXES_HINT, DENSE_EDGE_PIXELS, frontal_view, make_scene
from .annotate.vote import VOTED
from .data.annotation import Annotation
from .data.face_model import FaceModel
from .data.loaders import recorded_model_settings
from .errors import FacepartError
from .interrupts import Interrupted
from .io_utils import ensure_writable_dir, removing_new_dirs_on_failure
from .renderers.base import Renderer, renderer_for
from .segmenters.base import PartSegmenter, as_segmenter

#: Below this mean held-out Part IoU the run summary warns that the parser hardly agrees with the annotation.
LOW_HELD_OUT_IOU = 0.25

#: The checkpoint folder inside a run's output folder.
CHECKPOINT_DIR = ".facepart-checkpoint"


class RunResult(NamedTuple):
    """What :func:`annotate_model` did.

    Attributes:
        annotation: the annotation written (its ``settings`` hold the run's record).
        stats: views, skips, resume, time, workers.
        calibration: what the segmenter's calibration found (None when it has none).
        part_iou: the held-out Part IoU (None when ``eval_views`` is 0).
        truth: (majority, union) agreement with a known truth on seen vertices, or None.
        files: the files written.
        segmenter_lines: the segmenter's own summary lines.
        notes: lines about the output folder (e.g. another run's checkpoint kept there).
    """

    annotation: Annotation
    stats: RunStats
    calibration: object | None
    part_iou: PartIoU | None
    truth: tuple[float, float] | None
    truth_name: str
    files: list[Path]
    segmenter_lines: list[str]
    notes: tuple[str, ...] = ()

    def summary_lines(self, model_name: str) -> list[str]:
        """The run summary ``facepart annotate`` prints."""
        ann, st = self.annotation, self.stats
        seen = ann.visible_count > 0
        s = ann.settings
        lines = [f"Annotated {model_name}: {ann.n_vertices} vertices, {int(seen.sum())} seen in at least one "
                 f"render, {int((ann.labels >= 0).sum())} labelled ({ann.rule} rule for parts.json).",
                 *ann.summary_lines()]
        if st.resumed_from and st.resumed_from >= st.variants:  # nothing computed: no speed to give
            lines.append(f"{st.variants} variants, all resumed from a checkpoint (no view computed).")
        else:
            speed = (f"{st.variants} variants in {st.seconds:.1f} s ({st.variants_per_second:.1f} variants/s for "
                     f"render+segment+vote with {st.workers} worker{'s' if st.workers > 1 else ''}")
            if st.resumed_from:
                speed += f"; {st.resumed_from} resumed from a checkpoint"
            lines.append(speed + ").")
        if s.get("until_stable"):
            u = s["until_stable"]
            lines.append(f"--until-stable {100 * u['tolerance']:g}%: "
                         + (f"labels stable after {u['variants_used']} variants"
                            if u["stopped_early"] else f"not stable within the maximum of {u['variants_used']}"))
        if isinstance(s.get(DENSE_MESH), dict):
            lines.append(f"Dense mesh for the render (median edge {s[DENSE_MESH].get('median_edge_px')} px, under "
                         f"{DENSE_EDGE_PIXELS:g}): a visible vertex that no pixel voted for in a view votes with its "
                         "own pixel.")
        reasons = "".join(f", {n} {r}" for r, n in sorted(s.get("skip_reasons", {}).items()))
        lines.append(f"{st.variants - st.skipped} views parsed, {st.skipped} skipped{reasons}.")
        vw = s.get("view_weights") or {}
        if vw.get("down_weighted"):
            lines.append(f"View re-weighting: {vw['down_weighted']} views down-weighted ({vw['dropped']} dropped) "
                         f"for disagreeing with the consensus (median agreement {vw['median_agreement']}).")
        lines += [w for w in [agreement_warning(s)] if w]
        curve = s.get("convergence") or []
        picks = convergence_picks(curve)
        if picks and all(share == share for _, share in picks):  # (NaN when nothing was labelled)
            lines.append("Convergence (labels of the plain majority agreeing with the final labels): "
                         + ", ".join(f"{100 * share:.1f}% after {n}" for n, share in picks) + " variants.")
        lines += self.segmenter_lines
        lines += stored_quality_lines(s)
        lines += empty_part_warnings(ann)
        if st.checkpoint_warning:
            lines.append(f"warning: the checkpoint could not be written ({st.checkpoint_warning}); "
                         "the run went on in memory")
        if self.truth is not None:
            lines.append(f"Agreement with {self.truth_name} on the {int(seen.sum())} seen vertices: "
                         f"majority {100 * self.truth[0]:.2f}%, union {100 * self.truth[1]:.2f}%.")
        if s.get(HELD_OUT_SKIPPED):
            lines.append(f"Held-out Part IoU {s[HELD_OUT_SKIPPED]}.")
        if self.part_iou is not None:
            lines.append("Held-out Part IoU (annotation vs the parser on renders not used for voting):")
            lines.append(self.part_iou.table())
            if self.part_iou.mean < LOW_HELD_OUT_IOU:
                lines.append(f"warning: the parser's own held-out maps agree with this annotation only "
                             f"{self.part_iou.mean:.2f} (mean Part IoU; a usable run gives about 0.5-0.8): look at "
                             f"preview.png. A model upside down, inside out or in other axes gives this; {AXES_HINT}")
        if self.files:
            lines.append("Wrote " + ", ".join(str(p) for p in self.files))
        return lines + list(self.notes)


def convergence_picks(curve: list) -> list:
    """The points of a stored convergence curve ``[[n, share], ...]`` nearest a quarter and half of the variants,
    and the last ([] for fewer than 3 points)."""
    if len(curve) < 3:
        return []
    total = curve[-1][0]
    return [min(curve, key=lambda point: abs(point[0] - total * share)) for share in (0.25, 0.5)] + [curve[-1]]


#: The lock file a run holds in its output folder while it runs (removed when it ends).
RUN_LOCK = ".facepart-lock"


@contextlib.contextmanager
def run_lock(out: Path | None):
    """Hold ``out/.facepart-lock`` (an advisory ``flock``, let go when the process ends, even by SIGKILL) while a run
    writes into ``out``; one line naming the other run's process when it is held. None: nothing to lock."""
    if out is None:
        yield
        return
    import fcntl

    path = Path(out) / RUN_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # (a folder that takes no new file fails later with its own one line)
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise FacepartError(f"{out}: another facepart run (process {other}) is writing into this folder; wait "
                                "for it or choose another --out") from None
        except OSError:  # a file system without locks (some network shares): run unlocked
            pass
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
    finally:
        os.close(fd)


def _check_no_hand_edits_lost(out: Path, keep_edits=None, can_keep: bool = True) -> None:
    """Refuse to overwrite ``out/annotation.npz`` when that file holds hand edits (``facepart correct`` saves
    into the run's folder by default) that the new annotation does not keep (``keep_edits``; a run can keep
    them when ``can_keep``)."""
    existing = out / "annotation.npz"
    if not existing.is_file():
        return
    if keep_edits is not None and os.path.realpath(keep_edits) == os.path.realpath(existing):
        return
    from .data.annotation import load_annotation

    try:
        edited = load_annotation(existing).edited
    except FacepartError:  # not a readable annotation: nothing a person made can be lost from it
        return
    if edited is not None and edited.any():
        keep = f"keep them with --keep-edits {existing}, or " if can_keep else ""
        raise FacepartError(f"{existing}: holds {int(edited.sum())} hand-edited vertices (facepart correct), which "
                            f"this would overwrite; {keep}choose another --out")


def annotate_model(model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings | None = None, *,
                   out: str | Path | None = None, renderer: Renderer | None = None,
                   progress: Callable[[int, int], None] | None = None, eval_views: int = 10,
                   preview: bool = True, truth: np.ndarray | None = None, truth_name: str = "the truth",
                   workers: int = 1, until_stable: float | None = None, report: bool = False,
                   keep_edits: str | Path | None = None,
                   on_calibration: Callable[[object], None] | None = None) -> RunResult:
    """Annotate ``model`` with ``segmenter`` and write the run's files to ``out``.

    Args:
        model: the face model.
        segmenter: any :class:`~facepart.segmenters.base.PartSegmenter` (see :func:`facepart.make_segmenter`).
        settings: default: :class:`AnnotateSettings` with the segmenter's yaw range.
        out: output folder for ``annotation.npz``, ``parts.json``, ``preview.png`` (written as one set)
            and the checkpoint while running; None writes nothing.
        renderer: a renderer of ``settings.size`` (default: a new one of the default backend).
        progress: ``progress(done, total)`` after each view.
        eval_views: held-out views for the Part IoU check (0: none; a segmenter that is not ``live`` gets none
            and the summary says why).
        preview: write ``preview.png``.
        truth: (V,) known labels (the oracle's), to report agreement on seen vertices.
        truth_name: what the truth is, for the summary (e.g. "the oracle's truth").
        workers: processes rendering and segmenting in parallel.
        until_stable: stop once fewer than this share (0..1: 0.001 is the CLI's ``--tolerance 0.1`` percent) of
            the labelled vertices changed over 10 views; None: all ``settings.variants``.
        report: also write ``report.html`` (:mod:`facepart.report`) beside the annotation.
        keep_edits: an annotation corrected in ``facepart correct``: its hand-edited vertices keep their
            hand labels in the new annotation (checked before any rendering).
        on_calibration: called with the calibration result before voting (the CLI prints it).

    Raises:
        FacepartError: bad input, a segmenter that cannot serve the run, no face in any view.
        Interrupted: Ctrl-C; its message says what was kept.
    """
    check_run_arguments(model, settings, out, truth, until_stable, renderer)
    segmenter = as_segmenter(segmenter)
    settings = settings or AnnotateSettings(sampling=sampling_for(segmenter))
    check_eval_views(eval_views)
    segmenter.check_run(model, settings)
    hand = None
    if keep_edits is not None:  # read and check it now, not after an hour of rendering
        from .data.annotation import load_annotation

        hand = load_annotation(keep_edits)
        hand.check_topology(model.fingerprint, f"the model {model.name}")
        if hand.edited is None:
            raise FacepartError(f"{keep_edits}: records no hand edits (never corrected in `facepart correct`); "
                                "nothing to keep")
    if out is not None:
        _check_no_hand_edits_lost(Path(out), keep_edits)
    out = ensure_writable_dir(out) if out is not None else None
    with run_lock(out):  # one run at a time in a folder: a second would mix its checkpoint and files in
        checkpoint = out / CHECKPOINT_DIR if out is not None else None
        notes: list[str] = []
        with renderer_for(renderer, settings.size) as renderer:
            calibration = calibrate_upright(segmenter, model, settings, renderer)
            if calibration is not None and on_calibration is not None:
                on_calibration(calibration)
            result = annotate(model, segmenter, settings, renderer=renderer, progress=progress, checkpoint=checkpoint,
                              workers=workers, until_stable=until_stable)
            _check_some_view_voted(result, segmenter)
            ann = result.annotation
            try:
                ann.settings["convergence"] = convergence(result.views, ann.labels, len(ann.parts))
            except KeyboardInterrupt:
                raise (all_votes_kept(result.stats.variants, checkpoint, "after the labels were assigned") if checkpoint
                       else Interrupted()) from None
            iou = None
            if not getattr(segmenter, "live", True):  # fixed maps (masks made elsewhere): say why there is no check
                ann.settings[HELD_OUT_SKIPPED] = "needs a live parser: not computed for masks made elsewhere"
            elif eval_views > 0:
                try:
                    iou = part_iou(model, ann.labels, segmenter, settings, views=eval_views, renderer=renderer)
                except KeyboardInterrupt:
                    raise (all_votes_kept(result.stats.variants, checkpoint, "during the held-out evaluation")
                           if checkpoint else Interrupted()) from None
                ann.settings["held_out_part_iou"] = {n: (None if v != v else round(float(v), 4))
                                                     for n, v in zip(iou.names, iou.iou)}
                span = iou.interval()
                ann.settings[HELD_OUT_MEAN] = {"mean": None if iou.mean != iou.mean else round(iou.mean, 4),
                                               "views": iou.views,
                                               "interval_95": None if span is None else [round(x, 4) for x in span]}
        if hand is not None:
            from .data.edits import apply_kept_edits

            ann = apply_kept_edits(ann, hand, str(keep_edits))  # keeps the run's settings, adds "kept_edits"
        truth_figures = None
        if truth is not None:
            seen = ann.visible_count > 0
            truth_figures = (agreement(ann.labels, truth, seen), union_agreement(ann.votes, truth, seen))
            ann.settings["truth_agreement"] = {"majority": round(truth_figures[0], 6),
                                               "union": round(truth_figures[1], 6)}
        files = []
        if out is not None:
            files = write_run_files(out, ann, model if preview else None)
            if report:
                from .report import write_report

                files.append(write_report(ann, model, out, source=str(Path(out) / "annotation.npz")))
            others = remove_checkpoint(checkpoint, key=ann.settings.get("run_key"))
            if others:
                notes.append(f"note: {checkpoint} keeps {others} views of another interrupted run into this folder "
                             "(other settings): its own command resumes it; delete the folder if it is not wanted")
        return RunResult(ann, result.stats, calibration, iou, truth_figures, truth_name, files, segmenter.summary(),
                         tuple(notes))


def write_run_files(out: Path, annotation: Annotation, model: FaceModel | None = None) -> list[Path]:
    """Write ``annotation.npz``, ``parts.json`` and (with ``model``) ``preview.png`` into ``out`` as one set."""
    from .export.api import write_annotation_files

    return write_annotation_files(annotation, out, model=model, preview=model is not None)


def check_run_arguments(model, settings, out, truth, until_stable, renderer=None) -> None:
    """One line for a wrong argument of :func:`annotate_model` before any work (not a traceback from deep inside
    the run): the model must be a loaded FaceModel, the settings AnnotateSettings, ``out`` a path, ``truth`` one
    label per vertex and ``until_stable`` a share between 0 and 1."""
    if not isinstance(model, FaceModel):
        hint = " (load it first: facepart.load_model(...))" if isinstance(model, (str, os.PathLike)) else ""
        raise FacepartError(f"model: expected a FaceModel, got {type(model).__name__}{hint}")
    if settings is not None and not isinstance(settings, AnnotateSettings):
        raise FacepartError(f"settings: expected AnnotateSettings (or None), got {type(settings).__name__}")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise FacepartError(f"out: expected a folder path (or None), got {type(out).__name__}")
    if renderer is not None and not callable(getattr(renderer, "render", None)):
        raise FacepartError(f"renderer: expected a Renderer (facepart.make_renderer(...)), got "
                            f"{type(renderer).__name__}")
    if truth is not None and np.shape(truth) != (model.n_vertices,):
        raise FacepartError(f"truth: expected one label per vertex ({model.n_vertices},), got shape "
                            f"{np.shape(truth)}")
    if until_stable is not None and (isinstance(until_stable, bool) or not isinstance(until_stable, (int, float))
                                     or not 0 < until_stable < 1):
        raise FacepartError(f"until_stable: a share of the labelled vertices between 0 and 1 (0.001 = 0.1%), or "
                            f"None; got {until_stable!r}")


def check_eval_views(eval_views) -> None:
    """One line unless ``eval_views`` (held-out views of the Part IoU check) is a whole number from 0 to 10000."""
    if isinstance(eval_views, bool) or not isinstance(eval_views, int) or not 0 <= eval_views <= 10_000:
        raise FacepartError(f"--eval-views must be a whole number from 0 to 10000, got {eval_views!r}")


def calibrate_upright(segmenter: PartSegmenter, model: FaceModel, settings: AnnotateSettings, renderer: Renderer):
    """Calibrate ``segmenter`` on the model's frontal render; one line when the parser sees the face upside
    down there (eyes and brows below the lips), before any vote is cast. Returns the calibration."""
    calibration = segmenter.calibrate(frontal_view(model, settings.size, renderer))
    if getattr(calibration, "upside_down", False):
        raise FacepartError(f"{segmenter.name} sees {model.name} upside down in the frontal render (eyes and brows "
                            f"around row {calibration.eyes_row:.0f}, below the lips around row "
                            f"{calibration.mouth_row:.0f}); {AXES_HINT}")
    return calibration


def _check_some_view_voted(result: AnnotateResult, segmenter: PartSegmenter) -> None:
    if result.views and all(v.status != VOTED for v in result.views):
        if all(v.status == "no mask" for v in result.views):  # not one mask file under the names expected
            root = getattr(getattr(segmenter, "parser", segmenter), "root", None)
            where = f" in {root}/masks/" if root is not None else ""
            raise FacepartError(f"{segmenter.name}: no mask file for any of the {len(result.views)} variants{where}; "
                                "expected one label PNG per render, named like the render (000000.png, "
                                "000001.png, ...)")
        if not getattr(segmenter, "live", True):  # maps made elsewhere: the maps are the thing to check
            raise FacepartError(f"{segmenter.name}: none of the {len(result.views)} label maps has a labelled face "
                                "pixel on the model (all background, or a label table that does not match them)")
        raise FacepartError(f"{segmenter.name} found no face in any of the {len(result.views)} renders; nothing to "
                            f"vote ({AXES_HINT}, or try a smaller --yaw)")


# -- shards ---------------------------------------------------------------------------

SHARD_FORMAT = "shard-{i}-of-{n}.npz"


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8): shard 2 of 8 (0-based), every 8th variant from variant 2."""
    try:
        i, n = (int(p) for p in str(text).split("/"))
    except ValueError:
        raise FacepartError(f"--shard expects I/N (e.g. 0/4), got '{text}'") from None
    if not (n >= 1 and 0 <= i < n):
        raise FacepartError(f"--shard I/N needs 0 <= I < N, got '{text}'")
    return i, n


def annotate_shard(model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings, shard: tuple[int, int],
                   out: str | Path, *, renderer: Renderer | None = None, workers: int = 1,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Compute the votes of every n-th variant (shard ``(i, n)``) and write them, with the run key, to
    ``out/shard-i-of-n.npz`` for :func:`merge_shards`."""
    i, n = shard
    segmenter = as_segmenter(segmenter)
    segmenter.check_run(model, settings)
    out = ensure_writable_dir(out)
    with renderer_for(renderer, settings.size) as renderer:
        calibrate_upright(segmenter, model, settings, renderer)
        result = annotate(model, segmenter, settings, renderer=renderer, progress=progress,
                          checkpoint=out / f".facepart-checkpoint-{i}-of-{n}", workers=workers,
                          indices=range(i, settings.variants, n))
    header = {"shard": [i, n], "settings": settings.as_dict(), "segmenter": segmenter.describe(),
              "renderer": renderer_name(renderer),
              "parts": list(segmenter.parts.names), "fingerprint": model.fingerprint.as_dict(),
              "model": recorded_model_settings(model)}
    path = write_votes(out / SHARD_FORMAT.format(i=i, n=n), result.annotation.settings["run_key"], result.views,
                       header)
    remove_checkpoint(out / f".facepart-checkpoint-{i}-of-{n}")
    return path


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_shard_header(path, header: dict) -> tuple[int, int, int]:
    """(i, n, variants) of a shard's header; a one-line error naming ``path`` when a field is not what
    :func:`annotate_shard` writes."""
    from .annotate.settings import MAX_VARIANTS

    settings = header["settings"]
    variants = settings.get("variants") if isinstance(settings, dict) else None
    if not (_is_int(variants) and 1 <= variants <= MAX_VARIANTS):
        raise FacepartError(f"{path}: shard header 'settings.variants' must be an integer 1..{MAX_VARIANTS}, "
                            f"got {variants!r:.60}")
    shard = header["shard"]  # N may exceed the variants (`annotate --shard 1/2 --variants 1`: an empty shard)
    if not (isinstance(shard, list) and len(shard) == 2 and all(map(_is_int, shard))
            and 0 <= shard[0] < shard[1] <= MAX_VARIANTS):
        raise FacepartError(f"{path}: shard header 'shard' must be [I, N] with 0 <= I < N <= {MAX_VARIANTS}, "
                            f"got {shard!r:.60}")
    parts = header.get("parts")
    if not (isinstance(parts, list) and parts and all(isinstance(p, str) and p for p in parts)):
        raise FacepartError(f"{path}: shard header 'parts' must be a non-empty list of part names, "
                            f"got {parts!r:.60}")
    for field in ("key", "segmenter"):
        if not isinstance(header.get(field), str):
            raise FacepartError(f"{path}: shard header '{field}' must be a string, got {header.get(field)!r:.60}")
    if not isinstance(header.get("fingerprint"), dict):
        raise FacepartError(f"{path}: shard header 'fingerprint' must be a JSON object")
    return shard[0], shard[1], variants


def _check_same_run(path, header: dict, counts: tuple[int, int], first_path, first: dict,
                    first_counts: tuple[int, int]) -> None:
    """A one-line error naming ``path`` when its shard is not of the same run as the first shard's."""
    (n, variants), (n0, variants0) = counts, first_counts
    if n != n0:
        what = f"it is one of {n} shards, {first_path} one of {n0}"
    elif variants != variants0:
        what = f"its run has {variants} variants, that of {first_path} {variants0}"
    elif header["key"] != first["key"]:
        what = f"run key {header['key']} vs {first['key']} of {first_path}"
    else:
        diff = [f for f in ("settings", "parts", "segmenter", "fingerprint") if header.get(f) != first.get(f)]
        if not diff:
            return
        what = f"its {', '.join(diff)} differ from those of {first_path}"
    raise FacepartError(f"{path}: this and {first_path} are shards of different runs ({what}): merge only the "
                        "shards of one `annotate --shard I/N` command")


def _write_merged(out: Path, ann: Annotation, model: FaceModel | None) -> list[Path]:
    """write_run_files into ``out``; a folder this call created is removed again when nothing could be written."""
    with removing_new_dirs_on_failure(out):
        folder = ensure_writable_dir(out)
        with run_lock(folder):  # not while a run writes there
            return write_run_files(folder, ann, model)


def merge_shards(paths: Sequence[str | Path], model: FaceModel, out: str | Path | None = None,
                 preview: bool = True) -> RunResult:
    """Sum the shards of one run into its annotation (the same, bit for bit, as the unsharded run's)."""
    from .data.parts import PartTable

    if not paths:
        raise FacepartError("merge needs at least one shard file")
    if out is not None:
        _check_no_hand_edits_lost(Path(out), can_keep=False)
    headers, shards, by_index = [], [], {}
    for path in paths:
        header, part = read_votes(path)
        if "shard" not in header or "settings" not in header:
            raise FacepartError(f"{path}: not a shard (a checkpoint file?)")
        i, n, variants = _check_shard_header(path, header)
        if headers:
            _check_same_run(path, header, (n, variants), paths[0], headers[0], shards[0][1:3])
        if i in by_index:
            raise FacepartError(f"{path}: shard {i}/{n} given twice (also {by_index[i]}): merge each shard once")
        allowed = range(i, variants, n)
        bad = [v.index for v in part if v.index not in allowed]
        if bad or len({v.index for v in part}) != len(part):
            raise FacepartError(f"{path}: shard {i}/{n} holds views other than its variants {i}, {i + n}, ... "
                                f"below {variants} (e.g. {bad[0] if bad else 'a repeated one'}): a damaged shard")
        by_index[i] = path
        headers.append(header)
        shards.append((i, n, variants, part))
    first = headers[0]
    _, n, variants, _ = shards[0]
    missing = sorted(set(range(n)) - set(by_index))
    if missing:
        shown = ", ".join(f"{i}/{n}" for i in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10
                                                               else "")
        raise FacepartError(f"shard{'s' if len(missing) > 1 else ''} {shown} of the run of {paths[0]} "
                            f"{'are' if len(missing) > 1 else 'is'} missing: merge needs all {n} shards of one run")
    views = {v.index: v for *_, part in shards for v in part}
    try:
        shards_topology = type(model.fingerprint)(**first["fingerprint"])
        settings = AnnotateSettings.from_dict(first["settings"])
        parts = PartTable.from_names(first["parts"])
    except (TypeError, KeyError) as exc:
        raise FacepartError(f"{paths[0]}: incomplete shard header ({exc})") from None
    except FacepartError as exc:
        raise FacepartError(f"{paths[0]}: bad shard header: {exc}") from None
    shards_topology.check_matches(model.fingerprint, f"{paths[0]} (like the other shards)", f"the model {model.name}")
    scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
    if run_key(model, settings, first["segmenter"], make_scene_mask(model, settings),
               first.get("renderer"), scene.dense) != first["key"]:
        raise FacepartError(f"{paths[0]}: the shards were voted with model {model.name} other than as loaded here "
                            "(another shape, unit, loader option or texture, or a --vertex-mask, which merge does "
                            "not take): merging them would not give the unsharded run's annotation")
    ordered = [views[i] for i in sorted(views)]
    t0 = time.perf_counter()
    ann, _ = build_annotation(model, parts, ordered, settings, first["segmenter"])
    ann.settings["run_key"] = first["key"]
    record_dense_mesh(ann.settings, scene)
    ann.settings["merged_shards"] = n
    ann.settings[HELD_OUT_SKIPPED] = ("not computed: merge runs no parser (an unsharded `facepart annotate` run with "
                                      "--eval-views N measures it)")
    ann.settings["convergence"] = convergence(ordered, ann.labels, len(parts))
    files = _write_merged(Path(out), ann, model if preview else None) if out is not None else []
    skipped = sum(v.status != VOTED for v in ordered)
    stats = RunStats(len(ordered), skipped, 0, time.perf_counter() - t0, 0.0, 1)
    return RunResult(ann, stats, None, None, None, "", files, [])
