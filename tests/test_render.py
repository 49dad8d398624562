"""Renderer pieces that are not a backend's contract (that is tests/test_renderers.py, for every backend)."""

import numpy as np
import pytest

from facepart.annotate.pipeline import make_scene, render_view
from facepart.annotate.variants import SamplingSettings, sample_variant
from facepart.renderers.pyrender_backend import PyrenderRenderer, decode_ids, encode_ids


def test_id_colour_code_round_trips():
    colours = encode_ids(70_000)
    rgb = np.round(colours * 255).astype(np.uint8)[None]
    assert np.array_equal(decode_ids(rgb)[0], np.arange(70_000))


def test_pyrender_pbr_shading_keeps_the_look_of_the_lambert_default(renderer256, ict_model):
    """The cheap default and pyrender's PBR shader (the old look) differ by about one grey level."""
    scene = make_scene(ict_model, 256)
    variant = sample_variant(ict_model, SamplingSettings(), seed=5, index=3)
    pbr = PyrenderRenderer(256, 256, shading="pbr")
    try:
        old = render_view(ict_model, variant, scene, pbr).fragments
    finally:
        pbr.close()
    new = render_view(ict_model, variant, scene, renderer256).fragments
    np.testing.assert_array_equal(old.triangle_id, new.triangle_id)
    diff = np.abs(old.image.astype(int) - new.image.astype(int))[new.mask]
    assert diff.mean() < 3 and np.percentile(diff, 99) < 12


def test_pyrender_rejects_an_unknown_shading():
    from facepart.errors import FacepartError

    with pytest.raises(FacepartError, match="unknown shading 'phong'"):
        PyrenderRenderer(64, 64, shading="phong")


def test_vertex_normals_point_outward_on_a_sphere():
    import trimesh

    from facepart.geometry import vertex_normals
    from facepart.renderers.shading import VertexNormals

    sphere = trimesh.creation.icosphere(subdivisions=3)
    vertices, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    normals = vertex_normals(vertices, faces)
    np.testing.assert_allclose(normals, vertices / np.linalg.norm(vertices, axis=1, keepdims=True), atol=0.02)
    assert normals.shape == vertices.shape and normals.dtype == np.float32
    # the renderers' cached operator gives the same normals; a vertex on no triangle gets zero
    padded = np.vstack([vertices, [[5.0, 5.0, 5.0]]])
    fast = VertexNormals(faces, len(padded))(padded)
    np.testing.assert_allclose(fast[:-1], normals, atol=1e-5)
    assert fast.dtype == np.float32 and np.all(fast[-1] == 0)
