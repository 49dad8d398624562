"""``masks:DIR``: label maps made outside facepart, read back by variant index.

Folder layout (the one place that defines it; ``facepart render`` writes the
images side, the user's own parser writes the masks)::

    DIR/images/000012.png   the shaded render of variant 12 (RGB)
    DIR/masks/000012.png    its label map: one channel, 8 or 16 bit (or palette indices), value = class id
    DIR/images/frontal.png  the frontal render for the left/right calibration
    DIR/masks/frontal.png   its label map
    DIR/labels.yaml         the masks' label table (or .yml/.json; or give --labels)
    DIR/manifest.json       what was rendered: model fingerprint, run settings, camera, variants

File names are :func:`render_file_name` (six-digit zero-padded variant index,
``frontal`` for the calibration view); paths are :func:`image_path` and
:func:`mask_path`. A missing mask file means "no face" for that variant: it
is skipped and counted, not fatal.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FacepartError
from ..data.topology import Fingerprint
from ..io_utils import read_json_file
from .base import FRONTAL_INDEX
from .labelsets import LabelSet, load_label_set

IMAGES_DIR = "images"
MASKS_DIR = "masks"
LABEL_FILES = ("labels.yaml", "labels.yml", "labels.json")
MANIFEST = "manifest.json"
RENDER_SET_FORMAT = "facepart-render-set"
#: Run settings that must match between a render set and the run that reads its masks.
MATCHING_SETTINGS = ("size", "seed", "sampling")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_PALETTE = 3  # IHDR colour type of an indexed (palette) PNG


def read_manifest(root: str | Path) -> dict:
    """The render set's ``manifest.json``, checked to be one (fingerprint and settings present)."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise FacepartError(f"{path}: not found; make the folder with `facepart render MODEL --out DIR`")
    manifest = read_json_file(path, "render-set manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != RENDER_SET_FORMAT:
        raise FacepartError(f"{path}: not a facepart render-set manifest")
    fp, settings = manifest.get("fingerprint"), manifest.get("settings")
    if not isinstance(fp, dict) or not isinstance(settings, dict) or not isinstance(settings.get("variants"), int):
        raise FacepartError(f"{path}: incomplete manifest (fingerprint and settings with variants expected)")
    return manifest


def check_render_set(root: str | Path, fingerprint: dict, settings: dict) -> dict:
    """Check that the render set in ``root`` was made for this model and run; return its manifest.

    Args:
        fingerprint: the model's topology fingerprint (``Fingerprint.as_dict()``).
        settings: the run's settings (``AnnotateSettings.as_dict()``): size, seed and sampling must
            equal the render set's, and the run may not ask for more variants than it holds.
    """
    manifest = read_manifest(root)
    where = Path(root) / MANIFEST
    if manifest["fingerprint"] != fingerprint:
        try:
            made_for = Fingerprint(**manifest["fingerprint"])
        except TypeError:
            raise FacepartError(f"{where}: the fingerprint entry is damaged") from None
        made_for.check_matches(Fingerprint(**fingerprint), f"{where}: the render set", "the model")
    made = manifest["settings"]
    settings = json.loads(json.dumps(settings))  # tuples as lists, as in the manifest
    differ = [f"{k} {made.get(k)!r} vs {settings.get(k)!r}" for k in MATCHING_SETTINGS
              if made.get(k) != settings.get(k)]
    if settings.get("variants", 0) > made["variants"]:
        differ.append(f"variants: the set has {made['variants']}, the run asks for {settings['variants']}")
    if differ:
        raise FacepartError(f"{where}: the renders were made with other settings than this run: "
                            + "; ".join(differ) + " (render again, or run with the render set's settings)")
    return manifest


def describe_render_set(root: str | Path) -> list[str]:
    """Lines saying what the render set in ``root`` holds: its model, size and variants, and how many of its
    views have a mask so far."""
    root = Path(root)
    manifest = read_manifest(root)
    settings = manifest.get("settings") if isinstance(manifest.get("settings"), dict) else {}
    model = manifest.get("model") if isinstance(manifest.get("model"), dict) else {}
    names = [Path(str(p)).name for p in manifest.get("images", []) if isinstance(p, str)]
    masks = [n for n in names if (root / MASKS_DIR / n).is_file()]
    frontal = (root / MASKS_DIR / render_file_name(FRONTAL_INDEX)).is_file()
    return [f"render set: {root / MANIFEST} (facepart render)",
            f"model {model.get('path') or model.get('name')}; {len(names)} variants at {settings.get('size')} px, "
            f"seed {settings.get('seed')}",
            f"masks: {len(masks)} of {len(names)} views" + (" and the frontal view" if frontal else
                                                           ", no frontal mask") + f" in {root / MASKS_DIR}",
            f"vote with `facepart vote MODEL --masks {root}`"]


def render_file_name(index: int) -> str:
    """``000012.png`` for variant 12; ``frontal.png`` for :data:`FRONTAL_INDEX`."""
    index = int(index)
    if index == FRONTAL_INDEX:
        return "frontal.png"
    if index < 0:
        raise FacepartError(f"variant index must be >= 0, got {index}")
    return f"{index:06d}.png"


def render_index(name: str) -> int | None:
    """The variant index a file name of :func:`render_file_name` stands for (``FRONTAL_INDEX`` for frontal.png),
    or None for any other name."""
    if name == render_file_name(FRONTAL_INDEX):
        return FRONTAL_INDEX
    return int(name[:6]) if len(name) == 10 and name.endswith(".png") and name[:6].isdigit() else None


def image_path(root: str | Path, index: int) -> Path:
    """Where the render of variant ``index`` lives under ``root``."""
    return Path(root) / IMAGES_DIR / render_file_name(index)


def mask_path(root: str | Path, index: int) -> Path:
    """Where the label map of variant ``index`` lives under ``root``."""
    return Path(root) / MASKS_DIR / render_file_name(index)


def _png_head(path: Path) -> bytes:
    """The first 26 bytes of ``path`` (signature and IHDR), checked to be a PNG's."""
    _check_regular(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError as exc:
        raise FacepartError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if head[:3] == b"\xff\xd8\xff":
        raise FacepartError(f"{path}: JPEG data, not a PNG; JPEG is lossy and changes class ids at region edges: "
                            f"save the label maps as PNG")
    if head[:8] != PNG_SIGNATURE:
        raise FacepartError(f"{path}: not a readable image (no PNG signature); expected a single-channel label "
                            f"PNG (class ids)")
    return head


def _check_regular(path: Path) -> None:
    """One line when a mask path is a folder, a pipe or a broken link (reading a pipe would wait for ever)."""
    if path.exists() and not path.is_file() or path.is_symlink() and not path.exists():
        raise FacepartError(f"{path}: not a regular file (a folder, a pipe or a broken link); expected a label "
                            f"PNG (class ids)")


def _palette_indices(path: Path) -> np.ndarray:
    """(H, W) uint8 palette indices of a palette PNG (colour type 3), read with Pillow.

    A palette of grey levels that differ from their indices is refused: the class id could be either
    (viewers and ``convert("L")`` show the grey level; a PNG optimiser may have reordered the palette)."""
    from ..errors import require

    image_module = require("PIL.Image", f"{path}: a palette label PNG", "pip install pillow")
    try:
        with image_module.open(path) as im:
            if im.mode != "P":
                raise ValueError(f"mode {im.mode}")
            indices = np.array(im)
            palette = np.array(im.getpalette() or [], np.int64)
    except Exception as exc:  # truncated or damaged data, decompression bombs...
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise FacepartError(f"{path}: not a readable palette PNG ({why}); expected a single-channel label PNG "
                            f"(class ids)") from None
    colours = palette[: len(palette) // 3 * 3].reshape(-1, 3)
    used = np.unique(indices)
    used = used[used < len(colours)]
    rgb = colours[used]
    grey = (rgb[:, 0] == rgb[:, 1]) & (rgb[:, 1] == rgb[:, 2])
    if used.size and grey.all() and (rgb[:, 0] != used).any():
        k = int(np.flatnonzero(rgb[:, 0] != used)[0])
        raise FacepartError(f"{path}: a palette PNG whose colours are grey levels other than their indices (index "
                            f"{int(used[k])} is drawn as grey {int(rgb[k, 0])}); facepart reads the index as the "
                            f"class id, a viewer shows the grey level: save the masks as plain 8-bit grey PNGs")
    return indices


def read_label_png(path: str | Path, n_classes: int | None = None, shape: tuple[int, int] | None = None
                   ) -> np.ndarray:
    """(H, W) int16 class ids from a single-channel (or grey RGB, or palette) 8/16-bit PNG, checked.

    A palette PNG (as VOC-style tools write) gives its palette indices, not its colours.
    """
    import cv2

    path = Path(path)
    head = _png_head(path)
    if len(head) > 25 and head[25] == PNG_PALETTE:
        img = _palette_indices(path)
    else:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FacepartError(f"{path}: not a readable image; expected a single-channel label PNG (class ids)")
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[..., :3]
        if not (np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 0] == img[..., 2])):
            raise FacepartError(f"{path}: a colour image; expected a single-channel label PNG (class ids), "
                                f"not a coloured visualisation")
        img = img[..., 0]
    if img.dtype not in (np.uint8, np.uint16):
        raise FacepartError(f"{path}: {img.dtype} pixels; expected 8- or 16-bit class ids")
    if shape is not None and img.shape != tuple(shape):
        raise FacepartError(f"{path}: label map of {img.shape[1]}x{img.shape[0]} pixels (width x height); the "
                            f"render is {shape[1]}x{shape[0]}")
    if n_classes is not None and img.size and int(img.max()) >= n_classes:
        raise FacepartError(f"{path}: class id {int(img.max())} in the mask, but the label table has "
                            f"{n_classes} classes (0..{n_classes - 1})")
    return img.astype(np.int16)


def write_label_png(path: str | Path, label_map: np.ndarray) -> Path:
    """Write (H, W) class ids as an 8-bit (or 16-bit above 255) PNG, atomically."""
    import cv2

    from ..io_utils import atomic_path

    label_map = np.asarray(label_map)
    if label_map.ndim != 2 or label_map.size == 0 or label_map.min() < 0 or label_map.max() > 65535:
        raise FacepartError("a label PNG needs a (H, W) array of class ids 0..65535")
    data = label_map.astype(np.uint8 if label_map.max() < 256 else np.uint16)
    ok, buf = cv2.imencode(".png", data)
    if not ok:
        raise FacepartError(f"{path}: could not encode the label map as PNG")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return path


def folder_label_set(root: str | Path) -> LabelSet | None:
    """The label table saved in the folder (``labels.yaml``/``.yml``/``.json``), or None."""
    for name in LABEL_FILES:
        p = Path(root) / name
        if p.is_file():
            return load_label_set(p)
    return None


def masks_digest(root: str | Path) -> str:
    """``"N masks, digest XXXXXXXXXXXX"``: a hash of the names and bytes of ``root/masks/*.png``."""
    import hashlib

    digest = hashlib.blake2b(digest_size=6)
    files = sorted((Path(root) / MASKS_DIR).glob("*.png"))
    for f in files:
        _check_regular(f)
        digest.update(f.name.encode() + b"\0")
        try:
            digest.update(f.read_bytes())
        except OSError as exc:
            raise FacepartError(f"{f}: cannot be read ({exc.strerror or exc})") from None
    return f"{len(files)} masks, digest {digest.hexdigest()}"


class MaskFolderParser:
    """Reads ``DIR/masks/<index>.png`` instead of parsing an image (``needs_image`` is False).

    Args:
        root: the folder (with ``masks/`` inside).
        labels: the masks' label set; default: the folder's ``labels.yaml``/``.json``.
    """

    name = "masks"
    needs_image = False
    live = False  # fixed maps of one render set: it cannot parse new (held-out) renders

    def __init__(self, root: str | Path, labels: "str | LabelSet | None" = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FacepartError(f"{self.root}: folder not found; expected a folder of renders with their label "
                                f"PNGs in {MASKS_DIR}/ (made by `facepart render`)")
        if not (self.root / MASKS_DIR).is_dir():
            raise FacepartError(f"{self.root}: no '{MASKS_DIR}' folder; expected label PNGs named like "
                                f"{MASKS_DIR}/{render_file_name(12)}")
        found = load_label_set(labels) if labels is not None else folder_label_set(self.root)
        if found is None:
            raise FacepartError(f"{self.root}: the masks' label table is unknown; give --labels NAME or FILE, "
                                f"or put a labels.yaml in the folder")
        self.labels = found
        self.missing = 0
        self.last_missing = False

    def parse_index(self, index: int, shape: tuple[int, int]) -> np.ndarray | None:
        """(H, W) int16 class ids of variant ``index``, or None when its mask file is missing."""
        path = mask_path(self.root, index)
        self.last_missing = not path.is_file()  # (a view skipped for this says "no mask", not "no face")
        if self.last_missing:
            self.missing += 1
            return None
        return read_label_png(path, len(self.labels), shape)

    def notes(self) -> list[str]:
        """Lines for the run summary: PNGs in ``masks/`` named like no render (they are never read)."""
        odd = sorted(p.name for p in (self.root / MASKS_DIR).glob("*.png") if render_index(p.name) is None)
        if not odd:
            return []
        shown = ", ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
        return [f"note: {len(odd)} PNG file(s) in {self.root / MASKS_DIR} are named like no render ({shown}) and "
                f"were not read: a mask takes its render's name ({render_file_name(12)}, frontal.png)"]

    def missing_path(self, index: int) -> Path:
        """Where the mask of view ``index`` was looked for (named when it is missing)."""
        return mask_path(self.root, index)

    def parse(self, image: np.ndarray) -> np.ndarray:
        raise FacepartError("the masks segmenter reads label maps by variant index, not from images")

    def check_run(self, model, settings) -> None:
        """The masks must have been made for ``model`` with ``settings``' size, seed, sampling and variants."""
        check_render_set(self.root, model.fingerprint.as_dict(), settings.as_dict())

    def describe(self) -> str:
        """Names the folder, the label table and a digest of the mask files' contents: a run key (checkpoint,
        shard) made from other masks in the same folder never matches, so changed masks are never mixed with
        the votes of the old ones."""
        return f"masks from {self.root} ({self.labels.name}; {masks_digest(self.root)})"
