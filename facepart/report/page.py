"""The report page: one self-contained HTML file (images embedded as base64 PNG, no scripts, no network)."""

from __future__ import annotations

import base64
import datetime
import html
import json
from pathlib import Path
from typing import Iterable

import numpy as np

from .. import __version__
from ..data.annotation import Annotation
from ..data.face_model import FaceModel
from ..data.parts import UNLABELLED_COLOR
from ..errors import FacepartError
from ..io_utils import write_bytes_atomic
from .basic_quality import LOW_CONFIDENCE, basic_quality
from .figures import confidence_figure, convergence_figure
from .views import FLAG_COLORS, VIEWS, flag_colors, flag_vertices, render_views

REPORT_FILE = "report.html"
VIEW_SIZE = 320

#: Settings keys that have a section of their own (not repeated in the settings table).
SHOWN_ELSEWHERE = ("held_out_part_iou", "held_out_part_iou_mean", "convergence", "quality", "skipped_views",
                   "skip_reasons", "segmenter", "model")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#222;line-height:1.4;
 max-width:1120px;margin:0 auto;padding:14px 24px 40px;background:#fff}
h1{font-size:1.55em;margin:.2em 0}
h2{font-size:1.2em;border-bottom:2px solid #ddd;padding-bottom:.15em;margin:1.7em 0 .6em}
p{margin:.4em 0}
code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:.9em;background:#f3f3f3;padding:0 .25em;
 border-radius:3px;overflow-wrap:anywhere}
