"""A small, pure-numpy reader of MATLAB level-5 .mat files (numeric and logical arrays).

Why not ``scipy.io.loadmat``: its compiled reader crashes the interpreter
(segmentation fault) on some damaged files, e.g. a data element whose type
field is corrupt, and a crash cannot be turned into a clear error. This
reader only uses Python and numpy, so damage surfaces as an exception.

Level-5 layout (MathWorks "MAT-File Format"): a 128-byte header (text, subsystem
offset, version 0x0100, endian indicator "IM"/"MI"), then data elements. Each
element has an 8-byte tag (uint32 type, uint32 byte count) or, when the count
fits in 16 bits, a 4-byte "small element" tag with up to 4 bytes of data; elements
are padded to 8 bytes. A variable is an miMATRIX element (type 14), possibly
zlib-compressed inside an miCOMPRESSED element (type 15), holding: array flags
(class in the low byte), dimensions (int32), name (int8), the real part and,
for complex arrays, the imaginary part. Data are column-major.

Numeric, logical and char arrays are read; cells, structs, objects and sparse
matrices are skipped (model files keep their arrays as plain numeric variables).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from ...errors import FacepartError

#: data element type -> numpy dtype (without byte order)
MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8",
            16: "u1", 17: "u2", 18: "u4"}
MI_MATRIX, MI_COMPRESSED = 14, 15
#: array class -> numpy dtype of the result
CLASSES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
CHAR_CLASS = 4
LOGICAL_FLAG = 0x02
COMPLEX_FLAG = 0x08
MAX_ELEMENTS = 2 ** 31  # no model variable is larger


class MatError(ValueError):
    """The file does not follow the level-5 layout."""


def _tag(buf: bytes, pos: int, end: int, bo: str) -> tuple[int, int, int]:
    """(type, byte count, data offset) of the element at ``pos``."""
    if pos + 8 > end:
        raise MatError(f"truncated data element at byte {pos}")
    first = int(np.frombuffer(buf, bo + "u4", 1, pos)[0])
    if first >> 16:  # small data element: type and size share 4 bytes, data in the next 4
        kind, size = first & 0xFFFF, first >> 16
        if size > 4:
            raise MatError(f"a small data element claims {size} bytes at byte {pos}")
        return kind, size, pos + 4
    size = int(np.frombuffer(buf, bo + "u4", 1, pos + 4)[0])
    if pos + 8 + size > end:
        raise MatError(f"a data element at byte {pos} claims {size} bytes, beyond the end of its container")
    return first, size, pos + 8


def _next(pos: int, data_at: int, size: int) -> int:
    if data_at == pos + 4:  # small element: always 8 bytes in total
        return pos + 8
    return data_at + size + (-size % 8)


def _numeric(buf: bytes, kind: int, size: int, at: int, bo: str) -> np.ndarray:
    if kind not in MI_TYPES:
        raise MatError(f"unknown data type {kind}")
    dtype = np.dtype(bo + MI_TYPES[kind])
    if size % dtype.itemsize:
        raise MatError(f"{size} bytes is not a whole number of {dtype} values")
    return np.frombuffer(buf, dtype, size // dtype.itemsize, at)


def _matrix(buf: bytes, start: int, end: int, bo: str, want) -> tuple[str, np.ndarray | None]:
    """(name, array or None if skipped) of the miMATRIX contents in buf[start:end]."""
    pos = start
    parts = []
    for _ in range(3):  # flags, dimensions, name
        kind, size, at = _tag(buf, pos, end, bo)
        parts.append(_numeric(buf, kind, size, at, bo))
        pos = _next(pos, at, size)
    flags, dims, name_raw = parts
    if flags.size < 1 or dims.size < 1:
        raise MatError("a variable without array flags or dimensions")
    name = bytes(np.asarray(name_raw, np.uint8)).decode("latin1") if name_raw.size else ""
    cls, bits = int(flags[0]) & 0xFF, (int(flags[0]) >> 8) & 0xFF
    if not want(name) or (cls not in CLASSES and cls != CHAR_CLASS):
        return name, None
    shape = tuple(int(d) for d in dims)
    if any(d < 0 for d in shape):
        raise MatError(f"variable '{name}' has negative dimensions {shape}")
    count = int(np.prod(shape, dtype=np.float64))
    if count > MAX_ELEMENTS:
        raise MatError(f"variable '{name}' claims {count} elements")
    kind, size, at = _tag(buf, pos, end, bo)
    real = _numeric(buf, kind, size, at, bo)
    if real.size != count:
        raise MatError(f"variable '{name}' has {real.size} values for dimensions {shape}")
    if cls == CHAR_CLASS:
        text = "".join(chr(int(c)) for c in real.reshape(shape, order="F").T.ravel()) if count else ""
        return name, np.array(text)
    with np.errstate(invalid="ignore", over="ignore"):  # damaged values are checked by the loaders
        out = real.astype(CLASSES[cls]).reshape(shape, order="F")
    if bits & COMPLEX_FLAG:
        pos = _next(pos, at, size)
        kind, size, at = _tag(buf, pos, end, bo)
        imag = _numeric(buf, kind, size, at, bo)
        if imag.size != count:
            raise MatError(f"variable '{name}' has a malformed imaginary part")
        out = out + 1j * imag.astype(np.float64).reshape(shape, order="F")
    if bits & LOGICAL_FLAG:
        out = out.astype(bool)
    return name, out


def _header(buf: bytes) -> str:
    if len(buf) < 128:
        raise MatError("too short for a MATLAB 5 file (128-byte header)")
    if buf[:10] == b"MATLAB 7.3" or buf[512:520] == b"\x89HDF\r\n\x1a\n":
        raise MatError("MATLAB v7.3 (HDF5) file")
    indicator = buf[126:128]
    if indicator == b"IM":
        return "<"
    if indicator == b"MI":
        return ">"
    raise MatError("not a MATLAB 5 file (no IM/MI endian indicator)")


def _walk(buf: bytes, bo: str, want, names_only: bool):
    """Yield (name, array or None) for each top-level variable."""
    pos, end = 128, len(buf)
    while pos + 8 <= end:
        kind, size, at = _tag(buf, pos, end, bo)
        if kind == MI_COMPRESSED:
            raw = buf[at:at + size]
            if names_only:  # the header of the inner matrix is enough for its name
                inner = zlib.decompressobj().decompress(raw, 4096)
            else:
                inner = zlib.decompress(raw)
            if len(inner) < 8:
                raise MatError("an empty compressed element")
            ikind, isize, iat = (int(np.frombuffer(inner, bo + "u4", 1, 0)[0]),
                                 int(np.frombuffer(inner, bo + "u4", 1, 4)[0]), 8)
            if ikind == MI_MATRIX:
                limit = len(inner) if names_only else min(len(inner), iat + isize)
                if not names_only and iat + isize > len(inner):
                    raise MatError("a compressed variable is shorter than it claims")
                yield _matrix(inner, iat, limit, bo, (lambda n: False) if names_only else want)
            pos = at + size  # compressed elements are not padded
            continue
        if kind == MI_MATRIX:
            yield _matrix(buf, at, at + size, bo, (lambda n: False) if names_only else want)
        pos = _next(pos, at, size)


def _read(path: Path) -> bytes:
    from ...io_utils import check_regular_file

    check_regular_file(path, "a MATLAB .mat file")
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise FacepartError(f"{path}: file not found") from None
    except OSError as exc:
        raise FacepartError(f"{path}: cannot read ({exc.strerror})") from None


def loadmat5(path: str | Path, variables=None) -> dict[str, np.ndarray]:
    """Numeric/logical/char variables of a level-5 .mat file (``variables``: only these names)."""
    buf = _read(Path(path))
    bo = _header(buf)
    want = (lambda n: True) if variables is None else (lambda n: n in set(variables))
    return {name: arr for name, arr in _walk(buf, bo, want, False) if arr is not None}


def variable_names(path: str | Path) -> list[str]:
    """Names of the top-level variables (reads only element headers)."""
    buf = _read(Path(path))
    bo = _header(buf)
    return [name for name, _ in _walk(buf, bo, None, True)]
