"""``uvmask``: one 8-bit PNG per part in the model's UV space (DECA-style ``uv_face_mask.png``).

A texel is in a part when the part's indicator (1 at the part's vertices, 0
elsewhere), interpolated over a triangle with barycentric weights, is at least
0.5 there: the threshold 3DDFA-V3 applies when it renders per-vertex part
attributes. So a triangle with all corners in the part is filled, one with two
corners a quad up to the midpoints of its other edges, one with one corner the
small triangle up to its edge midpoints. Image row 0 is v = 1 (``u = x / W``,
``v = 1 - y / H``); white (255) = in the part.

UDIM tiles (ICT-FaceKit puts face, head, gums and teeth side by side, u in
0..1, 1..2, ...) are written per tile: ``<part>.<1001 + u_tile + 10 v_tile>.png``,
or plain ``<part>.png`` when all labelled triangles lie in one tile. A sidecar
``uvmask.json`` records the tiles, size and topology. Models with per-vertex UVs
only (facepart's :attr:`FaceModel.uv`) cannot place triangles cut by a texture
seam; those (spanning two tiles, or a UV edge ``SEAM_STRETCH`` times longer than
the model's usual UV/3D ratio) are left out and counted in the notes.

Reading back samples each part's mask at every vertex's UV (in its tile). Where
two pieces of geometry share UV space (ICT's eyeballs overlap the face tile),
the masks cannot tell them apart.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..data.annotation import Annotation
from ..data.topology import Fingerprint
from ..errors import FacepartError
from ..io_utils import atomic_file_set, read_json_file
from .common import (check_fingerprint, file_fingerprint, own_sidecar, plain_file_names, plain_int, unique_file_names,
                     writer_model)
from .options import ExportOptions
from .view import PartView, annotation_from_sets

DEFAULT_SIZE = 1024
SEAM_STRETCH = 8.0
SHIFT = 4  # sub-pixel bits for cv2.fillConvexPoly
SIDECAR = "uvmask.json"


def udim(u_tile: int, v_tile: int) -> int:
    return 1001 + int(u_tile) + 10 * int(v_tile)


def seam_triangles(vertices: np.ndarray, triangles: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(F,) bool: triangles spanning two UDIM tiles or stretched far beyond the model's usual UV/3D edge ratio."""
    tri = np.asarray(triangles, np.int64)
    tiles = np.floor(uv[tri]).astype(np.int64)  # (F, 3, 2)
    spans = (tiles != tiles[:, :1]).any(axis=(1, 2))
    e3 = np.stack([np.linalg.norm(vertices[tri[:, (k + 1) % 3]] - vertices[tri[:, k]], axis=1) for k in range(3)], 1)
    e2 = np.stack([np.linalg.norm(uv[tri[:, (k + 1) % 3]] - uv[tri[:, k]], axis=1) for k in range(3)], 1)
    ok = (e3 > 0) & ~spans[:, None]
    ratio = np.where(ok, e2 / np.where(e3 > 0, e3, 1), 0)
    typical = float(np.median(ratio[ok])) if ok.any() else 0.0
    stretched = (ratio > SEAM_STRETCH * typical).any(axis=1) if typical > 0 else np.zeros(len(tri), bool)
    return spans | stretched


def part_polygons(corner_uv: np.ndarray, inside: np.ndarray) -> list[np.ndarray]:
    """Where the barycentric interpolation of ``inside`` (M, 3) bool is >= 0.5 on triangles ``corner_uv`` (M, 3, 2).

    Returns convex polygons ((K, 2) arrays: triangles, quads, small triangles).
    """
    polys = []
    count = inside.sum(axis=1)
    full = corner_uv[count == 3]
    polys += list(full)
    for m in np.flatnonzero(count == 2):
        out = int(np.flatnonzero(~inside[m])[0])
        a, b, c = corner_uv[m, (out + 1) % 3], corner_uv[m, (out + 2) % 3], corner_uv[m, out]
        polys.append(np.array([a, b, (b + c) / 2, (a + c) / 2]))
    for m in np.flatnonzero(count == 1):
        i = int(np.flatnonzero(inside[m])[0])
        a, b, c = corner_uv[m, i], corner_uv[m, (i + 1) % 3], corner_uv[m, (i + 2) % 3]
        polys.append(np.array([a, (a + b) / 2, (a + c) / 2]))
    return polys


