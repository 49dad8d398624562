"""``facepart correct``: the correction viewer."""

from __future__ import annotations

import re

import click

from ..correction_gui.keymap import keymap_text
from ..errors import FacepartError
from . import main
from .options import _model_options, _parse_model_options

HELP = f"""Open ANNOTATION in the correction viewer: fix errant vertices by brush, lasso and fill; Ctrl+S saves.

\b
ANNOTATION is an annotation.npz (or its folder), a parts.json, a FLAME_masks.pkl,
or a model file that carries region annotations (3DDFA-V3 face_model.npy).
The model is the one the annotation records unless --model is given; a model
of another topology is refused. Saving writes annotation.npz and parts.json
(with the vote table, an `edited` mask and an edit log) into --out, by default
the annotation's folder (`<name>_corrected/` for other inputs).

\b
Keys and mouse:
{keymap_text()}
"""


@main.command(help=HELP)
@click.argument("annotation", type=click.Path(exists=True))
@click.option("--model", default=None, help="The face model (default: the path the annotation records).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder Ctrl+S saves to (default: the annotation's folder).")
@click.option("--regions", default=None, metavar="NAME",
              help="Model files with several region sets: which one to open (see `facepart info MODEL`).")
@click.option("--screenshot", type=click.Path(dir_okay=False), default=None,
              help="Draw the view to this PNG, with a legend of the parts below it, and exit (works without a "
                   "display, on a private Xvfb).")
@click.option("--view", type=click.Choice(["front", "left", "right"]), default="front", show_default=True,
              help="The view to start with (left/right: the subject's).")
@click.option("--size", default="1400x900", show_default=True, metavar="WxH", help="Window size in pixels.")
@click.option("--shading", type=click.Choice(["headlight", "pbr"]), default="headlight", show_default=True,
              help="headlight: flat colours lit by a light at the camera (fast without a GPU); pbr: Open3D's lit "
                   "material (smoother, wants a GPU).")
@_model_options
def correct(annotation, model, out, regions, screenshot, view, size, shading, model_args):
    from ..correction_gui import correct as run_correct

    match = re.fullmatch(r"(\d+)x(\d+)", size)
    if not match or min(int(match[1]), int(match[2])) < 200:
        raise FacepartError(f"--size expects WxH of at least 200x200, got '{size}'")
    options = _parse_model_options(model_args.get("model_option", ()))
    for key in ("blendshapes", "unit", "texture"):
        if model_args.get(key) is not None:
            options[key] = model_args[key]
    if model_args.get("fmt"):
        options["format"] = model_args["fmt"]
    result = run_correct(annotation, model=model, out=out, screenshot=screenshot, view=view,
                         size=(int(match[1]), int(match[2])), regions=regions, shading=shading, **options)
    if screenshot is not None:
        click.echo(f"Wrote {result.written} ({result.first_frame_s:.1f} s to the first frame)")
    elif result.exit_code:
        raise SystemExit(result.exit_code)
