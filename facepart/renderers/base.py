"""The renderer interface every backend implements, the one registry of backends, and their helpers.

A renderer draws a triangle mesh seen by a :class:`~facepart.renderers.camera.Camera`
into :class:`~facepart.renderers.fragments.Fragments` (colour, depth, exact
triangle ids, coverage). Backends register here by name; nothing else in
facepart builds a renderer, so choosing one is :func:`make_renderer` and
borrowing one is :func:`renderer_for`. Backends are imported only when made
(OpenGL binds its platform at import).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple, Protocol, runtime_checkable

import numpy as np

from ..errors import FacepartError
from ..geometry import vertex_normals  # noqa: F401  (re-exported: backends shade with it)
from ..interrupts import deferred_interrupt
from .camera import Camera
from .context import ClosingRenderer  # noqa: F401  (re-exported: what every backend shares)
from .fragments import Fragments
from .light import Light


@runtime_checkable
class Renderer(Protocol):
    """What every backend provides.

    Attributes:
        name: the backend's registry name.
        width, height: image size in pixels; cameras must match it.
    """

    name: str
    width: int
    height: int

    def render(self, vertices: np.ndarray, triangles: np.ndarray, camera: Camera,
               colors: np.ndarray | None = None, light: Light | None = None) -> Fragments:
        """Draw ``triangles`` (F, 3) of ``vertices`` (V, 3) float32, metres, world frame.

        ``triangle_id`` in the result indexes ``triangles``; ``image`` is drawn only when
        ``colors`` (V, 3) in [0, 1] is given, lit by ``light``. A backend may keep
        the triangles on the device between calls with the same array.
        """
        ...

    def close(self) -> None:
        """Free the backend's context; calling it twice is harmless."""
        ...


class RendererBackend(NamedTuple):
    name: str
    description: str
    factory: Callable[..., Renderer]  # factory(width, height, **options) -> Renderer


RENDERERS: dict[str, RendererBackend] = {}
DEFAULT_RENDERER = "moderngl"  # measured: about 2x faster with a colour pass, ids exact without patches (README)
def register_renderer(backend: RendererBackend) -> RendererBackend:
    RENDERERS[backend.name] = backend
    return backend


#: The largest render side, pixels (GL drivers refuse larger framebuffers or run out of memory).
MAX_RENDER_SIZE = 8192


def make_renderer(name: str | None = None, size: int | tuple[int, int] = 512, **options) -> Renderer:
    """A new renderer of backend ``name`` (default :data:`DEFAULT_RENDERER`) for ``size`` (square or (w, h))."""
    name = name or DEFAULT_RENDERER
    if name not in RENDERERS:
        raise FacepartError(f"unknown renderer '{name}'; available: {', '.join(RENDERERS)}")
    width, height = (size, size) if np.isscalar(size) else size
    for side in (width, height):
        if isinstance(side, (bool, np.bool_)) or not isinstance(side, (int, np.integer)) \
                or not 1 <= side <= MAX_RENDER_SIZE:
            raise FacepartError(f"--size: a render is 1 to {MAX_RENDER_SIZE} pixels a side, got {side!r}")
    with deferred_interrupt():  # GL libraries' imports and context start-up must not meet Ctrl-C half-way
        return RENDERERS[name].factory(int(width), int(height), **options)


@contextlib.contextmanager
def renderer_for(renderer: Renderer | None, size: int, name: str | None = None, **options) -> Iterator[Renderer]:
    """Yield ``renderer``; when it is None, a new one from :func:`make_renderer`, closed afterwards."""
    if renderer is not None:
        yield renderer
        return
    own = make_renderer(name, size, **options)
    try:
        yield own
    finally:
        own.close()


def _pyrender(width: int, height: int, **options) -> Renderer:
    from .pyrender_backend import PyrenderRenderer

    return PyrenderRenderer(width, height, **options)


def _moderngl(width: int, height: int, **options) -> Renderer:
    from .moderngl_backend import ModernglRenderer

    return ModernglRenderer(width, height, **options)


register_renderer(RendererBackend(
    "pyrender", "pyrender (the design card's renderer): an id pass, then a colour pass when asked; OSMesa or EGL",
    _pyrender))
register_renderer(RendererBackend(
    "moderngl", "moderngl on headless EGL: colour, depth and exact ids from one draw, the mesh kept on the device",
    _moderngl))
