"""Benchmark: the mesh-space quality stages on ICT: gco vs maxflow, and what pooling + graph cut buy.

Usage:
    python benchmarks/regularize.py [--model PATH] [--repeat 3] [--seeds 3] [--mediapipe VARIANTS]

1. Graph-cut backends: alpha-expansion to convergence on the ICT graph of all 26,719 vertices and on
   the 11,248 vote-eligible ones (9 labels: 8 parts + none), from the cheapest-label start, with a
   synthetic noisy vote table; median wall time of ``--repeat`` runs, final energy, label agreement.
2. Quality on synthetic votes (tests/synthetic_votes.py: geodesic landmark truth, boundary jitter,
   wrong islands, a left/right swap, unseen back of the head): agreement with the truth on seen
   vertices, mirror agreement, parts in more than one piece, boundary edges, for the majority rule and
   the graph cut at several ``--smooth`` values, with and without symmetric pooling.
3. With ``--mediapipe N``: a real run (N variants, 512², MediaPipe) and the same table without truth.

Timings on a shared machine are noisy: rerun it quiet before quoting them.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_name, usable_cores  # noqa: E402,F401  (benchmarks/machine.py)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
DEFAULT_ICT = ROOT.parent / "shared" / "models" / "ict-facekit" / "FaceXModel"


def backends_available() -> list[str]:
    out = []
    for backend, module in (("maxflow", "maxflow"), ("gco", "gco")):
        try:
            __import__(module)
            out.append(backend)
        except ImportError:
            print(f"  ({backend}: not installed, skipped)")
    return out


def time_backends(model, truth, repeat: int) -> None:
    from facepart.annotate import regularize as R
    from synthetic_votes import noisy_votes

    print("\n1. alpha-expansion backends (9 labels, to convergence, cheapest-label start)")
    print(f"  {'graph':<26} {'smooth':>6} {'backend':<8} {'median s':>9} {'runs':<22} {'energy':>12}  same labels")
    names = backends_available()
    for mask in (None, model.vote_mask):  # every vertex, then the vote-eligible ones
        eligible = np.ones(model.n_vertices, bool) if mask is None else mask
        votes, none_votes, _ = noisy_votes(model, truth, 0, eligible=eligible, unseen_back=False)
        graph = R.mesh_graph(model.vertices, model.triangles, mask)
        cost, _ = R.unary_costs(votes, none_votes)
        unary = cost[graph.sites] * graph.area[:, None]
        title = f"{len(graph.sites)} sites {len(graph.edges)} edges"
        for smooth in (R.DEFAULT_SMOOTH, 1.0):
            results = {}
            for backend in names:
                runs = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    lab = R.alpha_expansion(unary, graph.edges, smooth * graph.weights, None, backend)
                    runs.append(time.perf_counter() - t)
                results[backend] = lab
                e = R.energy(unary, graph.edges, smooth * graph.weights, lab)
                same = "" if backend == names[0] else \
                    f"{100 * np.mean(lab == results[names[0]]):.2f}% as {names[0]}"
                print(f"  {title:<26} {smooth:>6g} {backend:<8} {statistics.median(runs):>9.3f} "
                      f"{' '.join(f'{r:.3f}' for r in runs):<22} {e:>12.1f}  {same}")


def table_row(name, labels, truth, score, partner, parts, triangles, edges, seconds=None) -> str:
    from facepart.annotate.quality import mirror_agreement, quality_report

    agree = float(np.mean(labels[score] == truth[score])) if truth is not None else float("nan")
    mirror, _ = mirror_agreement(labels, partner, parts.mirror())
    q = quality_report(labels, triangles, parts)
    multi = ", ".join(f"{p} {sum(per.values())}" for p, per in q.fragmented.items()) or "none"
    boundary = int(np.count_nonzero(labels[edges[:, 0]] != labels[edges[:, 1]]))
    t = "" if seconds is None else f"{seconds:6.2f}"
    return (f"  {name:<26} {100 * agree:7.2f} {100 * (mirror or 0):7.2f} {boundary:9d} {t:>6}  {multi}")


def quality_table(model, truth, votes, none_votes, parts, title) -> None:
    from facepart.annotate import regularize as R
    from facepart.annotate.assign import majority
    from facepart.annotate.symmetry import symmetric_pooling
    from synthetic_votes import IGNORE

    seen = (votes.sum(axis=1) + none_votes) > 0
    vm = model.vote_mask
    score = vm & seen & ((truth != IGNORE) if truth is not None else True)
    e = R.mesh_graph(model.vertices, model.triangles, vm)
    edges = e.sites[e.edges]
    t = time.perf_counter()
    pooled = symmetric_pooling(votes, none_votes, model.vertices, model.triangles, parts.mirror(), vm)
    pool_s = time.perf_counter() - t
    print(f"\n{title}")
    print(f"  {pooled.report.summary_line()} [{pool_s:.2f} s]")
    print(f"  {'labelling':<26} {'agree%':>7} {'mirror%':>7} {'boundary':>9} {'secs':>6}  parts in >1 piece")
    maj, _ = majority(votes, none_votes)
    maj = np.where(vm, maj, -1)
    print(table_row("majority rule", maj, truth, score, pooled.partner, parts, model.triangles, edges))
    pmaj, _ = majority(pooled.votes, pooled.none_votes)
    pmaj = np.where(vm, pmaj, -1)
    print(table_row("majority + pooling", pmaj, truth, score, pooled.partner, parts, model.triangles, edges))
    for pool in (False, True):
        v, n = (pooled.votes, pooled.none_votes) if pool else (votes, none_votes)
        for smooth in (0.1, 0.25, 0.5, 1.0, 2.0):
            r = R.regularize(v, n, model.vertices, model.triangles, vm, smooth=smooth, graph=e)
            name = f"cut {smooth:g}" + (" + pooling" if pool else "")
            print(table_row(name, r.labels, truth, score, pooled.partner, parts, model.triangles, edges,
                            r.report.seconds))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=1, help="synthetic vote tables to show (seed 0, 1, ...)")
    ap.add_argument("--mediapipe", type=int, default=0, metavar="VARIANTS",
                    help="also annotate ICT with MediaPipe (this many variants, 512²) and show its table")
    args = ap.parse_args()

    from facepart.data import load_model
    from facepart.data.parts import PartTable
    from synthetic_votes import geodesic_truth, noisy_votes

    print(f"machine: {cpu_name()}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}")
    model = load_model(args.model)
    parts = PartTable.paper()
    truth = geodesic_truth(model, parts)
    time_backends(model, truth, args.repeat)
    for seed in range(args.seeds):
        votes, none_votes, _ = noisy_votes(model, truth, seed, parts)
        quality_table(model, truth, votes, none_votes, parts,
                      f"2. synthetic votes, seed {seed} (agreement on seen, scored vote-eligible vertices)")
    if args.mediapipe:
        from facepart.annotate.pipeline import AnnotateSettings, annotate, sampling_for
        from facepart.renderers.pyrender_backend import PyrenderRenderer
        from facepart.annotate.views import frontal_view
        from facepart.segmenters import make_parser_segmenter

        seg = make_parser_segmenter("mediapipe", parts, model=model)
        settings = AnnotateSettings(variants=args.mediapipe, size=512, sampling=sampling_for(seg))
        with PyrenderRenderer(512, 512) as renderer:
            seg.calibrate(frontal_view(model, 512, renderer))
            ann = annotate(model, seg, settings, renderer=renderer).annotation
        quality_table(model, None, ann.votes.astype(np.float64), ann.none_votes.astype(np.float64), parts,
                      f"3. ICT + MediaPipe, {args.mediapipe} variants, 512² (no truth: agreement n/a)")


if __name__ == "__main__":
    main()
