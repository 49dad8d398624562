"""File I/O shared by the loaders and writers.

Reading: :func:`open_input` and :func:`read_mapping_file` turn OS and parse
errors into one-line ``FacepartError``s that name the file. Writing is
atomic: a file is either its old self or complete, never half-written.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import FacepartError


def open_input(path: str | os.PathLike, mode: str = "rb", what: str = "a file", **kwargs):
    """``open(path, mode)`` for reading, with one-line errors for missing files, folders and OS errors."""
    path = Path(path)
    try:
        return open(path, mode, **kwargs)
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise FacepartError(f"{path}: expected {what}, got a folder") from None
    except OSError as exc:
        raise FacepartError(f"{path}: cannot read ({exc.strerror})") from None


def read_mapping_file(path: str | os.PathLike, what: str):
    """The content of a YAML (or, by its ``.json`` suffix, JSON) file, or a one-line error naming ``what``."""
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: {what} file not found")
    try:
        with open_input(path, "r", what) as fh:
            text = fh.read()
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except FacepartError:
        raise
    except Exception as exc:  # yaml.YAMLError, json.JSONDecodeError, UnicodeDecodeError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise FacepartError(f"{path}: not a readable {what} ({first})") from None


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


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the final suffix (``np.savez`` and image writers
    look at it). On any exception the temporary file is removed and ``path``
    is left untouched.
    """
    path = Path(path)
    suffix = path.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path: str | os.PathLike, obj, indent: int | None = None) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=indent) + "\n").encode())
