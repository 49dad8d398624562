"""Benchmark: does the cheap shading lose anything MediaPipe sees? Old PBR against the new Lambert look.

Usage:
    python benchmarks/shading_mediapipe.py [--model PATH] [--size 512] [--variants 30] [--eval-views 10]
                                           [--wide-views 120] [--seed 0]

On the ICT model (default $FACEPART_ICT_MODEL or ../shared/models/ict-facekit/FaceXModel),
with the same variants for every shading, it runs the whole MediaPipe annotation
(calibration on the frontal view, ``--variants`` variants in MediaPipe's yaw range,
then the held-out Part IoU on ``--eval-views`` views) for:

- ``pyrender pbr``: pyrender's PBR shader, the colour pass facepart used before;
- ``pyrender lambert-vertex``: the shared Lambert look evaluated per vertex, drawn by pyrender (its default);
- ``moderngl lambert-pixel``: the same look evaluated per pixel by moderngl's one-pass renderer;

and prints MediaPipe's parse rate (views with a face found / views tried) in the
run, its parse rate on ``--wide-views`` views over the whole default yaw range
(+-80 degrees, no yaw limit: where shading could matter most), the held-out
Part IoU per part, and how many vertex labels each run shares with the PBR run.
The renders differ by about one grey level on average (the specular lobe
Lambert leaves out), so differences are MediaPipe's sensitivity to that; the run times beside them are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facepart.annotate.evaluate import part_iou  # noqa: E402
from facepart.annotate.pipeline import AnnotateSettings, annotate, iter_views, make_scene, sampling_for  # noqa: E402
from facepart.data import load_model  # noqa: E402
from facepart.data.parts import PartTable  # noqa: E402
from facepart.renderers.base import make_renderer  # noqa: E402
from facepart.annotate.views import frontal_view  # noqa: E402
from facepart.segmenters import make_parser_segmenter  # noqa: E402

DEFAULT_ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ict-facekit" / "FaceXModel"
SHADINGS = (("pyrender pbr", "pyrender", {"shading": "pbr"}),
            ("pyrender lambert-vertex", "pyrender", {}),
            ("moderngl lambert-pixel", "moderngl", {}))


def one_shading(model, parts, backend, options, args):
    seg = make_parser_segmenter("mediapipe", parts, model=model)
    renderer = make_renderer(backend, args.size, **options)
    try:
        t0 = time.perf_counter()
        seg.calibrate(frontal_view(model, args.size, renderer))
        settings = AnnotateSettings(variants=args.variants, size=args.size, seed=args.seed, sampling=sampling_for(seg))
        result = annotate(model, seg, settings, renderer=renderer)
        seconds = time.perf_counter() - t0
        run_counts = dict(seg.counts)
        iou = part_iou(model, result.annotation.labels, seg, settings, views=args.eval_views, renderer=renderer)

        # parse rate over the whole default yaw range, without the yaw limit
        wide = make_parser_segmenter("mediapipe", parts, model=model, yaw_range=None)
        wide.calibration = seg.calibration
        wide_settings = AnnotateSettings(variants=args.wide_views, size=args.size, seed=args.seed + 1)
        scene = make_scene(model, args.size)
        found = 0
        for _, view in iter_views(model, wide_settings, renderer, range(args.wide_views), scene=scene):
            found += wide.part_map(view) is not None
    finally:
        renderer.close()
        seg.close()
    tried = run_counts["parsed"] + run_counts["no_face"]
    return {"parsed": run_counts["parsed"], "tried": tried, "wide_found": found, "iou": iou,
            "labels": result.annotation.labels, "seconds": seconds, "vps": result.stats.variants_per_second}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--variants", type=int, default=30)
    ap.add_argument("--eval-views", type=int, default=10)
    ap.add_argument("--wide-views", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    model = load_model(args.model)
    parts = PartTable.paper()
    load_before = os.getloadavg()
    runs = {label: one_shading(model, parts, backend, options, args) for label, backend, options in SHADINGS}
    load_after = os.getloadavg()

    ref = runs[SHADINGS[0][0]]["labels"]
    print(f"MediaPipe on {Path(args.model).name} at {args.size}x{args.size}: {args.variants} variants "
          f"(seed {args.seed}, MediaPipe's yaw range), held-out Part IoU on {args.eval_views} views, "
          f"parse rate also on {args.wide_views} views over yaw +-80.")
    print(f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after ({os.cpu_count()} cores; "
          "run times are noisy when the machine is shared)")
    names = [n.replace("eyebrow", "brow").replace("left_", "L ").replace("right_", "R ").replace("_", " ")
             for n in runs[SHADINGS[0][0]]["iou"].names]
    head = f"{'shading':24s} {'parsed':>8s} {'yaw+-80':>8s} " + " ".join(f"{n[:8]:>8s}" for n in names) \
        + f" {'mean IoU':>8s} {'same lbl':>8s} {'var/s':>6s}"
    print(head)
    print("-" * len(head))
    for label, r in runs.items():
        iou = r["iou"].iou
        both = (r["labels"] >= 0) | (ref >= 0)
        same = float((r["labels"][both] == ref[both]).mean()) if both.any() else float("nan")
        print(f"{label:24s} {r['parsed']:>3d}/{r['tried']:<4d} {r['wide_found']:>3d}/{args.wide_views:<4d} "
              + " ".join(f"{v:8.3f}" for v in iou) + f" {np.nanmean(iou):8.3f} {100 * same:7.2f}% {r['vps']:6.1f}")
    a, b = runs["pyrender lambert-vertex"]["labels"], runs["moderngl lambert-pixel"]["labels"]
    both = (a >= 0) | (b >= 0)
    print(f"pyrender lambert-vertex and moderngl lambert-pixel agree on "
          f"{100 * float((a[both] == b[both]).mean()):.2f}% of the vertices either labelled.")
    print("('parsed': views in the run where MediaPipe found a face; 'yaw+-80': the same without the yaw limit; "
          "'same lbl': vertex labels equal to the pbr run's, over vertices labelled in either)")


if __name__ == "__main__":
    main()
