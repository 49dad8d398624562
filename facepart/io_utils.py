"""File I/O shared by the loaders and writers.

Reading: :func:`open_input`, :func:`read_json_file` and :func:`read_mapping_file`
turn OS and parse errors into one-line ``FacepartError``s that name the file.
Writing is atomic: a file is either its old self or complete, never
half-written (:func:`atomic_path`), and a set of files that belong together
(``annotation.npz``, ``parts.json``, ``preview.png``) is replaced as a set
(:func:`atomic_file_set`). A full disk or a read-only folder is one line
naming the file, and leaves no temporary files behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from .errors import FacepartError


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def check_regular_file(path: str | os.PathLike, what: str = "a file") -> Path:
    """``path`` as a Path if it is a regular file (symlinks followed); else one line naming it. Call before
    opening an input: a FIFO or a device would block ``open`` forever or read without end."""
    if not str(path).strip():
        raise FacepartError(f"the path of {what} is empty")
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except OSError as exc:
        raise FacepartError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _FILE_KINDS if test(mode)), "a special file")
        if kind == "a folder":
            raise FacepartError(f"{path}: expected {what}, got a folder")
        raise FacepartError(f"{path} is not a regular file ({kind}); expected {what}")
    return path


@contextlib.contextmanager
def open_input(path: str | os.PathLike, mode: str = "rb", what: str = "a file", **kwargs) -> Iterator:
    """``with open_input(path) as fh``: ``open(path, mode)`` for reading, with one-line errors naming the file for
    a missing file, a folder, and OS errors while opening or reading (EIO, a vanished network file), and, in text
    mode, bytes that are not text in the file's encoding."""
    if not str(path).strip():
        raise FacepartError(f"the path of {what} is empty")
    path = check_regular_file(path, what)
    try:
        fh = open(path, mode, **kwargs)
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FacepartError(f"{path}: expected {what}, got a folder") from None
    except OSError as exc:
        raise FacepartError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with fh:
        try:
            yield fh
        except OSError as exc:
            raise FacepartError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except UnicodeDecodeError:
            if "b" in mode:
                raise
            raise FacepartError(f"{path}: expected {what}, got bytes that are not "
                                f"{kwargs.get('encoding') or 'UTF-8'} text") from None


def _first_line(exc: BaseException) -> str:
    return ((str(exc).strip().splitlines() or [type(exc).__name__])[0])[:160]


def loads_json(text: str, where: str, what: str, object_pairs_hook=None):
    """Parse JSON ``text``; a syntax error, a 100k-deep nesting or a 5000-digit number is one line naming ``where``.
    ``object_pairs_hook`` is json's (e.g. one that refuses repeated keys)."""
    try:
        return json.loads(text, object_pairs_hook=object_pairs_hook)
    except RecursionError:
        raise FacepartError(f"{where}: not a readable {what} (nested too deeply)") from None
    except (ValueError, TypeError) as exc:  # JSONDecodeError, an int of too many digits
        raise FacepartError(f"{where}: not a readable {what} ({_first_line(exc)})") from None


def read_json_file(path: str | os.PathLike, what: str, object_pairs_hook=None):
    """The content of a JSON file, or a one-line error naming the file and ``what`` it should be."""
    path = Path(path)
    with open_input(path, "rb", f"a {what} file") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FacepartError(f"{path}: not a readable {what} (not UTF-8 text)") from None
    return loads_json(text, str(path), what, object_pairs_hook)


