"""One-line descriptions of container files (.pkl, .npy, .mat, .h5) that match no model layout.

Used by the format registry to say what a file *is* when it is not a model,
e.g. that ``FLAME_masks.pkl`` is a region file to put beside ``generic_model.pkl``.
"""

from __future__ import annotations

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
        return f"a .mat file with variables {_keys(sorted(names))}" if names else ""
    if suffix in (".h5", ".hdf5"):
        import h5py

        from ...io_utils import check_regular_file

        check_regular_file(path, "an HDF5 file")
        with h5py.File(path, "r") as fh:
            return f"an HDF5 file with groups {_keys(fh.keys())}; expected statismo groups shape/model/..."
    return ""
