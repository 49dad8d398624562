"""The ``facepart`` command line.

Commands parse options, call the library, and print; a user's mistake is one
line on stderr and a non-zero exit code (``FacepartError``), never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from . import __version__
from .errors import FacepartError

CHECKPOINT = ".facepart-checkpoint.npz"
MODEL_OPTIONS = ("fmt", "blendshapes", "unit", "texture", "model_option")


class FacepartGroup(click.Group):
    """Turns FacepartError into a one-line click error (exit code 1)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except FacepartError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=FacepartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="facepart")
@click.option("--gl", type=click.Choice(["egl", "osmesa"]), default=None,
              help="OpenGL platform for rendering (default: $PYOPENGL_PLATFORM, else EGL, else OSMesa).")
def main(gl):
    """Make part index files (eyes, brows, lips, nose, skin) for 3D face models."""
    if gl:
        os.environ["PYOPENGL_PLATFORM"] = gl


# -- shared options -------------------------------------------------------------------

def _model_options(command):
    """Adds the model-loading options; the command receives them as one ``model_args`` dict."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        model_args = {k: kwargs.pop(k) for k in MODEL_OPTIONS}
        return command(*args, model_args=model_args, **kwargs)

    f = wrapper
    f = click.option("--model-option", "-O", "model_option", multiple=True, metavar="KEY=VALUE",
                     help="A format-specific loader option, e.g. -O topology=53215 (BFM 2009), -O jaw_open=0.2 "
                          "(FLAME), -O simplified=true (FaceVerse v2); see docs/formats.md.")(f)
    f = click.option("--texture", type=click.Path(dir_okay=False), default=None,
                     help="A UV texture image for a model with UVs (colours are sampled per vertex).")(f)
    f = click.option("--unit", type=click.Choice(["m", "dm", "cm", "mm", "um"]), default=None,
                     help="Mesh models: the file's unit (default: guessed from the size).")(f)
    f = click.option("--blendshapes", type=click.Path(file_okay=False), default=None,
                     help="Mesh models: a folder of same-topology meshes used as expressions.")(f)
    f = click.option("--format", "fmt", default=None, help="Force the model format (see `facepart formats`).")(f)
    return f


def _parse_model_options(pairs) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FacepartError(f"--model-option expects KEY=VALUE, got '{pair}'")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _load(model, model_args: dict):
    from .data import load_model

    options = _parse_model_options(model_args.get("model_option", ()))
    for clash in ("blendshapes", "unit", "texture"):
        if clash in options:
            raise FacepartError(f"use --{clash}, not --model-option {clash}=...")
    return load_model(model, format=model_args.get("fmt"), blendshapes=model_args.get("blendshapes"),
                      unit=model_args.get("unit"), texture=model_args.get("texture"), **options)


def _parser_options(command):
    """Options of the real 2D parsers; the command receives them as one ``parser_args`` dict."""
    names = ("labels", "parser_config", "device", "cleanup", "keep_forehead", "ear_parser")

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        parser_args = {k: kwargs.pop(k) for k in names}
        return command(*args, parser_args=parser_args, **kwargs)

    f = wrapper
    f = click.option("--ear-parser", default=None, metavar="SPEC",
                     help="A second parser with ear classes (e.g. bisenet:PATH) whose ears are removed.")(f)
    f = click.option("--keep-forehead", is_flag=True,
                     help="mediapipe: skin up to the top of the face oval (no forehead clean-up).")(f)
    f = click.option("--cleanup", default="all", show_default=True, metavar="STEPS",
                     help="Clean-up of parser masks: 'all', 'none', or a list of ears,hair,forehead,islands.")(f)
    f = click.option("--device", default="cpu", show_default=True, help="bisenet/onnx: cpu or cuda.")(f)
    f = click.option("--parser-config", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="onnx: a YAML/JSON file with input size, normalisation and label table.")(f)
    f = click.option("--labels", default=None, metavar="TABLE",
                     help="The parser's label table: a built-in name (see `facepart labelsets`) or a YAML/JSON file.")(f)
    return f


def _make_parser_segmenter(spec: str, parts, face, parser_args: dict, yaw_range="default"):
    from .segmenters import make_parser_segmenter

    return make_parser_segmenter(spec, parts, labels=parser_args["labels"], config=parser_args["parser_config"],
                                 device=parser_args["device"], cleanup=parser_args["cleanup"],
                                 keep_forehead=parser_args["keep_forehead"], ear_parser=parser_args["ear_parser"],
                                 model=face, yaw_range=yaw_range)


def _truth_labels(model_spec, model, truth, parts):
    from .data.annotation import read_labels
    from .data.demo_head import demo_truth

    if truth is not None:
        return read_labels(truth, parts, model.n_vertices)
    if str(model_spec) == "demo":
        return demo_truth(parts)
    raise FacepartError("the oracle segmenter needs --truth (a parts.json or annotation.npz of this model)")


def _apply_vertex_mask(face, vertex_mask):
    if vertex_mask is not None:
        from .data.vertex_mask import read_vertex_mask

        face.vote_mask &= read_vertex_mask(vertex_mask, face.n_vertices)
        if not face.vote_mask.any():
            raise FacepartError(f"{vertex_mask}: no vertex is left that may receive votes")


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm

    bar = tqdm(total=total, unit="variant", desc=desc, file=sys.stderr, disable=None)
    return bar, (lambda done, _total: bar.update(done - bar.n))


# -- the run shared by `annotate` and `vote` ------------------------------------------

def _run(face, seg, settings, out: Path, renderer, *, preview: bool, eval_views: int, truth_labels=None,
         notes: list[str] = ()):
    """Calibrate, vote with a progress bar and checkpoint, write the files, print the summary."""
    from .annotate.pipeline import agreement, annotate, union_agreement
    from .data.annotation import save_annotation

    t0 = time.perf_counter()
    notes = list(notes)
    if hasattr(seg, "calibrate"):
        from .segmenters import frontal_view

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
        from .annotate.evaluate import part_iou

        iou = part_iou(face, ann.labels, seg, settings, views=eval_views, renderer=renderer)
        ann.settings["held_out_part_iou"] = {n: (None if v != v else round(float(v), 4))
                                             for n, v in zip(iou.names, iou.iou)}
    npz, parts_json = save_annotation(ann, out)
    written = [npz, parts_json]
    if preview:
        from .annotate.preview import render_preview, write_png

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
        lines.append(f"Agreement with the oracle's truth on the {int(seen.sum())} seen vertices: "
                     f"majority {100 * agreement(ann.labels, truth_labels, seen):.2f}%, "
                     f"union {100 * union_agreement(ann.votes, truth_labels, seen):.2f}%.")
    if iou is not None:
        lines.append(f"Held-out Part IoU (annotation vs {seg.name} on renders not used for voting):")
        lines.append(iou.table())
    lines.append("Wrote " + ", ".join(str(p) for p in written))
    click.echo("\n".join(lines))


def _renderer(size: int):
    from .renderers.pyrender_backend import PyrenderRenderer

    return PyrenderRenderer(size, size)


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
    from .annotate.pipeline import AnnotateSettings, sampling_for
    from .data.parts import PartTable
    from .io_utils import ensure_writable_dir

    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    parts = PartTable.paper()
    truth_labels = None
    if segmenter == "oracle":
        from .segmenters.oracle import OracleNoise, OracleSegmenter

        truth_labels = _truth_labels(model, face, truth, parts)
        seg = OracleSegmenter(truth_labels, parts, OracleNoise() if noise == "default" else None, seed=seed)
    else:
        if truth is not None:
            raise FacepartError("--truth applies to the oracle segmenter only")
        seg = _make_parser_segmenter(segmenter, parts, face, parser_args,
                                     yaw_range=(-abs(yaw), abs(yaw)) if yaw is not None else "default")
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
    from .annotate.pipeline import AnnotateSettings
    from .annotate.render_set import write_render_set
    from .annotate.variants import SamplingSettings
    from .io_utils import ensure_writable_dir

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

    from .annotate.render_set import read_manifest
    from .data.parts import PartTable
    from .io_utils import ensure_writable_dir

    out = ensure_writable_dir(out_dir)
    face = _load(model, model_args)
    _apply_vertex_mask(face, vertex_mask)
    settings = read_manifest(masks_dir, face)
    settings = dataclasses.replace(settings, k=k or settings.k, rule=rule or settings.rule)
    seg = _make_parser_segmenter(f"masks:{masks_dir}", PartTable.paper(), face, parser_args, yaw_range=None)
    with _renderer(settings.size) as renderer:
        _run(face, seg, settings, out, renderer, preview=preview, eval_views=0,
             notes=["Held-out Part IoU needs a live parser: not computed for masks made elsewhere."])


@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--segmenter", default="mediapipe", show_default=True, metavar="SPEC",
              help="mediapipe, bisenet:PATH or onnx:PATH.")
@click.option("--out", "out_png", type=click.Path(dir_okay=False), required=True,
              help="The figure to write: image | parser classes | parts overlay.")
@_parser_options
def segment(image, segmenter, out_png, parser_args):
    """Show what a parser does to one IMAGE: its own classes and facepart's parts, side by side."""
    from .annotate.preview import write_png
    from .data.parts import PartTable
    from .segmenters.overlay import figure, read_rgb

    if segmenter.startswith("masks:") or segmenter == "oracle":
        raise FacepartError("`facepart segment` runs a live parser: mediapipe, bisenet:PATH or onnx:PATH")
    rgb = read_rgb(image)
    seg = _make_parser_segmenter(segmenter, PartTable.paper(), None, parser_args, yaw_range=None)
    result = seg.segment_image(rgb)
    seg.close()
    path = write_png(out_png, figure(rgb, result, seg.labels, seg.parts, f"{segmenter} on {Path(image).name}"))
    click.echo(f"Wrote {path}" + ("" if result is not None else f" ({seg.name} found no face in {image})"))


