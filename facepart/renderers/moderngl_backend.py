"""The moderngl backend: colour, depth and exact triangle ids from one draw, the mesh kept on the device.

A headless EGL context (Mesa's llvmpipe on a CPU, the vendor's EGL on a GPU)
draws into a single-sample framebuffer with several render targets:

- attachment 0, ``R32I``: ``gl_PrimitiveID``, the index of the triangle in the draw
  (= in the caller's triangle array), -1 on background;
- attachment 1, ``R32F``: camera-space z of the surface, 0 on background;
- ``RGBA32F`` *surface*: the pixel centre's perspective-correct barycentric coordinates in its
  triangle and the cosine between the triangle's outward normal and the ray to its centroid
  (a geometry shader gives each triangle its barycentric frame and that cosine), so the vote
  needs no per-pixel geometry on the host (``Fragments.bary``, ``Fragments.facing``);
- ``RGBA8``: the lit colour (:mod:`facepart.renderers.shading`, evaluated per pixel with
  interpolated normals), drawn only when colours are asked for; without them a second
  framebuffer without this attachment and a program without lighting skip the colour work.

Measured on ICT at 512² (llvmpipe, 2 cores; median of 40): the surface attachment makes the
id pass 14 -> 22 ms but the host's barycentrics 21 -> 8 ms; computing them per fragment from
``gl_PrimitiveID`` and the vertex positions instead of in a geometry shader was slower (28 ms).

The index buffer of a triangle array (and, for colour, a table of each
vertex's neighbours) is uploaded once and recognised by content on later
calls (:class:`~facepart.renderers.shading.TriangleSlots`); a call writes
only the vertex positions (and colours) into buffers that already exist,
draws (the vertex shader computes the normals for the lighting), and reads
each attachment once straight into the arrays it returns. The projection is the :class:`Camera`'s own
(OpenCV pinhole, pixel centres at +0.5), with image row 0 drawn at window
row 0, so the read-back needs no flip.
"""

from __future__ import annotations

import ctypes.util
import weakref

import numpy as np

from ..errors import FacepartError, MissingDependency, require
from ..interrupts import deferred_interrupt
from .context import ClosingRenderer, claim_opengl
from .camera import Camera
from .fragments import Fragments
from .light import Light
from .shading import DEFAULT_LIGHT, DIFFUSE, GAMMA, MIN_NL, TriangleSlots, toward_light

_INSTALL = "pip install moderngl==5.13.0 glcontext==3.1.0"
_APT_HINT = "apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libgl1"
_OPEN: "weakref.WeakSet[ModernglRenderer]" = weakref.WeakSet()

_MESH_VS = """
#version 330 core
uniform mat4 world_to_clip;
uniform vec4 world_to_z;
in vec3 position;
out float vertex_z;
out vec3 world_position;
#ifdef SHADE
uniform sampler2D positions;  // the vertex positions again, for the neighbours
uniform isampler2D rings;     // per corner of every triangle: the two other corners, grouped by vertex
in ivec2 ring;                // this vertex's first entry in rings and how many it has
in vec3 albedo;
out vec3 vertex_normal_;
out vec3 vertex_albedo;

vec3 vertex_at(int i) { return texelFetch(positions, ivec2(i % TEXTURE_WIDTH, i / TEXTURE_WIDTH), 0).xyz; }

vec3 vertex_normal() {  // area-weighted: the sum of the incident triangles' edge cross products
    vec3 n = vec3(0.0);
    for (int r = ring.x; r < ring.x + ring.y; ++r) {
        ivec2 jk = texelFetch(rings, ivec2(r % TEXTURE_WIDTH, r / TEXTURE_WIDTH), 0).xy;
        n += cross(vertex_at(jk.x) - position, vertex_at(jk.y) - position);
    }
    float len = length(n);
    return len > 0.0 ? n / len : vec3(0.0);
}
#endif
void main() {
    vec4 p = vec4(position, 1.0);
    gl_Position = world_to_clip * p;
    vertex_z = dot(world_to_z, p);
    world_position = position;
#ifdef SHADE
    vertex_normal_ = vertex_normal();
    vertex_albedo = albedo;
#endif
}
"""

