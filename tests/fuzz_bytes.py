"""Byte-level damage for the fuzz tests: one hypothesis-driven mutation of a file's bytes."""

from hypothesis import strategies as st


def mutate_bytes(data, raw: bytes) -> bytes:
    """``raw`` truncated, with bytes flipped, both, or with bytes inserted (drawn from ``data``); random
    bytes when ``raw`` is empty."""
    out = bytearray(raw)
    if not out:
        return data.draw(st.binary(max_size=32))
    kind = data.draw(st.sampled_from(["truncate", "flip", "both", "insert"]), "byte mutation")
    if kind in ("flip", "both"):
        for _ in range(data.draw(st.integers(1, 8))):
            out[data.draw(st.integers(0, len(out) - 1))] = data.draw(st.integers(0, 255))
    if kind == "insert":
        i = data.draw(st.integers(0, len(out)))
        out[i:i] = data.draw(st.binary(min_size=1, max_size=16))
    if kind in ("truncate", "both"):
        out = out[: data.draw(st.integers(0, len(out) - 1))]
    return bytes(out)