@main.command()
@click.argument("path")
@click.option("--export-regions", type=click.Path(file_okay=False), default=None,
              help="Models: write each region set the files carry (3DDFA-V3 annotation, FLAME_masks...) "
                   "as DIR/<set>.parts.json.")
@_model_options
def info(path, export_regions, model_args):
    """Print what a model file/folder, an annotation.npz, a parts.json or a BFM index map holds."""
    from .data.annotation import ANNOTATION_FILE, load_annotation
    from .data.bfm_topology import looks_like_index_map, read_index_map

    p = Path(path)
    fmt = model_args.get("fmt")
    if fmt is None and looks_like_index_map(p):
        click.echo(read_index_map(p).describe())
        return
    from .data.regions import read_region_file

    regions = read_region_file(p) if fmt is None else None
    if regions is not None:
        n = int(max((int(v.max()) for v in regions.regions.values() if v.size), default=-1)) + 1
        click.echo(f"region file: {p} (vertex ids up to {n - 1}; not a model: put it beside the model, "
                   "e.g. FLAME_masks.pkl beside generic_model.pkl)")
        click.echo("\n".join(regions.describe(n)))
        return
    if p.suffix == ".npz" and fmt is None or (p.is_dir() and (p / ANNOTATION_FILE).is_file()):
        ann = load_annotation(p)
        s = ann.settings
        click.echo(f"annotation: {p}")
        click.echo(f"topology: {ann.fingerprint.describe()}")
        click.echo(f"model: {s.get('model', {}).get('name')} ({s.get('model', {}).get('format')}); "
                   f"segmenter: {s.get('segmenter')}; variants: {s.get('variants')}, size {s.get('size')}, "
                   f"k {s.get('k')}, seed {s.get('seed')}; rule: {ann.rule}")
        click.echo("\n".join(ann.summary_lines()))
        if s.get("held_out_part_iou"):
            click.echo("held-out Part IoU: " + ", ".join(f"{n} {v if v is not None else 'n/a'}"
                                                          for n, v in s["held_out_part_iou"].items()))
        return
    if p.suffix == ".json" and fmt is None:
        try:
            mapping = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FacepartError(f"{p}: not a readable JSON file ({exc})") from None
        if not isinstance(mapping, dict):
            raise FacepartError(f"{p}: expected a JSON object of part name -> vertex indices")
        click.echo(f"part index file: {p}")
        for name, idx in mapping.items():
            n = len(idx) if isinstance(idx, list) else "?"
            click.echo(f"  {name}: {n} vertices")
        return
    face = _load(path, model_args)
    click.echo("\n".join(face.describe()))
    if export_regions:
        import re

        from .io_utils import ensure_writable_dir, write_json_atomic

        out = ensure_writable_dir(export_regions)
        for name, region_set in face.region_sets.items():
            target = out / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + ".parts.json")
            write_json_atomic(target, region_set.as_json())
            click.echo(f"wrote {target}")
        if not face.region_sets:
            click.echo("no region sets to export")


@main.command()
def formats():
    """List the model formats facepart reads."""
    from .data import FORMATS

    for fmt in FORMATS.values():
        click.echo(f"{fmt.name:<12} {fmt.description}")


@main.command()
def labelsets():
    """List the built-in parser label tables (give your own with --labels FILE.yaml)."""
    from .segmenters import TABLES

    for name, table in TABLES.items():
        click.echo(f"{name:<20} {len(table)} classes: {', '.join(table.classes)}")


if __name__ == "__main__":  # pragma: no cover
    main()
