"""Benchmark: milliseconds per render of every renderer backend, side by side in one run.

Usage:
    python benchmarks/render_backends.py [--model PATH] [--size 512] [--repeat 30] [--variants 8]
                                         [--backends moderngl,pyrender] [--json OUT.json]

On the ICT model (default $FACEPART_ICT_MODEL or ../shared/models/ict-facekit/FaceXModel)
it times, for each backend:

- opening the renderer, and its first call (the upload of the triangle array),
  id-only and then with colour;
- the median ms of ``--repeat`` id-only renders (ids + depth: what the oracle needs),
  of the same followed by ``pixel_corners`` (each covered pixel's triangle corners and barycentrics,
  what the vote reads: from the renderer where it interpolates them, else computed on the host),
  and of colour renders (ids + depth + lit colour: what a 2D parser needs), with
  the CPU time of the whole process beside it (OpenGL's worker threads included).

Calls alternate between backends and cycle through ``--variants`` posed variants
(computed beforehand: only the renderer is timed), so load from other processes
falls on all of them alike. Rows: every registered backend with its defaults, plus
pyrender's PBR shader (the old colour pass) and back-face culling for comparison.
On a shared machine the figures are noisy: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facepart.annotate.pipeline import make_scene  # noqa: E402
from facepart.annotate.variants import SamplingSettings, posed_vertices, sample_variant  # noqa: E402
from facepart.data import load_model  # noqa: E402
from facepart.renderers.base import RENDERERS, make_renderer  # noqa: E402
from facepart.renderers.fragments import pixel_corners  # noqa: E402
from machine import cpu_name, usable_cores  # noqa: E402,F401  (benchmarks/machine.py)

DEFAULT_ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ict-facekit" / "FaceXModel"


def configurations(backends: list[str]) -> list[tuple[str, str, dict]]:
    """(label, backend, options) rows: each backend as it comes, then the comparison variants."""
    rows = [(name, name, {}) for name in backends]
    if "pyrender" in backends:
        rows.append(("pyrender shading=pbr", "pyrender", {"shading": "pbr"}))
    for name in backends:
        rows.append((f"{name} cull_back_faces", name, {"cull_back_faces": True}))
    return rows


def timed(fn) -> tuple[float, float]:
    t, c = time.perf_counter(), time.process_time()
    fn()
    return (time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=30, help="timed renders per backend and kind")
    ap.add_argument("--variants", type=int, default=8, help="posed variants to cycle through")
    ap.add_argument("--backends", default=",".join(sorted(RENDERERS)))
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    model = load_model(args.model)
    scene = make_scene(model, args.size)
    inputs = []
    for i in range(args.variants):
        variant = sample_variant(model, SamplingSettings(), seed=0, index=i)
        vertices = posed_vertices(model, variant, scene.centre).astype(np.float32)
        uv, depth = scene.camera.project(vertices)
        inputs.append((vertices, model.colors(variant.albedo), variant.light,
                       uv.astype(np.float32), depth.astype(np.float32)))
    load_before = os.getloadavg()

    rows = configurations([b.strip() for b in args.backends.split(",") if b.strip()])
    renderers, results = {}, {}
    for label, backend, options in rows:
        open_ms, _ = timed(lambda: renderers.__setitem__(label, make_renderer(backend, args.size, **options)))
        r = renderers[label]
        tri = scene.triangles.copy()  # a triangle array this renderer has not seen
        v, c, light, _, _ = inputs[0]
        first_ids, _ = timed(lambda: r.render(v, tri, scene.camera))
        first_colour, _ = timed(lambda: r.render(v, tri, scene.camera, colors=c, light=light))
        results[label] = {"backend": backend, "options": options, "device": getattr(r, "device", backend),
                          "open_ms": open_ms, "first_ids_ms": first_ids, "first_colour_ms": first_colour,
                          "ids": [], "ids_cpu": [], "ids_px": [], "colour": [], "colour_cpu": []}

    for k in range(args.repeat):
        v, c, light, uv, depth = inputs[k % len(inputs)]
        for label, r in renderers.items():
            wall, cpu = timed(lambda: r.render(v, scene.triangles, scene.camera))
            results[label]["ids"].append(wall)
            results[label]["ids_cpu"].append(cpu)
            wall, _ = timed(lambda: pixel_corners(r.render(v, scene.triangles, scene.camera), scene.triangles,
                                                  uv, depth))
            results[label]["ids_px"].append(wall)
            wall, cpu = timed(lambda: r.render(v, scene.triangles, scene.camera, colors=c, light=light))
            results[label]["colour"].append(wall)
            results[label]["colour_cpu"].append(cpu)
    for r in renderers.values():
        r.close()
    load_after = os.getloadavg()

    print(f"Renderer backends on {Path(args.model).name} ({len(model.vertices)} vertices, "
          f"{len(scene.triangles)} triangles drawn) at {args.size}x{args.size}; median of {args.repeat} "
          f"renders each, calls interleaved.")
    print(f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
          + (f"; LP_NUM_THREADS={os.environ['LP_NUM_THREADS']}" if "LP_NUM_THREADS" in os.environ else ""))
    head = (f"{'backend':28s} {'open':>6s} {'1st id':>7s} {'1st col':>8s} {'ids':>7s} {'(cpu)':>7s} {'ids+px':>7s} "
            f"{'colour':>7s} {'(cpu)':>7s}")
    print(head)
    print("-" * len(head))
    summary = {}
    for label, res in results.items():
        med = {k: float(np.median(res[k])) for k in ("ids", "ids_cpu", "ids_px", "colour", "colour_cpu")}
        summary[label] = {**{k: res[k] for k in ("backend", "options", "device", "open_ms", "first_ids_ms",
                                                 "first_colour_ms")}, **{f"{k}_ms": v for k, v in med.items()}}
        print(f"{label:28s} {res['open_ms']:6.0f} {res['first_ids_ms']:7.1f} {res['first_colour_ms']:8.1f} "
              f"{med['ids']:7.1f} {med['ids_cpu']:7.1f} {med['ids_px']:7.1f} {med['colour']:7.1f} "
              f"{med['colour_cpu']:7.1f}")
    print("(ms; 'open' makes the context, '1st' calls upload the triangle array, 'ids' = ids + depth, 'ids+px' = "
          "that and pixel_corners, 'colour' = ids + depth + lit colour)")
    for label, res in results.items():
        print(f"  {label}: {res['device']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"size": args.size, "repeat": args.repeat, "cpu": cpu_name(),
                                               "cores": os.cpu_count(), "load_before": load_before,
                                               "load_after": load_after, "results": summary}, indent=1))


if __name__ == "__main__":
    main()
