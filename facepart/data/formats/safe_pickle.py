"""Reading pickled model files without running code from them.

``pickle.load`` and ``np.load(allow_pickle=True)`` call whatever function a
file names, so a crafted ``.pkl``/``.npy`` can run any command. The face-model
files facepart reads (3DDFA-V3 ``face_model.npy``, FaceVerse ``.npy``, 3DDFA_V2
``.pkl``, FLAME ``generic_model.pkl`` and ``FLAME_masks.pkl``) only need numpy
arrays, builtin containers, scipy sparse matrices and chumpy arrays. This
unpickler resolves exactly those names:

* numpy arrays, scalars and dtypes (numpy 1.x and 2.x names). These are *not*
  handed to numpy's own reconstructors, whose ``__setstate__`` can crash the
  interpreter on damaged state: they map to stand-ins, and arrays are built with
  ``np.frombuffer`` after their size and plain dtype are checked;
* builtin containers and scalars, ``copyreg._reconstructor`` (Python 2
  protocol 0/1 objects) and ``_codecs.encode`` (bytes in protocol 2);
* ``scipy.sparse`` csc/csr/coo matrices and any ``chumpy.*`` class map to inert
  stand-ins that only record their state; they are turned into scipy/numpy
  arrays afterwards (chumpy's ``Ch`` keeps its value in state key ``x``,
  ``reordering.Select`` is ``a.ravel()[idxs].reshape(preferred_shape)``), and
  sparse matrices get scipy's full index check.

Any other name is refused with :class:`UnsafePickleError` before it is
imported. Python 2 pickles are read with ``encoding="latin1"``.
"""

from __future__ import annotations

import _compat_pickle
import ast
import re
import copyreg
import io
import pickle
from pathlib import Path

import numpy as np

from ...errors import FacepartError
from ...io_utils import open_input

PICKLE_SUFFIXES = (".pkl", ".pickle", ".npy")


class UnsafePickleError(FacepartError):
    """A pickle asked for a function or class outside the allowed data types."""


# -- numpy stand-ins ------------------------------------------------------------

#: plain dtypes a model file may hold: bool, ints, floats, complex, text, objects
_DTYPE_RE = re.compile(r"^[<>|=]?(b1|[iu][1248]|f[248]|c(8|16)|[US]\d{1,6}|O[48]?)$")
MAX_ITEMS = 2 ** 31


class DType:
    """Stand-in for a pickled ``numpy.dtype``: the type string, then its byte order from the state."""

    def __init__(self, spec=None, align=False, copy=False):
        self.spec = spec if isinstance(spec, str) else (spec.decode("latin1") if isinstance(spec, bytes) else None)
        self.byteorder = ""

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 5 or any(x is not None for x in state[2:5]):
            raise UnsafePickleError("a pickled dtype with fields or sub-arrays (only plain dtypes are read)")
        self.byteorder = state[1] if isinstance(state[1], str) and state[1] in "<>|=" else ""

    def resolve(self) -> np.dtype:
        spec = self.spec or ""
        if spec and spec[0] in "<>|=":
            spec = spec[1:]
        text = (self.byteorder if self.byteorder in "<>" else "") + spec
        if not spec or not _DTYPE_RE.match(text):
            raise FacepartError(f"unsupported pickled dtype '{self.spec}'")
        return np.dtype(text)


class ArrayClass:
    """Stand-in for ``numpy.ndarray`` as the class argument of ``_reconstruct``."""


class Array:
    """Stand-in for a pickled ndarray: built from its ``__setstate__`` tuple with checks."""

    def __init__(self, *args):
        self.value = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise FacepartError("a pickled array with malformed state")
        if len(state) == 5:
            state = state[1:]
        shape, dtype, fortran, raw = state
        self.value = _build_array(shape, dtype, fortran, raw)


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and 0 <= d for d in shape) or len(shape) > 32:
        raise FacepartError("a pickled array with a malformed shape")
    if int(np.prod(shape, dtype=np.float64)) > MAX_ITEMS:
        raise FacepartError("a pickled array claims more elements than any model holds")
    return shape


