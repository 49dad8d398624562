"""Reading model containers (.mat, companions beside a model) with one-line errors.

Third-party readers (scipy.io, h5py, numpy) raise many exception types on
damaged files; :func:`reading` turns those, and only around the call that
parses the file, into one :class:`FacepartError` naming the file.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from ...errors import FacepartError, require
from ...io_utils import check_regular_file


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:160]


@contextmanager
def reading(path, what: str) -> Iterator[None]:
    """Turn any exception of a third-party file parser into ``FacepartError("<path>: not a readable <what> ...")``."""
    try:
        yield
    except FacepartError:
        raise
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except MemoryError:
        raise FacepartError(f"{path}: not a readable {what} (a size field asks for more memory than there is; "
                            "is the file damaged?)") from None
    except Exception as exc:  # noqa: BLE001 - parsers of damaged files raise anything
        raise FacepartError(f"{path}: not a readable {what} ({type(exc).__name__}: {_short(exc)})") from None


def shown(keys, limit: int = 20) -> str:
    """Key names for a one-line message: printable characters only, at most ``limit`` names."""
    keys = list(keys)
    names = ["".join(c if c.isprintable() else "?" for c in str(k))[:40] for k in keys[:limit]]
    return ", ".join(names) + (", ..." if len(keys) > limit else "")


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    """Whether the file starts with the HDF5 signature at byte 0 (h5py's plain files) or 512 (MATLAB v7.3,
    after its 512-byte header); False for anything unreadable."""
    try:
        check_regular_file(path)
        with open(path, "rb") as fh:
            head = fh.read(520)
    except (FacepartError, OSError):
        return False
    return head[:8] == HDF5_SIGNATURE or head[512:520] == HDF5_SIGNATURE


def read_mat(path: Path, variables: list[str] | None = None) -> dict:
    """Numeric variables of a MATLAB .mat file: level 5 via :mod:`.matfile` (never scipy's compiled reader,
    which can crash on damaged files), v7.3 via h5py (transposed back to MATLAB's order)."""
    from .matfile import loadmat5

    if not is_hdf5(path):
        try:
            with reading(path, "MATLAB .mat file"):
                return loadmat5(path, variables)
        except FacepartError as err:
            if "v7.3" not in str(err):
                raise
    h5py = require("h5py", "reading MATLAB v7.3 files", "pip install h5py")
    out = {}
    check_regular_file(path, "a MATLAB .mat file")
    with reading(path, "MATLAB v7.3 .mat file"):
        with h5py.File(path, "r") as fh:
            for key in fh.keys():
                if (variables is None or key in variables) and isinstance(fh[key], h5py.Dataset):
                    out[key] = np.asarray(fh[key]).T  # h5py gives the transpose of MATLAB's column-major arrays
    return out


def mat_variable_names(path: Path) -> set[str]:
    """Names of a .mat file's variables, reading element headers only (empty on any failure)."""
    from .matfile import variable_names

    try:
        return set(variable_names(path))
    except Exception:  # noqa: BLE001 - detection must never fail
        pass
    try:
        import h5py

        check_regular_file(path)
        with h5py.File(path, "r") as fh:
            return set(fh.keys())
    except Exception:  # noqa: BLE001
        return set()


def fetch(data: Mapping, key: str, path, expected: str):
    """``data[key]``, or a one-line error naming the missing key and what the file should be."""
    if not isinstance(data, Mapping):
        raise FacepartError(f"{path}: expected {expected} (a dict of arrays), got {type(data).__name__}")
    if key not in data:
        raise FacepartError(f"{path}: missing '{key}'; is this {expected}? (keys: {shown(data)})")
    return data[key]


def companion(path: Path, given, names: tuple[str, ...]) -> Path | None:
    """An explicitly given companion file, or the first of ``names`` found beside ``path``."""
    if given is not None:
        given = Path(given)
        if not given.is_file():
            raise FacepartError(f"{given}: file not found")
        return given
    for name in names:
        cand = path.parent / name
        if cand.is_file():
            return cand
    return None