# Per triangle: the barycentric frame of its corners (interpolated perspective-correctly, so the
# fragment gets the pixel centre's barycentric coordinates on the 3D triangle) and the cosine between
# its outward normal and the ray from the camera to its centroid (what a vote's view-angle weight is).
_MESH_GS = """
#version 330 core
layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;
uniform vec3 eye;
in float vertex_z[];
in vec3 world_position[];
out float camera_z;
out vec3 bary;
flat out float facing;
#ifdef SHADE
in vec3 vertex_normal_[];
in vec3 vertex_albedo[];
out vec3 normal;
out vec3 surface_albedo;
#endif
void main() {
    vec3 a = world_position[0], b = world_position[1], c = world_position[2];
    vec3 n = cross(b - a, c - a);
    vec3 ray = (a + b + c) / 3.0 - eye;
    float len = length(n) * length(ray);
    float cosine = len > 0.0 ? -dot(n, ray) / len : 0.0;
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;
        gl_PrimitiveID = gl_PrimitiveIDIn;
        camera_z = vertex_z[i];
        bary = vec3(i == 0 ? 1.0 : 0.0, i == 1 ? 1.0 : 0.0, i == 2 ? 1.0 : 0.0);
        facing = cosine;
#ifdef SHADE
        normal = vertex_normal_[i];
        surface_albedo = vertex_albedo[i];
#endif
        EmitVertex();
    }
    EndPrimitive();
}
"""

_MESH_FS = """
#version 330 core
in float camera_z;
in vec3 bary;
flat in float facing;
layout(location = 0) out int triangle_id;
layout(location = 1) out float depth;
layout(location = SURFACE_LOCATION) out vec4 surface;
#ifdef SHADE
uniform vec3 toward_light;
uniform float diffuse;
uniform float ambient;
in vec3 normal;
in vec3 surface_albedo;
layout(location = 2) out vec4 color;
#endif
void main() {
    triangle_id = gl_PrimitiveID;
    depth = camera_z;
    surface = vec4(bary, facing);
#ifdef SHADE
    float len = length(normal);
    float nl = clamp(len > 0.0 ? dot(normal, toward_light) / len : 0.0, MIN_NL, 1.0);
    vec3 c = clamp(surface_albedo * (ambient + diffuse * nl), 0.0, 1.0);
    color = vec4(pow(c, vec3(1.0 / GAMMA)), 1.0);
#endif
}
"""

# One triangle over the whole viewport, drawn with the depth test passing always, clears
# every attachment: ids -1, depth 0, black, and the depth buffer to the far plane
# (glClear leaves integer attachments undefined, so it is not used).
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
layout(location = 3) out vec4 surface;
void main() {
    triangle_id = -1;
    depth = 0.0;
    color = vec4(0.0);
    surface = vec4(0.0);
    gl_FragDepth = 1.0;
}
"""


TEXTURE_WIDTH = 1024  # per-vertex and per-corner tables are stored as textures this wide


def _defines(shade: bool) -> str:
    lines = [f"#define MIN_NL {MIN_NL!r}", f"#define GAMMA {GAMMA!r}", f"#define TEXTURE_WIDTH {TEXTURE_WIDTH}"]
    lines.append(f"#define SURFACE_LOCATION {3 if shade else 2}")
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


def vertex_rings(triangles: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour table the shader sums normals over.

    Returns ``rings`` (3F, 2) int32, for each corner of each triangle the two
    other corners in winding order, grouped by vertex, and ``spans`` (V, 2)
    int32, each vertex's first row in ``rings`` and its number of rows.
    """
    tri = np.asarray(triangles, np.int64)
    owner = tri.ravel()
    others = np.stack([np.roll(tri, -1, axis=1).ravel(), np.roll(tri, -2, axis=1).ravel()], 1)
    order = np.argsort(owner, kind="stable")
    counts = np.bincount(owner, minlength=n_vertices)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return others[order].astype(np.int32), np.stack([starts, counts], 1).astype(np.int32)


