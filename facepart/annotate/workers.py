"""Computing views: render, segment and vote, in this process or in parallel worker processes.

Each worker process gets its own copy of the model, the segmenter and the
settings once, makes its own renderer (its own GL context) and runs with one
BLAS thread (``OPENBLAS_NUM_THREADS=1``: numpy's spinning threads otherwise
eat a core between calls). A view's votes depend on its variant index alone,
and the run sums them in variant order, so any number of workers gives the
same annotation bit for bit. Workers ignore Ctrl-C; the parent stops them.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import shlex
import signal
import sys
import tempfile
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Iterable, Iterator

from ..data.face_model import FaceModel
from ..errors import FacepartError
from ..interrupts import deferred_interrupt
from ..renderers.base import Renderer, make_renderer
from ..segmenters.base import PartSegmenter
from .settings import AnnotateSettings
from .variants import sample_variant
from .views import make_scene, render_view
from .vote import ViewVotes, check_part_map, eye_parts, view_votes

#: Environment of worker processes: one thread per numeric library, and one for Mesa's llvmpipe
#: rasteriser (on a CPU the processes themselves fill the cores; a GPU driver ignores it).
WORKER_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LP_NUM_THREADS": "1"}


def one_blas_thread():
    """Limit numpy's BLAS to one thread in this process until ``.restore_original_limits()`` (threadpoolctl).

    The per-view matrix products are small; OpenBLAS's threads spin between them, which
    measured about 0.6 of a core of kernel time for nothing in a 1-worker run and left the
    helper process of a 2-worker run without a core.
    """
    # Ctrl-C held: threadpoolctl finds the BLAS libraries in a ctypes callback (dl_iterate_phdr), where a
    # KeyboardInterrupt is printed as "Exception ignored" and lost, and the run would go on (the interrupt
    # stress test caught it)
    with deferred_interrupt():
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")


#: Views a run needs per process before another process pays off: a helper takes 0.6 s (the oracle)
#: to 1.2 s (MediaPipe) to start, the time of 12-25 views, and competes for the cores meanwhile;
#: measured on 2 cores, 2 processes equal 1 at 50 variants and are slower below (0.5-0.63x of one at 8).
VIEWS_PER_PROCESS = 50


def default_workers(views: int | None = None) -> int:
    """The number of cores this process may use; with ``views``, at most one process per
    :data:`VIEWS_PER_PROCESS` views of the run (at least one)."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        cores = max(1, os.cpu_count() or 1)
    return cores if views is None else max(1, min(cores, int(views) // VIEWS_PER_PROCESS))


def _unguarded_main_script() -> str | None:
    """The path of the script this process runs when its text never names ``__main__`` (so it cannot guard its
    top level; a spawned helper would run it again and hang the run); None otherwise (guarded, or no script:
    an interactive session or a notebook)."""
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    try:
        if not path or not os.path.isfile(path) or os.path.getsize(path) > 10_000_000:
            return None
        with open(path, "rb") as fh:
            return None if b"__main__" in fh.read() else str(path)
    except OSError:
        return None


class ViewComputer:
    """Computes :class:`ViewVotes` for variant indices: in this process, and with ``workers - 1`` helper processes.

    This process computes views too (it does not wait while the helpers start, which takes seconds:
    Python, imports, a GL context), so ``workers`` is the number of processes computing views, this
    one included. Use as a context manager; :meth:`compute` yields views as they finish (not in
    index order).

    Args:
        renderer: this process's renderer (default: a new one of the default backend); helper
            processes make one of the same backend.
        workers: processes computing views, this one included; 1 computes here only.
    """

    def __init__(self, model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings, *,
                 renderer: Renderer | None = None, workers: int = 1):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise FacepartError(f"--workers must be a whole number of at least 1, got {workers!r}")
        limit = segmenter.max_workers
        # never more processes than views (a huge --workers is not a reason to start them, nor an overflow)
        self.workers = min(workers, limit or workers, max(1, settings.variants))
        self.model, self.segmenter, self.settings = model, segmenter, settings
        self._renderer = renderer
        self._own_renderer: Renderer | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._ctx = None
        self._task: _Task | None = None
        self._objects: str | None = None  # the pickled model, segmenter and settings the helpers read
        self._helpers_loaded: set[int] = set()  # process ids of helpers that have read it (and computed a view)

    def __enter__(self) -> "ViewComputer":
        self._blas_limit = one_blas_thread()  # first: a Ctrl-C held in it then leaves nothing to clean up
        try:
            renderer = self._renderer
            if renderer is None:
                renderer = self._own_renderer = make_renderer(None, self.settings.size)
            self._task = _Task(self.model, self.segmenter, self.settings, renderer)
            if self.workers > 1:
                script = _unguarded_main_script()
                if script is not None:
                    raise FacepartError(f"{script}: runs facepart with workers > 1 but has no `if __name__ == "
                                        "\"__main__\":`; helper processes are started with spawn and import the "
                                        "script, so put the call inside that block (or use workers=1)")
                self._ctx = multiprocessing.get_context("spawn")
                self._objects = _write_objects((self.model, self.segmenter, self.settings))
                self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=self._ctx, initializer=_init_worker,
                                                 initargs=(self._objects, renderer.name))
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._pool is not None:
            # after a finished run the helpers exit while this process goes on to the labels (their
            # exit takes ~0.1 s); after an error or Ctrl-C, wait: running views finish (a fraction of a second)
            self._pool.shutdown(wait=exc_type is not None, cancel_futures=True)
            self._pool = None
        if self._objects is not None:
            _remove_quietly(self._objects)
            _remove_quietly(self._objects + START_ERROR)
            self._objects = None
        if self._own_renderer is not None:
            self._own_renderer.close()
            self._own_renderer = None
        with deferred_interrupt():
            self._blas_limit.restore_original_limits()

    def _why_broken(self) -> str:
        """The one line for a helper that died: what it could not load at start-up, when it said so."""
        try:
            with open(self._objects + START_ERROR) as f:
                error = f.read().strip()
        except (OSError, TypeError):
            error = ""
        if not error:
            return ("a worker process died (at start-up, out of memory, or a crash in a native library); "
                    "run again with --workers 1 to see the error")
        hint = ""
        if "__mp_main__" in error or "__main__" in error:
            hint = ("; helper processes import your script without running its `if __name__ == \"__main__\":` "
                    "block, so define the segmenter's class at the top level of the script (or in a module), "
                    "or use workers=1")
        return f"a worker process could not load the run's segmenter ({error}){hint}"

    def _result(self, future) -> ViewVotes:
        """A helper's view; once every helper has sent one, the objects file goes (none reads it again: the
        pool starts no new helpers), so that a run killed later (SIGKILL, a cluster's time limit) leaves
        nothing of its own in the temporary folder."""
        pid, votes = future.result()
        if pid not in self._helpers_loaded:
            self._helpers_loaded.add(pid)
            if len(self._helpers_loaded) >= self.workers - 1 and self._objects is not None:
                _remove_quietly(self._objects)
        return votes

    def compute(self, indices: Iterable[int]) -> Iterator[ViewVotes]:
        """Yield the votes of each view of ``indices`` as it finishes."""
        pending = deque(indices)
        if self._pool is None:
            while pending:
                yield self._task(pending.popleft())
            return
        in_flight: set = set()
        try:
            while pending or in_flight:
                # keep the helpers busy (two views each in their queue), then do a view here
                while pending and len(in_flight) < 2 * (self.workers - 1):
                    # helpers start on their first submit and must get their whole start-up message:
                    # a Ctrl-C waits for it; they start with Ctrl-C ignored (this process stops them)
                    with _environment(WORKER_ENV), _workers_ignore_sigint(self._ctx), deferred_interrupt():
                        in_flight.add(self._pool.submit(_compute_in_worker, pending.pop()))
                done = {f for f in in_flight if f.done()}
                for future in done:
                    in_flight.discard(future)
                    yield self._result(future)
                if pending:
                    yield self._task(pending.popleft())
                elif in_flight and not done:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        in_flight.discard(future)
                        yield self._result(future)
        except BrokenProcessPool:
            raise FacepartError(self._why_broken()) from None
        finally:
            for future in in_flight:
                future.cancel()


class _Task:
    """Render, segment and vote one variant (what each process does per index)."""

    def __init__(self, model: FaceModel, segmenter: PartSegmenter, settings: AnnotateSettings, renderer: Renderer):
        self.model, self.segmenter, self.settings, self.renderer = model, segmenter, settings, renderer
        self.scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
        self.n_parts = len(segmenter.parts)
        self.eye_ids = eye_parts(segmenter.parts.names)

    def __call__(self, index: int) -> ViewVotes:
        variant = sample_variant(self.model, self.settings.sampling, self.settings.seed, index)
        view = render_view(self.model, variant, self.scene, self.renderer, shade=self.segmenter.needs_image)
        part_map = self.segmenter.part_map(view)
        if part_map is None:
            return ViewVotes.skipped(index, self.segmenter.last_skip_reason or "no face")
        part_map = check_part_map(part_map, view, self.n_parts, self.segmenter.name)
        return view_votes(view, part_map, self.scene, self.settings, self.n_parts, self.eye_ids)


_WORKER: dict = {}
#: Suffix of the file beside the run's objects where a helper that cannot load them writes why.
START_ERROR = ".start-error"


def _write_objects(objects) -> str:
    """Pickle ``objects`` into a new private temporary file and return its path.

    Helpers read the run's model, segmenter and settings from it rather than from their start-up
    message: CPython's spawn writes that message into a pipe whose read end the parent itself holds
    until the write ends, so a helper that died during start-up (an import error, a broken
    ``sitecustomize``) left the parent blocked for ever on a message of more than the pipe's 64 KiB.
    A message of a few hundred bytes fits in the pipe: the parent goes on, sees the helper gone, and
    reports it.
    """
    import pickle

    fd, path = tempfile.mkstemp(prefix="facepart-run-", suffix=".pkl")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(objects, f, protocol=pickle.HIGHEST_PROTOCOL)
    except BaseException:
        _remove_quietly(path)
        raise
    return path


def _init_worker(objects_path: str, renderer_name: str) -> None:
    """Keep the run's objects (read from ``objects_path``, see :func:`_write_objects`); the renderer is made
    by the first task, so that a failure there reaches the parent as that task's error (an initializer's
    error would only break the pool)."""
    import pickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops the workers
    _die_with_parent()
    try:
        with open(objects_path, "rb") as f:
            model, segmenter, settings = pickle.load(f)
    except FileNotFoundError:  # the run ended while this helper started: nothing left to do
        os._exit(0)
    except BaseException as exc:  # e.g. a segmenter class the helper cannot import: tell the parent why
        with contextlib.suppress(OSError):
            with open(objects_path + START_ERROR, "w") as f:
                f.write(f"{type(exc).__name__}: {exc}"[:500])
        raise
    if "torch" in sys.modules:  # a torch parser: one thread per worker, like BLAS
        sys.modules["torch"].set_num_threads(1)
    _WORKER.update(args=(model, segmenter, settings), renderer=renderer_name)


def _die_with_parent() -> None:
    """Linux: have the kernel send this helper SIGTERM when the process that started it dies (a SIGTERM or
    SIGKILL to the run would otherwise leave it running, orphaned). Elsewhere nothing is done."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the parent died before the request: go now
        os._exit(1)


def _compute_in_worker(index: int) -> tuple[int, ViewVotes]:
    """The votes of view ``index``, with this helper's process id (see :meth:`ViewComputer._result`)."""
    if "task" not in _WORKER:
        model, segmenter, settings = _WORKER["args"]
        _WORKER["task"] = _Task(model, segmenter, settings, make_renderer(_WORKER["renderer"], settings.size))
    return os.getpid(), _WORKER["task"](index)


_LAUNCHER: str | None = None


def _ignoring_sigint_launcher() -> str | None:
    """A two-line launcher that starts a worker's Python with Ctrl-C ignored from its first instruction
    (an ignored signal stays ignored across exec), or None where there is no POSIX shell."""
    global _LAUNCHER
    if os.name != "posix" or not os.path.exists("/bin/sh"):
        return None
    if _LAUNCHER is None or not os.path.exists(_LAUNCHER):
        fd, path = tempfile.mkstemp(prefix="facepart-worker-", suffix=".sh")
        os.write(fd, f"#!/bin/sh\ntrap '' INT\nexec {shlex.quote(sys.executable)} \"$@\"\n".encode())
        os.close(fd)
        os.chmod(path, 0o700)
        atexit.register(_remove_quietly, path)
        _LAUNCHER = path
    return _LAUNCHER


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def _workers_ignore_sigint(ctx):
    """Start the processes made inside the block with SIGINT ignored (the parent handles Ctrl-C and stops
    them; a Ctrl-C during their start-up would otherwise kill them with a traceback). This process keeps
    its own handler: no Ctrl-C is lost."""
    from multiprocessing import spawn

    launcher = _ignoring_sigint_launcher()
    if launcher is None:
        yield
        return
    previous = spawn.get_executable()
    ctx.set_executable(launcher)
    try:
        yield
    finally:
        ctx.set_executable(previous)


@contextlib.contextmanager
def _environment(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
