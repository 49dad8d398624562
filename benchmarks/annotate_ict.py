"""Benchmark: variants/s and peak memory of `annotate` on the ICT model.

Usage:
    python benchmarks/annotate_ict.py [--model PATH] [--segmenter oracle] [--variants 50] [--size 512] [--repeat 3]

Each repetition runs in a fresh process (so peak RSS is that run's own);
the script prints every run and the medians, with the machine it ran on.
The ICT folder defaults to $FACEPART_ICT_MODEL or ../shared/models/ict-facekit/FaceXModel.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

DEFAULT_ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ict-facekit" / "FaceXModel"

ONE_RUN = r"""
import json, resource, sys, time
sys.path.insert(0, {tests!r})
from facepart.data import load_model
from facepart.data.parts import PartTable
from facepart.annotate.pipeline import AnnotateSettings, annotate, sampling_for
from facepart.renderers.pyrender_backend import PyrenderRenderer
model = load_model({model!r})
parts = PartTable.paper()
seg_name = {segmenter!r}
if seg_name == "oracle":
    from truth import ict_truth
    from facepart.segmenters.oracle import OracleNoise, OracleSegmenter
    seg = OracleSegmenter(ict_truth(model, parts), parts, OracleNoise(), seed=0)
else:
    from facepart.segmenters import make_parser_segmenter
    seg = make_parser_segmenter(seg_name, parts, model=model)
settings = AnnotateSettings(variants={variants}, size={size}, sampling=sampling_for(seg))
with PyrenderRenderer({size}, {size}) as renderer:
    t0 = time.perf_counter()
    if hasattr(seg, "calibrate"):
        from facepart.annotate.views import frontal_view
        seg.calibrate(frontal_view(model, {size}, renderer))
    res = annotate(model, seg, settings, renderer=renderer)
    wall = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"variants_per_s": res.stats.variants_per_second, "wall_s": wall,
                  "skipped": res.stats.skipped, "peak_mb": peak_mb}}))
"""


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--segmenter", default="oracle")
    ap.add_argument("--variants", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not Path(args.model).is_dir():
        sys.exit(f"ICT model folder not found: {args.model}")
    code = ONE_RUN.format(tests=str(Path(__file__).resolve().parents[1] / "tests"), model=args.model,
                          segmenter=args.segmenter, variants=args.variants, size=args.size)
    print(f"machine: {cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"GL platform {os.environ.get('PYOPENGL_PLATFORM', 'auto (EGL, else OSMesa)')}")
    print(f"annotate {Path(args.model).name} with {args.segmenter}, {args.variants} variants at {args.size}x{args.size}")
    runs = []
    for i in range(args.repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"run {i + 1} failed:\n{out.stderr}")
        run = json.loads(out.stdout.strip().splitlines()[-1])
        runs.append(run)
        print(f"  run {i + 1}: {run['variants_per_s']:.2f} variants/s, {run['wall_s']:.1f} s, "
              f"peak RSS {run['peak_mb']:.0f} MB, skipped {run['skipped']}")
    print(f"median: {statistics.median(r['variants_per_s'] for r in runs):.2f} variants/s, "
          f"peak RSS {statistics.median(r['peak_mb'] for r in runs):.0f} MB")


if __name__ == "__main__":
    main()