def _build_array(shape, dtype, fortran, raw) -> np.ndarray:
    shape = _shape(shape)
    if not isinstance(dtype, DType):
        raise FacepartError("a pickled array without a plain dtype")
    dt = dtype.resolve()
    count = int(np.prod(shape, dtype=np.int64))
    order = "F" if fortran else "C"
    if dt.kind == "O":
        if not isinstance(raw, list) or len(raw) != count:
            raise FacepartError("a pickled object array with the wrong number of items")
        out = np.empty(count, dtype=object)
        for i, item in enumerate(raw):
            out[i] = item
        return out.reshape(shape, order=order)
    if isinstance(raw, str):  # Python 2 str read with latin1
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * dt.itemsize:
        raise FacepartError(f"a pickled {dt} array of shape {shape} has the wrong number of bytes")
    return np.frombuffer(bytes(raw), dtype=dt).reshape(shape, order=order).copy()


def _reconstruct(cls=None, shape=None, typecode=None):
    if cls is not ArrayClass:
        raise UnsafePickleError("numpy _reconstruct called with another class than ndarray")
    return Array()


def _scalar(dtype, raw=None):
    if not isinstance(dtype, DType):
        raise FacepartError("a pickled numpy scalar without a plain dtype")
    dt = dtype.resolve()
    if dt.kind == "O":
        return raw
    if isinstance(raw, str):
        raw = raw.encode("latin1")
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != dt.itemsize:
        raise FacepartError("a pickled numpy scalar with the wrong number of bytes")
    return np.frombuffer(bytes(raw), dtype=dt)[0]


def _frombuffer(buf, dtype, shape, order):
    raw = buf.raw() if isinstance(buf, pickle.PickleBuffer) else buf
    if isinstance(dtype, np.dtype):
        dtype_stub = DType(dtype.str)
    elif isinstance(dtype, DType):
        dtype_stub = dtype
    else:
        raise FacepartError("a pickled buffer array without a plain dtype")
    return _build_array(shape, dtype_stub, order == "F", bytes(raw))


def _numpy_callables() -> dict[tuple[str, str], object]:
    out = {}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "_reconstruct")] = _reconstruct
        out[(mod, "scalar")] = _scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        out[(mod, "_frombuffer")] = _frombuffer
    out[("numpy", "ndarray")] = ArrayClass
    out[("numpy", "dtype")] = DType
    return out


_BUILTINS = ("set", "frozenset", "list", "dict", "tuple", "complex", "slice", "range", "bytearray",
             "object", "int", "float", "str", "bytes", "bool")


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    """``_codecs.encode`` restricted to latin1 (how protocol 2 stores bytes under Python 3)."""
    if not isinstance(obj, str) or str(encoding).lower().replace("-", "") not in ("latin1", "iso88591"):
        raise UnsafePickleError("the pickle uses _codecs.encode with an unexpected codec")
    return obj.encode("latin1", errors)


_ALLOWED: dict[tuple[str, str], object] = {
    **_numpy_callables(),
    **{("builtins", name): getattr(__import__("builtins"), name) for name in _BUILTINS},
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): _codecs_encode,
    ("collections", "OrderedDict"): __import__("collections").OrderedDict,
}

_SPARSE_NAMES = ("csc_matrix", "csr_matrix", "coo_matrix", "csc_array", "csr_array", "coo_array")


class Stub:
    """An inert stand-in for a pickled chumpy or scipy.sparse object: it only records arguments and state."""

    origin = "?"

    def __init__(self, *args, **kwargs):
        self.args = args
        self.state = None

    def __setstate__(self, state):
        self.state = state

    def __repr__(self):
        return f"<stub of {self.origin}>"


_STUB_CLASSES: dict[str, type] = {}


