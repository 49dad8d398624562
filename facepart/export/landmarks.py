"""Landmark-embedding files for other projects (``kind="landmarks"`` in the one export registry).

Every writer takes a :class:`~facepart.annotate.landmarks.LandmarkEmbedding` and a path (a folder:
the format's usual file name inside it; a file name: used as given) and returns the files written.
Triangle ids index the model's triangle array (0-based); barycentric weights follow its corner order.

=====================  ====================================  ===================================================
format                 file(s)                               layout (and the published file it matches)
=====================  ====================================  ===================================================
``landmarks-json``     ``landmarks.json``                    facepart's own: per landmark name, triangle,
                                                             barycentric, vertex, spread, share, stable, dynamic,
                                                             per-yaw-bin embeddings; run settings; NME check
``flame-lmk-npz``      ``landmark_embedding.npz``            ``lmk_face_idx`` (S,) uint32, ``lmk_b_coords`` (S, 3)
                                                             float64, ``landmark_indices`` (S,) int64: the keys of
                                                             FLAME's ``mediapipe_landmark_embedding.npz``, for the
                                                             S static landmarks; ``dynamic_lmk_face_idx`` (79, D)
                                                             uint32 and ``dynamic_lmk_b_coords`` (79, D, 3) float64:
                                                             the arrays of ``flame_dynamic_embedding.npy``;
                                                             ``full_lmk_face_idx`` (L,), ``full_lmk_b_coords``
                                                             (L, 3): every landmark's static embedding in set order
                                                             (DECA's ``full_lmk_*``); native bins ``yaw_bin_*``
``flame-lmk-pkl``      ``flame_static_embedding.pkl``,       exactly what FLAME_PyTorch loads
                       ``flame_dynamic_embedding.npy``       (``static_landmark_embedding_path``,
                                                             ``dynamic_landmark_embedding_path``)
``keypoints0``         ``keypoints0.txt``                    nearest vertex per landmark, 0-based, one per line
                                                             (3DDFA-V3 ``ldm68``, numpy indexing)
``keypoints1``         ``keypoints1.txt``                    the same, 1-based (Deep3D ``BFM_model_front.mat``
                                                             ``keypoints``, MATLAB)
``keypoints-3ddfa``    ``keypoints_3ddfa.npy``               (3L,) int64 ``3 * vertex + (0, 1, 2)``: indices into the
                                                             flattened x1 y1 z1 x2 ... vertex array (3DDFA_V2
                                                             ``bfm_noneck_v3.pkl`` ``keypoints``)
``realy-lmk``          ``realy_landmarks.txt``               JSON rows ``[triangle, b0, b1]``, weights of the
                                                             triangle's first two corners, the third is
                                                             ``1 - b0 - b1`` (czh-98/REALY ``data/*.txt``)
``eos-contours``       ``model_contours.json``               ``{"model_contour": {"right_contour": [...],
                                                             "left_contour": [...]}}`` vertex ids where the jaw
                                                             contour lies across yaw, top to bottom
                                                             (patrikhuber/eos ``share/*model_contours.json``)
=====================  ====================================  ===================================================

``landmark_indices`` holds what FLAME's file holds, the MediaPipe point of each row, for the 478 and
105 sets; for the 68 set (whose points may average two MediaPipe points) it holds the iBUG-68 index.
``static_set_indices`` / ``dynamic_set_indices`` always give each row's index in the set, and
``landmark_names`` / ``landmark_set`` name them. The ``.pkl`` keeps only FLAME_PyTorch's keys.

FLAME's dynamic layout (79 bins of 1 degree): bin ``i`` in 0..39 holds yaw ``+i`` and bin ``i`` in
40..78 holds yaw ``-(i - 39)``, with positive yaw turning the face toward the subject's left (+x).
That is the order the published ``flame_dynamic_embedding.npy`` (RingNet, FLAME_PyTorch) holds
(checked against TF_FLAME's template: bin 20's left-side contour points face away from a camera
looking at a head turned 20 degrees to its left). DECA indexes it with the yaw as is; FLAME_PyTorch
negates the yaw first; either way a file written here behaves like the published one. Each 1-degree
bin takes facepart's yaw bin holding that yaw (clamped to the sampled range).
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from ..annotate.landmarks import LandmarkEmbedding, LandmarkSettings, embed_landmarks, name_list
from ..errors import FacepartError
from ..io_utils import (atomic_file_set, atomic_path, ensure_writable_dir, read_json_file,
                        removing_new_dirs_on_failure, write_bytes_atomic, write_json_atomic)
from .registry import register

#: FLAME's dynamic embedding: 79 bins of 1 degree (see the module docstring for their yaws).
FLAME_DYNAMIC_BINS = 79
#: Formats ``facepart landmarks`` writes unless told otherwise (plus ``landmarks.png``).
DEFAULT_FORMATS = ("landmarks-json", "flame-lmk-npz")


def flame_bin_yaws() -> np.ndarray:
    """(79,) the yaw in degrees each bin of FLAME's dynamic embedding stands for."""
    i = np.arange(FLAME_DYNAMIC_BINS)
    return np.where(i <= 39, i, -(i - 39)).astype(float)