def read_mapping_file(path: str | os.PathLike, what: str):
    """The content of a YAML (or, by its ``.json`` suffix, JSON) file, or a one-line error naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: {what} file not found")
    if path.suffix.lower() == ".json":
        return read_json_file(path, what)
    try:
        with open_input(path, "r", what) as fh:
            text = fh.read()
        import yaml

        return yaml.safe_load(text)
    except FacepartError:
        raise
    except Exception as exc:  # yaml.YAMLError, UnicodeDecodeError, RecursionError
        raise FacepartError(f"{path}: not a readable {what} ({_first_line(exc)})") from None


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check that files can be written there."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacepartError(f"cannot create output folder {path}: {exc.strerror}") from None
    if not path.is_dir():
        raise FacepartError(f"output path {path} exists and is not a folder")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise FacepartError(f"output folder {path} is not writable: {exc.strerror}") from None
    return path


_WRITE_HINTS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
                errno.EDQUOT: "the disk quota is used up", errno.EACCES: "no permission to write there",
                errno.EPERM: "no permission to write there"}


def output_target(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` replaces: a symbolic link's target (the link stays a link, written through),
    else ``path``. One line when that is a device, pipe or socket: renaming a file onto ``/dev/null`` as root
    would replace the device itself."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.exists() and not target.is_file() and not target.is_dir():
        raise FacepartError(f"{path}: not a regular file (a device, pipe or socket); give the name of a file to "
                            "write")
    return target


def check_output_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path when a file can be written there; else one line naming it (its folder is missing or
    not writable, or it is a folder, a device or a pipe). Commands call it before their work, so a typo costs
    no minutes."""
    if not str(path).strip():
        raise FacepartError("the output file name is empty")
    output_target(path)
    path = Path(path)
    if path.is_dir():
        raise FacepartError(f"{path}: a folder; expected the name of a file to write")
    if not path.parent.is_dir():
        what = f"{path.parent} is a file, not a folder" if path.parent.exists() else \
            f"the folder {path.parent} does not exist"
        raise FacepartError(f"{path}: cannot write: {what}")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise write_error(path, exc) from None
    return path


def write_error(path: str | os.PathLike, exc: OSError, kept: str = "the previous file, if any, is unchanged"
                ) -> FacepartError:
    """One line for an OSError while writing ``path``: a full disk, a read-only folder, no permission..."""
    path = Path(path)
    if path.parent.name.startswith(STAGING_PREFIX):  # a file of an atomic_file_set: name its final place
        path = path.parent.parent / path.name
        kept = f"{path.parent} keeps its previous files"
    if isinstance(exc, FileNotFoundError) and not path.parent.is_dir():
        return FacepartError(f"{path}: cannot write: the folder {path.parent} does not exist")
    reason = exc.strerror or _first_line(exc)
    hint = _WRITE_HINTS.get(exc.errno)
    return FacepartError(f"{path}: cannot write: {hint} ({reason}); {kept}" if hint else
                         f"{path}: cannot write ({reason}); {kept}")


