"""``facepart segment``, ``info``, ``formats`` and ``labelsets``: the commands that look at things."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import FacepartError
from . import main
from .options import _load, _make_parser_segmenter, _model_options, _parser_options

@main.command()
@click.argument("image", type=click.Path(dir_okay=False))
@click.option("--segmenter", default="mediapipe", show_default=True, metavar="SPEC",
              help="mediapipe, bisenet:PATH or onnx:PATH.")
@click.option("--out", "out_png", type=click.Path(dir_okay=False), required=True,
              help="The figure to write: image | parser classes | parts overlay.")
@_parser_options
def segment(image, segmenter, out_png, parser_args):
    """Show what a parser does to one IMAGE: its own classes and facepart's parts, side by side."""
    from ..annotate.preview import write_png
    from ..data.parts import PartTable
    from ..segmenters.overlay import figure, read_rgb

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
    from ..data.annotation import ANNOTATION_FILE, load_annotation
    from ..data.bfm_topology import looks_like_index_map, read_index_map

    p = Path(path)
    fmt = model_args.get("fmt")
    if fmt is None and looks_like_index_map(p):
        click.echo(read_index_map(p).describe())
        return
    from ..data.regions import read_region_file

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
        from ..annotate.refine import stored_quality_lines

        quality = stored_quality_lines(s)
        if quality:
            click.echo("\n".join(quality))
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

        from ..io_utils import ensure_writable_dir, write_json_atomic

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
    from ..data import FORMATS

    for fmt in FORMATS.values():
        click.echo(f"{fmt.name:<12} {fmt.description}")


@main.command()
def labelsets():
    """List the built-in parser label tables (give your own with --labels FILE.yaml)."""
    from ..segmenters import TABLES

    for name, table in TABLES.items():
        click.echo(f"{name:<20} {len(table)} classes: {', '.join(table.classes)}")
