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

The CLI also answers SIGTERM (a batch scheduler's stop, ``kill``) as a Ctrl-C
(:func:`stop_on_sigterm`): it raises KeyboardInterrupt, held by
:func:`deferred_interrupt` like SIGINT, so a stopped run keeps its finished
views and says so. It works also where SIGINT is ignored (a job started in the
background by a script).
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


_SIGTERM_RECEIVED: list[int] = []


def _sigterm_as_interrupt(signum, frame) -> None:
    _SIGTERM_RECEIVED.append(signum)
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """From now on, SIGTERM raises KeyboardInterrupt (held by :func:`deferred_interrupt`) unless something
    else already handles it. Main thread only; the CLI calls it once."""
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_as_interrupt)


def sigterm_received() -> bool:
    """Whether a KeyboardInterrupt so far came from SIGTERM (see :func:`stop_on_sigterm`)."""
    return bool(_SIGTERM_RECEIVED)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[None]:
    """Run the block with SIGINT (and a SIGTERM of :func:`stop_on_sigterm`) held; one arriving during it
    raises KeyboardInterrupt when it ends.

    Only the main thread receives signals; elsewhere (and for a signal not handled by one of those
    raising handlers, e.g. an ignored SIGINT) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raising = (signal.default_int_handler, _sigterm_as_interrupt)
    held = {sig: handler for sig in (signal.SIGINT, signal.SIGTERM)
            if (handler := signal.getsignal(sig)) in raising}
    if not held:
        yield
        return
    pending = []

    def hold(signum, frame):
        if signum == signal.SIGTERM:
            _SIGTERM_RECEIVED.append(signum)
        pending.append(signum)

    for sig in held:
        signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
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
