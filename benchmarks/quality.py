"""Issue 11's figures, every setting side by side in one run: how each stage of the vote changes the annotation.

Per scenario the views are rendered and parsed once per *view-level* setting (vote path, view-angle
weight, eyeballs); the assignment-level settings (view re-weighting, symmetric pooling, graph cut,
rule) are applied to the same stored per-view votes, so the columns differ only by the setting.

Scenarios (``--scenarios``, all by default):

* ``ict-mediapipe``: ICT-FaceKit with MediaPipe; mirror agreement, parts in more than one piece,
  held-out Part IoU against the parser on 40 held-out views, with its 95% bootstrap interval over
  those views (on 10 views the figure moves by about ±0.015 from one draw of views to the next).
* ``demo-mediapipe``: the demo head with MediaPipe; views parsed, agreement with its construction truth.
* ``demo-garbage`` / ``ict-garbage``: the oracle with its default noise plus 15% garbage views.
* ``demo-clean`` / ``ict-clean``: the noise-free oracle.

    python benchmarks/quality.py [--variants 50] [--size 512] [--eval-views 40] [--scenarios ict-mediapipe,demo-clean]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from facepart.annotate.evaluate import part_iou  # noqa: E402
from facepart.annotate.pipeline import agreement, annotate, build_annotation  # noqa: E402
from facepart.annotate.quality import mirror_agreement  # noqa: E402
from facepart.annotate.refine import stored_quality_lines  # noqa: E402,F401
from facepart.annotate.settings import AnnotateSettings, sampling_for  # noqa: E402
from facepart.annotate.symmetry import mutual_mirror_pairs  # noqa: E402
from facepart.annotate.views import frontal_view  # noqa: E402
from facepart.data import load_model  # noqa: E402
from facepart.data.demo_head import demo_truth  # noqa: E402
from facepart.renderers.base import make_renderer  # noqa: E402
from facepart.segmenters import make_segmenter  # noqa: E402
from facepart.segmenters.oracle import OracleNoise  # noqa: E402

DEFAULT_ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ict-facekit" / "FaceXModel"

#: name -> settings changes from the defaults. The paper's rule and the previous default come first.
CONFIGS = {
    "paper union": dict(vote="knn", view_weight="none", grazing=0.0, eyeballs=False, reweight_views=False,
                        symmetry=False, smooth=0.0, rule="union"),
    "previous majority": dict(vote="knn", view_weight="none", grazing=0.0, eyeballs=False, reweight_views=False,
                              symmetry=False, smooth=0.0),
    "exact, nearest corner": dict(view_weight="none", eyeballs=False, reweight_views=False, symmetry=False,
                                  smooth=0.0),
    "exact, barycentric": dict(vote="bary", view_weight="none", eyeballs=False, reweight_views=False,
                               symmetry=False, smooth=0.0),
    "+ view angle": dict(eyeballs=False, reweight_views=False, symmetry=False, smooth=0.0),
    "+ eyeballs": dict(reweight_views=False, symmetry=False, smooth=0.0),
    "+ re-weight views": dict(symmetry=False, smooth=0.0),
    "+ symmetry": dict(smooth=0.0),
    "+ graph cut (defaults)": dict(),
    "defaults - re-weight": dict(reweight_views=False),
    "defaults - symmetry": dict(symmetry=False),
    "defaults - view angle": dict(view_weight="none"),
    "defaults, barycentric": dict(vote="bary"),
    "defaults, contrast 0": dict(contrast=0.0),
}


def view_key(settings: AnnotateSettings):
    return settings.vote, settings.view_weight, settings.grazing, settings.eyeballs


def run_scenario(name, model, seg, truth, variants, size, renderer, eval_views):
    base = AnnotateSettings(variants=variants, size=size, sampling=sampling_for(seg))
    seg.calibrate(frontal_view(model, size, renderer))
    pairs = mutual_mirror_pairs(model.vertices, model.triangles, mask=model.vote_mask)[0]
    cache = {}
    rows = []
    for label, changes in CONFIGS.items():
        settings = dataclasses.replace(base, **changes)
        key = view_key(settings)
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = annotate(model, seg, settings, renderer=renderer)
            cache[key] = (cache[key], time.perf_counter() - t0)
        result, seconds = cache[key]
        ann, _ = build_annotation(model, seg.parts, result.views, settings, seg.describe())
        row = {"setting": label}
        seen = ann.visible_count > 0
        parsed = sum(v.status == "voted" for v in result.views)
        row["parsed"] = f"{parsed}/{len(result.views)}"
        if truth is not None:
            if settings.rule == "union":
                from facepart.annotate.pipeline import union_agreement

                row["agreement"] = union_agreement(ann.votes, truth, seen)
            else:
                row["agreement"] = agreement(ann.labels, truth, seen)
        labels = ann.labels
        if settings.rule != "union":
            row["mirror"] = mirror_agreement(labels, pairs, seg.parts.mirror())[0]
            quality = ann.settings.get("quality", {}).get("report")
            if quality is None:
                from facepart.annotate.quality import quality_report

                quality = quality_report(labels, model.triangles, seg.parts, ann.confidence, seen, model.vote_mask,
                                         pairs).as_dict()
            row["fragmented"] = _fragmented(quality)
            if eval_views:
                iou = part_iou(model, labels, seg, settings, views=eval_views, renderer=renderer)
                row["iou"] = iou.mean
                low, high = iou.interval()
                row["iou 95%"] = f"{100 * low:.2f}-{100 * high:.2f}%"
                row["iou_parts"] = {n: float(v) for n, v in zip(iou.names, iou.iou)}
        row["seconds"] = seconds
        rows.append(row)
        print(f"  {label:<24} " + "  ".join(f"{k} {_fmt(v)}" for k, v in row.items()
                                            if k not in ("setting", "iou_parts")), flush=True)
    return rows


def _fragmented(quality: dict) -> str:
    pieces = quality.get("pieces") or {}
    bad = []
    for part, per_comp in pieces.items():
        n = max(per_comp.values()) if isinstance(per_comp, dict) and per_comp else 0
        if n > 1:
            bad.append(f"{part} {n}")
    return ", ".join(bad) or "none"


def _fmt(v):
    if isinstance(v, float):
        return f"{100 * v:.2f}%" if v <= 1 else f"{v:.1f}"
    return str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--eval-views", type=int, default=40,
                    help="held-out views for the Part IoU (its 95%% bootstrap interval over views is printed)")
    ap.add_argument("--ict", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--scenarios", default="ict-mediapipe,demo-mediapipe,demo-garbage,ict-garbage,demo-clean,"
                                           "ict-clean")
    ap.add_argument("--renderer", default=None)
    args = ap.parse_args()
    from truth import ict_truth

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")),
               platform.processor())
    print(f"benchmarks/quality.py: {args.variants} variants at {args.size}², {args.eval_views} held-out views; "
          f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    models = {}
    with make_renderer(args.renderer, args.size) as renderer:
        for scenario in args.scenarios.split(","):
            which, kind = scenario.split("-", 1)
            if which not in models:
                models[which] = load_model(args.ict if which == "ict" else "demo")
            model = models[which]
            truth = demo_truth() if which == "demo" else ict_truth(model)
            if kind == "mediapipe":
                seg = make_segmenter("mediapipe", model=model)
                known = truth if which == "demo" else None
            else:
                noise = OracleNoise(garbage=0.15) if kind == "garbage" else None
                seg = make_segmenter("oracle", model=model, truth=truth, noise=noise if noise else "none")
                known = truth
            print(f"\n{scenario}: {seg.describe()[:100]}")
            run_scenario(scenario, model, seg, known, args.variants, args.size, renderer,
                         args.eval_views if kind == "mediapipe" else 0)
            seg.close()


if __name__ == "__main__":
    main()
