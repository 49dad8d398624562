"""Property tests for the files a user hands facepart besides models (the loaders' are in test_formats_safety.py).

One property for all: whatever the bytes, keys, dtypes or shapes, reading
gives a clear one-line FacepartError or a correct result, never another
exception. Files: annotation.npz, parts.json, label tables (YAML/JSON),
mask folders (labels.yaml, label PNGs of any size/dtype/channels, the
render-set manifest). FACEPART_FUZZ_EXAMPLES=2000 runs a long randomised
session locally.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from fuzz_bytes import mutate_bytes
from test_hardening_inputs import npz_entries, sheet, small_annotation

from facepart.data.annotation import LAYOUT, load_annotation, read_labels, save_annotation
from facepart.data.parts import PartTable
from facepart.errors import FacepartError

_LONG = int(os.environ.get("FACEPART_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_LONG or 60, deadline=None, derandomize=not _LONG, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PARTS = PartTable.paper()
V = 36


def one_line_or(call):
    """``call()``'s result, or None after checking that it failed with one non-empty FacepartError line."""
    try:
        return call()
    except FacepartError as err:
        text = str(err).strip()
        assert text and "\n" not in text, text
        return None


# -- annotation.npz ------------------------------------------------------------------------------------------------

with tempfile.TemporaryDirectory() as _tmp:
    save_annotation(small_annotation(), _tmp)
    VALID_NPZ = (Path(_tmp) / "annotation.npz").read_bytes()
VALID_ENTRIES = npz_entries(io.BytesIO(VALID_NPZ))

DTYPES = st.sampled_from([np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.uint64, np.float16,
                          np.float32, np.float64, np.complex64, "U3", "S2"])


@st.composite
def wrong_array(draw, like: np.ndarray):
    """An array of another dtype and/or shape than ``like`` (or the same, with other values)."""
    shape = draw(st.sampled_from([like.shape, (), (0,), (V,), (V, 8), (V, 3), (8,), (8, 3), (6, 6), (V + 1,),
                                  like.shape[::-1]]))
    dtype = draw(st.sampled_from([like.dtype, draw(DTYPES)]))
    return draw(hnp.arrays(dtype, shape))


def check_annotation(ann, entries: dict) -> None:
    """A loaded annotation is correct: consistent shapes and types, and exactly the file's values (no casts)."""
    p = len(ann.parts)
    assert ann.labels.shape == (V,) and ann.votes.shape == (V, p)
    assert ann.labels.min() >= -1 and ann.labels.max() < p
    assert np.array_equal(ann.labels, entries["labels"]) and np.array_equal(ann.votes, entries["votes"])
    assert np.array_equal(ann.confidence, entries["confidence"].astype(np.float32))
    assert np.all(np.isfinite(ann.confidence)) and isinstance(ann.settings, dict)
    assert ann.rule in ("majority", "union")
    members = ann.members()
    assert set(members) == set(ann.parts.names) and all(
        np.all((0 <= np.asarray(v)) & (np.asarray(v) < len(ann.labels))) for v in members.values())


def _load_npz_bytes(raw: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotation.npz"
        path.write_bytes(raw)
        return one_line_or(lambda: load_annotation(path))


def test_the_fuzz_seed_annotation_loads():
    check_annotation(_load_npz_bytes(VALID_NPZ), VALID_ENTRIES)


@FUZZ
@given(data=st.data())
def test_fuzz_annotation_bytes(data):
    _load_npz_bytes(mutate_bytes(data, VALID_NPZ))


@FUZZ
@given(data=st.data())
def test_fuzz_annotation_entries(data):
    entries = dict(VALID_ENTRIES)
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from(sorted(LAYOUT)))
        action = data.draw(st.sampled_from(["replace", "replace", "delete", "text"]))
        if action == "delete":
            entries.pop(key, None)
        elif action == "text":
            entries[key] = np.array(data.draw(st.sampled_from(["", "[]", "{}", "null", "[" * 5000, '{"a": NaN}',
                                                              "majority", "facepart-annotation", "1"])))
        else:
            entries[key] = data.draw(wrong_array(np.asarray(VALID_ENTRIES.get(key, np.zeros(3)))))
    buf = io.BytesIO()
    np.savez(buf, **entries)
    ann = _load_npz_bytes(buf.getvalue())
    if ann is not None:
        check_annotation(ann, entries)


# -- parts.json ------------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats(allow_nan=True) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12)
INDEX_LISTS = st.lists(st.integers(-3, V + 3), max_size=12) | st.lists(st.integers(0, V - 1), max_size=12)
PART_NAMES = st.sampled_from(PARTS.names) | st.text(max_size=6)
PARTS_MAPPINGS = st.dictionaries(PART_NAMES, INDEX_LISTS | JSON_VALUES, max_size=5) | JSON_VALUES