def _fill(size: int, polys: list[np.ndarray]) -> np.ndarray:
    import cv2

    img = np.zeros((size, size), np.uint8)
    scale = 1 << SHIFT
    for poly in polys:
        px = np.stack([poly[:, 0] * size, (1.0 - poly[:, 1]) * size], axis=1) - 0.5  # pixel i = centre i + 0.5
        cv2.fillConvexPoly(img, np.round(px * scale).astype(np.int32), 255, lineType=cv2.LINE_8, shift=SHIFT)
    return img


def write_uvmask(annotation: Annotation, path: Path, **options) -> list[Path]:
    import cv2

    opts = ExportOptions.of(options)
    model = writer_model(opts.model, annotation, "uvmask")
    if model.uv is None:
        raise FacepartError(f"{model.name} has no texture coordinates (UVs); the uvmask export needs them")
    view = PartView.of(annotation, opts)
    size = opts.size or DEFAULT_SIZE
    uv = model.uv.astype(np.float64)
    tri = model.triangles
    seams = seam_triangles(model.vertices, tri, uv)
    tile_of = np.floor(uv[tri[:, 0]]).astype(np.int64)  # (F, 2) u and v tile of each triangle
    kept = ~seams
    member = view.member[tri]  # (F, 3, P)
    touched = kept & member.any(axis=(1, 2))
    tiles = sorted({(int(a), int(b)) for a, b in tile_of[touched]}) or [(0, 0)]
    dropped = int((seams & member.any(axis=(1, 2))).sum())
    if dropped:
        opts.note(f"uvmask: {dropped} labelled triangles cut by texture seams left out")
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise FacepartError(f"{folder}: expected a folder for the UV masks, found a file")
    stems = unique_file_names(view.names, f"{folder}: uvmask file names")
    names = []
    with atomic_file_set(folder, members=_previous_masks(folder)) as stage:
        for tile in tiles:
            in_tile = kept & (tile_of == tile).all(axis=1)
            local = uv[tri[in_tile]] - np.array(tile, np.float64)  # (M, 3, 2)
            suffix = ".png" if len(tiles) == 1 else f".{udim(*tile)}.png"
            masks = []
            for i, name in enumerate(view.names):
                mask = _fill(size, part_polygons(local, member[in_tile, :, i]))
                masks.append(mask)
                file = f"{stems[name]}{suffix}"
                ok, buf = cv2.imencode(".png", mask)
                if not ok:
                    raise FacepartError(f"{folder / file}: could not encode the mask as PNG")
                (stage / file).write_bytes(buf.tobytes())
                names.append(file)
            for note in shared_texel_notes(view, masks, udim(*tile)):
                opts.note(note)
        (stage / SIDECAR).write_text(json.dumps({
            "format": "facepart-uvmask", "size": size, "tiles": [udim(*t) for t in tiles], "rule": view.rule,
            "parts": stems, "topology": view.fingerprint.as_dict(),
            "row0": "v = 1", "threshold": "barycentric part indicator >= 0.5"}, indent=1) + "\n")
    if len(tiles) == 1 and tiles[0] != (0, 0):
        opts.note(f"uvmask: all labelled triangles lie in UDIM tile {udim(*tiles[0])}")
    return [folder / n for n in names] + [folder / SIDECAR]


#: Share of the smaller mask (each eroded by a texel) that two parts with no common vertex may overlap
#: before a note says so.
SHARED_TEXELS = 0.05