def _fsync(path: Path) -> None:
    """Flush a written file (or a folder's entries) to the disk; ENOSPC can surface only here."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the final suffix (``np.savez`` and image writers
    look at it). On any exception the temporary file is removed and ``path``
    is left untouched; an ``OSError`` (a full disk, a read-only folder) becomes
    one ``FacepartError`` line naming ``path``.
    """
    path = output_target(path)
    suffix = path.suffix if suffix is None else suffix
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        os.chmod(tmp_path, _default_mode())  # mkstemp makes 0600; give the file normal permissions
        yield tmp_path
        _fsync(tmp_path)
        os.replace(tmp_path, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


#: Name prefix of the staging folders of :func:`atomic_file_set` (followed by the writing process id).
STAGING_PREFIX = ".facepart-staging-"


def _remove_stale_staging(out: Path) -> None:
    """Remove staging folders left by writers that were killed (SIGKILL, power loss); their process is gone."""
    for old in out.glob(STAGING_PREFIX + "*"):
        pid = old.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(old, ignore_errors=True)
        except OSError:  # alive under another user, or unknown: leave it
            pass


@contextlib.contextmanager
def atomic_file_set(out_dir: str | os.PathLike, members: Iterable[str] = ()) -> Iterator[Path]:
    """Write several files into ``out_dir`` as one set: all of them, or none.

    Yields a staging folder inside ``out_dir`` (so on the same file system);
    write the set's files there under their final names. When the block ends
    without an error, each file is renamed onto ``out_dir/<name>``, and the
    names in ``members`` that the new set lacks are removed from ``out_dir``,
    so a new file never sits beside an old one of the previous set. If the
    block fails (a full disk, a read-only folder, Ctrl-C), ``out_dir`` keeps
    its previous set untouched; if a rename fails midway, the renames done so
    far are undone. The staging folder is always removed. ``OSError`` becomes
    one ``FacepartError`` line naming the file and ``out_dir``.

    >>> with atomic_file_set(out, members=("preview.png",)) as stage:  # doctest: +SKIP
    ...     write_json_atomic(stage / "parts.json", parts)
    """
    out = Path(out_dir)
    kept = f"{out} keeps its previous files"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FacepartError(f"{out}: cannot create the output folder ({exc.strerror or _first_line(exc)})") from None
    _remove_stale_staging(out)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out))
    except OSError as exc:
        raise write_error(out, exc, kept) from None
    try:
        try:
            yield stage
            names = sorted(p.name for p in stage.iterdir() if p.is_file())
            for name in names:
                _fsync(stage / name)
        except OSError as exc:
            raise write_error(Path(exc.filename) if exc.filename else out, exc, kept) from None
        _commit(stage, out, names, [m for m in members if m not in names], kept)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _commit(stage: Path, out: Path, names: list[str], removed: list[str], kept: str) -> None:
    """Move ``stage/<names>`` onto ``out`` and remove ``out/<removed>``; on any failure undo what was done."""
    backup = stage / ".previous"
    backup.mkdir()
    saved = set()
    for name in names + removed:  # the previous files, kept for an undo
        if (out / name).is_file():
            try:
                os.link(out / name, backup / name)  # a hard link copies no data
            except OSError:  # a file system without hard links (FAT, exFAT, some network shares): copy
                try:
                    shutil.copy2(out / name, backup / name)
                except OSError as exc:  # no room for the copy: stop before anything was replaced
                    raise write_error(out / name, exc, kept) from None
            saved.add(name)
    done: list[str] = []
    current = out
    try:
        for name in names:
            current = out / name
            os.replace(stage / name, current)
            done.append(name)
        for name in removed:
            current = out / name
            with contextlib.suppress(FileNotFoundError):
                os.unlink(current)
            done.append(name)
    except BaseException as exc:
        for name in reversed(done):
            with contextlib.suppress(OSError):
                if name in saved:
                    os.replace(backup / name, out / name)
                elif name in names:
                    os.unlink(out / name)
        if isinstance(exc, OSError):
            raise write_error(current, exc, kept) from None
        raise
    with contextlib.suppress(OSError):
        _fsync(out)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = None) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())


def write_npz_atomic(path: str | os.PathLike, arrays: dict, compressed: bool = True) -> Path:
    """Write ``arrays`` (name -> array; no pickles) as an ``.npz`` at ``path``, atomically.

    Unlike ``np.savez``, a failure part-way (a full disk) closes the archive at
    once: numpy leaves its ZipFile open, and its ``__del__`` later prints an
    "Exception ignored" traceback when it tries to finish the file.
    """
    import zipfile

    import numpy as np

    path = Path(path)
    mode = zipfile.ZIP_DEFLATED if compressed else zipfile.ZIP_STORED
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh, zipfile.ZipFile(fh, "w", compression=mode, allowZip64=True) as archive:
            for key, value in arrays.items():
                with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
    return path


@contextlib.contextmanager
def removing_new_dirs_on_failure(path: str | os.PathLike | None) -> Iterator[None]:
    """``with removing_new_dirs_on_failure(out):`` if the block fails (an error, Ctrl-C), remove the folders of
    ``out`` that did not exist when it began, while they are still empty: a failed command leaves no empty
    output folder that looks like a finished run's, and never touches a folder that has files (a checkpoint)."""
    if path is None:
        yield
        return
    path = Path(path)
    created = None  # the outermost folder of ``path`` (itself included) that does not exist yet
    for p in (path, *path.parents):
        if p.exists():
            break
        created = p
    try:
        yield
    except BaseException:
        p = path
        while created is not None:
            try:
                p.rmdir()
            except OSError:
                break
            if p == created:
                break
            p = p.parent
        raise
