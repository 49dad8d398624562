"""Time closest-point projection and `transfer` from the ICT model to decimated copies of it.

Run: PYTHONPATH=. FACEPART_ICT_MODEL=... python benchmarks/transfer_ict.py
Prints, per decimation level: target size, closest_points time, full transfer time, surface distance
(median / 95th percentile) and how many labels the one-ring smoothing changed. Needs fast-simplification.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    import trimesh

    from facepart.data import FaceModel, load_model
    from facepart.data.parts import PAPER_PARTS
    from facepart.export.transfer import transfer_by_surface
    from facepart.export.view import annotation_from_sets
    from facepart.geometry import closest_points
    from truth import ict_truth

    ict = load_model(os.environ.get("FACEPART_ICT_MODEL", "../shared/models/ict-facekit/FaceXModel"))
    labels = ict_truth(ict)
    ann = annotation_from_sets({n: np.flatnonzero(labels == i) for i, n in enumerate(PAPER_PARTS)},
                               ict.fingerprint, "ict truth")
    mesh = trimesh.Trimesh(ict.vertices, ict.triangles, process=False)
    surface = ict.triangles[ict.render_triangles]
    print(f"source: ICT {ict.n_vertices} vertices, {len(surface)} drawn triangles")
    for keep in (1.0, 0.5, 0.33, 0.1):
        if keep < 1.0:
            small = mesh.simplify_quadric_decimation(face_count=int(len(ict.triangles) * keep))
            target = FaceModel(f"decimated {keep:g}", np.asarray(small.vertices), np.asarray(small.faces))
        else:
            target = ict
        t0 = time.perf_counter()
        closest_points(ict.vertices, surface, target.vertices)
        t1 = time.perf_counter()
        result = transfer_by_surface(ann, ict, target)
        t2 = time.perf_counter()
        print(f"{target.name:>16}: {target.n_vertices:>6} vertices  closest_points {t1 - t0:5.2f} s  "
              f"transfer {t2 - t1:5.2f} s  distance median {result.median_mm:.3f} mm p95 {result.p95_mm:.3f} mm  "
              f"smoothing changed {result.smoothed}")


if __name__ == "__main__":
    main()
