"""``facepart landmarks``: embed a 2D landmark detector's points on a face model (static and per-yaw)."""

from __future__ import annotations

import time

import click

from .. import __version__
from ..errors import FacepartError
from . import main
from .options import _load, _model_options, _progress_bar


@main.command()
@click.argument("model")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--detector", type=click.Choice(["mediapipe"]), default="mediapipe", show_default=True,
              help="2D landmark detector (MediaPipe FaceMesh, offline).")
@click.option("--set", "landmark_set", type=click.Choice(["478", "68", "105"]), default="68", show_default=True,
              help="Landmarks to embed: all 478 MediaPipe points, the iBUG-68 subset, or FLAME's 105.")
@click.option("--variants", type=int, default=200, show_default=True, help="Renders used for the embedding.")
@click.option("--yaw", type=float, default=40.0, show_default=True, help="Yaw range +-degrees of the renders.")
@click.option("--bin-width", type=float, default=5.0, show_default=True,
              help="Yaw bin of the dynamic (contour) embedding, degrees (0.1..180).")
@click.option("--size", type=int, default=512, show_default=True, help="Render size in pixels (square).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the variants.")
@click.option("--expressions/--no-expressions", default=False, show_default=True,
              help="Also vary the expression (default: the model's identities with a neutral face).")
@click.option("--held-out", type=int, default=20, show_default=True,
              help="Renders for the held-out NME check (0: skip).")
@click.option("--to", "formats", multiple=True, metavar="FORMAT", help="Also write this format (repeatable): "
              "flame-lmk-pkl, keypoints0, keypoints1, keypoints-3ddfa, realy-lmk, eos-contours. When landmarks were "
              "never found on the model, formats with no place for them are skipped with a warning; a --to format "
              "skipped so makes the exit code 1 (the other files are still written).")
@click.option("--figure/--no-figure", default=True, show_default=True, help="Write landmarks.png.")
@_model_options
def landmarks(model, out_dir, detector, landmark_set, variants, yaw, bin_width, size, seed, expressions, held_out,
              formats, figure, model_args):
    """Embed 2D landmarks on MODEL: triangle + barycentrics per landmark, per yaw bin for contour ones.

    Writes OUT/landmarks.json, OUT/landmark_embedding.npz (FLAME layout) and OUT/landmarks.png,
    plus any --to formats, and prints the held-out NME. Only surface facing the camera counts, so on
    an open mesh (half a head) a landmark seen through the opening is not found there.

    Landmarks never found on the model (an open or partial mesh) do not stop the run:
    landmarks.json keeps them as -1 and is always written, with landmarks.png and every format
    that can hold the result; a format with no place for a missing landmark (all but
    landmarks-json) is skipped with one warning line naming them. The exit code stays 0 unless
    a format asked for with --to was among the skipped ones: then 1, after writing the rest.
    Landmarks found in under half the views get a warning line too (kept, stable: false).
    """
    from ..annotate.landmarks import LandmarkSettings
    from ..export.landmarks import DEFAULT_FORMATS, run_landmarks

    settings = LandmarkSettings(variants=variants, size=size, seed=seed, yaw=yaw, bin_width=bin_width,
                                expressions=expressions, held_out=held_out)
    face = _load(model, model_args)
    click.echo(f"facepart {__version__}: embedding the {landmark_set} {detector} landmarks on {face.name} "
               f"({face.n_vertices} vertices); {variants} renders at {size}x{size}, yaw {-abs(yaw):g}..{abs(yaw):g}, "
               f"{held_out} held out", err=True)
    bar, progress = _progress_bar(variants + held_out, "landmarks")
    t0 = time.perf_counter()
    skipped: dict[str, str] = {}
    try:
        emb, written = run_landmarks(face, out_dir, detector, landmark_set, settings,
                                     tuple(DEFAULT_FORMATS) + tuple(formats), figure, progress=progress,
                                     skipped=skipped)
    finally:
        bar.close()
    lines = emb.summary_lines()
    lines.append(f"{variants + held_out} renders in {time.perf_counter() - t0:.1f} s.")
    lines += skipped.values()
    lines.append("Wrote " + ", ".join(str(p) for p in written))
    click.echo("\n".join(lines))
    asked = [name for name in dict.fromkeys(formats) if name in skipped]
    if asked:
        raise FacepartError(f"--to {', '.join(asked)}: not written, {len(emb.missing_names())} landmark(s) were never "
                            f"found on the model (see the warnings above); the other files are in {out_dir}")
