"""What every backend shares: closing its context (``with``, garbage collection), and the rule that an
OpenGL context cannot be opened in a child forked from a process that had one."""

from __future__ import annotations

import os

from ..errors import FacepartError

_GL_PROCESS: int | None = None  # the process that opened an OpenGL context here (copied into forked children)


def claim_opengl(backend: str) -> None:
    """Call before a backend opens an OpenGL context: refuse in a child forked from a process that had one.

    Mesa's EGL (and GPU drivers) keep threads and device state that a forked
    child does not get: a new context there hangs. Workers must be started with
    ``multiprocessing.get_context("spawn")`` or ``"forkserver"``, or forked before
    the parent renders anything.
    """
    global _GL_PROCESS
    pid = os.getpid()
    if _GL_PROCESS is not None and _GL_PROCESS != pid:
        raise FacepartError(f"cannot open a {backend} renderer in a process forked after its parent opened OpenGL "
                            "(it would hang); start worker processes with multiprocessing 'spawn' or 'forkserver'")
    _GL_PROCESS = pid


class ClosingRenderer:
    """What every backend shares: ``with make_renderer(...) as r:`` closes it, and so does garbage collection."""

    def close(self) -> None:  # pragma: no cover - every backend has its own
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
