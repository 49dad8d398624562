"""Safe loading: crafted pickles are refused, and damaged files only ever raise FacepartError.

The fuzz tests start from valid layout-exact files (a tiny synthetic model) and
mutate them, both as bytes (truncation, flipped bytes) and as structure
(a key removed, or replaced by an array of the wrong shape, dtype or values).
Whatever the mutation, loading either succeeds or raises FacepartError.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facepart.data import load_model
from facepart.data.formats.safe_pickle import UnsafePickleError, load_npy, load_pickle, loads
from facepart.errors import FacepartError
from test_formats_layouts import (faceverse_v3_dict, faceverse_v12_dict, flame_dict, flame_pickle, tiny_source,
                                  v3_dict, write_3ddfa_v2, write_bfm2009, write_bfm2017, write_deep3d,
                                  write_flame_masks)

MARKER = "facepart-pwned"


class Exploit:
    """Unpickling this runs ``os.system`` with a command that would create a marker file."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class EvalExploit:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / MARKER
    yield path
    assert not path.exists(), "a crafted pickle ran code"


def test_pickle_running_os_system_is_refused(tmp_path, marker):
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": Exploit(marker), "f": np.zeros((1, 3))}))
    with pytest.raises(UnsafePickleError, match=r"refused to load: .*(posix|os|nt)\.system"):
        load_pickle(path)
    with pytest.raises(FacepartError, match="refused"):
        load_model(path)  # format detection refuses it too, with the same message
    with pytest.raises(FacepartError, match="refused"):
        load_model(path, format="flame")


def test_npy_with_crafted_object_array_is_refused(tmp_path, marker):
    path = tmp_path / "face_model.npy"
    np.save(path, np.array({"u": Exploit(marker)}, dtype=object), allow_pickle=True)
    with pytest.raises(UnsafePickleError, match="refused"):
        load_npy(path)
    for fmt in (None, "3ddfa-v3", "faceverse"):
        with pytest.raises(FacepartError, match="refused"):
            load_model(path, format=fmt)


@pytest.mark.parametrize("payload", [
    EvalExploit(),
    pickle.loads  # a reference to a callable is refused even without calling it
])
def test_other_globals_are_refused(payload):
    for protocol in (0, 2, 4, 5):
        with pytest.raises(UnsafePickleError):
            loads(pickle.dumps(payload, protocol=protocol), "crafted")


def test_builtins_that_run_code_are_refused():
    # GLOBAL 'builtins getattr' / 'builtins __import__' handcrafted in protocol 0
    for name in (b"getattr", b"__import__", b"exec", b"open"):
        data = b"c__builtin__\n" + name + b"\n(S'os'\ntR."
        with pytest.raises(UnsafePickleError, match="refused"):
            loads(data, "crafted")


def test_allowed_types_round_trip():
    import scipy.sparse as sp

    obj = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "b": [np.int64(3), (1.5, "x")], "c": {1, 2},
           "d": np.array([np.arange(2), np.arange(3)], dtype=object), "s": sp.csc_matrix(np.eye(3))}
    for protocol in (0, 2, 3, 4, 5):
        out = loads(pickle.dumps(obj, protocol=protocol), "ok")
        np.testing.assert_array_equal(out["a"], obj["a"])
        assert out["b"][0] == 3 and out["c"] == {1, 2}
        np.testing.assert_array_equal(out["s"].toarray(), np.eye(3))


def test_chumpy_select_stub_is_resolved():
    """chumpy.reordering.Select: a.ravel()[idxs].reshape(preferred_shape)."""
    src = tiny_source()
    d = flame_dict(src, n_shape=2, n_exp=2)
    raw = flame_pickle(d)
    # wrap shapedirs in a Select-like stub by hand: replace the Ch class name
    raw = raw.replace(b"cchumpy.ch\nCh\n", b"cchumpy.reordering\nSelect\n", 1)
    out = loads(raw, "select")
    assert isinstance(out["shapedirs"], np.ndarray)  # state without idxs falls back to 'x'


def test_unknown_chumpy_object_without_value_is_a_clear_error():
    data = b"\x80\x02cchumpy.ch_ops\nadd\n)\x81}X\x01\x00\x00\x00aK\x01sb."
    with pytest.raises(FacepartError, match="cannot read without chumpy"):
        loads(data, "ops")


# -- fuzzing -----------------------------------------------------------------------------------------

SRC = tiny_source()


def _v3(folder: Path) -> Path:
    path = folder / "face_model.npy"
    np.save(path, v3_dict(SRC), allow_pickle=True)
    return path