def expected_labels(mapping) -> np.ndarray | None:
    """The labels a valid parts.json gives, or None if it is not valid."""
    if not isinstance(mapping, dict):
        return None
    labels = np.full(V, -1, np.int64)
    for name, idx in mapping.items():
        if name not in PARTS.names or not isinstance(idx, list):
            return None
        if not all(type(i) is int and 0 <= i < V for i in idx):
            return None
        labels[idx] = PARTS.index(name)
    return labels


def _read_labels_text(text: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "parts.json"
        path.write_bytes(text)
        return one_line_or(lambda: read_labels(path, PARTS, V))


@FUZZ
@given(mapping=PARTS_MAPPINGS)
def test_fuzz_parts_json_values(mapping):
    got = _read_labels_text(json.dumps(mapping).encode())
    want = expected_labels(mapping)
    if want is None:
        assert got is None, mapping
    else:
        assert got is not None and np.array_equal(got, want), mapping


@FUZZ
@given(data=st.data())
def test_fuzz_parts_json_bytes(data):
    valid = json.dumps({"nose": [1, 2, 3], "skin": list(range(10, 30)), "left_eye": [35]}).encode()
    raw = mutate_bytes(data, valid)
    got = _read_labels_text(raw)
    try:
        mapping = json.loads(raw)
    except (ValueError, RecursionError):
        assert got is None
        return
    want = expected_labels(mapping)
    assert (got is None) if want is None else np.array_equal(got, want)


# -- label tables ------------------------------------------------------------------------------------------------

CLASS_LISTS = st.lists(st.sampled_from(["background", "skin", "l_eye", "r_eye", "nose", "u_lip", "hair"])
                       | st.text(max_size=6), max_size=6)
LABEL_TABLES = st.fixed_dictionaries({}, optional={
    "name": JSON_VALUES,
    "classes": CLASS_LISTS | st.dictionaries(st.text(max_size=2), st.text(max_size=4)) | JSON_VALUES,
    "canonical": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | JSON_VALUES, max_size=2) | JSON_VALUES,
    "sides": st.sampled_from(["subject", "image", "left", ""]) | JSON_VALUES,
}) | JSON_VALUES


def _load_table(name: str, raw: bytes):
    from facepart.segmenters.labelsets import load_label_set

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(raw)
        table = one_line_or(lambda: load_label_set(path))
    if table is not None:
        assert len(table.classes) == len(table.canonical) >= 1
        assert all(isinstance(c, str) for c in table.classes + table.canonical)
        assert len(set(table.classes)) == len(table.classes) and table.sides in ("subject", "image")
    return table


@FUZZ
@given(table=LABEL_TABLES, suffix=st.sampled_from([".yaml", ".json"]))
def test_fuzz_label_tables(table, suffix):
    import yaml

    text = json.dumps(table) if suffix == ".json" else yaml.safe_dump(table)
    got = _load_table("labels" + suffix, text.encode())
    if got is not None and isinstance(table.get("classes"), list):
        assert list(got.classes) == table["classes"]


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".yaml", ".json"]))
def test_fuzz_label_table_bytes(data, suffix):
    valid = {"name": "mine", "classes": ["background", "skin", "l_eye", "r_eye", "blob"],
             "canonical": {"blob": "nose"}, "sides": "image"}
    import yaml

    text = json.dumps(valid) if suffix == ".json" else yaml.safe_dump(valid)
    _load_table("labels" + suffix, mutate_bytes(data, text.encode()))


# -- mask folders ------------------------------------------------------------------------------------------------

SIZE = 16


@st.composite
def label_images(draw):
    """A PNG-able image: 1, 2 (grey + alpha), 3 or 4 channels, 8 or 16 bit, of the right size or not."""
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    h, w = draw(st.sampled_from([(SIZE, SIZE), (SIZE, SIZE + 1), (1, 1), (SIZE * 2, SIZE)]))
    channels = draw(st.sampled_from([None, 3, 4, 2]))
    shape = (h, w) if channels is None else (h, w, channels)
    high = draw(st.sampled_from([4, 255, 65535 if dtype == np.uint16 else 255]))
    arr = draw(hnp.arrays(dtype, shape, elements=st.integers(0, high)))
    if channels in (3, 4) and draw(st.booleans()):  # grey stored as RGB(A): allowed
        arr[..., 1] = arr[..., 0]
        arr[..., 2] = arr[..., 0]
    return arr


def _encode_png(arr: np.ndarray) -> bytes:
    if arr.ndim == 3 and arr.shape[2] == 2:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(arr.astype(np.uint8), "LA").save(buf, format="PNG")
        return buf.getvalue()
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


