"""Every registered renderer backend on real meshes: exact ids, true depth, the shared look, live buffers."""

from __future__ import annotations

import numpy as np
import pytest

from facepart.annotate.pipeline import make_scene, render_view
from facepart.annotate.variants import SamplingSettings, frontal_variant, posed_vertices, sample_variant
from facepart.errors import FacepartError, MissingDependency
from facepart.renderers.base import RENDERERS, Renderer, make_renderer
from facepart.renderers.light import Light
from facepart.renderers.shading import VertexNormals, lambert_colors

BACKENDS = sorted(RENDERERS)
SIZE = 256


@pytest.fixture(scope="module", params=BACKENDS)
def renderer(request):
    r = make_renderer(request.param, SIZE)
    yield r
    r.close()


def _camera_space(view):
    """(V, 3) camera-space vertices and (H, W, 3) unit-z ray directions of the pixel centres."""
    cam = view.camera
    pc = cam.to_camera(view.vertices)
    rows, cols = np.mgrid[0:cam.height, 0:cam.width]
    rays = np.stack([(cols + 0.5 - cam.cx) / cam.fx, (rows + 0.5 - cam.cy) / cam.fy, np.ones(rows.shape)], -1)
    return pc, rays


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


def _surface_at_pixels(view):
    """For every covered pixel: the camera-space point where its ray meets its triangle's plane,
    the perspective-correct barycentrics of that point, and how squarely the ray meets the plane."""
    frag = view.fragments
    pc, rays = _camera_space(view)
    rows, cols = np.nonzero(frag.mask)
    tri = view.triangles[frag.triangle_id[rows, cols]]
    a, b, c = (pc[tri[:, k]] for k in range(3))
    d = rays[rows, cols]
    n = np.cross(b - a, c - a)
    nd = (n * d).sum(1)
    z = (n * a).sum(1) / nd
    p = d * z[:, None]
    area = np.linalg.norm(n, axis=1)
    wa = np.linalg.norm(np.cross(b - p, c - p), axis=1) / area
    wb = np.linalg.norm(np.cross(c - p, a - p), axis=1) / area
    bary = np.stack([wa, wb, 1 - wa - wb], 1)
    squareness = np.abs(nd) / (area * np.linalg.norm(d, axis=1))
    return rows, cols, tri, z, bary, squareness


def _views(model, renderer, shade=True, indices=(0, 3)):
    scene = make_scene(model, SIZE)
    for index in indices:  # a near-frontal and a turned head
        variant = sample_variant(model, SamplingSettings(), seed=5, index=index)
        yield scene, variant, render_view(model, variant, scene, renderer, shade=shade)


def test_every_backend_is_a_renderer(renderer):
    assert isinstance(renderer, Renderer)
    assert renderer.name in RENDERERS and (renderer.width, renderer.height) == (SIZE, SIZE)


@pytest.mark.parametrize("which", ["demo", "ict"])
def test_ids_are_exact_and_depth_is_the_surface_depth(which, request, renderer):
    model = request.getfixturevalue("demo_model" if which == "demo" else "ict_model")
    for scene, _, view in _views(model, renderer):
        frag = view.fragments
        assert frag.triangle_id.shape == frag.depth.shape == frag.mask.shape == (SIZE, SIZE)
        assert frag.triangle_id.dtype == np.int32 and frag.depth.dtype == np.float32 and frag.mask.dtype == bool
        assert frag.mask.sum() > 5000
        np.testing.assert_array_equal(frag.mask, frag.triangle_id >= 0)
        assert np.all(frag.triangle_id[~frag.mask] == -1) and np.all(frag.depth[~frag.mask] == 0)
        assert frag.triangle_id.max() < len(scene.triangles)
        # every pixel centre lies in (within float rounding of) the projection of its triangle
        outside = _distance_outside(view.uv, scene.triangles, frag)
        assert outside.max() < 0.01, f"{renderer.name}: pixel centre {outside.max():.4f} px outside its triangle"
        # the depth is the camera-space z where the pixel's ray meets its triangle
        rows, cols, _, z, _, squareness = _surface_at_pixels(view)
        ok = squareness > 0.05  # rays grazing a triangle make the plane intersection ill-conditioned
        err = np.abs(frag.depth[rows, cols] - z)[ok]
        assert ok.mean() > 0.9 and err.max() < 2e-4, f"{renderer.name}: depth off by {err.max():.2e} m"


