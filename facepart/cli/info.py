"""``facepart segment``, ``info``, ``formats`` and ``labelsets``: the commands that look at things."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

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
    from ..io_utils import check_output_file
    from ..segmenters.overlay import figure, read_rgb

    if segmenter.startswith("masks:") or segmenter == "oracle":
        raise FacepartError("`facepart segment` runs a live parser: mediapipe, bisenet:PATH or onnx:PATH")
    check_output_file(out_png)  # before the parser starts
    rgb = read_rgb(image)
    seg = _make_parser_segmenter(segmenter, PartTable.paper(), None, parser_args, yaw_range=None)
    result = seg.segment_image(rgb)
    seg.close()
    path = write_png(out_png, figure(rgb, result, seg.labels, seg.parts, f"{segmenter} on {Path(image).name}"))
    click.echo(f"Wrote {path}" + ("" if result is not None else f" ({seg.name} found no face in {image})"))


def _checkpoint_folder(p: Path) -> bool:
    """Print what an interrupted run left (its folder without annotation.npz, or the checkpoint folder itself);
    False for any other folder."""
    from ..annotate.store import read_votes
    from ..data.annotation import ANNOTATION_FILE
    from ..workflow import CHECKPOINT_DIR

    folder = p if p.name == CHECKPOINT_DIR else p / CHECKPOINT_DIR
    if not folder.is_dir() or (p.name != CHECKPOINT_DIR and (p / ANNOTATION_FILE).is_file()):
        return False
    views, keys, damaged = {}, set(), 0
    for part in sorted(folder.glob("part-*.npz")):
        try:
            header, part_views = read_votes(part)
        except FacepartError:
            damaged += 1
            continue
        keys.add(header.get("key"))
        views.update({v.index: v for v in part_views})
    if not views:
        return False
    run = folder.parent
    click.echo(f"interrupted run: {run} (checkpoint {folder})\n{len(views)} views kept (variants "
               f"{min(views)}..{max(views)}; {sum(v.status == 'voted' for v in views.values())} voted)"
               + (f", {damaged} damaged part file(s) skipped" if damaged else "")
               + (f"; {len(keys)} different runs' views (only the one matching the command resumes)"
                  if len(keys) > 1 else "")
               + f"\nrun the same `facepart annotate ... --out {run}` command again to resume it")
    return True


def _other_npz(p: Path) -> bool:
    """Print what a facepart .npz other than an annotation holds (a shard or checkpoint part, a landmark
    embedding, a triangle-parts export); False for an annotation or an npz facepart did not write."""
    try:
        with np.load(p, allow_pickle=False) as data:
            keys = set(data.files)
            tag = str(data["format"]) if "format" in keys else None
    except Exception:  # noqa: BLE001 - not a readable npz: the annotation reader says so in one line
        return False
    if "header" in keys:
        from ..annotate.store import read_votes

        header, views = read_votes(p)
        what = f"shard {header['shard'][0]}/{header['shard'][1]}" if "shard" in header else "checkpoint part"
        voted = sum(v.status == "voted" for v in views)
        click.echo(f"votes file ({what}): {p}\n{len(views)} views ({voted} voted), variants "
                   f"{min(v.index for v in views) if views else '-'}..{max(v.index for v in views) if views else '-'}"
                   f"; segmenter: {header.get('segmenter')}; run key {header.get('key')}\n"
                   + ("merge all shards with `facepart merge SHARDS --model MODEL --out DIR`" if "shard" in header
                      else "run the same command again to resume the run it belongs to"))
        return True
    if "lmk_face_idx" in keys:
        click.echo(f"landmark embedding (FLAME-style npz of `facepart landmarks`): {p}\n"
                   f"keys: {', '.join(sorted(keys))}\nthe landmarks.json beside it holds the full embedding")
        return True
    if tag == "facepart-triangle-parts":
        click.echo(f"triangle parts (export --to tri): {p}\nread it with `facepart export {p} --to ... --model "
                   "MODEL`, or compare it with `facepart compare`")
        return True
    if tag is None and {"vertices", "faces"} & keys:
        raise FacepartError(f"{p}: an npz with keys {', '.join(sorted(keys))}: not a facepart annotation, and no "
                            "model format facepart reads (save the mesh as .obj or .ply)")
    return False


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
    if str(path) == "demo":  # the built-in head, as everywhere (a folder named demo here is ./demo)
        fmt = fmt or "demo"
    if fmt is None and looks_like_index_map(p):
        _refuse_model_options(p, "a BFM index map", model_args)
        click.echo(read_index_map(p).describe())
        return
    from ..data.formats.region_files import read_region_file

    regions = read_region_file(p) if fmt is None else None
    if regions is not None:
        _refuse_model_options(p, "a region file", model_args)
        n = int(max((int(v.max()) for v in regions.regions.values() if v.size), default=-1)) + 1
        click.echo(f"region file: {p} (vertex ids up to {n - 1}; not a model: put it beside the model, "
                   "e.g. FLAME_masks.pkl beside generic_model.pkl)")
        click.echo("\n".join(regions.describe(n)))
        return
    if fmt is None and p.suffix.lower() == ".npz" and p.is_file() and _other_npz(p):
        return
    if fmt is None and p.is_dir() and _checkpoint_folder(p):
        return
    if fmt is None and (p.suffix == ".npz" or (p.is_dir() and (p / ANNOTATION_FILE).is_file())):
        _refuse_model_options(p, "an annotation", model_args)
        ann = load_annotation(p)
        s = ann.settings
        click.echo(f"annotation: {p}")
        click.echo(f"topology: {ann.fingerprint.describe()}")
        moved = s.get("transfer") if isinstance(s.get("transfer"), dict) else None
        run, origin = s, ""
        if moved:  # a transferred annotation: the run that voted describes the source mesh
            run = moved.get("source_run") or {}
            distance = f", median distance {moved['median_mm']} mm" if "median_mm" in moved else ""
            origin = f"transferred ({moved.get('method')}) from {moved.get('from_model')}{distance}; the source run's "
        click.echo(f"model: {s.get('model', {}).get('name')} ({s.get('model', {}).get('format')}); {origin}"
                   f"segmenter: {run.get('segmenter')}; variants: {run.get('variants')}, size {run.get('size')}, "
                   f"k {run.get('k')}, seed {run.get('seed')}; rule: {ann.rule}")
        click.echo("\n".join(ann.summary_lines()))
        from ..annotate.refine import run_warnings, stored_quality_lines

        edited = 0 if ann.edited is None else int(ann.edited.sum())
        if edited:
            click.echo(f"hand edits: {edited} vertices ({len(ann.edit_log)} edits in the log; facepart correct)")
        quality = stored_quality_lines(s)
        if quality:
            if edited:
                click.echo("the run's quality figures, from before the hand edits (facepart report recomputes them):")
            click.echo("\n".join(quality))
        if s.get("held_out_part_iou"):
            from ..annotate.evaluate import held_out_mean_text

            mean = held_out_mean_text(s)
            stored = s["held_out_part_iou"]  # in the part table's order (the file keeps the keys sorted)
            order = [n for n in ann.parts.names if n in stored] + sorted(set(stored) - set(ann.parts.names))
            values = ", ".join(f"{n} {stored[n] if stored[n] is not None else 'n/a'}" for n in order)
            click.echo(f"held-out Part IoU: {values}" + (f"; {mean}" if mean else ""))
        for line in run_warnings(ann):  # the run summary's warnings, which the file's figures still show
            click.echo(line)
        return
    if fmt is None and p.is_file() and p.suffix.lower() != ".json":  # (a .json one: in the JSON branch below)
        if _landmark_export(p, model_args):
            return
    if fmt is None and p.is_file() and p.suffix.lower() in (".yaml", ".yml"):  # a parser's label table
        from ..segmenters import load_label_set

        _refuse_model_options(p, "a label table", model_args)
        click.echo(f"label table: {p}\n{load_label_set(p).describe()}")
        return
    if p.suffix == ".json" and fmt is None:
        from ..export.indexfiles import is_facepart_json, json_or_none
        from ..segmenters.masks import RENDER_SET_FORMAT, describe_render_set

        doc = json_or_none(p)
        if isinstance(doc, dict) and _landmark_export(p, model_args, doc):
            return
        if isinstance(doc, dict) and doc.get("format") == RENDER_SET_FORMAT:
            _refuse_model_options(p, "a render set manifest", model_args)
            click.echo("\n".join(describe_render_set(p.parent)))
            return
        if isinstance(doc, dict) and doc.get("format") == "facepart-landmarks":
            from ..export.landmarks import read_json as read_landmarks

            _refuse_model_options(p, "a landmark embedding", model_args)
            click.echo(f"landmark embedding: {p}")
            click.echo("\n".join(read_landmarks(p).summary_lines()))
            return
        _refuse_model_options(p, "a parts file", model_args)
        if is_facepart_json(p):
            from ..export import read_annotation

            ann = read_annotation(p)
            click.echo(f"facepart parts JSON: {p}\ntopology: {ann.fingerprint.describe()}; rule: {ann.rule}")
            click.echo("\n".join(ann.summary_lines()))
            return
        from ..data.annotation import read_parts_json

        mapping = read_parts_json(p)
        top = max((int(idx.max()) for idx in mapping.values() if idx.size), default=-1)
        click.echo(f"part index file: {p} " + (f"(vertex ids up to {top}: for a model of at least {top + 1} vertices)"
                                               if top >= 0 else "(no vertex ids in any part)"))
        for name, idx in mapping.items():
            click.echo(f"  {name}: {len(np.unique(idx))} vertices")
        return
    if fmt is None and p.is_file() and _annotation_export(p, model_args):
        return
    landmarks = p / "landmarks.json"
    if fmt is None and p.is_dir() and landmarks.is_file():  # a `facepart landmarks` output folder, not a model's
        try:
            face = _load(path, model_args)
        except FacepartError:
            from ..export.landmarks import read_json as read_landmarks

            click.echo(f"landmark embedding (the output folder of `facepart landmarks`): {landmarks}")
            click.echo("\n".join(read_landmarks(landmarks).summary_lines()))
            return
    else:
        face = _load(path, model_args)
    click.echo("\n".join(face.describe()))
    if export_regions:
        from ..export import export_region_sets

        for target in export_region_sets(face, export_regions):
            click.echo(f"wrote {target}")
        if not face.region_sets:
            click.echo("no region sets to export")


def _landmark_export(p: Path, model_args, doc=None) -> bool:
    """Describe ``p`` when it is a landmark export that carries no model (keypoints, eos contours...)."""
    from ..export.landmarks import describe_landmark_export

    lines = describe_landmark_export(p, doc)
    if lines is None:
        return False
    _refuse_model_options(p, "a landmark export", model_args)
    click.echo("\n".join(lines))
    return True


def _refuse_model_options(path: Path, what: str, model_args: dict) -> None:
    """One line when model-loading options were given for a file that is not a model (they would be ignored)."""
    given = [flag for key, flag in (("unit", "--unit"), ("texture", "--texture"), ("blendshapes", "--blendshapes"),
                                    ("model_option", "-O")) if model_args.get(key)]
    if given:
        raise FacepartError(f"{path}: is {what}, not a model; {', '.join(given)} "
                            f"{'applies' if len(given) == 1 else 'apply'} to models only")


@main.command()
@click.option("--exports", is_flag=True, help="List the export/import formats instead of the model formats.")
def formats(exports):
    """List the model formats facepart reads (or, with --exports, the formats it writes and reads back)."""
    if exports:
        from ..export import EXPORTERS

        for e in EXPORTERS.values():
            flags = ", ".join(f for f, on in (("reads back", e.read is not None), ("needs the model", e.needs_model))
                              if on)
            suffix = " ".join(s for s in e.suffixes if s) or "folder"
            click.echo(f"{e.name:<16} {e.kind:<10} {suffix:<14} {e.description}" + (f" [{flags}]" if flags else ""))
        return
    from ..data import FORMATS

    for fmt in FORMATS.values():
        click.echo(f"{fmt.name:<12} {fmt.description}")


@main.command()
def labelsets():
    """List the built-in parser label tables (give your own with --labels FILE.yaml)."""
    from ..segmenters import TABLES

    for name, table in TABLES.items():
        click.echo(f"{name:<20} {len(table)} classes: {', '.join(table.classes)}")


#: Suffixes of annotation exports that no model loader reads (a CSV, a Blender script).
EXPORT_ONLY_SUFFIXES = (".csv", ".py")


def _annotation_export(p: Path, model_args) -> bool:
    """Describe ``p`` when an annotation reader recognises it by content (a CSV, a Blender script...): its
    parts, or, when reading it needs the model, what it is and how to open it. False for anything else."""
    from ..export.api import read_annotation
    from ..export.registry import detect_importer

    if p.suffix.lower() not in EXPORT_ONLY_SUFFIXES:  # a coloured .ply is a mesh first, whatever its colours
        return False
    exporter = detect_importer(p)
    if exporter is None:
        return False
    _refuse_model_options(p, f"a {exporter.name} export", model_args)
    if exporter.reader_needs_topology:  # vertex ids only: which mesh they number is not in the file
        click.echo(f"{exporter.name} export: {p} ({exporter.description})\nvertex ids without the mesh they number: "
                   f"give the model to read it, e.g. facepart correct {p} --model MODEL (or compare, export)")
        return True
    ann = read_annotation(p, exporter.name)
    click.echo(f"{exporter.name} export: {p} ({exporter.description})\ntopology: {ann.fingerprint.describe()}; "
               f"rule: {ann.rule}")
    click.echo("\n".join(ann.summary_lines()))
    return True
