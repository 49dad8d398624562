"""A straightforward implementation of Algorithm 1, the yardstick of ``annotate_speed.py`` (not part of facepart).

Per variant it does what a first implementation of the paper would do:

1. sample the variant and pose the vertices (facepart's ``sample_variant`` and ``posed_vertices``,
   so both implementations see the same variants), with facepart's camera (``make_scene``);
2. build a fresh pyrender ``Scene`` (a new ``Mesh`` from a ``trimesh.Trimesh``, the camera and a
   directional light) and make one colour + depth render with pyrender's ``OffscreenRenderer``;
3. parse the render with the segmenter;
4. find the visible vertices with the depth buffer (a vertex is visible when the depth buffer at its
   pixel is not nearer than it by more than the run's depth tolerance), put a KD-tree over their
   projections and let every labelled pixel vote for its nearest visible vertex;
5. after the last variant: the union rule (every part a vertex got a vote for) and, for comparison,
   the majority rule (the part with most votes).

The colour render depends on the segmenter:

* an image parser (``segmenter.needs_image``, e.g. MediaPipe) gets pyrender's default lit render:
  the model's per-vertex albedo, pyrender's PBR shader with the variant's directional light and
  ambient term. pyrender's offscreen framebuffer is 4x multisampled on EGL, which on a CPU (llvmpipe)
  costs about four times the render (measured: ~550 against ~130 ms per variant at 512² on the
  2-core machine under load). facepart renders single-sample, so by default the reference does too
  (``msaa=False``): the comparison is then about the pipeline, not about anti-aliasing;
* the oracle segmenter reads triangle ids, not pixels. Its one render is therefore the
  straightforward id render: an unwelded mesh whose faces are flat-coloured with their index,
  rendered with ``RenderFlags.FLAT`` into a single-sample framebuffer (multisampling would blend the
  id colours; pyrender has no switch for it, so this module asks its framebuffer for 0 samples). The
  decoded ids and the depth buffer are handed to the *same* oracle object facepart's run uses, so
  the oracle's own work (nearest-corner labels, noise) is timed in both implementations.

The segmenter must already be calibrated (``annotate_speed.py`` calibrates it once and gives the
same pickled object to every configuration).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facepart.annotate.settings import AnnotateSettings  # noqa: E402
from facepart.annotate.variants import posed_vertices, sample_variant
from facepart.annotate.views import make_scene
from facepart.data.face_model import FaceModel
from facepart.renderers.fragments import Fragments
from facepart.segmenters.base import View

STAGES = ("scene", "render", "segment", "vote")


class ReferenceResult(NamedTuple):
    """What the reference run produced.

    Attributes:
        votes: (V, P) int64 labelled-pixel votes per vertex and part.
        seen: (V,) int32 views in which each vertex was visible.
        majority: (V,) int labels by the majority of votes, -1 = no vote.
        union: (V, P) bool, every part a vertex got at least one vote for (the paper's rule).
        parsed: views the segmenter labelled.
        skipped: views it could not use (None part map).
        seconds: wall time of the whole run (renderer start-up and the final rules included).
        stage_seconds: wall time per stage (:data:`STAGES`), summed over variants.
    """

    votes: np.ndarray
    seen: np.ndarray
    majority: np.ndarray
    union: np.ndarray
    parsed: int
    skipped: int
    seconds: float
    stage_seconds: dict


def import_pyrender(single_sample: bool):
    """pyrender on facepart's OpenGL platform choice (EGL, else OSMesa); with ``single_sample`` its
    offscreen framebuffer gets no multisampling (needed for exact id colours on EGL)."""
    from facepart.renderers.pyrender_backend import choose_platform  # sets PYOPENGL_PLATFORM, imports nothing

    choose_platform(None)
    import pyrender
    import pyrender.renderer as pr_renderer

    if single_sample and not getattr(pr_renderer, "_single_sample", False):
        multisample = pr_renderer.glRenderbufferStorageMultisample

        def no_multisample(target, samples, internalformat, width, height):
            return multisample(target, 0, internalformat, width, height)

        pr_renderer.glRenderbufferStorageMultisample = no_multisample
        pr_renderer._single_sample = True
    return pyrender


def id_colours(n: int) -> np.ndarray:
    """(n, 4) uint8 face colours whose RGB is index + 1 in base 256."""
    code = np.arange(1, n + 1, dtype=np.int64)
    rgba = np.stack([code & 255, (code >> 8) & 255, (code >> 16) & 255, np.full(n, 255)], axis=1)
    return rgba.astype(np.uint8)


def light_pose(direction: np.ndarray) -> np.ndarray:
    """(4, 4) pose whose -z axis (the way a pyrender light shines) points along ``direction``."""
    z = -np.asarray(direction, float) / np.linalg.norm(direction)
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, np.cross(z, x), z
    return pose


def reference_annotate(model: FaceModel, segmenter, settings: AnnotateSettings,
                       n_variants: int | None = None, kdtree_workers: int = -1, msaa: bool = False
                       ) -> ReferenceResult:
    """Algorithm 1 the straightforward way, on the variants ``0 .. n_variants - 1`` of ``settings``.

    Args:
        model: the face model.
        segmenter: a calibrated facepart segmenter (``part_map(view)`` -> (H, W) part ids or None).
        settings: facepart's run settings (size, seed, sampling: the variants).
        kdtree_workers: threads of the KD-tree query (-1: all cores, scipy's fastest).
        msaa: keep pyrender's multisampled framebuffer for the lit render (its default on EGL).
    """
    import trimesh
    from scipy.spatial import cKDTree

    oracle_like = not getattr(segmenter, "needs_image", True)
    pyrender = import_pyrender(single_sample=oracle_like or not msaa)
    n_variants = settings.variants if n_variants is None else n_variants
    size = settings.size
    n_parts = len(segmenter.parts)
    t0 = time.perf_counter()
    shared = make_scene(model, size, eyeballs=settings.eyeballs)  # facepart's camera, triangles and vote mask
    camera, triangles = shared.camera, shared.triangles
    rendered = np.zeros(model.n_vertices, bool)
    rendered[triangles.ravel()] = True
    candidates = rendered & shared.vote_mask  # vertices that may be seen and voted for
    face_ids = id_colours(len(triangles))
    material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0,
                                                  roughnessFactor=0.9)
    renderer = pyrender.OffscreenRenderer(size, size)
    votes = np.zeros((model.n_vertices, n_parts), np.int64)
    seen = np.zeros(model.n_vertices, np.int32)
    stages = dict.fromkeys(STAGES, 0.0)
    parsed = skipped = 0
    try:
        for index in range(n_variants):
            t = time.perf_counter()
            variant = sample_variant(model, settings.sampling, settings.seed, index)
            vertices = posed_vertices(model, variant, shared.centre)
            scene = pyrender.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[variant.light.ambient] * 3)
            if oracle_like:
                mesh = trimesh.Trimesh(vertices, triangles, face_colors=face_ids, process=False)
                scene.add(pyrender.Mesh.from_trimesh(mesh, smooth=False))
                flags = pyrender.RenderFlags.FLAT
            else:
                colours = (np.clip(model.colors(variant.albedo), 0, 1) * 255).astype(np.uint8)
                mesh = trimesh.Trimesh(vertices, triangles, vertex_colors=colours, process=False)
                scene.add(pyrender.Mesh.from_trimesh(mesh, material=material))
                scene.add(pyrender.DirectionalLight(color=np.ones(3), intensity=variant.light.intensity),
                          pose=light_pose(variant.light.direction))
                flags = pyrender.RenderFlags.NONE
            scene.add(pyrender.IntrinsicsCamera(camera.fx, camera.fy, camera.cx, camera.cy, camera.znear,
                                                camera.zfar), pose=camera.opengl_pose())
            t1 = time.perf_counter()
            colour, depth = renderer.render(scene, flags=flags | pyrender.RenderFlags.SKIP_CULL_FACES)
            t2 = time.perf_counter()

            mask = depth > 0
            uv, z = camera.project(vertices)
            if oracle_like:
                rgb = colour.astype(np.int64)
                ids = (rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)) - 1
                ids[(ids >= len(triangles)) | ~mask] = -1
                fragments = Fragments(None, depth, ids.astype(np.int32), ids >= 0)
            else:
                # a parser reads only the image; the id buffer is not rendered (all -1, the right shape)
                fragments = Fragments(np.ascontiguousarray(colour[..., :3]), depth,
                                      np.full(depth.shape, -1, np.int32), mask)
            view = View(index, fragments, camera, vertices, uv.astype(np.float32), z.astype(np.float32), triangles)
            part_map = segmenter.part_map(view)
            t3 = time.perf_counter()

            if part_map is None:
                skipped += 1
            else:
                parsed += 1
                # visible: inside the image, and not behind the depth buffer at its own pixel
                col = np.floor(uv[:, 0]).astype(np.int64)
                row = np.floor(uv[:, 1]).astype(np.int64)
                inside = candidates & (col >= 0) & (col < size) & (row >= 0) & (row < size)
                zbuf = np.zeros(model.n_vertices)
                zbuf[inside] = depth[row[inside], col[inside]]
                visible = np.flatnonzero(inside & (zbuf > 0) & (z <= zbuf + shared.depth_tolerance))
                seen[visible] += 1
                rows, cols = np.nonzero(part_map >= 0)
                if len(visible) and len(rows):
                    tree = cKDTree(uv[visible])
                    _, nearest = tree.query(np.stack([cols + 0.5, rows + 0.5], axis=1), k=1,
                                            workers=kdtree_workers)
                    np.add.at(votes, (visible[nearest], part_map[rows, cols].astype(np.int64)), 1)
            t4 = time.perf_counter()
            stages["scene"] += t1 - t
            stages["render"] += t2 - t1
            stages["segment"] += t3 - t2
            stages["vote"] += t4 - t3
    finally:
        renderer.delete()
    union = votes > 0
    majority = np.where(union.any(axis=1), votes.argmax(axis=1), -1)
    seconds = time.perf_counter() - t0
    return ReferenceResult(votes, seen, majority, union, parsed, skipped, seconds, stages)


if __name__ == "__main__":  # a quick look: python benchmarks/reference_alg1.py [variants]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from truth import ict_truth

    from facepart.data import load_model
    from facepart.segmenters import make_segmenter

    m = load_model(os.environ["FACEPART_ICT_MODEL"])
    seg = make_segmenter("oracle", model=m, truth=ict_truth(m))
    res = reference_annotate(m, seg, AnnotateSettings(variants=int(sys.argv[1]) if len(sys.argv) > 1 else 5))
    print(f"{res.parsed} parsed, {res.skipped} skipped, {res.seconds:.2f} s, "
          f"{int((res.majority >= 0).sum())} vertices labelled;",
          {k: round(1e3 * v / max(1, res.parsed + res.skipped), 1) for k, v in res.stage_seconds.items()}, "ms/variant")
