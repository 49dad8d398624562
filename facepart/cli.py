"""The ``facepart`` command line.

Commands parse options, call the library, and print; a user's mistake is one
line on stderr and a non-zero exit code (``FacepartError``), never a traceback.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import FacepartError

CHECKPOINT = ".facepart-checkpoint.npz"


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


def _model_options(f):
    import functools

    # --texture and --model-option reach _load through the click context, so that the
    # commands' own signatures keep (fmt, blendshapes, unit)
    command = f

    @functools.wraps(command)
    def wrapper(*args, texture=None, model_option=(), **kwargs):
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            ctx.meta["facepart.model_extra"] = {"texture": texture, "options": model_option}
        return command(*args, **kwargs)

    f = wrapper
    f = click.option("--format", "fmt", default=None, help="Force the model format (see `facepart formats`).")(f)
    f = click.option("--blendshapes", type=click.Path(file_okay=False), default=None,
                     help="Mesh models: a folder of same-topology meshes used as expressions.")(f)
    f = click.option("--unit", type=click.Choice(["m", "dm", "cm", "mm", "um"]), default=None,
                     help="Mesh models: the file's unit (default: guessed from the size).")(f)
    f = click.option("--texture", type=click.Path(dir_okay=False), default=None,
                     help="A UV texture image for a model with UVs (colours are sampled per vertex).")(f)
    f = click.option("--model-option", "-O", "model_option", multiple=True, metavar="KEY=VALUE",
                     help="A format-specific loader option, e.g. -O topology=53215 (BFM 2009), -O jaw_open=0.2 "
                          "(FLAME), -O simplified=true (FaceVerse v2); see docs/formats.md.")(f)
    return f


def _parse_model_options(pairs) -> dict:
    import json

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


def _load(model, fmt, blendshapes, unit):
    from .data import load_model

    ctx = click.get_current_context(silent=True)
    extra = ctx.meta.get("facepart.model_extra", {}) if ctx is not None else {}
    options = _parse_model_options(extra.get("options", ()))
    for clash in ("blendshapes", "unit", "texture"):
        if clash in options:
            raise FacepartError(f"use --{clash}, not --model-option {clash}=...")
    return load_model(model, format=fmt, blendshapes=blendshapes, unit=unit, texture=extra.get("texture"),
                      **options)


def _truth_labels(model_spec, model, truth, parts):
    from .data.annotation import read_labels
    from .data.demo_head import demo_truth

    if truth is not None:
        return read_labels(truth, parts, model.n_vertices)
    if str(model_spec) == "demo":
        return demo_truth(parts)
    raise FacepartError("the oracle segmenter needs --truth (a parts.json or annotation.npz of this model)")


@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--segmenter", default="oracle", show_default=True,
              help="2D parser: 'oracle' (renders --truth; the demo's own truth by default).")
@click.option("--truth", type=click.Path(exists=True), default=None,
              help="Oracle only: the labelling to render (parts.json or annotation.npz).")
@click.option("--noise", type=click.Choice(["default", "none"]), default="default", show_default=True,
              help="Oracle only: imitate a real parser's mistakes, or render exact part maps.")
@click.option("--variants", type=int, default=50, show_default=True, help="Number of rendered variants.")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--k", type=int, default=1, show_default=True, help="Each labelled pixel votes for its k nearest visible vertices.")
@click.option("--rule", type=click.Choice(["majority", "union"]), default="majority", show_default=True,
              help="majority: each vertex gets its most-voted part; union (the paper): every part it got a vote for.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of variants and noise.")
@click.option("--yaw", type=float, default=80.0, show_default=True, help="Yaw range +-degrees.")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write preview.png.")
@_model_options
def annotate(model, out_dir, segmenter, truth, noise, variants, size, k, rule, seed, yaw, preview,
             fmt, blendshapes, unit):
    """Annotate MODEL ('demo', a model file or folder) and write OUT/annotation.npz, parts.json, preview.png.

    Re-running an interrupted command resumes from its checkpoint.
    """
    from tqdm import tqdm

    from .annotate.pipeline import AnnotateSettings, agreement, annotate as run, union_agreement
    from .annotate.variants import SamplingSettings
    from .data.annotation import save_annotation
    from .data.parts import PartTable
    from .io_utils import ensure_writable_dir

    settings = AnnotateSettings(variants=variants, size=size, k=k, rule=rule, seed=seed,
                                sampling=SamplingSettings(yaw=(-yaw, yaw)))
    out = ensure_writable_dir(out_dir)
    t0 = time.perf_counter()
    face = _load(model, fmt, blendshapes, unit)
    parts = PartTable.paper()
    truth_labels = None
    if segmenter == "oracle":
        from .segmenters.oracle import OracleNoise, OracleSegmenter

        truth_labels = _truth_labels(model, face, truth, parts)
        seg = OracleSegmenter(truth_labels, parts, OracleNoise() if noise == "default" else None, seed=seed)
    else:
        raise FacepartError(f"unknown segmenter '{segmenter}'; available: oracle")

    click.echo(f"facepart {__version__}: annotating {face.name} ({face.n_vertices} vertices) with {seg.describe()}, "
               f"{variants} variants at {size}x{size}", err=True)
    bar = tqdm(total=variants, unit="variant", desc="annotate", file=sys.stderr, disable=None)
    checkpoint = out / CHECKPOINT
    try:
        result = run(face, seg, settings, checkpoint=checkpoint,
                     progress=lambda done, total: bar.update(done - bar.n))
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\ninterrupted; finished variants are kept in {checkpoint}; "
                   "run the same command again to resume", err=True)
        sys.exit(130)
    bar.close()
    ann = result.annotation
    npz, parts_json = save_annotation(ann, out)
    written = [npz, parts_json]
    if preview:
        from .annotate.preview import render_preview, write_png

        written.append(write_png(out / "preview.png", render_preview(face, ann.labels, parts)))
    checkpoint.unlink(missing_ok=True)

    st = result.stats
    seen = ann.visible_count > 0
    lines = [
        f"Annotated {face.name}: {ann.n_vertices} vertices, {int(seen.sum())} seen in at least one render, "
        f"{int((ann.labels >= 0).sum())} labelled ({rule} rule for parts.json).",
        *ann.summary_lines(),
        f"{st.variants} variants in {time.perf_counter() - t0:.1f} s total "
        f"({st.variants_per_second:.1f} variants/s for render+segment+vote"
        + (f"; {st.resumed_from} resumed from a checkpoint" if st.resumed_from else "")
        + (f"; {st.skipped} views without a face were skipped" if st.skipped else "") + ").",
    ]
    if truth_labels is not None:
        lines.append(f"Agreement with the oracle's truth on the {int(seen.sum())} seen vertices: "
                     f"majority {100 * agreement(ann.labels, truth_labels, seen):.2f}%, "
                     f"union {100 * union_agreement(ann.votes, truth_labels, seen):.2f}%.")
    lines.append("Wrote " + ", ".join(str(p) for p in written))
    click.echo("\n".join(lines))


@main.command()
@click.argument("path")
@click.option("--export-regions", type=click.Path(file_okay=False), default=None,
              help="Models: write each region set the files carry (3DDFA-V3 annotation, FLAME_masks...) "
                   "as DIR/<set>.parts.json.")
@_model_options
def info(path, export_regions, fmt, blendshapes, unit):
    """Print what a model file/folder, an annotation.npz, a parts.json or a BFM index map holds."""
    from .data.annotation import ANNOTATION_FILE, load_annotation
    from .data.bfm_topology import looks_like_index_map, read_index_map

    p = Path(path)
    if fmt is None and looks_like_index_map(p):
        click.echo(read_index_map(p).describe())
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
        return
    if p.suffix == ".json" and fmt is None:
        import json

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
    face = _load(path, fmt, blendshapes, unit)
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


if __name__ == "__main__":  # pragma: no cover
    main()