@pytest.mark.parametrize("shade", [False, True])
def test_pixel_barycentrics_and_facing_are_the_surface_s(shade, renderer, ict_model):
    """What the vote reads per pixel, on every backend: barycentrics of the pixel centre on its 3D triangle
    (from the renderer where it interpolates them, else from the projected corners) and, where the renderer
    gives it, the cosine between the triangle's outward normal and the ray to its centroid."""
    for scene, _, view in _views(ict_model, renderer, shade=shade):
        frag, px = view.fragments, view.pixels
        rows, cols, tri, _, bary, squareness = _surface_at_pixels(view)
        np.testing.assert_array_equal(px.rows, rows)
        np.testing.assert_array_equal(px.corners, tri)
        ok = squareness > 0.05
        err = np.abs(px.bary - bary)[ok]
        assert ok.mean() > 0.9 and err.max() < 2e-3, f"{renderer.name}: barycentrics off by {err.max():.2e}"
        nearest_same = (px.bary.argmax(1) == bary.argmax(1))[ok].mean()
        assert nearest_same > 0.9999
        if frag.bary is None:
            assert frag.facing is None
            continue
        assert frag.bary.shape == (SIZE, SIZE, 3) and frag.facing.shape == (SIZE, SIZE)
        assert np.all(frag.bary[~frag.mask] == 0) and np.all(frag.facing[~frag.mask] == 0)
        corners = view.vertices[tri]
        n = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        ray = corners.mean(1) - view.camera.centre()
        cos = -(n * ray).sum(1) / (np.linalg.norm(n, axis=1) * np.linalg.norm(ray, axis=1))
        np.testing.assert_allclose(frag.facing[rows, cols], cos, atol=1e-4)


def test_pixel_corners_read_the_renderers_per_pixel_arrays_exactly(renderer, ict_model):
    """``pixel_corners`` gathers the renderer's barycentrics and cosines per covered pixel (moderngl's come
    out of one (H, W, 4) array, gathered 16 bytes at a time) and takes the corner of largest weight, the
    first on ties: the same as plain numpy indexing and argmax."""
    from facepart.renderers.fragments import pixel_corners

    for scene, _, view in _views(ict_model, renderer, shade=False):
        frag = view.fragments
        flat = np.flatnonzero(frag.mask)
        px = pixel_corners(frag, scene.triangles, view.uv, view.depth)
        np.testing.assert_array_equal(px.flat, flat)
        np.testing.assert_array_equal(px.triangle, frag.triangle_id.ravel()[flat])
        if frag.bary is None:
            assert px.facing is None
            bary = px.bary
        else:
            bary = np.array(frag.bary).reshape(-1, 3)[flat]  # a plain copy, then plain indexing
            np.testing.assert_array_equal(px.bary, bary)
            np.testing.assert_array_equal(px.facing, np.array(frag.facing).ravel()[flat])
        np.testing.assert_array_equal(px.nearest, scene.triangles[px.triangle, bary.argmax(axis=1)])
        left = np.zeros_like(frag.mask)
        left[:, : SIZE // 2] = True
        keep = left.ravel()[flat]
        part = px.where(left)
        np.testing.assert_array_equal(part.nearest, px.nearest[keep])
        np.testing.assert_array_equal(part.bary, px.bary[keep])
        if px.facing is not None:
            np.testing.assert_array_equal(part.facing, px.facing[keep])
    from facepart.renderers.fragments import _largest_of_three

    ties = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4], [0.3, 0.3, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.2, 0.3]],
                    np.float32)
    np.testing.assert_array_equal(_largest_of_three(ties), ties.argmax(axis=1))


def test_colour_follows_the_shared_lambert_look(renderer, ict_model):
    """Each pixel's colour is the Lambert look of its surface point: evaluated there from the
    interpolated normal and albedo ("lambert-pixel"), or interpolated from the corners' ("lambert-vertex")."""
    assert renderer.shading in ("lambert-pixel", "lambert-vertex")
    for scene, variant, view in _views(ict_model, renderer):
        frag = view.fragments
        assert frag.image.shape == (SIZE, SIZE, 3) and frag.image.dtype == np.uint8
        assert np.all(frag.image[~frag.mask] == 0)
        albedo = ict_model.colors(variant.albedo)
        normals = VertexNormals(scene.triangles, len(view.vertices))(view.vertices)
        rows, cols, tri, _, bary, _ = _surface_at_pixels(view)

        def at_pixels(per_vertex):
            return (per_vertex[tri] * bary[:, :, None]).sum(1)

        if renderer.shading == "lambert-vertex":
            expected = at_pixels(lambert_colors(albedo, normals, variant.light)) * 255
        else:
            n = at_pixels(normals)
            n /= np.linalg.norm(n, axis=1, keepdims=True)
            expected = lambert_colors(at_pixels(albedo), n, variant.light) * 255
        err = np.abs(frag.image[rows, cols].astype(float) - expected)
        assert np.percentile(err, 99) < 1.5 and np.median(err) < 0.6, \
            f"{renderer.name}: colour differs from the Lambert look (99th pct {np.percentile(err, 99):.1f} levels)"