table{border-collapse:collapse;font-size:.92em;margin:.4em 0}
th,td{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{border-top:2px solid #bbb;font-weight:600}
.sw{display:inline-block;width:.85em;height:.85em;border:1px solid #444;vertical-align:-.08em;margin-right:.4em}
.bar{display:inline-block;height:.7em;vertical-align:middle;border:1px solid #777}
.meta{display:grid;grid-template-columns:max-content 1fr;gap:1px 14px;font-size:.93em;margin:.5em 0}
.meta dt{color:#666}.meta dd{margin:0}
.kpi{display:flex;flex-wrap:wrap;gap:8px;margin:.8em 0}
.kpi div{border:1px solid #ddd;border-radius:6px;padding:4px 10px}
.kpi b{display:block;font-size:1.25em}
.kpi span{font-size:.82em;color:#555}
nav{font-size:.9em;margin:.6em 0}nav a{margin-right:.9em;color:#1f5fa8;text-decoration:none}
.views{display:flex;gap:6px}
.views figure{flex:1 1 0;margin:0;text-align:center;min-width:0}
.views img{width:100%;height:auto;border:1px solid #eee}
figure.plot{margin:.3em 0}figure.plot img{max-width:100%;height:auto}
figcaption{font-size:.84em;color:#555}
.legend{font-size:.9em;margin:.3em 0 .6em}.legend span{margin-right:1.1em;white-space:nowrap;display:inline-block}
.note{color:#666;font-size:.92em}
.warn{color:#a33}
@media print{body{max-width:none;padding:0}nav{display:none}section{break-inside:avoid}h2{break-after:avoid}}
"""


# -- small HTML helpers ------------------------------------------------------------------

def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _rgb(color) -> str:
    r, g, b = (int(c) for c in color)
    return f"rgb({r},{g},{b})"


def _swatch(color) -> str:
    return f'<span class="sw" style="background:{_rgb(color)}"></span>'


def _img(png: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}">'


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG encoding of an (H, W, 3) uint8 RGB image."""
    import cv2

    ok, buf = cv2.imencode(".png", np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., ::-1]))
    if not ok:
        raise FacepartError("could not encode a report image as PNG")
    return buf.tobytes()


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return json.dumps(value) if len(json.dumps(value)) < 120 else f"{len(value)} items"
    return str(value)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]], numeric_from: int = 1, total_last=False) -> str:
    """An HTML table; cells are HTML already; columns from ``numeric_from`` on are right-aligned."""
    header = list(header)
    head = "".join(f'<th{" class=num" if j >= numeric_from else ""}>{h}</th>' for j, h in enumerate(header))
    body = []
    rows = list(rows)
    for k, row in enumerate(rows):
        cls = ' class="total"' if total_last and k == len(rows) - 1 else ""
        cells = "".join(f'<td{" class=num" if j >= numeric_from else ""}>{c}</td>' for j, c in enumerate(row))
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key in sorted(d):
        value = d[key]
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _part_label(parts, i: int) -> str:
    return f"{_swatch(parts.colors[i])}{_e(parts.names[i])}"


# -- sections ----------------------------------------------------------------------------

def _header(ann: Annotation, model: FaceModel, source: str | None, quality: dict, holes: int) -> str:
    s = ann.settings
    model_info = s.get("model") or {}
    labelled = ann.labels >= 0
    seen = ann.visible_count > 0
    iou = _iou_values(ann)
    transfer = s.get("transfer") if isinstance(s.get("transfer"), dict) else None
    run = transfer.get("source_run") if transfer and isinstance(transfer.get("source_run"), dict) else s
    version = s.get("facepart_version") or run.get("facepart_version")
    rows = [
        ("Model", f"{_e(model.name)} ({_e(model.meta.get('format', 'unknown format'))})"
                  + (f" &middot; <code>{_e(model.meta['path'])}</code>" if model.meta.get("path") else "")),
        ("Topology", _e(ann.fingerprint.describe())),
        ("Segmenter", _e(run.get("segmenter", "not recorded (not made by a facepart run)"))),
        ("Run", _e(", ".join(f"{k} {run[k]}" for k in ("variants", "size", "rule", "k", "seed") if k in run)
                   or "not recorded")),
        ("Annotation", f"<code>{_e(source)}</code>" if source else "(in memory)"),
        ("Written by", _e((f"facepart {version}" if version else "not recorded") + f"; this report by facepart "
                          f"{__version__} on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")),
    ]
    if transfer:
        how = f"by {transfer.get('method', '?')}"
        if transfer.get("median_mm") is not None:
            how += f", median surface distance {transfer['median_mm']} mm"
        rows.insert(2, ("Transferred", _e(f"from {transfer.get('from_model', 'another model')} {how}; segmenter "
                                          "and run below are the source run's")))
    if ann.edited is not None and ann.edited.any():
        rows.insert(2, ("Hand edits", _e(f"{int(ann.edited.sum()):,} vertices ({len(ann.edit_log)} edits in the "
                                         "log)")))
    if model_info.get("path") and str(model_info.get("path")) != str(model.meta.get("path")):
        rows.insert(1, ("Annotated model", f"<code>{_e(model_info['path'])}</code>"))
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    n = ann.n_vertices
    figures = quality.get("report") if isinstance(quality.get("report"), dict) else quality  # (QualityReport.as_dict)
    low = figures.get("low_confidence")
    low_total = sum(v for v in low.values() if isinstance(v, (int, float))) if isinstance(low, dict) else None
    kpis = [
        (f"{n:,}", "vertices"),
        (f"{int(seen.sum()):,}", f"seen ({100 * seen.mean():.1f}%)") if seen.any() else
        ("n/a", "seen (no render data)"),
        (f"{int(labelled.sum()):,}", f"labelled ({100 * labelled.mean():.1f}%)"),
        (f"{holes:,}", "holes (seen, no part)"),
    ]
    if low_total is not None:
        kpis.append((f"{int(low_total):,}", "low confidence"))
    if figures.get("mirror_agreement") is not None:
        kpis.append((f"{100 * float(figures['mirror_agreement']):.1f}%", "mirror agreement"))
    if iou:
        valid = [v for v in iou.values() if v is not None]
        if valid:
            edited = ann.edited is not None and ann.edited.any()
            kpis.append((f"{np.mean(valid):.3f}", "held-out Part IoU" + (" (before the hand edits)" if edited else "")))
    kpi = "".join(f"<div><b>{a}</b><span>{_e(b)}</span></div>" for a, b in kpis)
    nav = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in (
        ("parts", "Parts"), ("quality", "Quality"), ("look", "Where to look"), ("confidence", "Confidence"),
        ("iou", "Held-out Part IoU"), ("convergence", "Convergence"), ("parser", "Parser"),
        ("settings", "Run settings")))
    from ..annotate.refine import run_warnings

    warnings = "".join(f'<p class="warn">{_e(w)}</p>' for w in run_warnings(ann))  # as the run summary said them
    return (f"<header><h1>facepart report: {_e(model.name)}</h1><dl class=\"meta\">{meta}</dl>"
            f'<div class="kpi">{kpi}</div>{warnings}<nav>{nav}</nav></header>')


def _parts_section(ann: Annotation, views: list[bytes]) -> str:
    parts = ann.parts
    members = ann.members()
    labelled = max(int((ann.labels >= 0).sum()), 1)
    legend = "".join(f"<span>{_part_label(parts, i)}</span>" for i in range(len(parts)))
    legend += f"<span>{_swatch(UNLABELLED_COLOR)}no part</span>"
    figs = "".join(f"<figure>{_img(png, f'{caption}, coloured by part')}<figcaption>{_e(caption)}</figcaption></figure>"
                   for png, caption in zip(views, VIEWS.values()))
    union = ann.rule != "majority"  # then parts.json may list a vertex under several parts
    rows = []
    for i, name in enumerate(parts.names):
        own = ann.labels == i
        mean_conf = f"{float(ann.confidence[own].mean()):.3f}" if own.any() and ann.has_votes else "n/a"
        rows.append([_part_label(parts, i), f"{len(members[name]):,}"] + ([f"{int(own.sum()):,}"] if union else [])
                    + [f"{100 * own.sum() / labelled:.1f}%", mean_conf])
    rows.append([f"{_swatch(UNLABELLED_COLOR)}(no part)", f"{int((ann.labels < 0).sum()):,}"]
                + ([""] if union else []) + ["", ""])
    header = (["part", f"vertices ({_e(ann.rule)} rule, as in parts.json)"] + (["by majority label"] if union else [])
              + ["share of labelled", "mean confidence"])
    table = _table(header, rows)
    note = ('<p class="note">Under the union rule a vertex may belong to several parts; "by majority label" '
            "counts each vertex once, by its most-voted part; shares and confidence use that label.</p>"
            if union else "")
    return _section("parts", "Parts", f'<p>The mean shape, coloured by each vertex\'s part.</p>'
                    f'<div class="legend">{legend}</div><div class="views">{figs}</div>{table}{note}')


def _stored_quality_html(quality: dict, parts, intro: str = "Figures the run computed.") -> str | None:
    """The run's stored quality figures as the summary prints them: a table per part, then one line per
    figure; None when the section is damaged (the generic listing then shows what is there)."""
    from ..annotate.refine import stored_quality

    try:
        found = stored_quality({"quality": quality})
    except (FacepartError, TypeError, ValueError, KeyError):
        return None
    if found is None:
        return None
    lines, rep = found
    low = f"confidence under {rep.threshold:g}"
    rows = [[_part_label(parts, i), _e(f"{rep.vertices.get(n, 0):,}"),
             _e("n/a" if rep.low_confidence is None else f"{rep.low_confidence.get(n, 0):,}"), _e(rep.pieces_text(n))]
            for i, n in enumerate(parts.names) if n in rep.part_names]
    table = _table(["part", "vertices", low, "pieces (per mesh component)"], rows)
    items = "".join(f"<li>{_e(line)}</li>" for line in rep.figure_lines() + lines)
    return f"<p>{_e(intro)}</p>" + table + f"<ul>{items}</ul>"


def _quality_section(quality: dict, from_run: bool, parts, why_recomputed: str = "") -> str:
    intro = ("Figures the run computed." if from_run else
             f"Computed for this report from the labels in the file ({why_recomputed or 'the run stored none'}).")
    stored = _stored_quality_html(quality, parts, intro)
    if stored is not None:
        return _section("quality", "Quality", stored)
    names = list(parts.names)
    per_part = {k: v for k, v in quality.items()
                if isinstance(v, dict) and v and set(v) <= set(names)}
    scalars = [(k, v) for k, v in quality.items() if k not in per_part and not isinstance(v, dict)]
    nested = [(f"{k}.{kk}", vv) for k, v in quality.items() if k not in per_part and isinstance(v, dict)
              for kk, vv in _flatten(v)]
    body = ["<p>" + ("Figures the run computed." if from_run else
                     "The run stored no quality figures; these simple ones were computed for this report.")
            + "</p>"]
    if per_part:
        cols = list(per_part)
        rows = [[_part_label(parts, i)] + [_e(_fmt(per_part[c].get(n))) for c in cols] for i, n in enumerate(names)]
        body.append(_table(["part"] + [_e(c.replace("_", " ")) for c in cols], rows))
    if scalars or nested:
        rows = [[_e(k.replace("_", " ")), _e(_fmt(v))] for k, v in scalars + nested]
        body.append(_table(["figure", "value"], rows, numeric_from=1))
    if not from_run:
        body.append('<p class="note">A part is one clean region when its connected pieces equal the mesh components it '
                    "touches. Mirror agreement: the share of labelled vertices whose mirror-image vertex has the "
                    "mirrored part (left and right swapped); n/a on a mesh that is not mirror-symmetric.</p>")
    return _section("quality", "Quality", "".join(body))


def _look_section(flags, views: list[bytes], threshold: float, has_votes: bool = True) -> str:
    counts = {name: int(getattr(flags, name).sum()) for name in FLAG_COLORS}
    text = {
        "holes": "holes: seen, no part, apart from the big unlabelled region",
        "low_confidence": f"labelled with confidence under {threshold:g}",
        "never_seen": "never seen in any render (no votes)",
        "outside": "seen, no part, around the face (scalp, neck...)",
        "not_voted": "outside the model's vote mask (eyeballs, teeth...)",
    }
    legend = "".join(f"<span>{_swatch(FLAG_COLORS[k])}{_e(text[k])} ({counts[k]:,})</span>"
                     for k in text if counts[k] or k == "holes" or (k == "low_confidence" and has_votes))
    figs = "".join(f"<figure>{_img(png, f'{caption}, flagged vertices')}<figcaption>{_e(caption)}</figcaption></figure>"
                   for png, caption in zip(views, VIEWS.values()))
    return _section("look", "Where to look", "<p>Vertices worth a second look, on the mean shape framed like the "
                    "run's renders; confident labels are faded. Holes are unlabelled pieces other than the largest "
                    f'unlabelled region of each mesh component.</p><div class="legend">{legend}</div>'
                    f'<div class="views">{figs}</div>')


def _confidence_section(ann: Annotation, threshold: float) -> str:
    if not (ann.labels >= 0).any():
        return _section("confidence", "Confidence", '<p class="warn">No vertex is labelled.</p>')
    if not ann.has_votes:
        return _section("confidence", "Confidence", "<p>No confidence figures: the file holds labels without a "
                        "run's votes (a parts file, an export or a model's regions). The report of the run's "
                        "<code>annotation.npz</code> has them.</p>")
    return _section("confidence", "Confidence", '<figure class="plot">'
                    f"{_img(confidence_figure(ann, threshold), 'confidence histogram')}"
                    f"<figcaption>Dashed line: the low-confidence threshold {threshold:g}.</figcaption></figure>")


def _iou_values(ann: Annotation) -> dict | None:
    iou = ann.settings.get("held_out_part_iou")
    if not isinstance(iou, dict) or not iou:
        return None
    out = {}
    for name, value in iou.items():
        try:
            out[str(name)] = None if value is None or float(value) != float(value) else float(value)
        except (TypeError, ValueError):
            out[str(name)] = None
    return out


def _iou_section(ann: Annotation) -> str:
    iou = _iou_values(ann)
    if iou is None:
        from ..annotate.evaluate import HELD_OUT_SKIPPED

        skipped = ann.settings.get(HELD_OUT_SKIPPED)  # masks made elsewhere, a merge of shards
        why = f"{_e(skipped[0].upper() + skipped[1:])}." if isinstance(skipped, str) and skipped else (
            "Not measured in this run (<code>facepart annotate --eval-views N</code> measures it).")
        return _section("iou", "Held-out Part IoU", f'<p class="note">{why}</p>')
    parts = ann.parts
    rows = []
    ordered = [n for n in parts.names if n in iou] + [n for n in iou if n not in parts.names]
    for name in ordered:
        value = iou[name]
        label = _part_label(parts, parts.names.index(name)) if name in parts.names else _e(name)
        bar = (f'<span class="bar" style="width:{int(round(120 * value))}px;background:'
               f'{_rgb(parts.colors[parts.names.index(name)]) if name in parts.names else "#888"}"></span>'
               if value is not None else "")
        rows.append([label, "n/a" if value is None else f"{value:.3f}", bar])
    valid = [v for v in iou.values() if v is not None]
    rows.append(["mean", f"{np.mean(valid):.3f}" if valid else "n/a", ""])
    from ..annotate.evaluate import held_out_mean_text

    mean = held_out_mean_text(ann.settings)
    spread = (f"<p>The {_e(mean)}: the interval, from drawing the views again with replacement, is how far the "
              "mean would move with another set of held-out renders.</p>") if mean else ""
    edited = 0 if ann.edited is None else int(np.count_nonzero(ann.edited))
    caveat = (f'<p class="note">Measured by the run on its own labels, before the {edited:,} hand-edited vertices '
              "changed; the figures do not include the edits.</p>") if edited else ""
    return _section("iou", "Held-out Part IoU", "<p>Each part of the annotation drawn into renders that did not vote, "
                    "against the segmenter's own part map of the same renders (intersection over union, summed over "
                    "the views; n/a: the part appeared in neither).</p>" + caveat
                    + _table(["part", "IoU", ""], rows, numeric_from=1, total_last=True) + spread)


def _convergence_section(ann: Annotation) -> str:
    points = ann.settings.get("convergence")
    if not points:
        return _section("convergence", "Convergence", '<p class="note">Not recorded in this run: the run stored no '
                        "agreement-with-the-final-labels curve (<code>settings[\"convergence\"]</code>).</p>")
    try:
        png = convergence_figure(points)
    except FacepartError as exc:
        return _section("convergence", "Convergence", f'<p class="warn">Could not plot: {_e(exc)}</p>')
    return _section("convergence", "Convergence", '<figure class="plot">'
                    f"{_img(png, 'convergence plot')}<figcaption>The share of labels that already equal the final "
                    "labels after each number of variants.</figcaption></figure>")


def _parser_section(ann: Annotation) -> str:
    s = ann.settings
    skipped = s.get("skipped_views")
    variants = s.get("variants")
    if skipped is None:
        text = "The run did not record skipped views."
    elif isinstance(skipped, (list, tuple)):
        shown = ", ".join(str(v) for v in skipped[:50]) + (" ..." if len(skipped) > 50 else "")
        text = (f"{len(skipped)} of {variants} views skipped{_skip_reasons(s)}" if variants else
                f"{len(skipped)} views skipped{_skip_reasons(s)}") + (f": variants {shown}." if skipped else ".")
    else:
        try:
            n = int(skipped)
        except (TypeError, ValueError):
            n = None
        text = (f"{n} of {variants} views skipped{_skip_reasons(s)}, so they did not vote."
                if n is not None and variants else f"Skipped views: {_fmt(skipped)}.")
        if n == 0:
            text = f"No view skipped: the parser used all {variants} renders." if variants else "No view skipped."
    return _section("parser", "Parser", f"<p>Segmenter: <code>{_e(s.get('segmenter', 'not recorded'))}</code></p>"
                    f"<p>{_e(text)}</p>")


def _skip_reasons(settings: dict) -> str:
    """' (no face: 2, outside the yaw range: 1)' from the run's recorded reasons, or '' when it has none."""
    reasons = settings.get("skip_reasons")
    if not isinstance(reasons, dict) or not reasons:
        return ""
    return " (" + ", ".join(f"{reason}: {_fmt(count)}" for reason, count in reasons.items()) + ")"


def _settings_section(ann: Annotation) -> str:
    rest = {k: v for k, v in ann.settings.items() if k not in SHOWN_ELSEWHERE}
    if not rest:
        return _section("settings", "Run settings", '<p class="note">The annotation records no settings.</p>')
    rows = [[f"<code>{_e(k)}</code>", _e(_fmt(v))] for k, v in _flatten(rest)]
    return _section("settings", "Run settings", _table(["setting", "value"], rows, numeric_from=2))


# -- the page ----------------------------------------------------------------------------

#: Pixel sizes of a report's rendered views.
MIN_VIEW_SIZE, MAX_VIEW_SIZE = 16, 2048


def check_report_options(size, low_confidence) -> None:
    """One line for a view size or confidence threshold a report cannot use."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_VIEW_SIZE <= size <= MAX_VIEW_SIZE:
        raise FacepartError(f"--size must be a whole number of pixels from {MIN_VIEW_SIZE} to {MAX_VIEW_SIZE}, "
                            f"got {size!r}")
    if isinstance(low_confidence, bool) or not isinstance(low_confidence, (int, float)) \
            or not 0.0 <= low_confidence <= 1.0:
        raise FacepartError(f"--low-confidence is a share of votes between 0 and 1, got {low_confidence!r}")


def build_report(annotation: Annotation, model: FaceModel, *, source: str | Path | None = None,
                 size: int = VIEW_SIZE, low_confidence: float = LOW_CONFIDENCE, renderer=None) -> str:
    """The report page of ``annotation`` on ``model`` as one HTML string.

    Args:
        annotation: the annotation to show.
        model: the model it was made for (same topology: checked).
        source: the annotation's file path, shown in the header.
        size: pixel size of each rendered view (a borrowed ``renderer`` sets it instead).
        low_confidence: labels whose confidence is under this are flagged.
        renderer: a square renderer to borrow, e.g. the run's (default: a new one of ``size``,
            closed afterwards).
    """
    from ..renderers.base import renderer_for

    check_report_options(size, low_confidence)
    if renderer is not None:
        if renderer.width != renderer.height:
            raise FacepartError(f"the report renders square views; got a {renderer.width}x{renderer.height} renderer")
        size = renderer.width

    where = model.meta.get("path") or model.name
    annotation.check_topology(model.fingerprint, f"the model {where}")
    stored = annotation.settings.get("quality")
    from_run = isinstance(stored, dict) and bool(stored)
    edited = 0 if annotation.edited is None else int(np.count_nonzero(annotation.edited))
    why = ""
    if from_run and edited:  # the run's figures describe the labels before the hand edits
        from_run, why = False, f"{edited:,} vertices were edited by hand after the run"
    elif not from_run and isinstance(annotation.settings.get("transfer"), dict):
        why = "transferred from another mesh; the source run's figures describe that mesh"
    elif from_run and low_confidence != LOW_CONFIDENCE:
        from_run, why = False, f"at the confidence threshold {low_confidence:g} asked for"
    quality = stored if from_run else basic_quality(annotation, model, low_confidence)
    flags = flag_vertices(annotation, model, low_confidence)
    with renderer_for(renderer, size) as renderer:
        part_views = [png_bytes(v) for v in render_views(model, annotation.parts.colorize(annotation.labels), size,
                                                         renderer)]
        flag_views = [png_bytes(v) for v in render_views(model, flag_colors(annotation, flags), size, renderer,
                                                         whole=False)]
    body = [
        _header(annotation, model, None if source is None else str(source), quality, int(flags.holes.sum())),
        _parts_section(annotation, part_views),
        _quality_section(quality, from_run, annotation.parts, why),
        _look_section(flags, flag_views, low_confidence, annotation.has_votes),
        _confidence_section(annotation, low_confidence),
        _iou_section(annotation),
        _convergence_section(annotation),
        _parser_section(annotation),
        _settings_section(annotation),
    ]
    title = f"facepart report: {model.name}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n" + "\n".join(body)
            + "\n</body></html>\n")


def write_report(annotation: Annotation, model: FaceModel, out_path: str | Path, **options) -> Path:
    """Write the report page of ``annotation`` on ``model`` to ``out_path`` atomically; return the path.

    ``out_path`` may be a folder (the page is then ``report.html`` in it). ``options``
    go to :func:`build_report` (``source``, ``size``, ``low_confidence``, ``renderer``).
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        out_path = out_path / REPORT_FILE
    if not out_path.parent.is_dir():
        raise FacepartError(f"{out_path}: the folder {out_path.parent} does not exist")
    page = build_report(annotation, model, **options)
    try:
        write_bytes_atomic(out_path, page.encode("utf-8"))
    except OSError as exc:
        raise FacepartError(f"{out_path}: could not write the report ({exc.strerror})") from None
    return out_path


def recorded_model(annotation: Annotation, annotation_path: str | Path, **overrides):
    """The model the annotation's run recorded (``settings["model"]``), loaded with the run's loader options
    (``overrides``: options given now), or a clear error.

    A relative path is taken from the current folder, the run's own folder, or else the annotation's folder.
    """
    from ..data.loaders import load_recorded_model

    return load_recorded_model(annotation.settings.get("model"), annotation_path, **overrides)


__all__ = ["REPORT_FILE", "build_report", "write_report", "recorded_model", "png_bytes"]
