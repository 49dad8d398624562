"""``facepart annotate``, ``render``, ``vote`` and ``merge``: the commands that render and vote."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from .. import __version__
from ..annotate.settings import DEFAULT_CONTRAST, DEFAULT_SMOOTH, DEFAULT_YAW, RULES, VIEW_WEIGHTS, VOTE_MODES
from ..errors import FacepartError
from ..renderers.base import DEFAULT_RENDERER, RENDERERS
from ..segmenters import MEDIAPIPE_YAW_RANGE, ORACLE_NOISE, SEGMENTER_SPECS
from . import main
from .options import (_apply_vertex_mask, _load, _model_options, _parser_options, _progress_bar,
                      _removes_new_empty_out_dir, _segmenter_options)


def _quality_options(command):
    """Options of voting and assignment (how views vote and how votes become parts)."""
    f = command
    f = click.option("--contrast", type=float, default=DEFAULT_CONTRAST, show_default=True,
                     help="How much cheaper the graph cut's boundaries are where the votes on both sides clearly "
                          "disagree (boundary cost x e^-contrast; 0: the same everywhere).")(f)
    f = click.option("--smooth", type=float, default=DEFAULT_SMOOTH, show_default=True,
                     help="Strength of the mesh-space graph cut that makes parts crisp and island-free (0: off).")(f)
    f = click.option("--symmetry/--no-symmetry", default=True, show_default=True,
                     help="Pool the votes of mirror-partner vertices (left/right swapped) when the model is "
                          "mirror-symmetric; off by itself when it is not.")(f)
    f = click.option("--reweight/--no-reweight", default=True, show_default=True,
                     help="Views that disagree with the consensus lose weight (a parser failing on a view).")(f)
    f = click.option("--eyeballs/--no-eyeballs", default=True, show_default=True,
                     help="Eyeballs seen through the eye opening may carry the eye parts "
                          "(ICT, FLAME, FaceVerse v3).")(f)
    f = click.option("--grazing", type=float, default=0.1, show_default=True,
                     help="Votes from surface seen at |cos| below this are dropped.")(f)
    f = click.option("--view-weight", type=click.Choice(VIEW_WEIGHTS), default="cos2", show_default=True,
                     help="Weight of a vote by the cosine of its view angle.")(f)
    f = click.option("--vote", "vote_mode", type=click.Choice(VOTE_MODES), default="nearest", show_default=True,
                     help="nearest/bary: a pixel votes for the nearest corner / all corners (by barycentric weight) "
                          "of the triangle under it (exact, from the id buffer); knn: the paper's k nearest "
                          "visible projected vertices.")(f)
    f = click.option("--k", type=int, default=1, show_default=True,
                     help="--vote knn: each labelled pixel votes for its k nearest visible vertices.")(f)
    f = click.option("--rule", type=click.Choice(RULES), default="majority", show_default=True,
                     help="majority: each vertex gets its most-voted part; union (the paper): every part it got "
                          "a vote for.")(f)
    return f


def _quality_settings(kwargs: dict) -> dict:
    """The AnnotateSettings fields from the options of :func:`_quality_options`."""
    return {"k": kwargs.pop("k"), "rule": kwargs.pop("rule"), "vote": kwargs.pop("vote_mode"),
            "view_weight": kwargs.pop("view_weight"), "grazing": kwargs.pop("grazing"),
            "eyeballs": kwargs.pop("eyeballs"), "reweight_views": kwargs.pop("reweight"),
            "symmetry": kwargs.pop("symmetry"), "smooth": kwargs.pop("smooth"),
            "contrast": kwargs.pop("contrast")}


def _run_options(command):
    f = command
    f = click.option("--renderer", "renderer_name", type=click.Choice(sorted(RENDERERS)), default=DEFAULT_RENDERER,
                     show_default=True, help="Rendering backend.")(f)
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="Processes rendering and segmenting in parallel [default: the number of cores, at "
                          "most one per 50 variants, as a process takes about a second to start]; the annotation "
                          "is the same for any number.")(f)
    return f


def _echo_calibration(calibration) -> None:
    """Say at once, before the votes, when the calibration swapped sides or found no face (a user may want to
    stop the run); the summary prints the calibration line in every case."""
    if getattr(calibration, "swaps", ()) or not getattr(calibration, "found", True):
        click.echo(calibration.summary(), err=True)


@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--segmenter", default="oracle", show_default=True, metavar="SPEC",
              help="2D parser: " + ", ".join(SEGMENTER_SPECS) + ".")
@click.option("--truth", type=click.Path(exists=True), default=None,
              help="oracle: the labelling to render (parts.json or annotation.npz; the demo's own truth by default).")
@click.option("--noise", type=click.Choice(ORACLE_NOISE), default="default", show_default=True,
              help="oracle: imitate a real parser's mistakes, or render exact part maps.")
@click.option("--garbage", type=float, default=0.0, show_default=True,
              help="oracle: share of views whose part map is garbage (mirrored, shifted, wrong classes).")
@click.option("--variants", type=int, default=50, show_default=True,
              help="Number of rendered variants (the maximum with --until-stable).")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of variants and noise (>= 0).")
@click.option("--yaw", type=float, default=None,
              help=f"Yaw range +-degrees [default: the parser's reliable range (mediapipe {MEDIAPIPE_YAW_RANGE[1]:g}), "
                   f"else {DEFAULT_YAW:g}].")
@click.option("--vertex-mask", type=click.Path(dir_okay=False), default=None,
              help="Only these vertices may receive votes (JSON/.npy/.txt of indices, or V booleans).")
@click.option("--eval-views", type=int, default=10, show_default=True,
              help="Held-out renders for the Part IoU check at the end (0: skip).")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@click.option("--keep-edits", type=click.Path(exists=True), default=None,
              help="An annotation corrected in `facepart correct`: its hand-edited vertices keep their hand labels.")
@click.option("--report", "write_report", is_flag=True,
              help="Also write OUT/report.html: part views, quality, confidence, held-out IoU, convergence.")
@click.option("--until-stable", is_flag=True,
              help="Stop once fewer than --tolerance of the labelled vertices changed over the last 10 variants.")
@click.option("--tolerance", type=float, default=0.1, show_default=True,
              help="--until-stable: percent of labelled vertices.")
@click.option("--shard", default=None, metavar="I/N",
              help="Compute only every N-th variant from I and write OUT/shard-I-of-N.npz for `facepart merge`.")
@_quality_options
@_run_options
@_parser_options
@_model_options
@_removes_new_empty_out_dir
def annotate(model, out_dir, segmenter, truth, noise, garbage, variants, size, seed, yaw, vertex_mask, eval_views,
             preview, keep_edits, write_report, until_stable, tolerance, shard, renderer_name, workers, parser_args,
             model_args, **quality):
    """Annotate MODEL ('demo', a model file or folder) into OUT/annotation.npz, parts.json and preview.png.

    Re-running an interrupted command resumes from its checkpoint (OUT/.facepart-checkpoint/).
    """
    from ..annotate.settings import AnnotateSettings, sampling_for
    from ..annotate.workers import default_workers
    from ..io_utils import ensure_writable_dir
    from ..renderers.base import renderer_for
    from ..segmenters import make_segmenter
    from ..workflow import annotate_model, annotate_shard, check_eval_views, parse_shard

    shard = parse_shard(shard) if shard is not None else None
    if shard is not None:  # options a shard cannot honour: refused before any work, not dropped
        given = [name for name, on in (("--vertex-mask", vertex_mask), ("--keep-edits", keep_edits),
                                       ("--report", write_report), ("--until-stable", until_stable)) if on]
        if given:
            raise FacepartError(f"{', '.join(given)} cannot be used with --shard: `facepart merge` builds the "
                                   "annotation from the shards without them (run unsharded for these)")
    source = click.get_current_context().get_parameter_source("tolerance")
    if not until_stable and source is not None and source.name != "DEFAULT":
        raise FacepartError("--tolerance applies with --until-stable only")
    if until_stable and not 0 < tolerance < 100:
        raise click.BadParameter(f"must be a percentage more than 0 and under 100, got {tolerance:g}",
                                 param_hint="--tolerance")
    # every number is checked before the output folder is made and the model and the parser are loaded
    settings = AnnotateSettings(variants=variants, size=size, seed=seed, sampling=sampling_for(None, yaw),
                                **_quality_settings(quality))
    check_eval_views(eval_views)
    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    yaw_range = (-yaw, yaw) if yaw is not None else "default"  # checked by sampling_for above
    seg = make_segmenter(segmenter, model=face, truth=truth, noise=noise, seed=seed, garbage=garbage,
                         yaw_range=yaw_range, **_segmenter_options(parser_args))
    try:
        settings = dataclasses.replace(settings, sampling=sampling_for(seg, yaw))
        views = settings.variants if shard is None else len(range(shard[0], settings.variants, shard[1]))
        workers = workers or default_workers(views)
        click.echo(f"facepart {__version__}: annotating {face.name} ({face.n_vertices} vertices) with "
                   f"{seg.describe()}; {settings.variants} "
                   f"variants at {size}x{size}, yaw {settings.sampling.yaw[0]:g}..{settings.sampling.yaw[1]:g}, "
                   f"{workers} worker{'s' if workers > 1 else ''}", err=True)
        bar, progress = _progress_bar(views, "annotate")
        with renderer_for(None, size, name=renderer_name) as renderer:
            try:
                if shard is not None:
                    path = annotate_shard(face, seg, settings, shard, out, renderer=renderer, workers=workers,
                                          progress=progress)
                    bar.close()
                    click.echo(f"Wrote shard {shard[0]}/{shard[1]} to {path}; when every shard is done: "
                               f"facepart merge {out}/shard-*-of-{shard[1]}.npz --model {model} --out DIR")
                    return
                truth, truth_name = known_truth(seg, face)
                result = annotate_model(face, seg, settings, out=out, renderer=renderer, progress=progress,
                                        eval_views=eval_views, preview=preview, truth=truth, truth_name=truth_name,
                                        workers=workers, until_stable=tolerance / 100 if until_stable else None,
                                        report=write_report, keep_edits=keep_edits,
                                        on_calibration=_echo_calibration)
            finally:
                bar.close()
    finally:
        seg.close()
    click.echo("\n".join(result.summary_lines(face.name)))


def known_truth(seg, face):
    """(labels, name) of a known truth to report agreement with: the oracle's, or the demo head's construction
    truth when a real parser annotates the demo; (None, "") otherwise."""
    from ..data.demo_head import demo_truth, is_demo
    from ..segmenters.oracle import OracleSegmenter

    if isinstance(seg, OracleSegmenter):
        return seg.labels, "the oracle's truth"
    if is_demo(face):
        return demo_truth(seg.parts), "the demo's construction truth"
    return None, ""


@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--variants", type=int, default=50, show_default=True, help="Number of rendered variants.")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the variants (>= 0).")
@click.option("--yaw", type=float, default=DEFAULT_YAW, show_default=True, help="Yaw range +-degrees.")
@_model_options
@_removes_new_empty_out_dir
def render(model, out_dir, variants, size, seed, yaw, model_args):
    """Render MODEL's variants to OUT/images/ for a parser that runs elsewhere.

    Segment OUT/images/*.png with your parser, write its label maps (one-channel PNGs of class ids,
    same file names) to OUT/masks/ and its label table to OUT/labels.yaml, then run
    `facepart vote MODEL --masks OUT --out RESULT`.
    """
    from ..annotate.render_set import write_render_set
    from ..annotate.settings import AnnotateSettings, sampling_for
    from ..io_utils import ensure_writable_dir
    from ..renderers.base import renderer_for

    settings = AnnotateSettings(variants=variants, size=size, seed=seed, sampling=sampling_for(None, yaw))
    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    bar, progress = _progress_bar(variants, "render")
    try:
        with renderer_for(None, size) as renderer:
            manifest = write_render_set(face, settings, out, renderer, progress=progress)
    finally:
        bar.close()
    click.echo(f"Rendered {variants} variants of {face.name} at {size}x{size} (and images/frontal.png for the "
               f"left/right calibration) into {out}/images; manifest: {manifest}.\n"
               f"Next: write label PNGs to {out}/masks/ (same names) and the label table to {out}/labels.yaml, "
               f"then: facepart vote {model} --masks {out} --out RESULT")


def _check_mask_pngs(masks_dir) -> None:
    """One line when ``masks_dir/masks`` holds no .png label map (an empty folder, only .jpg files)."""
    from ..segmenters.masks import MASKS_DIR

    masks = Path(masks_dir) / MASKS_DIR
    if not masks.is_dir() or not any(p.is_file() for p in masks.glob("*.png")):
        raise FacepartError(f"{masks}: no mask PNGs found; expected your parser's one-channel label maps there as "
                            f"PNGs named like the renders in {Path(masks_dir) / 'images'} (000000.png, ...)")


@main.command()
@click.argument("model")
@click.option("--masks", "masks_dir", type=click.Path(file_okay=False, exists=True), required=True,
              help="A folder made by `facepart render`, with masks/ written by your parser.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--vertex-mask", type=click.Path(dir_okay=False), default=None,
              help="Only these vertices may receive votes.")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@_quality_options
@_parser_options
@_model_options
@_removes_new_empty_out_dir
def vote(model, masks_dir, out_dir, vertex_mask, preview, parser_args, model_args, **quality):
    """Vote with label maps made outside facepart (see `facepart render`) and write the annotation."""
    from ..annotate.render_set import render_set_settings
    from ..annotate.settings import AnnotateSettings
    from ..io_utils import ensure_writable_dir
    from ..segmenters import make_segmenter
    from ..workflow import annotate_model

    quality = _quality_settings(quality)
    AnnotateSettings(**quality)  # checked before the output folder is made and the model is loaded
    _check_mask_pngs(masks_dir)
    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    settings = dataclasses.replace(render_set_settings(masks_dir, face), **quality)
    seg = make_segmenter(f"masks:{masks_dir}", model=face, yaw_range=None, **_segmenter_options(parser_args))
    bar, progress = _progress_bar(settings.variants, "vote")
    try:
        # (masks are not a live parser: the summary says why there is no held-out check)
        result = annotate_model(face, seg, settings, out=out, progress=progress, eval_views=0, preview=preview,
                                on_calibration=_echo_calibration)
    finally:
        bar.close()
        seg.close()
    click.echo("\n".join(result.summary_lines(face.name)))


@main.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--model", "model_spec", required=True, help="The model the shards were computed for.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@_model_options
def merge(shards, model_spec, out_dir, preview, model_args):
    """Sum the SHARDS of one `annotate --shard I/N` run into its annotation (the same as one unsharded run)."""
    from ..workflow import merge_shards

    face = _load(model_spec, model_args)
    result = merge_shards(shards, face, out_dir, preview=preview)  # creates out_dir only once the shards pass
    click.echo("\n".join(result.summary_lines(face.name)))
