"""Where facepart's annotate() spends its time, per variant and per run (a small profile for issue 12).

Usage:
    python benchmarks/annotate_profile.py [--segmenter oracle|mediapipe] [--variants 30] [--size 512]
                                          [--renderer NAME] [--workers N] [--cprofile 15]

On ICT ($FACEPART_ICT_MODEL), with the calibrated segmenter and the default settings of
``benchmarks/annotate_speed.py``, it times in this process, per variant (median ms):

* ``sample`` (``sample_variant``), ``pose`` (``posed_vertices``), ``colours`` (``model.colors``, image
  parsers only), ``render`` (``renderer.render``: the id pass, plus the colour pass for image parsers),
  ``project`` (``camera.project``), ``segment`` (``segmenter.part_map``), ``check`` (``check_part_map``),
  ``vote`` (``view_votes``), and, inside the vote, the public steps it calls (``visible_vertices``,
  ``pixel_angle_weights``) timed again on the same inputs; ``pixel corners`` (``pixel_corners``, once per
  render, shared by the oracle and the vote);

then, once per run, ``build_annotation`` (vote table, view re-weighting, symmetric pooling, graph
cut, quality report) and its parts; and the fixed start-up of ``--workers`` worker processes: the
time until each worker has returned its first view, against their steady pace.
``--cprofile N`` also prints the N functions with the most own time over the per-variant loop.
Figures on a shared machine are noisy: the load is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from annotate_speed import DEFAULT_ICT, busy_cores, machine_line, usable_cores  # noqa: E402


class Timer:
    def __init__(self):
        self.ms: dict[str, list[float]] = {}

    def __call__(self, name, fn, *args, **kw):
        t = time.perf_counter()
        out = fn(*args, **kw)
        self.ms.setdefault(name, []).append(1e3 * (time.perf_counter() - t))
        return out

    def table(self, n_views: int) -> list[str]:
        return [f"  {k:28s} {statistics.median(v):8.1f} {sum(v) / n_views:8.1f}" for k, v in self.ms.items()]


def make_segmenter(name: str, model, renderer):
    from facepart.annotate.views import frontal_view
    from facepart.segmenters import make_segmenter as make

    if name == "oracle":
        sys.path.insert(0, str(ROOT / "tests"))
        from truth import ict_truth

        seg = make("oracle", model=model, truth=ict_truth(model))
    else:
        seg = make(name, model=model)
    seg.calibrate(frontal_view(model, renderer.width, renderer))
    return seg


STARTUP = r"""
import pickle, sys, time
t0 = time.perf_counter()
import facepart.annotate.workers as W
t1 = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    model, seg, settings, renderer_name = pickle.load(f)
t2 = time.perf_counter()
from facepart.renderers.base import make_renderer
renderer = make_renderer(renderer_name, settings.size)
t3 = time.perf_counter()
task = W._Task(model, seg, settings, renderer)
task(0)
t4 = time.perf_counter()
task(1)
t5 = time.perf_counter()
print(" ".join(f"{1e3 * x:.0f}" for x in (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)))
"""


def startup_breakdown(model, seg, settings, renderer_name, repeats: int = 2) -> list[list[float]]:
    """What one worker's start-up costs, in a fresh Python started like a spawned worker (no fork):
    per repeat [python start, imports, unpickling the run's objects, renderer (GL context), first view,
    second view] in ms. (Pickling in the parent and the pool's own messages are not included.)"""
    import pickle
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
        pickle.dump((model, seg, settings, renderer_name), f)
    rows = []
    try:
        for _ in range(repeats):
            t = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", STARTUP, f.name], capture_output=True, text=True,
                                 env={**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                      "PYTHONPATH": str(ROOT)})
            wall = 1e3 * (time.perf_counter() - t)
            if out.returncode != 0:
                raise RuntimeError(out.stderr[-2000:])
            parts = [float(x) for x in out.stdout.split()]
            rows.append([wall - sum(parts)] + parts)  # python start-up and exit: the rest of the wall time
    finally:
        os.unlink(f.name)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--segmenter", default="oracle")
    ap.add_argument("--variants", type=int, default=30)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--renderer", default=None)
    ap.add_argument("--workers", type=int, default=usable_cores())
    ap.add_argument("--cprofile", type=int, default=0, help="print the N functions with most own time")
    args = ap.parse_args()

    from facepart.annotate.assign import assign_labels
    from facepart.annotate.consensus import robust_consensus, visible_count
    from facepart.annotate.pipeline import build_annotation, make_scene_mask
    from facepart.annotate.settings import AnnotateSettings, sampling_for
    from facepart.annotate.variants import posed_vertices, sample_variant
    from facepart.annotate.views import make_scene
    from facepart.annotate.vote import check_part_map, eye_parts, pixel_angle_weights, view_votes
    from facepart.annotate.workers import ViewComputer
    from facepart.data import load_model
    from facepart.renderers.base import make_renderer
    from facepart.renderers.fragments import pixel_corners, visible_vertices
    from facepart.segmenters.base import View

    busy = busy_cores(2.0)
    load = os.getloadavg()
    t = time.perf_counter()
    model = load_model(args.model)
    load_ms = 1e3 * (time.perf_counter() - t)
    t = time.perf_counter()
    renderer = make_renderer(args.renderer, args.size)
    open_ms = 1e3 * (time.perf_counter() - t)
    seg = make_segmenter(args.segmenter, model, renderer)
    settings = AnnotateSettings(variants=args.variants, size=args.size, sampling=sampling_for(seg))
    scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
    n_parts = len(seg.parts)
    eye_ids = eye_parts(seg.parts.names)
    timer = Timer()
    views = []
    profiler = cProfile.Profile() if args.cprofile else None

    def one(i):
        variant = timer("sample", sample_variant, model, settings.sampling, settings.seed, i)
        vertices = timer("pose", posed_vertices, model, variant, scene.centre)
        colors = timer("colours", model.colors, variant.albedo) if seg.needs_image else None
        frag = timer("render", renderer.render, vertices, scene.triangles, scene.camera, colors=colors,
                     light=variant.light)
        uv, depth = timer("project", scene.camera.project, vertices)
        uv, depth = uv.astype(np.float32), depth.astype(np.float32)
        pixels = timer("pixel corners", pixel_corners, frag, scene.triangles, uv, depth)
        view = View(variant.index, frag, scene.camera, vertices, uv, depth, scene.triangles, pixels)
        part_map = timer("segment", seg.part_map, view)
        if part_map is None:
            return None
        part_map = timer("check", check_part_map, part_map, view, n_parts, seg.name)
        votes = timer("vote", view_votes, view, part_map, scene, settings, n_parts, eye_ids)
        # the vote's steps again, on the same inputs (attribution only)
        timer("  vote: visible_vertices", visible_vertices, frag, scene.triangles, view.uv, view.depth,
              scene.depth_tolerance)
        timer("  vote: pixel_angle_weights", pixel_angle_weights, view, scene, settings.view_weight,
              settings.grazing)
        return votes

    one(0)  # the first render uploads the triangles: not a steady-state figure
    timer.ms.clear()
    t = time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(args.variants):
        v = one(i)
        if v is not None:
            views.append(v)
    if profiler:
        profiler.disable()
    loop_s = time.perf_counter() - t
    renderer.close()

    # once per run
    end = Timer()
    assignment = end("assign_labels (set-up)", assign_labels, model, seg.parts, settings,
                     make_scene_mask(model, settings))
    end("mirror pairs (mutual_mirror_pairs)", lambda: assignment.pairs)
    consensus = end("robust_consensus (3 rounds)", robust_consensus, views, model.n_vertices, n_parts,
                    assignment.quick_labels, reweight=settings.reweight_views)
    seen = visible_count(views, model.n_vertices) > 0
    end("final (pooling, graph cut, quality)", assignment.final, consensus.table, seen)
    end("build_annotation (all of it again)", build_annotation, model, seg.parts, views, settings, seg.describe())

    print(f"Machine: {machine_line()}; other processes busy {busy:.2f} cores before; load average "
          f"{load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"ICT at {args.size}², {seg.name}, renderer {renderer.name} ({getattr(renderer, 'device', '')}), "
          f"{args.variants} variants ({len(views)} voted); model load {load_ms:.0f} ms, renderer open {open_ms:.0f} ms")
    print(f"  {'per variant':28s} {'median':>8s} {'mean':>8s}  (ms)")
    print("\n".join(timer.table(args.variants)))
    total = sum(sum(timer.ms[k]) for k in timer.ms if not k.startswith(" ")) / args.variants
    print(f"  {'sum of the stages':28s} {'':8s} {total:8.1f}   ({1e3 / total:.1f} variants/s in one process; the "
          f"loop took {loop_s:.1f} s with the attribution{' and cProfile' if profiler else ''})")
    print(f"  {'once per run':28s} {'':>8s} {'ms':>8s}")
    print("\n".join(f"  {k:28s} {'':8s} {v[0]:8.0f}" for k, v in end.ms.items()))

    if args.workers > 1:
        n = args.workers
        with ViewComputer(model, seg, settings, workers=n) as computer:
            t0 = time.perf_counter()
            first = [time.perf_counter() - t0 for _ in computer.compute(range(n))]  # one view per worker
            t1 = time.perf_counter()
            later = list(computer.compute(range(n, n + max(2 * n, args.variants))))
            t2 = time.perf_counter()
        exit_s = time.perf_counter() - t2
        steady = (t2 - t1) / len(later)
        print(f"Worker start-up with {n} workers: the first view of each came back after "
              + ", ".join(f"{x:.2f}" for x in first) + f" s; then {len(later)} views at {1e3 * steady:.0f} ms "
              f"each ({1 / steady:.1f} variants/s); shut-down {1e3 * exit_s:.0f} ms. Fixed cost ~ "
              f"{max(first) - n * steady:.1f} s (the last first view minus one steady view per worker)")
    rows = startup_breakdown(model, seg, settings, args.renderer)
    names = ("python start/exit", "imports", "unpickle model+segmenter", "renderer (GL context)", "first view",
             "second view")
    print("One worker's start-up in a fresh process (ms, " + " / ".join(f"run {i + 1}" for i in range(len(rows)))
          + "): " + "; ".join(f"{n} " + " / ".join(f"{r[k]:.0f}" for r in rows) for k, n in enumerate(names)))
    if profiler:
        s = io.StringIO()
        pstats.Stats(profiler, stream=s).sort_stats("tottime").print_stats(args.cprofile)
        print("\n".join(line for line in s.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
