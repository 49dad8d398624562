"""Benchmark: a real parser (MediaPipe FaceMesh) against the demo head's construction truth.

Usage:
    python benchmarks/demo_mediapipe.py [--variants 50] [--size 512] [--seed 0] [--yaw 35] [--details] [--oracle]

Prints, for ``facepart annotate demo --segmenter mediapipe`` with the current pipeline:
- the parse rate: views in which MediaPipe found a face, of all views within +-yaw degrees;
- the majority rule's agreement with ``demo_truth()`` on the vertices seen in at least one render
  (truth -1, "no part", counts too), and on the seen vertices of the face (truth >= 0);
- per true part: how many of its seen vertices got which label (what limits the agreement);
- with ``--oracle``: the oracle segmenter's majority agreement on the same variants (yaw +-80, as
  ``annotate demo --segmenter oracle``), noise-free, with the default noise, and with the default
  noise plus 15% garbage views.
Timings depend on the machine's load; the figures do not (everything is seeded).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from machine import cpu_name, usable_cores  # noqa: E402,F401  (benchmarks/machine.py)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--yaw", type=float, default=35.0)
    ap.add_argument("--details", action="store_true", help="print the confusion of every part")
    ap.add_argument("--oracle", action="store_true", help="also the oracle's agreement (3 more runs)")
    args = ap.parse_args()

    from facepart.annotate.pipeline import AnnotateSettings, agreement, annotate, sampling_for
    from facepart.data.demo_head import demo_head, demo_truth
    from facepart.data.parts import PartTable
    from facepart.renderers.base import make_renderer
    from facepart.annotate.views import frontal_view
    from facepart.segmenters import make_parser_segmenter

    parts = PartTable.paper()
    t0 = time.perf_counter()
    model = demo_head()
    build = time.perf_counter() - t0
    truth = demo_truth(parts)
    seg = make_parser_segmenter("mediapipe", parts, model=model, yaw_range=(-args.yaw, args.yaw))
    settings = AnnotateSettings(variants=args.variants, size=args.size, seed=args.seed,
                                sampling=sampling_for(seg, args.yaw))
    with make_renderer(None, args.size) as renderer:
        seg.calibrate(frontal_view(model, args.size, renderer))
        t1 = time.perf_counter()
        result = annotate(model, seg, settings, renderer=renderer)
        wall = time.perf_counter() - t1
    seg.close()

    ann = result.annotation
    seen = ann.visible_count > 0
    face = seen & (truth >= 0)
    counts = seg.counts
    tried = counts["parsed"] + counts["no_face"]
    print(f"demo head: {model.n_vertices} vertices, {len(model.triangles)} triangles, built in {1000 * build:.0f} ms")
    print(f"mediapipe on {args.variants} variants at {args.size}x{args.size}, yaw +-{args.yaw:g}, seed {args.seed} "
          f"({cpu_name()}; {wall:.1f} s, {result.stats.variants_per_second:.1f} variants/s under the load of the day)")
    print(f"parse rate: {counts['parsed']}/{tried} views = {100 * counts['parsed'] / max(tried, 1):.1f}% "
          f"({counts['out_of_yaw']} outside the yaw range)")
    print(f"majority agreement with the construction truth: {100 * agreement(ann.labels, truth, seen):.2f}% of "
          f"{int(seen.sum())} seen vertices; {100 * agreement(ann.labels, truth, face):.2f}% of the "
          f"{int(face.sum())} seen face vertices (truth >= 0)")
    names = list(parts.names) + ["(none)"]
    print(f"{'true part':14s} {'seen':>5s} {'right':>6s}  most common wrong labels")
    for p, name in enumerate(names):
        t = p if p < len(parts) else -1
        sel = seen & (truth == t)
        if not sel.any():
            continue
        got = ann.labels[sel]
        ok = (got == t).mean()
        wrong = got[got != t]
        vals, cnt = np.unique(wrong, return_counts=True)
        order = np.argsort(-cnt)[: (len(cnt) if args.details else 3)]
        desc = ", ".join(f"{names[v] if v >= 0 else '(none)'} {c}" for v, c in zip(vals[order], cnt[order]))
        print(f"{name:14s} {int(sel.sum()):5d} {100 * ok:5.1f}%  {desc}")
    if args.oracle:
        oracle_figures(args.variants, args.size, args.seed)


def oracle_figures(variants: int, size: int, seed: int) -> None:
    from facepart.annotate.pipeline import AnnotateSettings, agreement, annotate, union_agreement
    from facepart.data.demo_head import demo_head, demo_truth
    from facepart.data.parts import PartTable
    from facepart.renderers.base import make_renderer
    from facepart.segmenters.oracle import OracleNoise, OracleSegmenter

    parts = PartTable.paper()
    model, truth = demo_head(), demo_truth(parts)
    settings = AnnotateSettings(variants=variants, size=size, seed=seed)
    print(f"oracle on {variants} variants at {size}x{size}, yaw +-80, seed {seed}: majority / union agreement")
    with make_renderer(None, size) as renderer:
        for label, noise in (("noise-free", None), ("default noise", OracleNoise()),
                             ("default noise + 15% garbage views", OracleNoise(garbage=0.15))):
            ann = annotate(model, OracleSegmenter(truth, parts, noise, seed=seed), settings,
                           renderer=renderer).annotation
            seen = ann.visible_count > 0
            print(f"  {label:36s} {100 * agreement(ann.labels, truth, seen):6.2f}%  "
                  f"{100 * union_agreement(ann.votes, truth, seen):6.2f}%  ({int(seen.sum())} seen vertices)")


if __name__ == "__main__":
    main()