def shared_texel_notes(view: PartView, masks: list[np.ndarray], tile: int) -> list[str]:
    """One note naming the pairs of parts with no vertex in common whose (size, size) masks in ``tile`` still
    overlap by more than :data:`SHARED_TEXELS` of the smaller one: their geometry shares UV space (ICT's two
    eyeballs use one texture, over the face's), so the masks cannot tell those parts apart."""
    import cv2

    # eroded by a texel: neighbouring parts both fill the texels along their common edge
    on = [cv2.erode(m, np.ones((3, 3), np.uint8)) > 0 for m in masks]
    area = [int(m.sum()) for m in on]
    pairs = []
    for i in range(len(masks)):
        for j in range(i + 1, len(masks)):
            if not area[i] or not area[j] or (view.member[:, i] & view.member[:, j]).any():
                continue
            shared = int(np.count_nonzero(on[i] & on[j])) / min(area[i], area[j])
            if shared > SHARED_TEXELS:
                pairs.append(f"{view.names[i]}/{view.names[j]} {100 * shared:.0f}%")
    if not pairs:
        return []
    return [f"uvmask: parts share texels in tile {tile} ({', '.join(pairs)} of the smaller mask): their geometry "
            "uses the same UV space, so these masks cannot tell them apart"]


def _previous_masks(folder: Path) -> list[str]:
    """The mask files a previous uvmask export recorded in ``folder/uvmask.json`` (its parts x tiles), so that a
    re-export removes the ones it does not rewrite; files the sidecar does not name are never touched."""
    meta = own_sidecar(folder, SIDECAR, "facepart-uvmask")
    if meta is None or not isinstance(meta.get("parts"), dict):
        return []
    tiles = meta.get("tiles") if isinstance(meta.get("tiles"), list) else [1001]
    tiles = [t for t in tiles if plain_int(t)]
    stems = plain_file_names(meta["parts"].values())
    if len(tiles) <= 1:
        return [f"{s}.png" for s in stems]
    return [f"{s}.{t}.png" for s in stems for t in tiles]


def is_uvmask(path: Path) -> bool:
    return path.is_dir() and (path / SIDECAR).is_file()


def read_uvmask(path: Path, model=None, topology: Fingerprint | None = None, **_) -> Annotation:
    """Parts from a folder of UV masks (``<part>[.<udim>].png``), sampled at each vertex's UV."""
    import cv2

    path = Path(path)
    if model is None or model.uv is None:
        raise FacepartError(f"{path}: reading UV masks back needs the model with its UVs (--model MODEL)")
    meta = {}
    if (path / SIDECAR).is_file():
        meta = read_json_file(path / SIDECAR, "UV mask sidecar")
        if not isinstance(meta, dict):
            raise FacepartError(f"{path / SIDECAR}: expected a JSON object (the UV masks' topology and tiles)")
        topo = meta.get("topology") or {}
        if topo:
            check_fingerprint(file_fingerprint(topo, str(path / SIDECAR)), path, model, topology)
    tiles = meta.get("tiles") or [1001]
    if not isinstance(tiles, list) or not all(plain_int(t) and 1001 <= t <= 9999 for t in tiles):
        raise FacepartError(f"{path / SIDECAR}: 'tiles' must be a list of UDIM numbers (1001..9999)")
    parts = meta.get("parts") or {}
    if not isinstance(parts, dict) or not all(
            isinstance(s, str) and s and s == Path(s).name and not s.startswith(".") for s in parts.values()):
        raise FacepartError(f"{path / SIDECAR}: 'parts' must map part names to mask file names in the folder")
    names = list(parts.items()) or [(f.stem, f.stem) for f in sorted(path.glob("*.png"))
                                                         if not re.search(r"\.\d{4}$", f.stem)]
    if not names:
        raise FacepartError(f"{path}: no <part>.png masks in the folder")
    uv = model.uv.astype(np.float64)
    vtile = np.floor(uv).astype(np.int64)
    vudim = 1001 + vtile[:, 0] + 10 * vtile[:, 1]
    sets = {}
    for name, stem in names:
        member = np.zeros(model.n_vertices, bool)
        for t in tiles:
            f = path / (f"{stem}.png" if len(tiles) == 1 else f"{stem}.{t}.png")
            img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if img is None:
                raise FacepartError(f"{f}: missing or not a readable PNG")
            h, w = img.shape
            sel = np.flatnonzero(vudim == t)
            local = uv[sel] - vtile[sel]
            col = np.clip(np.floor(local[:, 0] * w), 0, w - 1).astype(np.int64)
            row = np.clip(np.floor((1.0 - local[:, 1]) * h), 0, h - 1).astype(np.int64)
            member[sel] = img[row, col] > 127
        sets[name] = np.flatnonzero(member)
    return annotation_from_sets(sets, model.fingerprint, str(path))
