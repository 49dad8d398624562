"""Ctrl-C without crashes: native calls that run worker threads finish before KeyboardInterrupt is raised.

scipy's threaded ``cKDTree.query``, torch and onnxruntime inference and OpenGL
teardown hand data to native threads. If SIGINT raises KeyboardInterrupt while
Python waits for them, the objects they read can be freed under them, and the
process segfaults (reproduced with a temporary cKDTree and ``workers=-1``).
:func:`deferred_interrupt` holds SIGINT for the length of such a call and
raises KeyboardInterrupt right after it, with every native thread joined.

:class:`Interrupted` is what library code raises when it has kept something
worth telling the user about (a checkpoint); the CLI prints its message and
exits with 130, like any Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with a message saying what was kept (e.g. the checkpoint of the finished variants)."""

    def __init__(self, message: str = "interrupted; nothing was written"):
        super().__init__(message)
        self.message = message


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block with SIGINT held; a Ctrl-C during it raises KeyboardInterrupt when it ends.

    Only the main thread receives signals; elsewhere (and when SIGINT is not handled by
    Python's default handler, e.g. ignored) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield
        return
    pending = []
    signal.signal(signal.SIGINT, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def import_held(name: str):
    """Import module ``name`` with Ctrl-C held until the import is complete.

    Some libraries guard their optional imports with ``except BaseException`` (trimesh does), which
    swallows a KeyboardInterrupt raised inside an import: the run would go on as if nothing happened,
    with a half-imported module that fails later.
    """
    import importlib

    with deferred_interrupt():
        return importlib.import_module(name)
