"""``facepart annotate``, ``render`` and ``vote``: the commands that render and vote."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from .. import __version__
from ..errors import FacepartError
from . import main
from .options import (_apply_vertex_mask, _load, _make_parser_segmenter, _model_options, _parser_options,
                      _progress_bar, _truth_labels)

CHECKPOINT = ".facepart-checkpoint.npz"

# -- the run shared by `annotate` and `vote` ------------------------------------------

def _run(face, seg, settings, out: Path, renderer, *, preview: bool, eval_views: int, truth_labels=None,
         notes: list[str] = ()):
    """Calibrate, vote with a progress bar and checkpoint, write the files, print the summary."""
    from ..annotate.pipeline import agreement, annotate, union_agreement
    from ..data.annotation import save_annotation

    t0 = time.perf_counter()
    notes = list(notes)
    if hasattr(seg, "calibrate"):
        from ..segmenters import frontal_view

        calibration = seg.calibrate(frontal_view(face, settings.size, renderer))
        click.echo(calibration.summary(), err=True)
    click.echo(f"facepart {__version__}: annotating {face.name} ({face.n_vertices} vertices) with "
               f"{seg.describe()}; {settings.variants} variants at {settings.size}x{settings.size}, "
               f"yaw {settings.sampling.yaw[0]:g}..{settings.sampling.yaw[1]:g}", err=True)
    bar, progress = _progress_bar(settings.variants, "annotate")
    checkpoint = out / CHECKPOINT
    try:
        result = annotate(face, seg, settings, renderer=renderer, checkpoint=checkpoint, progress=progress)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\ninterrupted; finished variants are kept in {checkpoint}; "
                   "run the same command again to resume", err=True)
        sys.exit(130)
    bar.close()
    ann = result.annotation
    if result.stats.skipped == settings.variants:
        raise FacepartError(f"{seg.name} found no face in any of the {settings.variants} renders; nothing to vote "
                            "(try --segmenter oracle to check the set-up, or a smaller --yaw)")
    iou = None
    if eval_views > 0:
        from ..annotate.evaluate import part_iou

        iou = part_iou(face, ann.labels, seg, settings, views=eval_views, renderer=renderer)
        ann.settings["held_out_part_iou"] = {n: (None if v != v else round(float(v), 4))
                                             for n, v in zip(iou.names, iou.iou)}
    npz, parts_json = save_annotation(ann, out)
    written = [npz, parts_json]
    if preview:
        from ..annotate.preview import render_preview, write_png

        written.append(write_png(out / "preview.png", render_preview(face, ann.labels, seg.parts)))
    checkpoint.unlink(missing_ok=True)

    st = result.stats
    seen = ann.visible_count > 0
    lines = [
        f"Annotated {face.name}: {ann.n_vertices} vertices, {int(seen.sum())} seen in at least one render, "
        f"{int((ann.labels >= 0).sum())} labelled ({settings.rule} rule for parts.json).",
        *ann.summary_lines(),
        f"{st.variants} variants in {time.perf_counter() - t0:.1f} s total "
        f"({st.variants_per_second:.1f} variants/s for render+segment+vote"
        + (f"; {st.resumed_from} resumed from a checkpoint" if st.resumed_from else "")
        + (f"; {st.skipped} views skipped" if st.skipped else "") + ").",
    ]
    if hasattr(seg, "summary"):
        lines += seg.summary()
    lines += notes
    if truth_labels is not None:
        whose = "the oracle's truth" if seg.name == "oracle" else "the demo's construction truth"
        lines.append(f"Agreement with {whose} on the {int(seen.sum())} seen vertices: "
                     f"majority {100 * agreement(ann.labels, truth_labels, seen):.2f}%, "
                     f"union {100 * union_agreement(ann.votes, truth_labels, seen):.2f}%.")
    if iou is not None:
        lines.append(f"Held-out Part IoU (annotation vs {seg.name} on renders not used for voting):")
        lines.append(iou.table())
    lines.append("Wrote " + ", ".join(str(p) for p in written))
    click.echo("\n".join(lines))


def _renderer(size: int):
    from ..renderers.base import make_renderer

    return make_renderer(None, size)


# -- commands -------------------------------------------------------------------------

@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--segmenter", default="oracle", show_default=True, metavar="SPEC",
              help="2D parser: oracle, mediapipe, bisenet:PATH, onnx:PATH or masks:DIR.")
@click.option("--truth", type=click.Path(exists=True), default=None,
              help="oracle: the labelling to render (parts.json or annotation.npz; the demo's own truth by default).")
@click.option("--noise", type=click.Choice(["default", "none"]), default="default", show_default=True,
              help="oracle: imitate a real parser's mistakes, or render exact part maps.")
@click.option("--variants", type=int, default=50, show_default=True, help="Number of rendered variants.")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--k", type=int, default=1, show_default=True, help="Each labelled pixel votes for its k nearest visible vertices.")
@click.option("--rule", type=click.Choice(["majority", "union"]), default="majority", show_default=True,
              help="majority: each vertex gets its most-voted part; union (the paper): every part it got a vote for.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of variants and noise.")
@click.option("--yaw", type=float, default=None,
              help="Yaw range +-degrees [default: the parser's reliable range (mediapipe 35), else 80].")
@click.option("--vertex-mask", type=click.Path(dir_okay=False), default=None,
              help="Only these vertices may receive votes (JSON/.npy/.txt of indices, or V booleans).")
@click.option("--eval-views", type=int, default=10, show_default=True,
              help="Held-out renders for the Part IoU check at the end (0: skip).")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@_parser_options
@_model_options
def annotate(model, out_dir, segmenter, truth, noise, variants, size, k, rule, seed, yaw, vertex_mask, eval_views,
             preview, parser_args, model_args):
    """Annotate MODEL ('demo', a model file or folder) into OUT/annotation.npz, parts.json and preview.png.

    Re-running an interrupted command resumes from its checkpoint.
    """
    from ..annotate.pipeline import AnnotateSettings, sampling_for
    from ..data.parts import PartTable
    from ..io_utils import ensure_writable_dir

    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    parts = PartTable.paper()
    truth_labels = None
    if segmenter == "oracle":
        from ..segmenters.oracle import OracleNoise, OracleSegmenter

        truth_labels = _truth_labels(model, face, truth, parts)
        seg = OracleSegmenter(truth_labels, parts, OracleNoise() if noise == "default" else None, seed=seed)
    else:
        if truth is not None:
            raise FacepartError("--truth applies to the oracle segmenter only")
        seg = _make_parser_segmenter(segmenter, parts, face, parser_args,
                                     yaw_range=(-abs(yaw), abs(yaw)) if yaw is not None else "default")
        if str(model) == "demo":  # a real parser measured against the demo's construction truth
            truth_labels = _truth_labels(model, face, None, parts)
    settings = AnnotateSettings(variants=variants, size=size, k=k, rule=rule, seed=seed,
                                sampling=sampling_for(seg, yaw))
    with _renderer(size) as renderer:
        _run(face, seg, settings, out, renderer, preview=preview, eval_views=eval_views, truth_labels=truth_labels)
    if hasattr(seg, "close"):
        seg.close()


@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--variants", type=int, default=50, show_default=True, help="Number of rendered variants.")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the variants.")
@click.option("--yaw", type=float, default=80.0, show_default=True, help="Yaw range +-degrees.")
@_model_options
def render(model, out_dir, variants, size, seed, yaw, model_args):
    """Render MODEL's variants to OUT/images/ for a parser that runs elsewhere.

    Segment OUT/images/*.png with your parser, write its label maps (one-channel PNGs of class ids,
    same file names) to OUT/masks/ and its label table to OUT/labels.yaml, then run
    `facepart vote MODEL --masks OUT --out RESULT`.
    """
    from ..annotate.pipeline import AnnotateSettings
    from ..annotate.render_set import write_render_set
    from ..annotate.variants import SamplingSettings
    from ..io_utils import ensure_writable_dir

    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    settings = AnnotateSettings(variants=variants, size=size, seed=seed, sampling=SamplingSettings(yaw=(-yaw, yaw)))
    bar, progress = _progress_bar(variants, "render")
    with _renderer(size) as renderer:
        manifest = write_render_set(face, settings, out, renderer, progress=progress)
    bar.close()
    click.echo(f"Rendered {variants} variants of {face.name} at {size}x{size} (and images/frontal.png for the "
               f"left/right calibration) into {out}/images; manifest: {manifest}.\n"
               f"Next: write label PNGs to {out}/masks/ (same names) and the label table to {out}/labels.yaml, "
               f"then: facepart vote {model} --masks {out} --out RESULT")


@main.command()
@click.argument("model")
@click.option("--masks", "masks_dir", type=click.Path(file_okay=False, exists=True), required=True,
              help="A folder made by `facepart render`, with masks/ written by your parser.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--k", type=int, default=None, help="Votes per pixel [default: the render set's].")
@click.option("--rule", type=click.Choice(["majority", "union"]), default=None,
              help="Assignment rule [default: the render set's, majority].")
@click.option("--vertex-mask", type=click.Path(dir_okay=False), default=None,
              help="Only these vertices may receive votes.")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@_parser_options
@_model_options
def vote(model, masks_dir, out_dir, k, rule, vertex_mask, preview, parser_args, model_args):
    """Vote with label maps made outside facepart (see `facepart render`) and write the annotation."""
    import dataclasses

    from ..annotate.render_set import read_manifest
    from ..data.parts import PartTable
    from ..io_utils import ensure_writable_dir

    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    settings = read_manifest(masks_dir, face)
    settings = dataclasses.replace(settings, k=k or settings.k, rule=rule or settings.rule)
    seg = _make_parser_segmenter(f"masks:{masks_dir}", PartTable.paper(), face, parser_args, yaw_range=None)
    with _renderer(settings.size) as renderer:
        _run(face, seg, settings, out, renderer, preview=preview, eval_views=0,
             notes=["Held-out Part IoU needs a live parser: not computed for masks made elsewhere."])