@FUZZ
@given(data=st.data())
def test_fuzz_mask_folders(data):
    from facepart.segmenters.masks import MASKS_DIR, MaskFolderParser, mask_path

    image = data.draw(label_images())
    raw = _encode_png(image)
    mutated = data.draw(st.booleans())
    if mutated:
        raw = mutate_bytes(data, raw)
    n_classes = data.draw(st.sampled_from([5, 11]))
    labels = data.draw(st.sampled_from(["good", "mutated", "none", "json"]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / MASKS_DIR).mkdir()
        mask_path(root, 3).write_bytes(raw)
        table = {"classes": ["background", "skin", "l_eye", "r_eye", "nose", "u_lip", "l_lip", "hair", "neck",
                             "hat", "cloth"][:n_classes]}
        if labels == "good":
            (root / "labels.yaml").write_text(json.dumps(table))
        elif labels == "mutated":
            (root / "labels.yaml").write_bytes(mutate_bytes(data, json.dumps(table).encode()))
        elif labels == "json":
            (root / "labels.json").write_text(json.dumps(data.draw(LABEL_TABLES)))
        parser = one_line_or(lambda: MaskFolderParser(root))
        if parser is None:
            return
        got = one_line_or(lambda: parser.parse_index(3, (SIZE, SIZE)))
    if got is not None:
        assert got.shape == (SIZE, SIZE) and got.dtype == np.int16
        assert got.min() >= 0 and got.max() < len(parser.labels)
        if not mutated:  # exactly the class ids of the image (grey stored as RGB(A) or grey + alpha too)
            assert np.array_equal(got, image if image.ndim == 2 else image[..., 0])


@pytest.fixture(scope="module")
def sheet_model():
    from facepart.data.face_model import FaceModel

    vertices, tris = sheet()
    vertices[:, 2] = 0.01 * np.sin(vertices[:, 0] * 40)
    return FaceModel("sheet", vertices, tris)


@pytest.fixture(scope="module")
def valid_manifest(sheet_model):
    from facepart.annotate.pipeline import AnnotateSettings
    from facepart.segmenters.masks import RENDER_SET_FORMAT as FORMAT

    return {"format": FORMAT, "fingerprint": sheet_model.fingerprint.as_dict(),
            "settings": AnnotateSettings(variants=3, size=64).as_dict(), "variants": []}


MANIFEST_EDITS = st.sampled_from(["format", "fingerprint", "settings", "variants", "size", "seed", "sampling",
                                  "yaw", "n_vertices"])


@FUZZ
@given(data=st.data())
def test_fuzz_render_set_manifests(sheet_model, valid_manifest, data):
    from facepart.annotate.render_set import render_set_settings as read_manifest
    from facepart.segmenters.masks import MANIFEST

    manifest = json.loads(json.dumps(valid_manifest))
    for _ in range(data.draw(st.integers(1, 3))):
        edit = data.draw(MANIFEST_EDITS)
        value = data.draw(JSON_VALUES | st.integers(-5, 5) | st.floats())
        if edit in ("format", "fingerprint", "settings", "variants"):
            manifest[edit] = value
        elif edit == "n_vertices" and isinstance(manifest.get("fingerprint"), dict):
            manifest["fingerprint"]["n_vertices"] = value
        elif edit in ("size", "seed", "sampling") and isinstance(manifest.get("settings"), dict):
            manifest["settings"][edit] = value
        elif edit == "yaw" and isinstance(manifest.get("settings"), dict) \
                and isinstance(manifest["settings"].get("sampling"), dict):
            manifest["settings"]["sampling"]["yaw"] = value
    text = json.dumps(manifest).encode()
    if data.draw(st.booleans()):
        text = mutate_bytes(data, text)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / MANIFEST).write_bytes(text)
        got = one_line_or(lambda: read_manifest(tmp, sheet_model))
    if got is not None:
        assert isinstance(got.variants, int) and got.variants >= 1 and isinstance(got.seed, int)
        assert isinstance(got.size, int) and 32 <= got.size <= 4096
        lo, hi = got.sampling.yaw
        assert np.isfinite([lo, hi]).all()


# -- mesh files (OBJ through facepart's reader, the others through trimesh) ---------------------------------------

def _mesh_bytes(suffix: str) -> bytes:
    import trimesh

    vertices, tris = sheet()
    vertices[:, 2] = 0.01 * np.sin(vertices[:, 0] * 40)
    if suffix == ".obj":
        lines = [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in vertices] + ["vt 0.5 0.5"]
        lines += [f"f {a + 1}/1 {b + 1}/1 {c + 1}/1" for a, b, c in tris]
        return ("\n".join(lines) + "\n").encode()
    kind = {".stl": "stl", ".stl-ascii": "stl_ascii", ".ply": "ply", ".off": "off"}[suffix]
    out = trimesh.Trimesh(vertices, tris, process=False).export(file_type=kind)
    return out.encode() if isinstance(out, str) else out


MESHES = {s: _mesh_bytes(s) for s in (".obj", ".stl", ".stl-ascii", ".ply", ".off")}


@FUZZ
@given(data=st.data(), suffix=st.sampled_from(sorted(MESHES)))
def test_fuzz_mesh_files(data, suffix):
    from facepart.data import load_model

    raw = mutate_bytes(data, MESHES[suffix])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("mesh" + suffix.split("-")[0])
        path.write_bytes(raw)
        model = one_line_or(lambda: load_model(path))
    if model is not None:
        assert np.all(np.isfinite(model.vertices)) and model.triangles.max() < model.n_vertices
