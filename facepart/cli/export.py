"""``facepart export``, ``transfer`` and ``compare``: annotations for other projects, other topologies, side by side."""

from __future__ import annotations

import click

from ..errors import FacepartError
from . import main
from .options import _load, _model_options

RULES = click.Choice(["majority", "union"])
TRI_RULES = click.Choice(["all", "any", "majority"])


def _model_or_none(model, model_args):
    """The --model, loaded with its options; None without --model (then model options are refused, not ignored)."""
    if model:
        return _load(model, model_args)
    given = [name for name, value in model_args.items() if value]
    if given:
        flag = {"fmt": "--format", "model_option": "-O/--model-option"}.get(given[0], f"--{given[0]}")
        raise FacepartError(f"{flag} describes the --model file; give --model MODEL with it")
    return None


@main.command("export")
@click.argument("annotation")
@click.option("--to", "to", required=True, metavar="FORMAT", help="Output format (see `facepart formats --exports`).")
@click.option("--out", type=click.Path(), default=None,
              help="File (or folder for uvmask and ply --split) to write [default: the format's usual name beside "
                   "ANNOTATION].")
@click.option("--model", default=None,
              help="The face model (meshes, tri, uvmask, 3ddfa and preview need its geometry; index-only files such "
                   "as parts.json need it to be read) [default: the model the annotation was made from].")
@click.option("--from-format", default=None, metavar="FORMAT", help="Read ANNOTATION as this format (default: detect).")
@click.option("--rule", type=RULES, default=None,
              help="majority: one part per vertex; union: every part a vertex got a vote for [default: the file's].")
@click.option("--parts", default=None, metavar="A,B,...", help="Write only these parts (and groups), in this order.")
@click.option("--group", "groups", multiple=True, metavar="NAME=P+Q,...",
              help="Add merged parts, e.g. --group face=all,eyes=left_eye+right_eye,lips=up_lip+down_lip "
                   "('default' = face, eyes, eyebrows, lips).")
@click.option("--tri-rule", type=TRI_RULES, default=None,
              help="When a triangle is in a part: all 3 corners (MICA), any corner (SMIRK), or 2 of 3 [majority].")
@click.option("--split", is_flag=True, default=None, help="ply/obj/glb: one mesh per part.")
@click.option("--into", type=click.Path(dir_okay=False, exists=True), default=None,
              help="3ddfa: write into a COPY of this face_model.npy (the original is never changed).")
@click.option("--size", type=int, default=None, help="uvmask/preview: image size in pixels.")
@_model_options
def export_cmd(annotation, to, out, model, from_format, rule, parts, groups, tri_rule, split, into, size, model_args):
    """Write ANNOTATION (annotation.npz, a run folder, or any readable export) in another FORMAT; a landmarks.json
    (of `facepart landmarks`) in another landmark format."""
    from ..export import export_file

    options = {k: v for k, v in dict(rule=rule, parts=parts, groups=list(groups) or None, tri_rule=tri_rule,
                                     split=split, into=into, size=size).items() if v is not None}
    report = export_file(annotation, to, out, model=_model_or_none(model, model_args), source_format=from_format,
                         **options)
    click.echo("\n".join(report.lines()))


@main.command()
@click.argument("annotation")
@click.option("--to", "target", required=True, metavar="MODEL_B", help="The model to carry the labels to.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True,
              help="Folder for MODEL_B's annotation.npz and parts.json.")
@click.option("--via", multiple=True, type=click.Path(dir_okay=False, exists=True), metavar="MAP",
              help="A BFM index map (Deep3D .mat, 3DDFA indices_A_B.npy); repeat to chain maps. Without it the "
                   "labels are projected between surfaces in one face frame.")
@click.option("--from", "source", default=None, metavar="MODEL_A",
              help="The model ANNOTATION belongs to [default: the one it was made from].")
@click.option("--align", type=click.Choice(["none", "landmarks"]), default="none", show_default=True,
              help="landmarks: first fit MODEL_B onto MODEL_A by their 68 landmarks (similarity).")
@click.option("--smooth", type=int, default=1, show_default=True, help="Rounds of one-ring smoothing on MODEL_B.")
@click.option("--max-median", type=float, default=5.0, show_default=True,
              help="Refuse when MODEL_B's vertices lie a median of more than this many mm from MODEL_A's surface.")
@click.option("--max-distance", type=float, default=None,
              help="MODEL_B vertices farther than this (mm) from MODEL_A get no label [max(10, 10 x median)].")
@_model_options
def transfer(annotation, target, out_dir, via, source, align, smooth, max_median, max_distance, model_args):
    """Carry ANNOTATION to another topology MODEL_B (a normal annotation of MODEL_B in OUT)."""
    from ..data import load_model
    from ..export.transfer import check_transfer_options, transfer_file

    if via:  # an index map decides every label: the projection's options would be silently ignored
        ctx = click.get_current_context()
        given = [f"--{name.replace('_', '-')}" for name in ("align", "smooth", "max_median", "max_distance")
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise FacepartError(f"{', '.join(given)} tune the surface projection; with --via the index map "
                                f"decides every label, so leave {'it' if len(given) == 1 else 'them'} out")
    else:  # before loading the models: a typo costs no minutes
        check_transfer_options(smooth, max_median, max_distance)
    target_model = _load(target, model_args)
    source_model = load_model(source) if source else None
    options = {} if via else dict(smooth_rings=smooth, max_median_mm=max_median, max_distance_mm=max_distance,
                                  align=align)
    result = transfer_file(annotation, target_model, out_dir, source=source_model, via=list(via) or None, **options)
    click.echo(f"Transferred to {target_model.name} ({target_model.n_vertices} vertices) by {result.method}:")
    click.echo("\n".join(result.lines()))


@main.command()
@click.argument("a")
@click.argument("b")
@click.option("--out", type=click.Path(dir_okay=False), default="differences.parts.json", show_default=True,
              help="parts.json of the vertices where A and B differ ('A_part->B_part' -> ids, 'all').")
@click.option("--model", default=None, help="The face model, to read files that do not name their topology.")
@click.option("--rule", type=RULES, default=None, help="Compare under this rule [default: each file's].")
@_model_options
def compare(a, b, out, model, rule, model_args):
    """Per-part IoU between two annotations A and B of one topology."""
    from ..export.compare import compare_files

    result = compare_files(a, b, out, model=_model_or_none(model, model_args), rule=rule)
    click.echo(f"A: {a}\nB: {b}")
    click.echo("\n".join(result.lines()))
    click.echo(f"Wrote {out}")
