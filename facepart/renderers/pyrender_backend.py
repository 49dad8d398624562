"""The pyrender backend: OSMesa or Mesa EGL on a CPU, EGL on a GPU.

Two passes per render: an unlit id pass (each triangle drawn in a flat colour
that encodes its index, on an unwelded copy of the mesh) that gives the exact
triangle id and depth of every pixel, and, when asked, a lit colour pass.

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

from ..interrupts import deferred_interrupt
from ..errors import FacepartError
from ..geometry import vertex_normals
from .camera import Camera
from .fragments import Fragments
from .light import Light

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


class PyrenderRenderer:
    """Renders a triangle mesh with per-vertex colours into :class:`Fragments`.

    Args:
        width, height: image size in pixels.
        platform: "egl" or "osmesa"; default: $PYOPENGL_PLATFORM, else EGL, else OSMesa.
    """

    name = "pyrender"
    max_triangles = 2**24 - 2

    def __init__(self, width: int, height: int, platform: str | None = None):
        self.platform = choose_platform(platform)
        self.width, self.height = int(width), int(height)
        with deferred_interrupt():  # pyrender's imports (trimesh) swallow Ctrl-C; EGL start-up must finish
            self._pr = _import_pyrender(self.platform)
            try:
                self._offscreen = self._pr.OffscreenRenderer(self.width, self.height)
            except Exception as exc:
                raise FacepartError(f"could not open an offscreen OpenGL context on '{self.platform}' ({exc}); "
                                    f"install it with: {_APT_HINT}") from None
        self._material = self._pr.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.9)
        self._flat_material = self._pr.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=1.0)
        self._id_colors: np.ndarray | None = None
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
        if self.platform == "egl" and len(_OPEN) and platform is not None:
            # pyrender's delete() ends with eglTerminate on the process-wide EGL
            # display, which would kill every other open renderer: destroy only
            # this context, and leave the display to the last renderer.
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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _scene(self, camera: Camera, ambient: float):
        pr = self._pr
        scene = pr.Scene(bg_color=[0.0, 0.0, 0.0, 0.0], ambient_light=[ambient] * 3)
        cam = pr.IntrinsicsCamera(camera.fx, camera.fy, camera.cx, camera.cy, znear=camera.znear, zfar=camera.zfar)
        scene.add(cam, pose=camera.opengl_pose())
        return scene

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
        if (camera.width, camera.height) != (self.width, self.height):
            raise FacepartError(f"camera is {camera.width}x{camera.height} but the renderer is {self.width}x{self.height}")
        if len(triangles) > self.max_triangles:
            raise FacepartError(f"too many triangles for 24-bit ids: {len(triangles)}")
        pr = self._pr
        vertices = np.asarray(vertices, np.float32)
        triangles = np.asarray(triangles, np.int64)

        # id pass: unwelded mesh, one flat colour per triangle
        if self._id_colors is None or len(self._id_colors) != 3 * len(triangles):
            self._id_colors = np.repeat(encode_ids(len(triangles)), 3, axis=0)
        prim = pr.Primitive(positions=vertices[triangles].reshape(-1, 3), color_0=self._id_colors,
                            material=self._flat_material, mode=pr.constants.GLTF.TRIANGLES)
        scene = self._scene(camera, 0.0)
        scene.add(pr.Mesh([prim]))
        id_rgb, depth = self._offscreen.render(scene, flags=pr.RenderFlags.FLAT | pr.RenderFlags.SKIP_CULL_FACES)
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
            light = light or Light(np.array([0.0, 0.0, -1.0]))
            prim = pr.Primitive(positions=vertices, normals=vertex_normals(vertices, triangles),
                                color_0=np.asarray(colors, np.float32), indices=triangles.astype(np.uint32),
                                material=self._material, mode=pr.constants.GLTF.TRIANGLES)
            scene = self._scene(camera, light.ambient)
            scene.add(pr.Mesh([prim]))
            scene.add(pr.DirectionalLight(color=np.ones(3), intensity=light.intensity),
                      pose=_light_pose(light.direction))
            image, _ = self._offscreen.render(scene)
            image = np.ascontiguousarray(image[..., :3])
            image[~mask] = 0
        return Fragments(image, depth.astype(np.float32), triangle_id, mask)


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
