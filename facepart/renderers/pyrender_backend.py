"""The pyrender backend: OSMesa or Mesa EGL on a CPU, EGL on a GPU.

Two passes per render: an unlit id pass (each triangle drawn in a flat colour
that encodes its index, on an unwelded copy of the mesh) that gives the exact
triangle id and depth of every pixel, and, when asked, a colour pass. The
colour pass draws per-vertex colours lit on the CPU (the Lambert look every
backend shares, :mod:`facepart.renderers.shading`) with pyrender's unlit
shader, or, with ``shading="pbr"``, pyrender's PBR shader (two to three
times the time of that pass on a CPU). The scene and its vertex buffers live as long as the
renderer; a call rewrites the buffers in place.

pyrender always draws offscreen into a 4x multisampled framebuffer; on EGL
that averages colours along triangle edges and garbles the ids. This module
asks pyrender's renderer for single-sample storage instead (see
``_single_sample_storage``); OSMesa ignores multisampling anyway.
"""

from __future__ import annotations

import ctypes.util
import os
import weakref

import numpy as np

from ..errors import FacepartError
from ..interrupts import deferred_interrupt
from .context import ClosingRenderer, claim_opengl
from .camera import Camera
from .fragments import Fragments
from .light import Light
from .shading import DEFAULT_LIGHT, TriangleSlots, VertexNormals, lambert_colors

PLATFORMS = ("egl", "osmesa")
_OPEN: "weakref.WeakSet[PyrenderRenderer]" = weakref.WeakSet()
_APT_HINT = "apt-get install -y libosmesa6 libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1"


def choose_platform(requested: str | None = None) -> str:
    """Pick the OpenGL platform: ``requested``, else $PYOPENGL_PLATFORM, else EGL, else OSMesa.

    PyOpenGL binds its platform at first import, so this must run before
    anything imports OpenGL; a later, different request is an error.
    """
    current = os.environ.get("PYOPENGL_PLATFORM")
    platform = (requested or current or "").lower() or None
    if platform is None:
        if ctypes.util.find_library("EGL"):
            platform = "egl"
        elif ctypes.util.find_library("OSMesa"):
            platform = "osmesa"
        else:
            raise FacepartError(f"no headless OpenGL found (EGL or OSMesa); install it with: {_APT_HINT}")
    if platform not in PLATFORMS:
        raise FacepartError(f"unknown OpenGL platform '{platform}'; use one of {', '.join(PLATFORMS)}")
    if current and current.lower() != platform and "OpenGL" in __import__("sys").modules:
        raise FacepartError(f"OpenGL was already loaded for '{current}'; cannot switch to '{platform}' in one process")
    os.environ["PYOPENGL_PLATFORM"] = platform
    return platform


def _import_pyrender(platform: str):
    try:
        import pyrender
        import pyrender.renderer as pr_renderer
    except Exception as exc:  # ImportError, or OpenGL failing to find its platform library
        raise FacepartError(f"pyrender could not load OpenGL platform '{platform}' ({exc}); "
                            f"install it with: {_APT_HINT}") from None
    if not getattr(pr_renderer, "_facepart_single_sample", False):
        original = pr_renderer.glRenderbufferStorageMultisample

        def _single_sample_storage(target, samples, internalformat, width, height):
            return original(target, 0, internalformat, width, height)

        pr_renderer.glRenderbufferStorageMultisample = _single_sample_storage
        pr_renderer._facepart_single_sample = True
    return pyrender


def encode_ids(n: int) -> np.ndarray:
    """(n,) triangle ids -> (n, 3) float32 colours whose 8-bit values are id + 1 in base 256."""
    code = np.arange(1, n + 1, dtype=np.int64)
    rgb = np.stack([code & 255, (code >> 8) & 255, (code >> 16) & 255], axis=1)
    return (rgb / 255.0).astype(np.float32)