def test_light_direction_and_strength_change_the_picture_sensibly(renderer, demo_model):
    scene = make_scene(demo_model, SIZE)
    vertices = posed_vertices(demo_model, frontal_variant(), scene.centre)
    colors = demo_model.colors()

    def brightness(light):
        frag = renderer.render(vertices, scene.triangles, scene.camera, colors=colors, light=light)
        grey = frag.image.astype(float).mean(2)
        half = SIZE // 2  # +x, the subject's left, is on the image's right
        return grey[:, half:][frag.mask[:, half:]].mean(), grey[:, :half][frag.mask[:, :half]].mean()

    # light travelling toward -x comes from the subject's left and lights that side
    from_left = brightness(Light(np.array([-1.0, 0.0, -1.0]), 3.0, 0.3))
    from_right = brightness(Light(np.array([1.0, 0.0, -1.0]), 3.0, 0.3))
    assert from_left[0] > from_left[1] + 10 and from_right[1] > from_right[0] + 10
    dim = brightness(Light(np.array([0.0, 0.0, -1.0]), 1.0, 0.1))
    bright = brightness(Light(np.array([0.0, 0.0, -1.0]), 3.0, 0.4))
    assert 30 < np.mean(dim) < np.mean(bright) - 20


def test_colour_work_is_skipped_when_no_colours_are_asked(renderer, demo_model):
    scene = make_scene(demo_model, SIZE)
    frag = renderer.render(demo_model.vertices, scene.triangles, scene.camera)
    shaded = renderer.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    assert frag.image is None and frag.mask.any()
    np.testing.assert_array_equal(frag.triangle_id, shaded.triangle_id)
    np.testing.assert_array_equal(frag.depth, shaded.depth)


def test_moved_vertices_and_new_colours_show_up(renderer, ict_model):
    """Buffers are rewritten on every call: the second render equals a fresh renderer's, not the first."""
    scene = make_scene(ict_model, SIZE)

    def inputs(index):
        variant = sample_variant(ict_model, SamplingSettings(), seed=2, index=index)
        return posed_vertices(ict_model, variant, scene.centre), ict_model.colors(variant.albedo), variant.light

    (v1, c1, l1), (v2, c2, l2) = inputs(1), inputs(4)
    first = renderer.render(v1, scene.triangles, scene.camera, colors=c1, light=l1)
    second = renderer.render(v2, scene.triangles, scene.camera, colors=c2, light=l2)
    fresh = make_renderer(renderer.name, SIZE)
    try:
        expected = fresh.render(v2, scene.triangles, scene.camera, colors=c2, light=l2)
    finally:
        fresh.close()
    assert (first.triangle_id != second.triangle_id).mean() > 0.1
    for got, want in zip(second, expected):
        np.testing.assert_array_equal(got, want)
    # only the colours change: the image follows, the geometry stays
    pale = renderer.render(v2, scene.triangles, scene.camera, colors=np.full_like(c2, 0.9), light=l2)
    np.testing.assert_array_equal(pale.triangle_id, second.triangle_id)
    assert np.abs(pale.image.astype(int) - second.image.astype(int))[second.mask].mean() > 5


def test_switching_triangle_arrays(renderer, ict_model):
    """Ids always index the array of this call, whichever arrays were drawn before, even one changed in place."""
    scene = make_scene(ict_model, SIZE)
    vertices, full = ict_model.vertices, scene.triangles
    rng = np.random.default_rng(0)
    order = rng.permutation(len(full))
    shuffled = full[order]  # the same surface, triangles in another order
    half = full[vertices[full, 0].mean(1) > scene.centre[0]].copy()  # the subject's left side
    a = renderer.render(vertices, full, scene.camera)
    b = renderer.render(vertices, shuffled, scene.camera)
    c = renderer.render(vertices, half, scene.camera)
    d = renderer.render(vertices, full.copy(), scene.camera)  # equal contents, another object
    covered = a.mask & b.mask
    assert (order[b.triangle_id[covered]] == a.triangle_id[covered]).mean() > 0.999
    assert c.mask.sum() < a.mask.sum() and c.triangle_id.max() < len(half)
    np.testing.assert_array_equal(d.triangle_id, a.triangle_id)
    half[:] = half[::-1]  # changed in place: must not be mistaken for the array drawn before
    e = renderer.render(vertices, half, scene.camera)
    np.testing.assert_array_equal(e.mask, c.mask)
    assert (len(half) - 1 - e.triangle_id[e.mask] == c.triangle_id[e.mask]).mean() > 0.999