def _fv1(folder: Path) -> Path:
    path = folder / "faceverse_base_v1.npy"
    np.save(path, faceverse_v12_dict(SRC, np.arange(SRC.n * 2 // 3)), allow_pickle=True)
    return path


def _fv3(folder: Path) -> Path:
    path = folder / "faceverse_v3.npy"
    np.save(path, faceverse_v3_dict(SRC), allow_pickle=True)
    return path


def _flame(folder: Path) -> Path:
    write_flame_masks(folder, SRC)
    path = folder / "generic_model.pkl"
    path.write_bytes(flame_pickle(flame_dict(SRC, n_shape=2, n_exp=2)))
    return path


WRITERS = {
    "bfm2009": lambda f: write_bfm2009(f, SRC),
    "deep3d": lambda f: write_deep3d(f / "BFM_model_front.mat", SRC),
    "deep3d-compressed": lambda f: write_deep3d(f / "BFM09_model_info.mat", SRC, compress=True),
    "3ddfa-v3": _v3,
    "3ddfa-v2": lambda f: write_3ddfa_v2(f, SRC),
    "bfm2017": lambda f: write_bfm2017(f / "model2017-1_bfm_nomouth.h5", SRC),
    "faceverse": _fv1,
    "faceverse-v3": _fv3,
    "flame": _flame,
}
FORMAT_OF = {"faceverse-v3": "faceverse", "deep3d-compressed": "deep3d"}
# FACEPART_FUZZ_EXAMPLES=2000 runs a long, randomised fuzz session locally
_LONG = int(os.environ.get("FACEPART_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 40, deadline=None, derandomize=not _LONG, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _valid(name: str) -> dict[str, bytes]:
    """The valid file set of a format (model + companions) as {file name: bytes}."""
    with tempfile.TemporaryDirectory() as tmp:
        main = WRITERS[name](Path(tmp))
        files = {p.name: p.read_bytes() for p in Path(tmp).iterdir()}
    return {"__main__": main.name, **files}


VALID = {name: _valid(name) for name in WRITERS}


def _load_expecting_only_facepart_errors(files: dict, name: str, forced: bool):
    with tempfile.TemporaryDirectory() as tmp:
        for fname, data in files.items():
            if fname != "__main__":
                Path(tmp, fname).write_bytes(data)
        path = Path(tmp, files["__main__"])
        try:
            model = load_model(path, format=FORMAT_OF.get(name, name) if forced else None)
        except FacepartError as err:
            assert "\n" not in str(err).strip() and str(err)
            return None
        assert np.all(np.isfinite(model.vertices))
        return model


def test_valid_fuzz_seeds_load():
    for name, files in VALID.items():
        model = _load_expecting_only_facepart_errors(files, name, forced=False)
        assert model is not None and model.n_vertices == SRC.n, name


@st.composite
def byte_mutation(draw, name):
    files = dict(VALID[name])
    target = files["__main__"]
    data = bytearray(files[target])
    kind = draw(st.sampled_from(["truncate", "flip", "both"]))
    if kind in ("flip", "both"):
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    if kind in ("truncate", "both"):
        data = data[: draw(st.integers(0, len(data) - 1))]
    files[target] = bytes(data)
    return files


@pytest.mark.parametrize("name", sorted(WRITERS))
@FUZZ
@given(data=st.data())
def test_fuzz_bytes(name, data):
    files = data.draw(byte_mutation(name))
    _load_expecting_only_facepart_errors(files, name, forced=data.draw(st.booleans()))


# structural mutations: rewrite the container with one entry changed
REPLACEMENTS = st.sampled_from([
    "delete", "nan", "empty", "scalar", "string", "transpose", "wrong_rows", "negative", "huge", "float_noise",
    "object", "none", "list", "bool",
])


def _replacement(kind: str, value, rng):
    arr = np.asarray(value) if not isinstance(value, (list, dict)) else None
    if kind == "nan":
        ok = arr is not None and arr.dtype.kind in "biuf" and arr.size
        out = np.array(arr, dtype=np.float64) if ok else np.zeros(3)
        out.flat[0] = np.nan
        return out
    return {
        "empty": np.zeros((0,)),
        "scalar": np.float64(7.0),
        "string": "not an array",
        "transpose": arr.T if arr is not None and arr.dtype != object else np.zeros((2, 5)),
        "wrong_rows": np.ones((max(1, (arr.shape[0] if arr is not None and arr.ndim else 3) - 1), 3)),
        "negative": -np.ones(arr.shape if arr is not None and arr.dtype != object else (3,), np.int64),
        "huge": np.full(arr.shape if arr is not None and arr.dtype != object else (3,), 2 ** 40, np.int64),
        "float_noise": rng.standard_normal(arr.shape if arr is not None and arr.dtype != object else (4, 3)),
        "object": np.array([np.arange(2), "x"], dtype=object),
        "none": None,
        "list": [[1, 2], [3]],
        "bool": True,
    }[kind]


def _mutated_dict(d: dict, key: str, kind: str, seed: int) -> dict:
    d = dict(d)
    if kind == "delete":
        del d[key]
    else:
        d[key] = _replacement(kind, d[key], np.random.default_rng(seed))
    return d


def _unpickle_test_file(raw: bytes) -> dict:
    """Our own test file, with the fake chumpy/scipy stand-ins of the writer (trusted: we wrote it)."""
    flame_dict(SRC, 2, 2)  # registers the fake modules
    return pickle.loads(raw.replace(b"cchumpy.ch\nCh\n", b"cfakechumpy_ch\nCh\n").replace(
        b"cscipy.sparse.csc\ncsc_matrix\n", b"cfakescipy_csc\ncsc_matrix\n"))


def _rewrite(name: str, files: dict, key: str, kind: str, seed: int) -> dict | None:
    """Rewrite the main file with ``key`` mutated; None when the container cannot hold the value."""
    import scipy.io

    main = files["__main__"]
    raw = files[main]
    files = dict(files)
    if main.endswith(".mat"):
        d = {k: v for k, v in scipy.io.loadmat(io.BytesIO(raw)).items() if not k.startswith("__")}
        d = _mutated_dict(d, key, kind, seed)
        buf = io.BytesIO()
        try:
            scipy.io.savemat(buf, {k: v for k, v in d.items() if v is not None})
        except Exception:  # noqa: BLE001 - the .mat writer cannot store this value
            return None
        files[main] = buf.getvalue()
    elif main.endswith(".npy"):
        d = np.load(io.BytesIO(raw), allow_pickle=True).item()
        buf = io.BytesIO()
        np.save(buf, _mutated_dict(d, key, kind, seed), allow_pickle=True)
        files[main] = buf.getvalue()
    elif main.endswith(".pkl"):
        files[main] = flame_pickle(_mutated_dict(_unpickle_test_file(raw), key, kind, seed))
    elif main.endswith(".h5"):
        import h5py

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, main)
            path.write_bytes(raw)
            with h5py.File(path, "a") as fh:
                old = np.asarray(fh[key][()])
                del fh[key]
                if kind != "delete":
                    value = _replacement(kind, old, np.random.default_rng(seed))
                    try:
                        fh[key] = value
                    except Exception:  # noqa: BLE001 - h5py cannot store this value
                        return None
            files[main] = path.read_bytes()
    return files


def _keys(name: str) -> list[str]:
    files = VALID[name]
    main = files["__main__"]
    raw = files[main]
    if main.endswith(".mat"):
        import scipy.io

        return sorted(k for k in scipy.io.loadmat(io.BytesIO(raw)) if not k.startswith("__"))
    if main.endswith(".npy"):
        return sorted(np.load(io.BytesIO(raw), allow_pickle=True).item())
    if main.endswith(".pkl"):
        return sorted(_unpickle_test_file(raw))
    from facepart.data.formats.bfm2017 import DATASETS

    return [k for k in DATASETS if not k.startswith("version")]


@pytest.mark.parametrize("name", sorted(WRITERS))
@FUZZ
@given(data=st.data())
def test_fuzz_structure(name, data):
    key = data.draw(st.sampled_from(_keys(name)))
    kind = data.draw(REPLACEMENTS)
    files = _rewrite(name, VALID[name], key, kind, data.draw(st.integers(0, 1000)))
    if files is None:
        return
    options = {}
    if name == "flame" and data.draw(st.booleans()):
        options = {"jaw_open": 0.1}
    with tempfile.TemporaryDirectory() as tmp:
        for fname, blob in files.items():
            if fname != "__main__":
                Path(tmp, fname).write_bytes(blob)
        try:
            load_model(Path(tmp, files["__main__"]), format=FORMAT_OF.get(name, name), **options)
        except FacepartError:
            pass


@FUZZ
@given(data=st.data())
def test_fuzz_companions(data):
    """Damaged companion files (Exp_Pca.bin, std_exp.txt, index maps, tri.pkl, params, masks)."""
    name, companion = data.draw(st.sampled_from([
        ("bfm2009", "Exp_Pca.bin"), ("bfm2009", "std_exp.txt"), ("bfm2009", "BFM_exp_idx.mat"),
        ("3ddfa-v2", "tri.pkl"), ("3ddfa-v2", "param_mean_std_62d_120x120.pkl"), ("flame", "FLAME_masks.pkl"),
    ]))
    files = dict(VALID[name])
    if companion not in files:  # build the BFM 2009 expression companions
        from test_formats_layouts import write_exp_pca

        with tempfile.TemporaryDirectory() as tmp:
            write_exp_pca(Path(tmp), SRC, np.arange(SRC.n - 3))
            files.update({p.name: p.read_bytes() for p in Path(tmp).iterdir()})
    blob = bytearray(files[companion])
    cut = data.draw(st.integers(0, max(0, len(blob) - 1)))
    for _ in range(data.draw(st.integers(0, 4))):
        if blob:
            blob[data.draw(st.integers(0, len(blob) - 1))] = data.draw(st.integers(0, 255))
    files[companion] = bytes(blob[:cut] if data.draw(st.booleans()) else blob)
    _load_expecting_only_facepart_errors(files, name, forced=True)
