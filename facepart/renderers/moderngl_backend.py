"""The moderngl backend: colour, depth and exact triangle ids from one draw, the mesh kept on the device.

A headless EGL context (Mesa's llvmpipe on a CPU, the vendor's EGL on a GPU)
draws into a single-sample framebuffer with several render targets:

- attachment 0, ``R32I``: ``gl_PrimitiveID``, the index of the triangle in the draw
  (= in the caller's triangle array), -1 on background;
- attachment 1, ``R32F``: camera-space z of the surface, 0 on background;
- attachment 2, ``RGBA8``: the lit colour (:mod:`facepart.renderers.shading`), drawn
  only when colours are asked for; without them a second framebuffer without
  this attachment and a program without lighting skip the colour work.

The index buffer of a triangle array is uploaded once and recognised by
content on later calls (:class:`~facepart.renderers.shading.TriangleSlots`);
a call writes only the vertex positions (and normals and colours) into
buffers that already exist, draws, and reads each attachment once straight
into the arrays it returns. The projection is the :class:`Camera`'s own
(OpenCV pinhole, pixel centres at +0.5), with image row 0 drawn at window
row 0, so the read-back needs no flip.
"""

from __future__ import annotations

import ctypes.util
import weakref

import numpy as np

from ..errors import FacepartError, MissingDependency, require
from .camera import Camera
from .fragments import Fragments
from .light import Light
from .shading import DIFFUSE, DEFAULT_LIGHT, GAMMA, MIN_NL, TriangleSlots, VertexNormals, toward_light

_INSTALL = "pip install moderngl==5.13.0 glcontext==3.1.0"
_APT_HINT = "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libgl1"
_OPEN: "weakref.WeakSet[ModernglRenderer]" = weakref.WeakSet()

_MESH_VS = """
#version 330 core
uniform mat4 world_to_clip;
uniform vec4 world_to_z;
in vec3 position;
out float camera_z;
#ifdef SHADE
uniform vec3 toward_light;
uniform float diffuse;
uniform float ambient;
in vec3 normal;
in vec3 albedo;
out vec3 shaded;
#endif
void main() {
    vec4 p = vec4(position, 1.0);
    gl_Position = world_to_clip * p;
    camera_z = dot(world_to_z, p);
#ifdef SHADE
    float nl = clamp(dot(normal, toward_light), MIN_NL, 1.0);
    vec3 c = clamp(albedo * (ambient + diffuse * nl), 0.0, 1.0);
    shaded = pow(c, vec3(1.0 / GAMMA));
#endif
}
"""

_MESH_FS = """
#version 330 core
in float camera_z;
layout(location = 0) out int triangle_id;
layout(location = 1) out float depth;
#ifdef SHADE
in vec3 shaded;
layout(location = 2) out vec4 color;
#endif
void main() {
    triangle_id = gl_PrimitiveID;
    depth = camera_z;
#ifdef SHADE
    color = vec4(shaded, 1.0);
#endif
}
"""

# One triangle over the whole viewport writes the background values (-1, 0, black):
# glClear may not clear integer attachments (its result is undefined there).
_BACKGROUND_VS = """
#version 330 core
void main() {
    vec2 corner = vec2(float((gl_VertexID & 1) * 4 - 1), float((gl_VertexID & 2) * 2 - 1));
    gl_Position = vec4(corner, 0.0, 1.0);
}
"""

_BACKGROUND_FS = """
#version 330 core
layout(location = 0) out int triangle_id;
layout(location = 1) out float depth;
layout(location = 2) out vec4 color;
void main() {
    triangle_id = -1;
    depth = 0.0;
    color = vec4(0.0);
}
"""


def _defines(shade: bool) -> str:
    lines = [f"#define MIN_NL {MIN_NL!r}", f"#define GAMMA {GAMMA!r}"]
    if shade:
        lines.append("#define SHADE 1")
    return "\n".join(lines) + "\n"


def _with_defines(source: str, shade: bool) -> str:
    head, rest = source.lstrip().split("\n", 1)  # the #version line must stay first
    return f"{head}\n{_defines(shade)}{rest}"