def test_a_new_vertex_count_with_the_same_triangles(renderer, demo_model):
    """Vertex buffers (and what the backend derived per vertex) follow the vertex count of each call."""
    scene = make_scene(demo_model, SIZE)
    vertices, colors = demo_model.vertices, demo_model.colors()
    before = renderer.render(vertices, scene.triangles, scene.camera, colors=colors)
    extra = 3000  # unused vertices: more than a row of any table a backend keeps
    more = renderer.render(np.vstack([vertices, np.full((extra, 3), 9.0)]), scene.triangles, scene.camera,
                           colors=np.vstack([colors, np.zeros((extra, 3))]))
    fewer = renderer.render(vertices, scene.triangles, scene.camera, colors=colors)
    for frag in (more, fewer):
        for got, want in zip(frag, before):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("other", BACKENDS)
def test_two_renderers_at_once_and_closing_one(renderer, other, demo_model):
    scene = make_scene(demo_model, SIZE)
    before = renderer.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    second = make_renderer(other, SIZE)
    theirs = second.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    ours = renderer.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    again = second.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    second.close()
    second.close()  # idempotent
    after = renderer.render(demo_model.vertices, scene.triangles, scene.camera, colors=demo_model.colors())
    for frag in (ours, after):
        for got, want in zip(frag, before):
            np.testing.assert_array_equal(got, want)
    for got, want in zip(again, theirs):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(FacepartError, match="closed"):
        second.render(demo_model.vertices, scene.triangles, scene.camera)


def test_bad_input_is_one_clear_error(renderer, demo_model):
    scene = make_scene(demo_model, 128)
    with pytest.raises(FacepartError, match="camera is 128x128"):
        renderer.render(demo_model.vertices, scene.triangles, scene.camera)
    scene = make_scene(demo_model, SIZE)
    with pytest.raises(FacepartError, match="only 10 vertices"):
        renderer.render(demo_model.vertices[:10], scene.triangles, scene.camera)
    with pytest.raises(FacepartError, match="colors must be"):
        renderer.render(demo_model.vertices, scene.triangles, scene.camera, colors=np.ones((3, 3)))


def test_backends_agree_with_each_other(ict_model):
    """Same ids (up to a few ties on shared edges), same depth, same picture on every backend."""
    scene = make_scene(ict_model, SIZE)
    variant = sample_variant(ict_model, SamplingSettings(), seed=5, index=3)
    frags = {}
    for name in BACKENDS:
        r = make_renderer(name, SIZE)
        try:
            frags[name] = render_view(ict_model, variant, scene, r).fragments
        finally:
            r.close()
    ref = frags[BACKENDS[0]]
    for name, frag in frags.items():
        assert (frag.triangle_id != ref.triangle_id).sum() <= 20, name
        both = frag.mask & ref.mask
        assert np.abs(frag.depth - ref.depth)[both].max() < 2e-4, name
        diff = np.abs(frag.image.astype(int) - ref.image.astype(int))[both]
        assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 5, name  # per pixel or per vertex


def test_a_missing_moderngl_is_one_line(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "moderngl", None)  # import moderngl now raises ImportError
    with pytest.raises(MissingDependency, match="pip install moderngl==") as err:
        make_renderer("moderngl", 64)
    assert "\n" not in str(err.value)


def test_unknown_backend_names_the_choices():
    with pytest.raises(FacepartError, match="available: .*moderngl"):
        make_renderer("nope", 64)


def _open_in_child(name):
    try:
        make_renderer(name, 64).close()
    except FacepartError as exc:
        return str(exc)
    return "opened"


def test_a_forked_child_gets_an_error_not_a_hang(renderer):
    """After this process opened OpenGL (the fixture), a forked child cannot open a context: it says so."""
    import multiprocessing

    pool = multiprocessing.get_context("fork").Pool(1)
    try:
        message = pool.apply_async(_open_in_child, (renderer.name,)).get(timeout=60)
    finally:
        pool.terminate()
    assert "forked" in message and "spawn" in message