def _stub_class(origin: str) -> type:
    if origin not in _STUB_CLASSES:
        _STUB_CLASSES[origin] = type("Stub_" + origin.replace(".", "_"), (Stub,), {"origin": origin})
    return _STUB_CLASSES[origin]


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only the allow-listed names (see the module docstring)."""

    def __init__(self, file, source: str):
        super().__init__(file, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        # Python 2 names (copy_reg, __builtin__ ...); no Python 3 module has these names
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _stub_class(f"{module}.{name}")
        if (module == "scipy.sparse" or module.startswith("scipy.sparse.")) and name in _SPARSE_NAMES:
            return _stub_class(f"scipy.sparse.{name}")
        raise UnsafePickleError(
            f"{self.source}: refused to load: the pickle asks for '{module}.{name}', which is not one of the "
            "numpy/scipy/builtin data types a face-model file needs (facepart never runs code from a model file)")

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: refused to load: the pickle uses persistent ids")


# -- resolving stand-ins ------------------------------------------------------

def _state_dict(stub: Stub) -> dict:
    state = stub.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        state = {**(state[0] or {}), **state[1]}  # (dict state, slot state)
    return state if isinstance(state, dict) else {}


def _resolve_sparse(stub: Stub, source: str):
    import scipy.sparse as sp

    st = _state_dict(stub)
    kind = stub.origin.rsplit(".", 1)[1][:3]
    shape = st.get("_shape", st.get("shape"))
    try:
        shape = tuple(int(s) for s in shape)
        if kind in ("csc", "csr"):
            data, indices, indptr = (np.asarray(_resolve(st[k], source)) for k in ("data", "indices", "indptr"))
            cls = sp.csc_matrix if kind == "csc" else sp.csr_matrix
            out = cls((data, indices, indptr), shape=shape)
            out.check_format(full_check=True)  # sparsetools trusts indices: check them all
            return out
        data = np.asarray(_resolve(st["data"], source))
        if "coords" in st:
            row, col = (np.asarray(c) for c in _resolve(st["coords"], source))
        else:
            row, col = np.asarray(_resolve(st["row"], source)), np.asarray(_resolve(st["col"], source))
        if row.size and (row.min() < 0 or col.min() < 0 or row.max() >= shape[0] or col.max() >= shape[1]):
            raise ValueError("indices out of range")
        return sp.coo_matrix((data, (row, col)), shape=shape)
    except Exception as exc:  # malformed sparse state: any scipy/numpy complaint means a corrupt file
        raise FacepartError(f"{source}: a pickled {stub.origin} is malformed ({type(exc).__name__}: {exc})") from None


def _resolve_chumpy(stub: Stub, source: str):
    st = _state_dict(stub)
    if "a" in st and "idxs" in st:  # chumpy.reordering.Select and friends
        a = np.asarray(_resolve(st["a"], source))
        try:
            out = a.ravel()[np.asarray(_resolve(st["idxs"], source), dtype=np.int64).ravel()]
            shape = st.get("preferred_shape")
            return out.reshape(tuple(shape)) if shape is not None else out
        except (ValueError, IndexError, TypeError) as exc:
            raise FacepartError(f"{source}: a pickled {stub.origin} is malformed ({exc})") from None
    if "x" in st:
        return np.asarray(_resolve(st["x"], source))
    raise FacepartError(f"{source}: the pickle holds a {stub.origin} object that facepart cannot read without chumpy "
                        "(only chumpy arrays 'Ch' and index selections are supported)")


def _resolve(obj, source: str, depth: int = 0):
    """Replace stand-ins by arrays, recursively through containers."""
    if depth > 50:
        raise FacepartError(f"{source}: the pickle nests containers too deeply for a model file")
    if isinstance(obj, Array):
        if obj.value is None:
            raise FacepartError(f"{source}: a pickled array without its data")
        return _resolve(obj.value, source, depth + 1) if obj.value.dtype == object else obj.value
    if isinstance(obj, (DType, ArrayClass)) or obj is ArrayClass:
        raise FacepartError(f"{source}: the pickle holds a bare numpy type, not data")
    if isinstance(obj, Stub):
        if obj.origin.startswith("scipy.sparse."):
            return _resolve_sparse(obj, source)
        return _resolve_chumpy(obj, source)
    if isinstance(obj, dict):
        return {k: _resolve(v, source, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_resolve(v, source, depth + 1) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_resolve(v, source, depth + 1) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype == object:
        out = np.empty(obj.shape, dtype=object)
        for i, v in np.ndenumerate(obj):
            out[i] = _resolve(v, source, depth + 1)
        return out
    return obj


# -- public API ---------------------------------------------------------------

def loads(data: bytes, source: str = "<bytes>"):
    """Unpickle ``data`` with the restricted unpickler and resolve stand-ins."""
    return _unpickle(io.BytesIO(data), source)


def _unpickle(fh, source: str):
    try:
        obj = RestrictedUnpickler(fh, source).load()
    except FacepartError as err:  # the stand-ins (arrays, dtypes) do not know the file: name it here, once
        if str(err).startswith(f"{source}: "):
            raise
        raise type(err)(f"{source}: {err}") from None
    except RecursionError:
        raise FacepartError(f"{source}: not a readable pickle (nested too deeply)") from None
    except MemoryError:
        raise FacepartError(f"{source}: not a readable pickle (a size field asks for more memory than there is)") \
            from None
    except Exception as exc:  # the unpickler raises many types on corrupt data
        raise FacepartError(f"{source}: not a readable pickle ({type(exc).__name__}: {_short(exc)})") from None
    return _resolve(obj, source)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text[:160]


def load_pickle(path: str | Path):
    """Read a ``.pkl`` file safely (Python 2 or 3 pickles), streaming from the file."""
    path = Path(path)
    with open_input(path) as fh:
        return _unpickle(fh, str(path))


NPY_MAGIC = b"\x93NUMPY"


def _npy_header(data: bytes, source: str) -> tuple[dict, int]:
    """Parse a .npy header by hand: (header dict, offset of the data)."""
    if not data.startswith(NPY_MAGIC) or len(data) < 10:
        raise FacepartError(f"{source}: not a .npy file (no NUMPY magic)")
    major = data[6]
    if major == 1:
        hlen, start, enc = int.from_bytes(data[8:10], "little"), 10, "latin1"
    elif major in (2, 3):
        hlen, start, enc = int.from_bytes(data[8:12], "little"), 12, "latin1" if major == 2 else "utf8"
    else:
        raise FacepartError(f"{source}: unsupported .npy format version {major}")
    if start + hlen > len(data):
        raise FacepartError(f"{source}: truncated .npy header")
    try:
        header = ast.literal_eval(data[start:start + hlen].decode(enc))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise FacepartError(f"{source}: malformed .npy header") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise FacepartError(f"{source}: malformed .npy header (expected descr, fortran_order, shape)")
    return header, start + hlen


def npy_is_pickle(path: str | Path) -> bool:
    """True if a .npy file holds pickled objects (dtype ``O``); reads only the header."""
    path = Path(path)
    with open_input(path, "rb", "a .npy file") as fh:
        head = fh.read(65536 + 12)
    header, _ = _npy_header(head, str(path))
    return header["descr"] in ("|O", "O")


def load_npy(path: str | Path):
    """Read a ``.npy`` file without ``allow_pickle``: plain arrays via numpy, object arrays via the
    restricted unpickler (a pickled dict saved with ``np.save`` comes back as the dict)."""
    path = Path(path)
    with open_input(path) as fh:
        header, offset = _npy_header(fh.read(65536 + 12), str(path))
        fh.seek(0)
        if header["descr"] not in ("|O", "O"):
            try:
                return np.load(fh, allow_pickle=False)
            except MemoryError:
                raise FacepartError(f"{path}: not a readable .npy file (its shape asks for more memory than there "
                                    "is)") from None
            except Exception as exc:  # ValueError/EOFError/... on a damaged array
                raise FacepartError(f"{path}: not a readable .npy file ({type(exc).__name__}: {_short(exc)})") \
                    from None
        fh.seek(offset)
        obj = _unpickle(fh, str(path))
    if isinstance(obj, np.ndarray) and obj.dtype == object and obj.shape == ():
        obj = obj.item()
    return obj