def _table_texture(ctx, mgl, rows: np.ndarray, dtype: str):
    """A TEXTURE_WIDTH-wide texture holding ``rows`` (N, C) in row-major order (texelFetch only)."""
    n, comps = rows.shape
    height = max(1, -(-n // TEXTURE_WIDTH))
    limit = ctx.info.get("GL_MAX_TEXTURE_SIZE", 0)
    if limit and height > limit:
        raise FacepartError(f"mesh too large for this OpenGL: {n} table rows need a {TEXTURE_WIDTH}x{height} "
                            f"texture, the limit is {limit}")
    padded = np.zeros((TEXTURE_WIDTH * height, comps), rows.dtype)
    padded[:n] = rows
    tex = ctx.texture((TEXTURE_WIDTH, height), comps, padded, dtype=dtype)
    tex.filter = (mgl.NEAREST, mgl.NEAREST)  # integer textures are incomplete with linear filtering
    return tex, padded


class _Mesh:
    """What one triangle array keeps on the device: its index buffer, vertex arrays and neighbour table."""

    def __init__(self, ctx, mgl, triangles: np.ndarray, programs: dict, buffers: dict):
        self._ctx, self._mgl, self._programs, self._buffers = ctx, mgl, programs, buffers
        self.triangles = np.array(triangles, np.int64)
        self.n_triangles = len(triangles)
        self.max_index = int(self.triangles.max(initial=-1))
        self.index = (ctx.buffer(np.ascontiguousarray(triangles, np.uint32)) if len(triangles)
                      else ctx.buffer(reserve=12))
        self.ids = ctx.vertex_array(programs["ids"], [(buffers["position"], "3f", "position")],
                                    index_buffer=self.index, index_element_size=4)
        self._shaded = None  # made on the first call with colours, for a vertex count
        self._shaded_vertices = -1

    def shaded(self, n_vertices: int):
        """The vertex array of the colour program (and its neighbour table) for ``n_vertices`` vertices."""
        if self._shaded is None or self._shaded_vertices != n_vertices:
            self._release_shaded()
            rings, spans = vertex_rings(self.triangles, n_vertices)
            if not len(rings):
                rings = np.zeros((1, 2), np.int32)
            self._rings_tex, _ = _table_texture(self._ctx, self._mgl, rings, "i4")
            self._spans = self._ctx.buffer(spans)
            b = self._buffers
            self._shaded = self._ctx.vertex_array(
                self._programs["shaded"], [(b["position"], "3f", "position"), (self._spans, "2i", "ring"),
                                           (b["albedo"], "3f", "albedo")],
                index_buffer=self.index, index_element_size=4)
            self._shaded_vertices = n_vertices
        self._rings_tex.use(location=1)
        return self._shaded

    def _release_shaded(self) -> None:
        if self._shaded is not None:
            for obj in (self._shaded, self._spans, self._rings_tex):
                obj.release()
            self._shaded = None

    def release(self) -> None:
        self._release_shaded()
        for obj in (self.ids, self.index):
            obj.release()


class ModernglRenderer(ClosingRenderer):
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
    shading = "lambert-pixel"

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
        claim_opengl(self.name)
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
        self._surface_rb = ctx.renderbuffer(size, components=4, dtype="f4")
        self._fbo_ids = ctx.framebuffer([self._ids_rb, self._depth_rb, self._surface_rb], self._zbuffer)
        self._fbo_shaded = ctx.framebuffer([self._ids_rb, self._depth_rb, self._color_rb, self._surface_rb],
                                           self._zbuffer)
        self._programs = {
            name: ctx.program(vertex_shader=_with_defines(_MESH_VS, shade),
                              geometry_shader=_with_defines(_MESH_GS, shade),
                              fragment_shader=_with_defines(_MESH_FS, shade))
            for name, shade in (("ids", False), ("shaded", True))
        }
        background = ctx.program(vertex_shader=_BACKGROUND_VS, fragment_shader=_BACKGROUND_FS)
        self._background = ctx.vertex_array(background, [])
        ctx.front_face = "cw"  # image row r is window row r: the y flip turns outward (ccw) faces clockwise
        self._buffers = {k: ctx.buffer(reserve=12) for k in ("position", "albedo")}
        self._positions_tex = None  # (texture, padded host array), sized for the vertex count
        shaded = self._programs["shaded"]
        shaded["positions"].value = 0
        shaded["rings"].value = 1

    def _check(self, doing: str) -> None:
        error = self._ctx.error
        if error != "GL_NO_ERROR":
            raise FacepartError(f"OpenGL reported {error} while {doing} on {self.device}")

    def close(self) -> None:
        """Free this renderer's context (and everything on it); calling it twice is harmless."""
        with deferred_interrupt():  # a half-released GL context must not meet Ctrl-C
            self._close()

    def _close(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is None:
            return
        _OPEN.discard(self)
        self._meshes = TriangleSlots(0)
        try:
            ctx.release()  # destroys the EGL context and with it every buffer; other contexts are untouched
        except Exception:
            pass

    def _mesh(self, triangles: np.ndarray) -> _Mesh:
        mesh = self._meshes.find(triangles)
        if mesh is None:
            if len(triangles) and (triangles.min() < 0 or triangles.max() >= 2**31):
                raise FacepartError("triangle indices must lie in [0, 2^31)")
            mesh = _Mesh(self._ctx, self._mgl, triangles, self._programs, self._buffers)
            for old in self._meshes.add(triangles, mesh):
                old.release()
        return mesh

    def _write_positions_texture(self, vertices: np.ndarray) -> None:
        tex = self._positions_tex
        if tex is None or len(tex[1]) < len(vertices) or len(tex[1]) >= len(vertices) + TEXTURE_WIDTH:
            if tex is not None:
                tex[0].release()
            tex = self._positions_tex = _table_texture(self._ctx, self._mgl, np.asarray(vertices, np.float32), "f4")
        else:
            tex[1][: len(vertices)] = vertices
            tex[0].write(tex[1])
        tex[0].use(location=0)

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
        Ctrl-C is held until the render is done (GL state stays whole).
        """
        with deferred_interrupt():
            return self._render(vertices, triangles, camera, colors, light)

    def _render(self, vertices, triangles, camera, colors, light) -> Fragments:
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
                self._write_positions_texture(vertices)
                self._write_vertices("albedo", colors)
                program, vao, fbo = self._programs["shaded"], mesh.shaded(len(vertices)), self._fbo_shaded
                program["toward_light"].write(toward_light(light).tobytes())
                program["diffuse"].value = float(light.intensity * DIFFUSE)
                program["ambient"].value = float(light.ambient)
            else:
                program, vao, fbo = self._programs["ids"], mesh.ids, self._fbo_ids
            program["world_to_clip"].write(to_clip.T.tobytes())  # GLSL matrices are column-major
            program["world_to_z"].write(to_z.tobytes())
            program["eye"].write(camera.centre().astype(np.float32).tobytes())

            fbo.use()
            ctx, mgl = self._ctx, self._mgl
            ctx.disable(mgl.CULL_FACE | mgl.BLEND)
            ctx.enable(mgl.DEPTH_TEST)
            ctx.depth_func = "1"  # the background triangle overwrites everything, depth included
            self._background.render(mgl.TRIANGLES, vertices=3)
            ctx.depth_func = "<"
            if self.cull_back_faces:
                ctx.enable(mgl.CULL_FACE)
            if mesh.n_triangles:
                vao.render(self._mgl.TRIANGLES)

            h, w = self.height, self.width
            triangle_id = np.empty((h, w), np.int32)
            depth = np.empty((h, w), np.float32)
            fbo.read_into(triangle_id, components=1, attachment=0, dtype="i4")
            fbo.read_into(depth, components=1, attachment=1, dtype="f4")
            surface = np.empty((h, w, 4), np.float32)
            fbo.read_into(surface, components=4, attachment=3 if shade else 2, dtype="f4")
            image = None
            if shade:  # read as stored (RGBA): a three-component read converts pixel by pixel, 25x slower
                rgba = np.empty((h, w, 4), np.uint8)
                fbo.read_into(rgba, components=4, attachment=2, dtype="f1")
                image = np.ascontiguousarray(rgba[..., :3])
            self._check("rendering")
        return Fragments(image, depth, triangle_id, triangle_id >= 0, bary=surface[..., :3], facing=surface[..., 3])
