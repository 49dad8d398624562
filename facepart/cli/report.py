"""``facepart report``: the HTML page that shows what an annotation run produced."""

from __future__ import annotations

from pathlib import Path

import click

from . import main
from .options import _load, _load_options, _model_options


@main.command()
@click.argument("annotation", type=click.Path(exists=True))
@click.option("--model", "model_spec", default=None, metavar="MODEL",
              help="The model the annotation was made for [default: the path its run recorded].")
@click.option("--out", "out_path", type=click.Path(), default=None,
              help="The page to write [default: report.html beside the annotation].")
@click.option("--size", type=int, default=320, show_default=True, help="Pixel size of each rendered view.")
@click.option("--low-confidence", type=float, default=0.6, show_default=True,
              help="Labels whose confidence is under this are flagged.")
@_model_options
def report(annotation, model_spec, out_path, size, low_confidence, model_args):
    """Write a self-contained HTML page about ANNOTATION (annotation.npz, its folder, or any readable
    annotation file: a parts.json, csv... with --model).

    The model coloured by part from five sides, vertices per part, quality figures,
    unlabelled and low-confidence vertices, the confidence histogram, the held-out
    Part IoU, the convergence curve, skipped views and the run settings; every
    image is embedded, so the page can be mailed or archived on its own.
    """
    from ..export import read_annotation
    from ..report import REPORT_FILE, check_report_options, recorded_model, write_report

    check_report_options(size, low_confidence)  # before the annotation and the model are read
    if model_spec:  # a file that does not name its mesh (parts.json, csv...) is read against the model
        face = _load(model_spec, model_args)
        ann = read_annotation(annotation, model=face)
    else:
        ann = read_annotation(annotation)
        face = recorded_model(ann, annotation, **_load_options(model_args))
    folder = Path(annotation) if Path(annotation).is_dir() else Path(annotation).parent
    path = write_report(ann, face, out_path or folder / REPORT_FILE, source=annotation, size=size,
                        low_confidence=low_confidence)
    click.echo(f"Wrote {path}")