def decode_ids(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) int32 triangle ids, -1 where nothing was drawn."""
    rgb = rgb.astype(np.int32)
    return (rgb[..., 0] | (rgb[..., 1] << 8) | (rgb[..., 2] << 16)) - 1


SHADINGS = ("lambert-vertex", "pbr")


class _Meshes:
    """The two meshes one triangle array keeps in the renderer's scene, updated in place per call.

    ``ids``: an unwelded copy (three corners per triangle) whose flat colours
    encode the triangle index. ``colour``: the indexed mesh of the colour pass,
    made on the first call with colours. Each holds one interleaved float32
    vertex array ([position, colour] or, for "pbr", [position, normal, colour])
    that every call rewrites and copies into the existing OpenGL buffer.
    """

    def __init__(self, triangles: np.ndarray, n_vertices: int):
        self.triangles = np.asarray(triangles, np.int64)
        self.max_index = int(self.triangles.max(initial=-1))
        self.normals = VertexNormals(self.triangles, n_vertices)
        self.corners = self.triangles.ravel()
        self.ids_data = np.empty((len(self.corners), 7), np.float32)
        self.ids_data[:, 3:6] = np.repeat(encode_ids(len(self.triangles)), 3, axis=0)
        self.ids_data[:, 6] = 1.0
        self.ids_node = None
        self.colour_node = None
        self.colour_data: np.ndarray | None = None

    def nodes(self):
        return [n for n in (self.ids_node, self.colour_node) if n is not None]


class PyrenderRenderer(ClosingRenderer):
    """Renders a triangle mesh with per-vertex colours into :class:`Fragments`.

    One Scene lives as long as the renderer: the meshes of each triangle array
    (the last few are kept) are uploaded once, and a call rewrites their vertex
    buffers and the camera (and light) in place.

    Args:
        width, height: image size in pixels.
        platform: "egl" or "osmesa"; default: $PYOPENGL_PLATFORM, else EGL, else OSMesa.
        shading: "lambert-vertex" (default): the colour pass draws per-vertex colours lit on the CPU
            by :func:`~facepart.renderers.shading.lambert_colors` with pyrender's unlit shader (the
            shared look, interpolated per vertex); "pbr": pyrender's own metallic-roughness shader
            with a directional light, per pixel (the look before; about twice the time on a CPU).
        max_meshes: how many triangle arrays stay uploaded at once.
        cull_back_faces: skip triangles seen from behind (see the moderngl backend); default off.
    """

    name = "pyrender"
    max_triangles = 2**24 - 2

    def __init__(self, width: int, height: int, platform: str | None = None, shading: str = "lambert-vertex",
                 max_meshes: int = 4, cull_back_faces: bool = False):
        if shading not in SHADINGS:
            raise FacepartError(f"unknown shading '{shading}' for pyrender; use one of {', '.join(SHADINGS)}")
        self.shading = shading
        self.cull_back_faces = bool(cull_back_faces)
        claim_opengl(self.name)
        self.platform = choose_platform(platform)
        self.width, self.height = int(width), int(height)
        self._offscreen = None
        with deferred_interrupt():  # pyrender's imports (trimesh) swallow Ctrl-C; EGL start-up must finish
            self._pr = _import_pyrender(self.platform)
            try:
                self._offscreen = self._pr.OffscreenRenderer(self.width, self.height)
            except Exception as exc:
                raise FacepartError(f"could not open an offscreen OpenGL context on '{self.platform}' ({exc}); "
                                    f"install it with: {_APT_HINT}") from None
        pr = self._pr
        self.device = f"pyrender on {self.platform}"
        self._material = pr.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.9)
        self._flat_material = pr.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=1.0)
        self._scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[0.0] * 3)
        self._camera = pr.IntrinsicsCamera(1.0, 1.0, 0.0, 0.0)
        self._camera_node = self._scene.add(self._camera, pose=np.eye(4))
        self._light = pr.DirectionalLight(color=np.ones(3), intensity=0.0)
        self._light_node = self._scene.add(self._light, pose=np.eye(4))
        self._meshes = TriangleSlots(max_meshes)
        _OPEN.add(self)

    def close(self) -> None:
        """Free this renderer's OpenGL context; other open renderers keep working."""
        with deferred_interrupt():  # a half-torn-down GL context must not meet Ctrl-C
            self._close()

    def _close(self) -> None:
        offscreen, self._offscreen = self._offscreen, None
        if offscreen is None:
            return
        _OPEN.discard(self)
        platform = getattr(offscreen, "_platform", None)
        if self.platform == "egl" and platform is not None:
            # pyrender's delete() ends with eglTerminate on the process-wide EGL display,
            # which would kill every other context on it (other pyrender renderers, and
            # moderngl's, which opens the same device display): destroy only this context.
            from OpenGL.EGL import eglDestroyContext

            platform.make_current()
            offscreen._renderer.delete()
            eglDestroyContext(platform._egl_display, platform._egl_context)
            platform._egl_context = None
            platform._egl_display = None
            offscreen._renderer = None
            offscreen._platform = None
            return
        offscreen.delete()

    # -- scene upkeep ---------------------------------------------------------

    def _meshes_for(self, triangles: np.ndarray, n_vertices: int) -> _Meshes:
        meshes = self._meshes.find(triangles)
        if meshes is None:
            if len(triangles) and triangles.min() < 0:
                raise FacepartError("triangle indices must not be negative")
            meshes = _Meshes(triangles, n_vertices)
            for old in self._meshes.add(triangles, meshes):
                for node in old.nodes():  # pyrender frees a mesh's buffers when it leaves the scene
                    self._scene.remove_node(node)
        if meshes.max_index >= n_vertices:
            raise FacepartError(f"triangles index vertex {meshes.max_index} but only {n_vertices} vertices were given")
        if meshes.normals.n_vertices != n_vertices:
            meshes.normals = VertexNormals(meshes.triangles, n_vertices)
        return meshes

    def _upload(self, node, data: np.ndarray, make_primitive) -> object:
        """Put ``data`` (N, k) into ``node``'s vertex buffer, or make the node (uploaded at the next render)."""
        if node is not None:
            prim = node.mesh.primitives[0]
            if prim._vaid is not None and len(prim.positions) == len(data):
                from OpenGL.GL import GL_ARRAY_BUFFER, glBindBuffer, glBufferSubData

                glBindBuffer(GL_ARRAY_BUFFER, prim._buffers[0])
                glBufferSubData(GL_ARRAY_BUFFER, 0, data.nbytes, data)
                glBindBuffer(GL_ARRAY_BUFFER, 0)
                return node
            self._scene.remove_node(node)
        return self._scene.add(self._pr.Mesh([make_primitive()]))

    def _set_camera(self, camera: Camera) -> None:
        cam = self._camera
        cam.fx, cam.fy, cam.cx, cam.cy = camera.fx, camera.fy, camera.cx, camera.cy
        cam.znear, cam.zfar = camera.znear, camera.zfar
        self._scene.set_pose(self._camera_node, camera.opengl_pose())

    def _cull_flag(self):
        return self._pr.RenderFlags.NONE if self.cull_back_faces else self._pr.RenderFlags.SKIP_CULL_FACES

    def _show(self, *visible) -> None:
        for node in self._scene.mesh_nodes:
            node.mesh.is_visible = node in visible

    # -- rendering ------------------------------------------------------------

    def render(self, vertices: np.ndarray, triangles: np.ndarray, camera: Camera,
               colors: np.ndarray | None = None, light: Light | None = None) -> Fragments:
        """Render ``triangles`` (F, 3) of ``vertices`` (V, 3) as seen by ``camera``.

        ``triangle_id`` indexes ``triangles``. The colour pass runs only when
        ``colors`` (V, 3) in [0, 1] is given. Ctrl-C is held until the render is done: inside an
        OpenGL call through ctypes it would surface as a stray ``ctypes.ArgumentError``.
        """
        with deferred_interrupt():
            return self._render(vertices, triangles, camera, colors, light)

    def _render(self, vertices, triangles, camera, colors, light) -> Fragments:
        if self._offscreen is None:
            raise FacepartError("this renderer was closed")
        if (camera.width, camera.height) != (self.width, self.height):
            raise FacepartError(f"camera is {camera.width}x{camera.height} but the renderer is "
                                f"{self.width}x{self.height}")
        if len(triangles) > self.max_triangles:
            raise FacepartError(f"too many triangles for 24-bit ids: {len(triangles)}")
        pr = self._pr
        vertices = np.asarray(vertices, np.float32)
        triangles = np.asarray(triangles)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or triangles.ndim != 2 or triangles.shape[1] != 3:
            raise FacepartError(f"expected vertices (V, 3) and triangles (F, 3), got {vertices.shape} and {triangles.shape}")
        if colors is not None and np.shape(colors) != vertices.shape:
            raise FacepartError(f"colors must be (V, 3) like the vertices {vertices.shape}, got {np.shape(colors)}")
        self._offscreen._platform.make_current()  # buffer updates go to this renderer's context
        meshes = self._meshes_for(triangles, len(vertices))
        self._set_camera(camera)

        # id pass: unwelded mesh, one flat colour per triangle
        meshes.ids_data[:, :3] = vertices[meshes.corners]
        meshes.ids_node = self._upload(meshes.ids_node, meshes.ids_data, lambda: pr.Primitive(
            positions=meshes.ids_data[:, :3], color_0=meshes.ids_data[:, 3:], material=self._flat_material,
            mode=pr.constants.GLTF.TRIANGLES))
        self._show(meshes.ids_node)
        id_rgb, depth = self._offscreen.render(self._scene, flags=pr.RenderFlags.FLAT | self._cull_flag())
        triangle_id = decode_ids(id_rgb)
        bad = triangle_id >= len(triangles)
        if bad.any():
            # a sliver seen edge-on can rasterise to a stray colour on llvmpipe; many mean blending (MSAA)
            if bad.sum() > max(4, 1e-3 * bad.size):
                raise FacepartError("the id pass returned ids beyond the triangle count: the OpenGL driver "
                                    "is blending colours (multisampling); try PYOPENGL_PLATFORM=osmesa")
            triangle_id[bad] = -1
        mask = triangle_id >= 0

        image = None
        if colors is not None:
            light = light or DEFAULT_LIGHT
            image = self._colour_pass(meshes, vertices, colors, light)
            image[~mask] = 0
        return Fragments(image, depth.astype(np.float32), triangle_id, mask)

    def _colour_pass(self, meshes: _Meshes, vertices: np.ndarray, colors: np.ndarray, light: Light) -> np.ndarray:
        pr = self._pr
        normals = meshes.normals(vertices)
        pbr = self.shading == "pbr"
        width = 10 if pbr else 7
        if meshes.colour_data is None or meshes.colour_data.shape != (len(vertices), width):
            meshes.colour_data = np.empty((len(vertices), width), np.float32)
            meshes.colour_data[:, -1] = 1.0
        data = meshes.colour_data
        data[:, :3] = vertices
        if pbr:
            data[:, 3:6] = normals
            data[:, 6:9] = colors
        else:
            data[:, 3:6] = lambert_colors(colors, normals, light)
        material = self._material if pbr else self._flat_material
        index = np.ascontiguousarray(meshes.triangles, np.uint32)
        meshes.colour_node = self._upload(meshes.colour_node, data, lambda: pr.Primitive(
            positions=data[:, :3], normals=data[:, 3:6] if pbr else None, color_0=data[:, width - 4:],
            indices=index, material=material, mode=pr.constants.GLTF.TRIANGLES))
        self._show(meshes.colour_node)
        if pbr:
            self._scene.ambient_light = np.full(3, light.ambient)
            self._light.intensity = light.intensity
            self._scene.set_pose(self._light_node, _light_pose(light.direction))
            flags = pr.RenderFlags.NONE
        else:
            self._light.intensity = 0.0
            flags = pr.RenderFlags.FLAT | self._cull_flag()
        image, _ = self._offscreen.render(self._scene, flags=flags)
        return np.ascontiguousarray(image[..., :3])


def _light_pose(direction: np.ndarray) -> np.ndarray:
    """A pose whose -z axis points along ``direction`` (pyrender lights shine along -z)."""
    d = np.asarray(direction, float)
    d = d / np.linalg.norm(d)
    z = -d
    up = np.array([0.0, 1.0, 0.0]) if abs(z[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = np.cross(up, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2] = x, y, z
    return pose
