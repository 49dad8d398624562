"""What every backend shares to draw a lit colour image cheaply and alike.

The look is pyrender's PBR pass (white dielectric, roughness 0.9, one
directional light plus ambient, vertex colour multiplied in, gamma 1/2.2)
without its specular lobe, which at that roughness adds about 2% to the
diffuse term:

    colour = clip(albedo * (ambient + intensity * DIFFUSE * max(n . l, 0.001)), 0, 1) ** (1 / 2.2)

with ``l`` the direction toward the light. The moderngl backend evaluates it
per pixel from interpolated normals and albedo ("lambert-pixel": within about
one grey level of the PBR pass); the pyrender backend evaluates it per vertex
with :func:`lambert_colors` and draws the result unlit ("lambert-vertex":
Gouraud, a little softer in the dark at silhouettes, and cheap for pyrender,
which cannot run a custom shader).

Also here: :class:`TriangleSlots`, which recognises the same triangle array
between calls so a backend can keep what it derived from it (index buffers,
normal operators) on the device.
"""

from __future__ import annotations

import numpy as np

from .light import Light

# pyrender's diffuse term for a white dielectric: c_diff = 0.96 * white, (1 - F0) with F0 = 0.04, / pi
DIFFUSE = 0.96 * 0.96 / np.pi
GAMMA = 2.2
MIN_NL = 0.001  # pyrender clamps n . l to [0.001, 1]
DEFAULT_LIGHT = Light(np.array([0.0, 0.0, -1.0]))


def toward_light(light: Light) -> np.ndarray:
    """(3,) float32 unit vector from the surface toward the light (the light travels along ``-this``)."""
    d = -np.asarray(light.direction, np.float64)
    return (d / max(np.linalg.norm(d), 1e-12)).astype(np.float32)


def lambert_colors(colors: np.ndarray, normals: np.ndarray, light: Light) -> np.ndarray:
    """(V, 3) float32 display colours in [0, 1] of albedo ``colors`` (V, 3) with unit ``normals`` (V, 3)."""
    nl = np.clip(normals @ toward_light(light), MIN_NL, 1.0)
    shade = np.float32(light.ambient) + np.float32(light.intensity * DIFFUSE) * nl
    out = np.asarray(colors, np.float32) * shade[:, None]
    np.clip(out, 0.0, 1.0, out=out)
    return np.power(out, np.float32(1.0 / GAMMA), out=out)


class VertexNormals:
    """Area-weighted unit vertex normals for one triangle array, with its incidence matrix kept.

    Calling it costs a gather, a cross product and one sparse product (a few ms
    for ICT), about a third of :func:`facepart.geometry.vertex_normals`, which
    rebuilds the sums each time. Vertices on no triangle get a zero normal.

    Args:
        triangles: (F, 3) vertex indices.
        n_vertices: V, the number of rows of the vertex arrays it will be called with.
    """

    def __init__(self, triangles: np.ndarray, n_vertices: int):
        tri = np.asarray(triangles, np.int64)
        self.triangles = tri
        self.n_vertices = int(n_vertices)
        faces = np.tile(np.arange(len(tri)), 3)
        from scipy import sparse  # lazily: only pyrender's host-side normals need it

        self._incidence = sparse.csr_matrix((np.ones(3 * len(tri), np.float32), (tri.T.ravel(), faces)),
                                            shape=(self.n_vertices, len(tri)))

    def __call__(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) float32 unit normals of ``vertices`` (V, 3)."""
        v = np.asarray(vertices, np.float32)
        a, b, c = v[self.triangles[:, 0]], v[self.triangles[:, 1]], v[self.triangles[:, 2]]
        face_normals = np.cross(b - a, c - a)
        n = np.asarray(self._incidence @ face_normals, np.float32)
        length = np.sqrt(np.einsum("ij,ij->i", n, n))
        n /= np.maximum(length, 1e-30)[:, None]
        return n


class TriangleSlots:
    """A few triangle arrays a backend has prepared, recognised by content (least recently used goes first).

    ``find`` compares the array with each kept copy (a fraction of a
    millisecond for 50k triangles), so a new array object with the same
    contents reuses what was prepared, and an array changed in place does not.
    """

    def __init__(self, capacity: int = 4):
        self.capacity = int(capacity)
        self._slots: list[tuple[np.ndarray, object]] = []

    def __len__(self) -> int:
        return len(self._slots)

    def find(self, triangles: np.ndarray):
        """The value kept for an array equal to ``triangles``, or None."""
        for i, (kept, value) in enumerate(self._slots):
            if kept.shape == triangles.shape and np.array_equal(kept, triangles):
                if i:
                    self._slots.insert(0, self._slots.pop(i))
                return value
        return None

    def add(self, triangles: np.ndarray, value) -> list:
        """Keep ``value`` for a copy of ``triangles``; returns the values pushed out (to free)."""
        self._slots.insert(0, (np.array(triangles, copy=True), value))
        evicted = [v for _, v in self._slots[self.capacity:]]
        del self._slots[self.capacity:]
        return evicted

    def clear(self) -> list:
        """Forget every array; returns their values (to free)."""
        values = [v for _, v in self._slots]
        self._slots.clear()
        return values
