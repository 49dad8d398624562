"""Benchmark: `facepart landmarks` on the ICT model: time per render, held-out NME, distance to ICT's own 68.

Usage:
    python benchmarks/landmarks_ict.py [--model PATH] [--set 68] [--variants 200] [--size 512] [--yaw 40]
                                       [--held-out 20] [--seed 0] [--out DIR]

Runs the library function the CLI runs (embedding, held-out check, files) with the CLI's defaults,
then prints the wall time, renders per second, the NME table and, for the 68 set, the distance of
the static embedding to ICT's `vertex_indices.json` landmarks per group. The ICT folder defaults to
$FACEPART_ICT_MODEL or ../shared/models/ict-facekit/FaceXModel. Timings depend on what else runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DEFAULT_ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ict-facekit" / "FaceXModel"
GROUPS_68 = {"eye corners": (36, 39, 42, 45), "nose tip": (30,), "nostrils": (31, 32, 33, 34, 35),
             "mouth corners": (48, 54), "brows": tuple(range(17, 27)), "nose bridge": (27, 28, 29),
             "eyelids": (37, 38, 40, 41, 43, 44, 46, 47),
             "lips (other)": tuple(k for k in range(48, 68) if k not in (48, 54)),
             "jaw (static point)": tuple(range(17))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--set", default="68")
    ap.add_argument("--variants", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--yaw", type=float, default=40.0)
    ap.add_argument("--held-out", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    from facepart.annotate.landmarks import LandmarkSettings
    from facepart.data import load_model
    from facepart.export.landmarks import run_landmarks

    model = load_model(args.model)
    settings = LandmarkSettings(variants=args.variants, size=args.size, yaw=args.yaw, held_out=args.held_out,
                                seed=args.seed)
    out = args.out or tempfile.mkdtemp(prefix="facepart-landmarks-")
    t0 = time.perf_counter()
    emb, written = run_landmarks(model, out, "mediapipe", args.set, settings)
    seconds = time.perf_counter() - t0
    renders = args.variants + args.held_out
    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{renders} renders at {args.size} px in {seconds:.1f} s ({renders / seconds:.2f} renders/s, "
          f"including aggregation, check and files)")
    print("\n".join(emb.summary_lines()))
    if args.set == "68" and model.landmarks68 is not None:
        err = np.linalg.norm(emb.point - model.vertices[model.landmarks68], axis=1) * 1000
        print("Static embedding vs the model's own 68 landmarks (mm):")
        for name, ids in GROUPS_68.items():
            e = err[list(ids)]
            print(f"  {name:20s} mean {e.mean():6.2f}  max {e.max():6.2f}")
    print("Wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    main()
