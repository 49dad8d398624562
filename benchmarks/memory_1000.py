"""Benchmark: peak memory of a long oracle run with all cores (issue 12: at most 1.5 GB for 1000 variants).

Usage:
    python benchmarks/memory_1000.py [--variants 1000] [--workers N] [--size 512] [--renderer NAME]
                                     [--segmenter oracle]

Runs ``facepart.annotate.pipeline.annotate`` on ICT ($FACEPART_ICT_MODEL) with the calibrated oracle
(the tests' ICT labelling, default noise), default settings and ``--workers`` processes (default: all
cores), in a fresh process, and prints the peak of the summed RSS of that process and its workers
(psutil, 50 ms samples; RSS counts shared library pages once per process, so this is an upper bound),
the getrusage maxima, and the speed. The same machinery as ``annotate_speed.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from annotate_speed import DEFAULT_ICT, machine_line, measure, prepare, usable_cores  # noqa: E402

LIMIT_MB = 1.5 * 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=usable_cores())
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--renderer", default=None)
    ap.add_argument("--segmenter", default="oracle")
    args = ap.parse_args()
    if not Path(args.model).is_dir():
        sys.exit(f"ICT model folder not found: {args.model} (set FACEPART_ICT_MODEL)")
    tmp = Path(tempfile.mkdtemp(prefix="facepart-memory-"))
    try:
        prepare(args.model, args.segmenter, args.renderer, args.size, tmp / "segmenter.pkl")
        load = os.getloadavg()[0]
        res = measure({"kind": "facepart", "workers": args.workers, "model": args.model,
                       "segmenter": str(tmp / "segmenter.pkl"), "variants": args.variants, "size": args.size,
                       "seed": 0, "renderer": args.renderer, "out": str(tmp / "labels.npz")})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Machine: {machine_line()}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"ICT at {args.size}², {args.segmenter}, {args.variants} variants, {res['workers']} workers: "
          f"{res['variants'] / res['seconds']:.1f} variants/s ({res['seconds']:.0f} s in all, "
          f"{res['loop_seconds']:.0f} s until the last view), {res['skipped']} skipped")
    if res["peak_tree_mb"] is not None:
        print(f"Peak RSS, the run's process and its workers summed: {res['peak_tree_mb']:.0f} MB "
              f"(limit {LIMIT_MB:.0f} MB: {'within' if res['peak_tree_mb'] <= LIMIT_MB else 'OVER'})")
    print(f"getrusage maxima: the run's process {res['maxrss_self_mb']:.0f} MB, its largest worker "
          f"{res['maxrss_children_mb']:.0f} MB")


if __name__ == "__main__":
    main()
