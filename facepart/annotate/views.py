"""Rendering the variants of a run into :class:`~facepart.segmenters.base.View`s.

A :class:`Scene` is what every view of a run shares (the drawn triangles, the
pose pivot, the camera, which vertices may receive votes); :func:`render_view`
poses one variant and renders it; :func:`frontal_view` is the mean shape seen
from the front (the parser's left/right calibration image).
"""

from __future__ import annotations

from typing import Iterable, Iterator, NamedTuple

import numpy as np

from ..data.face_model import FaceModel
from ..renderers.base import Renderer, renderer_for
from ..renderers.camera import Camera
from ..renderers.fragments import pixel_corners
from ..segmenters.base import FRONTAL_INDEX, View
from .settings import AnnotateSettings
from .variants import Variant, frontal_variant, head_frame, posed_vertices, sample_variant


#: What to check when a parser finds no face in any render (most often: the model lies in other axes).
AXES_HINT = ("check that the model is +y up and looks along +z with `facepart render`; a mesh in other axes "
             "takes -O up=AXIS -O front=AXIS, e.g. -O up=z -O front=-y (model formats are read in their "
             "documented axes: a file stored in others needs converting)")


class Scene(NamedTuple):
    """What every view of a run shares.

    Attributes:
        triangles: (F_r, 3) the rendered triangles; fragment ids index this array.
        centre: (3,) pose pivot.
        camera: the camera of every view.
        vote_mask: (V,) bool, vertices that may receive votes in this run.
        eligible_triangles: (F_r,) bool, triangles with a corner in ``vote_mask``.
        depth_tolerance: metres; a vertex is hidden when the depth buffer at its pixel is this much nearer.
        eye_only: (V,) bool, vertices that may receive only eye votes (eyeballs seen through the lids).
        dense: the mesh is dense for the render (median edge of the vote-eligible triangles under
            :data:`DENSE_EDGE_PIXELS` pixels): visible vertices that no pixel voted for vote with their own
            pixel (``vote.view_votes``).
    """

    triangles: np.ndarray
    centre: np.ndarray
    camera: Camera
    vote_mask: np.ndarray
    eligible_triangles: np.ndarray
    depth_tolerance: float
    eye_only: np.ndarray
    edge_pixels: float = float("inf")

    @property
    def dense(self) -> bool:
        """The mesh is dense for the render: ``edge_pixels`` under :data:`DENSE_EDGE_PIXELS`."""
        return self.edge_pixels < DENSE_EDGE_PIXELS


#: A mesh whose vote-eligible edges are shorter than this many pixels (median, mean shape) is dense for the
#: render: most of its visible vertices win no pixel's nearest-corner vote in a view, and those vote with their
#: own pixel. Measured: 37-50% of the visible vertices get a corner vote on the demo head subdivided to 383k
#: vertices at 256 and 512 px (median edge 0.37 and 0.74 px), 90-98% on ICT and the demo at 512 px (4.8 and
#: 3.5 px). Own-pixel votes kept the eyes and lips of that mesh (MediaPipe, 8 variants at 256 px), made its
#: parts one piece each at 512 px, and raised its oracle agreement at both sizes. On the plain demo at 96 and
#: 128 px (0.65 and 0.87 px) they helped 8-variant runs and cost 50-variant runs 0.4-1 point: the threshold
#: takes in a 383k-vertex head at the default 512 px, not the demo at 128 px.
DENSE_EDGE_PIXELS = 0.8


def depth_tolerance(camera: Camera, radius: float) -> float:
    """Three pixel footprints at the head's distance, at least 0.5% of its radius."""
    distance = float(np.linalg.norm(camera.translation))
    return max(3.0 * distance / camera.fx, 0.005 * radius)


def scene_vote_mask(model: FaceModel, eyeballs: bool) -> np.ndarray:
    """(V,) bool, the vertices that may receive votes: the model's ``vote_mask``, and its eyeballs when
    ``eyeballs`` (they take eye votes only: ``Scene.eye_only``)."""
    return model.vote_mask | (model.eyeball_mask if eyeballs else False)


def make_scene(model: FaceModel, size: int, whole: bool = False, eyeballs: bool = False) -> Scene:
    """The shared camera and triangles of a run.

    Args:
        whole: frame the whole mesh, not just the face.
        eyeballs: the model's eyeball vertices (``model.eyeball_mask``) may receive eye votes.
    """
    centre, radius = head_frame(model, whole)
    triangles = model.triangles[model.render_triangles]
    camera = Camera.looking_at(centre, radius, size)
    vote_mask = scene_vote_mask(model, eyeballs)
    eye_only = vote_mask & ~model.vote_mask
    eligible = vote_mask[triangles].any(axis=1)
    return Scene(triangles, centre, camera, vote_mask, eligible, depth_tolerance(camera, radius), eye_only,
                 median_edge_pixels(model.vertices, triangles[eligible], camera))


def median_edge_pixels(vertices: np.ndarray, triangles: np.ndarray, camera: Camera) -> float:
    """The median length in pixels of the edges of ``triangles`` (F, 3) on ``vertices`` (V, 3), at the camera's
    distance from the head (inf for no triangles)."""
    if len(triangles) == 0:
        return float("inf")
    v = np.asarray(vertices, np.float64)
    lengths = np.concatenate([np.linalg.norm(v[triangles[:, a]] - v[triangles[:, b]], axis=1)
                              for a, b in ((0, 1), (1, 2), (2, 0))])
    footprint = float(np.linalg.norm(camera.translation)) / camera.fx  # metres per pixel at the head
    return float(np.median(lengths)) / footprint


def render_view(model: FaceModel, variant: Variant, scene: Scene, renderer: Renderer, shade: bool = True) -> View:
    """Render one variant into a :class:`View` (shaded colour only when ``shade``)."""
    vertices = posed_vertices(model, variant, scene.centre)
    colors = model.colors(variant.albedo) if shade else None
    fragments = renderer.render(vertices, scene.triangles, scene.camera, colors=colors, light=variant.light)
    uv, depth = scene.camera.project(vertices)
    uv, depth = uv.astype(np.float32), depth.astype(np.float32)
    return View(variant.index, fragments, scene.camera, vertices, uv, depth, scene.triangles,
                pixel_corners(fragments, scene.triangles, uv, depth))


def iter_views(model: FaceModel, settings: AnnotateSettings, renderer: Renderer, indices: Iterable[int],
               shade: bool = True, scene: Scene | None = None) -> Iterator[tuple[Variant, View]]:
    """Sample (``settings.sampling``, ``settings.seed``) and render the variants ``indices`` of a run."""
    scene = scene or make_scene(model, settings.size, eyeballs=settings.eyeballs)
    for i in indices:
        variant = sample_variant(model, settings.sampling, settings.seed, i)
        yield variant, render_view(model, variant, scene, renderer, shade)


def frontal_view(model: FaceModel, size: int = 512, renderer: Renderer | None = None) -> View:
    """The mean shape, neutral, facing the camera, shaded: a :class:`View` with index ``FRONTAL_INDEX``.

    Pass the run's renderer (of ``size``) to reuse it; without one, one is made for this view and closed.
    """
    with renderer_for(renderer, size) as renderer:
        return render_view(model, frontal_variant(FRONTAL_INDEX), make_scene(model, size), renderer, shade=True)