def flame_dynamic_arrays(emb: LandmarkEmbedding) -> tuple[np.ndarray, np.ndarray]:
    """(79, D) uint32 triangle ids and (79, D, 3) float64 barycentrics in FLAME's dynamic layout."""
    rows = [emb.bin_of(y) for y in flame_bin_yaws()]
    return emb.dyn_triangle[rows].astype(np.uint32), emb.dyn_bary[rows].astype(np.float64)


#: FLAME_PyTorch's fixed iBUG-68 split: the 17 jaw contour points (0..16) are dynamic, the 51 others static.
FLAME_CONTOUR = np.arange(17)


def flame_pytorch_split(emb: LandmarkEmbedding) -> tuple[np.ndarray, np.ndarray]:
    """(static, contour) set indices in the order FLAME_PyTorch concatenates them (contour first, then static):
    for the 68 set the published 51 + 17 whatever this model's measured split, so that its landmarks come out
    in iBUG order; for other sets every landmark static, in set order (no contour)."""
    if emb.landmark_set.name == "68" and len(emb) == 68:
        return np.arange(17, 68), FLAME_CONTOUR
    return np.arange(len(emb)), np.zeros(0, np.int64)


def contour_arrays(emb: LandmarkEmbedding, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(79, C) uint32 triangle ids and (79, C, 3) float64 barycentrics of landmarks ``ids`` in FLAME's dynamic
    layout: the per-yaw embedding of a landmark measured dynamic, its static embedding in every bin otherwise."""
    rows = np.array([emb.bin_of(y) for y in flame_bin_yaws()], np.int64)
    tri = np.repeat(emb.triangle[ids][None].astype(np.int64), FLAME_DYNAMIC_BINS, axis=0)
    bary = np.repeat(emb.bary[ids][None].astype(np.float64), FLAME_DYNAMIC_BINS, axis=0)
    column = {int(j): k for k, j in enumerate(emb.dynamic_ids)}
    for c, j in enumerate(ids):
        if int(j) in column:
            tri[:, c] = emb.dyn_triangle[rows, column[int(j)]]
            bary[:, c] = emb.dyn_bary[rows, column[int(j)]]
    return tri.astype(np.uint32), bary


def landmark_indices(emb: LandmarkEmbedding, ids: np.ndarray) -> np.ndarray:
    """What ``landmark_indices`` holds for set indices ``ids``: the detector point ids when every landmark is
    one detector point (478, 105: FLAME's meaning), else the set's own indices (68: iBUG numbering)."""
    single = emb.landmark_set.single_sources
    return (single[ids] if single is not None else np.asarray(ids)).astype(np.int64)


#: The file each writer puts into a folder (registered as the format's ``files``).
JSON_FILE, FLAME_NPZ_FILE = "landmarks.json", "landmark_embedding.npz"
FLAME_STATIC_FILE, FLAME_DYNAMIC_FILE = "flame_static_embedding.pkl", "flame_dynamic_embedding.npy"
KEYPOINTS0_FILE, KEYPOINTS1_FILE, KEYPOINTS_3DDFA_FILE = "keypoints0.txt", "keypoints1.txt", "keypoints_3ddfa.npy"
REALY_FILE, EOS_FILE = "realy_landmarks.txt", "model_contours.json"


def _target(path, default_name: str) -> Path:
    path = Path(path)
    if path.is_dir() or not path.suffix:
        return ensure_writable_dir(path) / default_name
    ensure_writable_dir(path.parent)
    return path


def missing_problem(emb: LandmarkEmbedding, fmt: str) -> str | None:
    """Why format ``fmt`` cannot hold ``emb`` (one line naming the landmarks never found), or None when it can."""
    from .registry import get_exporter

    missing = emb.missing_names()
    if not missing or get_exporter(fmt, kind="landmarks").holds_missing:
        return None
    return (f"{len(missing)} of {len(emb)} landmarks were never found on the model ({name_list(missing)}); "
            "this format has no place for a missing landmark (landmarks-json keeps them as -1)")


def _require_embedded(emb: LandmarkEmbedding, fmt: str) -> None:
    if not isinstance(emb, LandmarkEmbedding):
        raise FacepartError(f"{fmt}: expected a landmark embedding, got {type(emb).__name__}")
    if problem := missing_problem(emb, fmt):
        raise FacepartError(f"{fmt}: {problem}")


# -- writers -------------------------------------------------------------------------------------

def write_json(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    target = _target(path, JSON_FILE)
    write_json_atomic(target, emb.as_dict(), indent=1)
    return [target]


def read_json(path, **_) -> LandmarkEmbedding:
    path = Path(path)
    data = read_json_file(path, "landmarks.json")
    return LandmarkEmbedding.from_dict(data, str(path))


def write_flame_npz(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    _require_embedded(emb, "flame-lmk-npz")
    target = _target(path, FLAME_NPZ_FILE)
    static, dyn = emb.static_ids, emb.dynamic_ids
    dyn_idx, dyn_b = flame_dynamic_arrays(emb)
    arrays = {
        "lmk_face_idx": emb.triangle[static].astype(np.uint32),
        "lmk_b_coords": emb.bary[static].astype(np.float64),
        "landmark_indices": landmark_indices(emb, static),
        "dynamic_lmk_face_idx": dyn_idx,
        "dynamic_lmk_b_coords": dyn_b,
        "dynamic_landmark_indices": landmark_indices(emb, dyn),
        "full_lmk_face_idx": emb.triangle.astype(np.uint32),
        "full_lmk_b_coords": emb.bary.astype(np.float64),
        "static_set_indices": static.astype(np.int64),
        "dynamic_set_indices": dyn.astype(np.int64),
        "yaw_bin_edges": emb.bin_edges.astype(np.float64),
        "yaw_bin_face_idx": emb.dyn_triangle.astype(np.uint32),
        "yaw_bin_b_coords": emb.dyn_bary.astype(np.float64),
        "landmark_set": np.array(emb.landmark_set.name),
        "landmark_names": np.array(emb.names),
    }
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    return [target]


def write_flame_pkl(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    """``flame_static_embedding.pkl`` and ``flame_dynamic_embedding.npy``: FLAME_PyTorch loads both (the dynamic
    one whenever ``use_face_contour``) and puts the dynamic rows first. So the 68 set is split as the published
    files are (:func:`flame_pytorch_split`: 17 contour + 51 static, iBUG order once concatenated); any other
    set is all static, with 79 empty dynamic rows."""
    _require_embedded(emb, "flame-lmk-pkl")
    static_path = _target(path, FLAME_STATIC_FILE)
    if static_path.name == FLAME_STATIC_FILE:
        dynamic_path = static_path.with_name(FLAME_DYNAMIC_FILE)
    else:
        dynamic_path = static_path.with_name(static_path.stem.replace("static", "dynamic") + (
            "" if "static" in static_path.stem else "_dynamic") + ".npy")
    static, contour = flame_pytorch_split(emb)
    data = {"lmk_face_idx": emb.triangle[static].astype(np.uint32), "lmk_b_coords": emb.bary[static].astype(np.float64)}
    write_bytes_atomic(static_path, pickle.dumps(data, protocol=2))
    written = [static_path]
    dyn_idx, dyn_b = contour_arrays(emb, contour)  # (79, C), C = 0 for a set other than 68
    dyn = {"lmk_face_idx": [row for row in dyn_idx], "lmk_b_coords": [row for row in dyn_b]}
    with atomic_path(dynamic_path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, np.array(dyn, dtype=object), allow_pickle=True)
    written.append(dynamic_path)
    return written


def _write_ids(emb: LandmarkEmbedding, path, default: str, base: int, what: str) -> list[Path]:
    _require_embedded(emb, f"keypoints{base}")
    target = _target(path, default)
    header = (f"# facepart landmarks '{emb.landmark_set.name}' on {emb.model_name}: nearest vertex of each of the "
              f"{len(emb)} landmarks, {what}\n")
    body = "".join(f"{int(v) + base}\n" for v in emb.vertex)
    write_bytes_atomic(target, (header + body).encode())
    return [target]


def write_keypoints0(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    return _write_ids(emb, path, KEYPOINTS0_FILE, 0, "0-based")


def write_keypoints1(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    return _write_ids(emb, path, KEYPOINTS1_FILE, 1, "1-based (MATLAB)")


def write_keypoints_3ddfa(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    _require_embedded(emb, "keypoints-3ddfa")
    target = _target(path, KEYPOINTS_3DDFA_FILE)
    flat = (3 * emb.vertex.astype(np.int64)[:, None] + np.arange(3)).reshape(-1)
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, flat)
    return [target]


def write_realy(emb: LandmarkEmbedding, path, **_) -> list[Path]:
    _require_embedded(emb, "realy-lmk")
    target = _target(path, REALY_FILE)
    rows = [[int(t), float(b[0]), float(b[1])] for t, b in zip(emb.triangle, emb.bary)]
    write_bytes_atomic(target, json.dumps(rows).encode())
    return [target]


def contour_problem(emb: LandmarkEmbedding) -> str | None:
    """Why eos-contours cannot be written from ``emb`` (one line), or None when it can."""
    groups = emb.landmark_set.groups
    if any(groups[j] == "contour" for j in emb.dynamic_ids):
        return None
    name = emb.landmark_set.name
    if "contour" not in set(groups):
        return (f"eos-contours: landmark set {name} has no jaw contour points; use a set with contour points "
                "(--set 68)")
    return (f"eos-contours: none of the contour landmarks of set {name} was measured to move with yaw (dynamic) "
            "in these renders; use more --variants or a wider --yaw, or leave out --to eos-contours")


def contour_vertices(emb: LandmarkEmbedding, vertices: np.ndarray | None = None) -> dict[str, list[int]]:
    """eos's model contour: per side, the vertices the dynamic contour landmarks take over all yaw bins.

    Sides are the subject's (right: x below the landmarks' middle). Landmarks near the middle (the
    chin, within 10% of the landmarks' width) belong to neither. With ``vertices`` (V, 3), the mean
    shape, each side is ordered top to bottom (eos: "starting from ... eyebrow-height"); else by landmark.
    """
    dyn = emb.dynamic_ids
    contour = [k for k, j in enumerate(dyn) if emb.landmark_set.groups[j] == "contour"]
    if not contour:
        raise FacepartError(contour_problem(emb))
    pts = emb.point[emb.embedded]
    mid = 0.5 * (pts[:, 0].min() + pts[:, 0].max())
    width = pts[:, 0].max() - pts[:, 0].min()
    sides: dict[str, list[int]] = {"right_contour": [], "left_contour": []}
    for k in contour:
        j = dyn[k]
        x = emb.point[j, 0] - mid
        if abs(x) < 0.1 * width:
            continue
        side = "right_contour" if x < 0 else "left_contour"
        sides[side].extend(int(v) for v in emb.dyn_vertex[:, k])
        sides[side].append(int(emb.vertex[j]))
    sides = {side: list(dict.fromkeys(v)) for side, v in sides.items()}
    if vertices is not None:
        y = np.asarray(vertices)[:, 1]
        sides = {side: sorted(v, key=lambda i: -float(y[i])) for side, v in sides.items()}
    return sides


def write_eos(emb: LandmarkEmbedding, path, *, vertices: np.ndarray | None = None, **_) -> list[Path]:
    """eos ``model_contours.json``; ``vertices`` (V, 3), the model's mean shape, orders each side top to bottom."""
    _require_embedded(emb, "eos-contours")
    target = _target(path, EOS_FILE)
    sides = contour_vertices(emb, vertices)
    write_json_atomic(target, {"model_contour": sides}, indent=4)
    return [target]


register("landmarks-json", write_json, read_json, (".json",),
         "facepart landmarks.json: triangle, barycentric, vertex, spread, stable, dynamic bins, NME check",
         kind="landmarks", files=(JSON_FILE,), holds_missing=True)
register("flame-lmk-npz", write_flame_npz, None, (".npz",),
         "FLAME-style npz: lmk_face_idx, lmk_b_coords, landmark_indices + dynamic (79 yaw bins) + full",
         kind="landmarks", files=(FLAME_NPZ_FILE,))
register("flame-lmk-pkl", write_flame_pkl, None, (".pkl", ".npy"),
         "FLAME_PyTorch's flame_static_embedding.pkl and flame_dynamic_embedding.npy", kind="landmarks",
         files=(FLAME_STATIC_FILE, FLAME_DYNAMIC_FILE))
register("keypoints0", write_keypoints0, None, (".txt",),
         "nearest vertex per landmark, 0-based (3DDFA-V3 ldm68)", kind="landmarks", files=(KEYPOINTS0_FILE,))
register("keypoints1", write_keypoints1, None, (".txt",),
         "nearest vertex per landmark, 1-based (Deep3D BFM_model_front.mat keypoints)", kind="landmarks",
         files=(KEYPOINTS1_FILE,))
register("keypoints-3ddfa", write_keypoints_3ddfa, None, (".npy",),
         "3DDFA_V2 keypoints: 3*vertex+(0,1,2) into the flattened vertex array", kind="landmarks",
         files=(KEYPOINTS_3DDFA_FILE,))
register("realy-lmk", write_realy, None, (".txt",),
         "REALY [triangle, b0, b1] rows (JSON)", kind="landmarks", files=(REALY_FILE,))
register("eos-contours", write_eos, None, (".json",),
         "eos model_contours.json: right/left contour vertex ids from the dynamic jaw landmarks", kind="landmarks",
         files=(EOS_FILE,))


def describe_landmark_export(path, doc=None) -> list[str] | None:
    """Lines saying what a landmark export holds (``keypoints0``/``keypoints1``, ``keypoints-3ddfa``,
    ``realy-lmk``, ``eos-contours``: the files that carry no model), or None when ``path`` is none of them.
    ``doc``: a ``.json`` file's content when the caller has read it already."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".txt":
            with open(path, "rb") as fh:
                text = fh.read(20_000_000).decode("utf-8")
        elif suffix == ".json":
            doc = read_json_file(path, "eos model contours") if doc is None else doc
        elif suffix == ".npy":
            flat = np.load(path, allow_pickle=False)
        else:
            return None
    except Exception:  # noqa: BLE001 - a probe: anything unreadable (an empty .npy raises EOFError) is not one
        return None
    nothing = "the landmarks.json of the run holds the whole embedding (export --to other formats from it)"
    if suffix == ".txt" and text.startswith("# facepart landmarks "):
        header, _, body = text.partition("\n")
        try:
            ids = [int(line) for line in body.split()]
        except ValueError:
            return None
        base = 1 if "1-based" in header else 0
        top = f"vertex ids {min(ids)}..{max(ids)}" if ids else "no vertex ids"
        return [f"landmark vertex ids (export --to keypoints{base}): {path}", header[2:].strip(),
                f"{len(ids)} landmarks, {top} ({base}-based)", nothing]
    if suffix == ".txt":
        try:
            rows = json.loads(text)
        except ValueError:
            return None
        if isinstance(rows, list) and rows and all(isinstance(r, list) and len(r) == 3 for r in rows):
            return [f"REALY landmark rows (export --to realy-lmk): {path}",
                    f"{len(rows)} landmarks as [triangle, b0, b1]; triangle ids up to {max(int(r[0]) for r in rows)}",
                    nothing]
        return None
    if suffix == ".json":
        sides = doc.get("model_contour") if isinstance(doc, dict) else None
        if not isinstance(sides, dict):
            return None
        counts = ", ".join(f"{k} {len(v)} vertex ids" for k, v in sides.items() if isinstance(v, list))
        return [f"eos model contours (export --to eos-contours): {path}", counts, nothing]
    if flat.ndim == 1 and flat.dtype.kind == "i" and flat.size and flat.size % 3 == 0 \
            and np.array_equal(flat.reshape(-1, 3) % 3, np.tile(np.arange(3), (flat.size // 3, 1))) \
            and (np.diff(flat.reshape(-1, 3), axis=1) == 1).all():
        vertex = flat[0::3] // 3
        return [f"3DDFA_V2 keypoints (export --to keypoints-3ddfa): {path}",
                f"{len(vertex)} landmarks, vertex ids {vertex.min()}..{vertex.max()} (as 3 * vertex + 0, 1, 2)",
                nothing]
    return None


# -- the whole run -------------------------------------------------------------------------------

def write_landmark_files(emb: LandmarkEmbedding, model, out_dir, formats=DEFAULT_FORMATS, figure: bool = True,
                         renderer=None, *, skipped: dict[str, str] | None = None) -> list[Path]:
    """Write ``formats`` (registry names of kind ``landmarks``) and ``landmarks.png`` into ``out_dir``, as one set.

    A format with no place for a landmark that was never found (every one but ``landmarks-json``: its
    exporter's ``holds_missing``) is skipped when ``emb`` has such landmarks: the rest of the set is still
    written, and ``skipped`` (when given) gets ``{format: "warning: ... not written: ..."}``, one line
    naming the missing landmarks. A skipped format's file left in ``out_dir`` by an earlier run is
    removed with the same commit, so the folder never pairs the new ``landmarks.json`` with an old
    embedding. Returns the files written.
    """
    from .registry import get_exporter

    out = Path(out_dir)
    names = list(dict.fromkeys(formats))
    exporters = [get_exporter(name, kind="landmarks") for name in names]
    reasons = {name: problem for name in names if (problem := missing_problem(emb, name))}
    if "eos-contours" in names and "eos-contours" not in reasons and (problem := contour_problem(emb)):
        raise FacepartError(problem)  # before any file is written
    if skipped is not None:
        skipped.update({name: f"warning: {name} not written: {why}" for name, why in reasons.items()})
    written: list[Path] = []
    stale = [f for name, exporter in zip(names, exporters) if name in reasons for f in exporter.files]
    with atomic_file_set(out, stale) as stage:  # every file or none: a failing format leaves no half-written set
        for name, exporter in zip(names, exporters):
            if name not in reasons:
                written += exporter.write(emb, stage, vertices=model.vertices)
        if figure:
            from ..annotate.landmark_figure import render_landmark_figure
            from ..annotate.preview import write_png

            written.append(write_png(stage / "landmarks.png", render_landmark_figure(model, emb, renderer=renderer)))
    return [out / Path(p).name for p in written]


def run_landmarks(model, out_dir, detector="mediapipe", landmark_set="68", settings: LandmarkSettings | None = None,
                  formats=DEFAULT_FORMATS, figure: bool = True, *, renderer=None, progress=None,
                  skipped: dict[str, str] | None = None) -> tuple[LandmarkEmbedding, list[Path]]:
    """Embed ``landmark_set`` on ``model`` (:func:`~facepart.annotate.landmarks.embed_landmarks`) and write the files.

    Returns the embedding and the files written (by default ``landmarks.json``,
    ``landmark_embedding.npz`` and ``landmarks.png``). Landmarks never found on the model do not stop
    the run: ``landmarks.json`` keeps them as -1, and the formats that cannot hold them are skipped
    (their warnings go into ``skipped``, see :func:`write_landmark_files`).
    """
    from .registry import get_exporter
    from ..renderers.base import renderer_for

    for name in formats:  # unknown names fail before the long run, not after
        get_exporter(name, kind="landmarks")
    with removing_new_dirs_on_failure(out_dir):  # no empty output folder left behind by a failed run
        out = ensure_writable_dir(out_dir)  # a typo'd or read-only folder fails before the long run
        settings = settings or LandmarkSettings()
        with renderer_for(renderer, settings.size) as r:
            emb = embed_landmarks(model, detector, landmark_set, settings, renderer=r, progress=progress)
        return emb, write_landmark_files(emb, model, out, formats, figure, skipped=skipped)
