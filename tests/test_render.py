"""The renderer on real meshes: exact triangle ids, consistent projection, depth."""

import numpy as np
import pytest

from facepart.annotate.pipeline import make_scene, render_view
from facepart.annotate.variants import SamplingSettings, sample_variant
from facepart.renderers.pyrender_backend import PyrenderRenderer, decode_ids, encode_ids


def _distance_outside(uv, triangles, fragments):
    """Per covered pixel: distance (px) from the pixel centre to its triangle (0 when inside)."""
    rows, cols = np.nonzero(fragments.mask)
    tri = triangles[fragments.triangle_id[rows, cols]]
    p = np.stack([cols + 0.5, rows + 0.5], 1)
    a, b, c = (uv[tri[:, k]].astype(np.float64) for k in range(3))
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
    l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
    l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
    inside = np.minimum(np.minimum(l1, l2), 1 - l1 - l2) >= 0

    def seg(p, a, b):
        ab = b - a
        t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0, 1)
        return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)

    d = np.minimum(np.minimum(seg(p, a, b), seg(p, b, c)), seg(p, c, a))
    return np.where(inside, 0.0, d)


def test_id_colour_code_round_trips():
    colours = encode_ids(70_000)
    rgb = np.round(colours * 255).astype(np.uint8)[None]
    assert np.array_equal(decode_ids(rgb)[0], np.arange(70_000))


@pytest.mark.parametrize("which", ["demo", "ict"])
def test_id_buffer_is_exact_on_a_real_render(which, request, renderer256):
    model = request.getfixturevalue("demo_model" if which == "demo" else "ict_model")
    scene = make_scene(model, 256)
    for index in (0, 3):  # a near-frontal and a turned head
        variant = sample_variant(model, SamplingSettings(), seed=5, index=index)
        view = render_view(model, variant, scene, renderer256, shade=True)
        frag = view.fragments
        assert frag.mask.sum() > 5000
        assert frag.triangle_id[~frag.mask].max() == -1
        assert frag.triangle_id.max() < len(scene.triangles)
        # every pixel centre lies in (within float rounding of) the projection of its triangle
        outside = _distance_outside(view.uv, scene.triangles, frag)
        assert outside.max() < 0.01, f"pixel centre {outside.max():.4f} px outside its triangle"
        # the depth buffer agrees with the camera-space depth of the triangle's corners
        rows, cols = np.nonzero(frag.mask)
        tri = scene.triangles[frag.triangle_id[rows, cols]]
        _, z = view.camera.project(view.vertices)
        zt = z[tri]
        d = frag.depth[rows, cols]
        assert np.all((d >= zt.min(1) - 1e-4) & (d <= zt.max(1) + 1e-4))
        assert frag.image.shape == (256, 256, 3) and frag.image[frag.mask].mean() > 30


def test_renderer_rejects_a_mismatched_camera(renderer256, demo_model):
    from facepart.errors import FacepartError

    scene = make_scene(demo_model, 128)
    with pytest.raises(FacepartError, match="camera is 128x128"):
        renderer256.render(demo_model.vertices, scene.triangles, scene.camera)


def test_colour_pass_is_skipped_when_not_asked(renderer256, demo_model):
    scene = make_scene(demo_model, 256)
    variant = sample_variant(demo_model, SamplingSettings(), seed=0, index=0)
    view = render_view(demo_model, variant, scene, renderer256, shade=False)
    assert view.fragments.image is None and view.fragments.mask.any()


def test_closing_one_renderer_leaves_the_others_working(renderer256, demo_model):
    scene = make_scene(demo_model, 256)
    other = PyrenderRenderer(256, 256)
    first = other.render(demo_model.vertices, scene.triangles, scene.camera)
    other.close()
    other.close()  # idempotent
    again = renderer256.render(demo_model.vertices, scene.triangles, scene.camera)
    assert np.array_equal(first.triangle_id, again.triangle_id)


def test_vertex_normals_point_outward_on_a_sphere():
    import trimesh

    from facepart.geometry import vertex_normals

    sphere = trimesh.creation.icosphere(subdivisions=3)
    normals = vertex_normals(np.asarray(sphere.vertices), np.asarray(sphere.faces))
    np.testing.assert_allclose(normals, sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True),
                               atol=0.02)
    assert normals.shape == sphere.vertices.shape and normals.dtype == np.float32
