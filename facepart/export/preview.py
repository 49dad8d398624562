"""``preview``: ``preview.png``, the labelled mean shape from three sides with a legend (needs the model
and a renderer)."""

from __future__ import annotations

from pathlib import Path

from ..data.annotation import Annotation
from .common import writer_model
from .options import ExportOptions
from .view import PartView

DEFAULT_SIZE = 384


def write_preview(annotation: Annotation, path: Path, renderer=None, **options) -> list[Path]:
    """Render the annotation (one label per vertex: the smallest part holding it) and write a PNG."""
    from ..annotate.preview import render_preview, write_png

    opts = ExportOptions.of(options)
    model = writer_model(opts.model, annotation, "preview")
    view = PartView.of(annotation, opts)
    image = render_preview(model, view.labels(), view.part_table(), size=opts.size or DEFAULT_SIZE,
                           renderer=renderer)
    return [write_png(path, image)]
