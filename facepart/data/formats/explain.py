"""One-line descriptions of container files (.pkl, .npy, .mat, .h5) that match no model layout.

Used by the format registry to say what a file *is* when it is not a model,
e.g. that ``FLAME_masks.pkl`` is a region file to put beside ``generic_model.pkl``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ...errors import FacepartError


def _keys(keys) -> str:
    from .containers import shown

    return shown(keys, 12)


def explain_container(path: Path) -> str:
    """What the file holds, in a few words ("" when it is no container facepart knows)."""
    try:
        return _explain(Path(path))
    except FacepartError as err:
        return str(err).split(": ", 1)[-1]
    except Exception:  # noqa: BLE001 - an explanation must never be the thing that fails
        return ""


def _explain(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle", ".npy"):
        from .flame import is_flame_masks
        from .pickle_cache import pickled
        from .safe_pickle import npy_is_pickle

        if suffix == ".npy" and not npy_is_pickle(path):
            return ("a plain numpy array, not a model; BFM index maps (indices_A_B.npy) are shown by "
                    "`facepart info`")
        obj = pickled(path)
        if is_flame_masks(obj):
            return ("a region file like FLAME_masks.pkl (region name -> vertex ids), not a model: put it beside "
                    "generic_model.pkl, or pass -O masks=FILE when loading the model")
        if isinstance(obj, dict):
            return f"a pickled dict with keys {_keys(obj)}, which matches no known model layout"
        if isinstance(obj, np.ndarray):
            return f"a pickled {obj.dtype} array of shape {obj.shape}, not a model (tri.pkl belongs beside " \
                   "bfm_noneck_v3.pkl)"
        return f"a pickled {type(obj).__name__}, not a model"
    if suffix == ".mat":
        from ..bfm_topology import MAT_MAPS
        from .containers import mat_variable_names

        names = mat_variable_names(path)
        if names & set(MAT_MAPS):
            return "a BFM index map, not a model (`facepart info` shows it)"
        return f"a .mat file with variables {_keys(sorted(names))}" if names else _unparsed_mat(path)
    if suffix in (".h5", ".hdf5"):
        import h5py

        from ...io_utils import check_regular_file

        check_regular_file(path, "an HDF5 file")
        if path.stat().st_size == 0:
            return "an empty file (0 bytes), not an HDF5 file"
        try:
            with h5py.File(path, "r") as fh:
                return f"an HDF5 file with groups {_keys(fh.keys())}; expected statismo groups shape/model/..."
        except OSError as exc:
            return _unparsed("HDF5 file", exc)
    return ""


def _unparsed(what: str, exc: BaseException) -> str:
    """Why a recognisable container could not be parsed, in a few words."""
    from .containers import _short

    text = _short(exc)
    damage = "truncated" if "truncat" in text or "beyond the end" in text else "damaged"
    return f"a {damage} {what} that cannot be parsed: {text}"


def _unparsed_mat(path: Path) -> str:
    """Why a .mat file shows no variables: empty, truncated or damaged (with the parser's error), or ""."""
    from ...io_utils import check_regular_file
    from .containers import is_hdf5
    from .matfile import variable_names

    check_regular_file(path, "a MATLAB .mat file")
    if path.stat().st_size == 0:
        return "an empty file (0 bytes), not a MATLAB .mat file"
    if is_hdf5(path):
        try:
            import h5py

            with h5py.File(path, "r") as fh:
                list(fh.keys())
        except Exception as exc:  # noqa: BLE001 - h5py raises several types on damaged files
            return _unparsed("MATLAB v7.3 (HDF5) .mat file", exc)
        return ""
    try:
        variable_names(path)
    except (ValueError, OSError, zlib.error) as exc:  # MatError is a ValueError
        text = str(exc)
        if "not a MATLAB 5 file" in text or "too short for a MATLAB 5 file" in text:
            return f"not a MATLAB .mat file ({text})"
        return _unparsed("MATLAB .mat file", exc)
    return ""