def projection(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """(4, 4) world -> clip matrix and (4,) world -> camera-z row, float32.

    Clip x / w = 2 u / W - 1 and y / w = 2 v / H - 1 for the camera's pixel
    coordinates (u, v), so window pixel (c, r) has its centre at u = c + 0.5,
    v = r + 0.5, and image row r is window row r; depth maps znear..zfar to -1..1.
    """
    w, h = camera.width, camera.height
    n, f = camera.znear, camera.zfar
    intr = np.array([[2 * camera.fx / w, 0.0, 2 * camera.cx / w - 1.0, 0.0],
                     [0.0, 2 * camera.fy / h, 2 * camera.cy / h - 1.0, 0.0],
                     [0.0, 0.0, (f + n) / (f - n), -2 * f * n / (f - n)],
                     [0.0, 0.0, 1.0, 0.0]])
    extr = np.eye(4)
    extr[:3, :3] = camera.rotation
    extr[:3, 3] = camera.translation
    m = intr @ extr
    return m.astype(np.float32), extr[2].astype(np.float32)


class _Mesh:
    """What one triangle array keeps on the device: its index buffer and vertex arrays."""

    def __init__(self, ctx, triangles: np.ndarray, programs: dict, buffers: dict):
        self.n_triangles = len(triangles)
        self.max_index = int(triangles.max(initial=-1))
        self.index = (ctx.buffer(np.ascontiguousarray(triangles, np.uint32)) if len(triangles)
                      else ctx.buffer(reserve=12))
        self.ids = ctx.vertex_array(programs["ids"], [(buffers["position"], "3f", "position")],
                                    index_buffer=self.index, index_element_size=4)
        self.shaded = ctx.vertex_array(programs["shaded"], [(buffers["position"], "3f", "position"),
                                                            (buffers["normal"], "3f", "normal"),
                                                            (buffers["albedo"], "3f", "albedo")],
                                       index_buffer=self.index, index_element_size=4)
        self.normals: VertexNormals | None = None
        self._triangles = triangles

    def vertex_normals(self, n_vertices: int) -> VertexNormals:
        if self.normals is None or self.normals.n_vertices != n_vertices:
            self.normals = VertexNormals(self._triangles, n_vertices)
        return self.normals

    def release(self) -> None:
        for obj in (self.ids, self.shaded, self.index):
            obj.release()


class ModernglRenderer:
    """Renders a triangle mesh into :class:`Fragments` with one draw per call, on moderngl and EGL.

    Args:
        width, height: image size in pixels.
        device_index: the EGL device to render on (0: the first; on a machine
            with a GPU driver that is normally the GPU). ``self.device`` names it.
        max_meshes: how many triangle arrays stay uploaded at once.
        cull_back_faces: skip triangles seen from behind (about a third less work on a
            CPU; ids then show the nearest *front* face, which differs only where a
            surface is seen from inside, e.g. at silhouettes, through holes, or
            everywhere on a mesh with inward winding). Default off: the nearest surface.
    """

    name = "moderngl"

    def __init__(self, width: int, height: int, device_index: int = 0, max_meshes: int = 4,
                 cull_back_faces: bool = False):
        moderngl = require("moderngl", "the moderngl renderer", _INSTALL)
        require("glcontext", "the moderngl renderer", _INSTALL)
        self._mgl = moderngl
        self.width, self.height = int(width), int(height)
        self.cull_back_faces = bool(cull_back_faces)
        self._ctx = None
        if ctypes.util.find_library("EGL") is None:
            raise MissingDependency(f"the moderngl renderer needs libEGL; install it with: {_APT_HINT}")
        try:
            ctx = moderngl.create_standalone_context(require=330, backend="egl", device_index=int(device_index))
        except Exception as exc:  # no libEGL, no device, no GL 3.3 core context
            raise FacepartError(f"could not open a headless EGL OpenGL 3.3 context on device {device_index} "
                                f"({str(exc).strip() or type(exc).__name__}); install EGL with: {_APT_HINT}") from None
        self._ctx = ctx
        try:
            with ctx:
                self.device = f"{ctx.info['GL_RENDERER']} ({ctx.info['GL_VERSION']})"
                self._setup(ctx)
                self._check("setting up the renderer")
        except Exception:
            self.close()
            raise
        self._meshes = TriangleSlots(max_meshes)
        _OPEN.add(self)

    def _setup(self, ctx) -> None:
        size = (self.width, self.height)
        limit = ctx.info.get("GL_MAX_RENDERBUFFER_SIZE", 0)
        if limit and max(size) > limit:
            raise FacepartError(f"image size {self.width}x{self.height} exceeds this OpenGL's limit of {limit} pixels")
        self._ids_rb = ctx.renderbuffer(size, components=1, dtype="i4")
        self._depth_rb = ctx.renderbuffer(size, components=1, dtype="f4")
        self._color_rb = ctx.renderbuffer(size, components=4, dtype="f1")
        self._zbuffer = ctx.depth_renderbuffer(size)
        self._fbo_ids = ctx.framebuffer([self._ids_rb, self._depth_rb], self._zbuffer)
        self._fbo_shaded = ctx.framebuffer([self._ids_rb, self._depth_rb, self._color_rb], self._zbuffer)
        self._programs = {
            "ids": ctx.program(vertex_shader=_with_defines(_MESH_VS, False),
                               fragment_shader=_with_defines(_MESH_FS, False)),
            "shaded": ctx.program(vertex_shader=_with_defines(_MESH_VS, True),
                                  fragment_shader=_with_defines(_MESH_FS, True)),
        }
        background = ctx.program(vertex_shader=_BACKGROUND_VS, fragment_shader=_BACKGROUND_FS)
        self._background = ctx.vertex_array(background, [])
        ctx.front_face = "cw"  # image row r is window row r: the y flip turns outward (ccw) faces clockwise
        self._n_vertices = 0
        self._buffers = {k: ctx.buffer(reserve=12) for k in ("position", "normal", "albedo")}

    def _check(self, doing: str) -> None:
        error = self._ctx.error
        if error != "GL_NO_ERROR":
            raise FacepartError(f"OpenGL reported {error} while {doing} on {self.device}")

    def close(self) -> None:
        """Free this renderer's context (and everything on it); calling it twice is harmless."""
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        _OPEN.discard(self)
        self._meshes = TriangleSlots(0)
        try:
            ctx.release()  # destroys the EGL context and with it every buffer; other contexts are untouched
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _mesh(self, triangles: np.ndarray) -> _Mesh:
        mesh = self._meshes.find(triangles)
        if mesh is None:
            if len(triangles) and (triangles.min() < 0 or triangles.max() >= 2**31):
                raise FacepartError("triangle indices must lie in [0, 2^31)")
            mesh = _Mesh(self._ctx, triangles, self._programs, self._buffers)
            for old in self._meshes.add(triangles, mesh):
                old.release()
        return mesh

    def _write_vertices(self, name: str, values: np.ndarray) -> None:
        buffer = self._buffers[name]
        data = np.ascontiguousarray(values, np.float32)
        if buffer.size != data.nbytes:
            buffer.orphan(data.nbytes)
        buffer.write(data)

    def render(self, vertices: np.ndarray, triangles: np.ndarray, camera: Camera,
               colors: np.ndarray | None = None, light: Light | None = None) -> Fragments:
        """Render ``triangles`` (F, 3) of ``vertices`` (V, 3) as seen by ``camera``.

        ``triangle_id`` indexes ``triangles``; ``image`` is drawn only when
        ``colors`` (V, 3) in [0, 1] is given, lit by ``light`` (default: from the camera).
        """
        if self._ctx is None:
            raise FacepartError("this renderer was closed")
        if (camera.width, camera.height) != (self.width, self.height):
            raise FacepartError(f"camera is {camera.width}x{camera.height} but the renderer is {self.width}x{self.height}")
        vertices = np.asarray(vertices)
        triangles = np.asarray(triangles)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or triangles.ndim != 2 or triangles.shape[1] != 3:
            raise FacepartError(f"expected vertices (V, 3) and triangles (F, 3), got {vertices.shape} and {triangles.shape}")
        shade = colors is not None
        if shade and np.shape(colors) != vertices.shape:
            raise FacepartError(f"colors must be (V, 3) like the vertices {vertices.shape}, got {np.shape(colors)}")
        with self._ctx:
            mesh = self._mesh(triangles)
            if mesh.max_index >= len(vertices):
                raise FacepartError(f"triangles index vertex {mesh.max_index} but only {len(vertices)} vertices were given")
            to_clip, to_z = projection(camera)
            self._write_vertices("position", vertices)
            if shade:
                light = light or DEFAULT_LIGHT
                self._write_vertices("normal", mesh.vertex_normals(len(vertices))(vertices))
                self._write_vertices("albedo", colors)
                program, vao, fbo = self._programs["shaded"], mesh.shaded, self._fbo_shaded
                program["toward_light"].write(toward_light(light).tobytes())
                program["diffuse"].value = float(light.intensity * DIFFUSE)
                program["ambient"].value = float(light.ambient)
            else:
                program, vao, fbo = self._programs["ids"], mesh.ids, self._fbo_ids
            program["world_to_clip"].write(to_clip.T.tobytes())  # GLSL matrices are column-major
            program["world_to_z"].write(to_z.tobytes())

            fbo.use()
            fbo.clear(depth=1.0)
            ctx = self._ctx
            ctx.disable(self._mgl.DEPTH_TEST | self._mgl.CULL_FACE | self._mgl.BLEND)
            self._background.render(self._mgl.TRIANGLES, vertices=3)
            ctx.enable(self._mgl.DEPTH_TEST | (self._mgl.CULL_FACE if self.cull_back_faces else 0))
            if mesh.n_triangles:
                vao.render(self._mgl.TRIANGLES)

            h, w = self.height, self.width
            triangle_id = np.empty((h, w), np.int32)
            depth = np.empty((h, w), np.float32)
            fbo.read_into(triangle_id, components=1, attachment=0, dtype="i4")
            fbo.read_into(depth, components=1, attachment=1, dtype="f4")
            image = None
            if shade:
                image = np.empty((h, w, 3), np.uint8)
                fbo.read_into(image, components=3, attachment=2, dtype="f1")
            self._check("rendering")
        return Fragments(image, depth, triangle_id, triangle_id >= 0)
