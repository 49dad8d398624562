"""Render sets: renders written to a folder so a parser elsewhere can segment them.

``facepart render MODEL --out DIR`` writes ``DIR/manifest.json`` (model
fingerprint, run settings, camera, variants) and the shaded renders under
``DIR/images/`` in the layout of :mod:`facepart.segmenters.masks` (variant
renders ``000012.png``, the frontal calibration view ``frontal.png``). The
user's parser writes label PNGs with the same names under ``DIR/masks/``.
``facepart vote MODEL --masks DIR`` re-renders the geometry of every variant
from the manifest (same seed and settings: exactly the same views), reads the
masks and votes. Nothing but the manifest and the PNGs is stored.

Rendering fewer variants into a folder removes the renders past them.
Rendering again into a folder whose ``masks/`` holds label maps is refused
unless the new renders are the same (model, size, camera and the variants both
sets have): the old masks would otherwise be voted with other views.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from .. import __version__
from ..data.face_model import FaceModel
from ..data.loaders import recorded_model_settings
from ..errors import FacepartError
from ..io_utils import write_json_atomic
from ..renderers.base import Renderer
from ..segmenters.base import FRONTAL_INDEX
from ..segmenters.masks import (IMAGES_DIR, MANIFEST, MASKS_DIR, RENDER_SET_FORMAT, check_render_set, image_path,
                                read_manifest, render_file_name, render_index)
from .preview import write_png
from .settings import AnnotateSettings
from .variants import sample_variant
from .views import Scene, frontal_view, iter_views, make_scene


def _as_json(value):
    return json.loads(json.dumps(value))


def check_masks_still_match(model: FaceModel, settings: AnnotateSettings, out_dir: str | Path, scene: Scene) -> None:
    """One line when ``out_dir/masks`` holds label maps made for other renders than these would be.

    Same model (fingerprint, loader options), size, camera and variant parameters (seed and sampling)
    for every variant both sets have: the same renders, and the masks are kept.
    """
    out = Path(out_dir)
    masks = out / MASKS_DIR
    if not masks.is_dir() or not any(p.is_file() and not p.name.startswith(".") for p in masks.iterdir()):
        return
    fix = f"move or delete {masks} first, or render into a new folder"
    try:
        old = read_manifest(out)
    except FacepartError:
        raise FacepartError(f"{out}: {MASKS_DIR}/ holds label maps, but no valid {MANIFEST} says which renders "
                            f"they were made for; {fix}") from None
    new_settings = _as_json(settings.as_dict())
    old_settings = old["settings"]
    differ = []
    if old["fingerprint"] != model.fingerprint.as_dict():
        differ.append("another model topology")
    model_record = old.get("model") if isinstance(old.get("model"), dict) else {}
    if model_record.get("options") != _as_json(recorded_model_settings(model).get("options")):
        differ.append("other model loader options")
    differ += [f"{k} {old_settings.get(k)!r} vs {new_settings[k]!r}" for k in ("size", "seed")
               if old_settings.get(k) != new_settings[k]]
    if old_settings.get("sampling") != new_settings["sampling"]:
        differ.append("other sampling ranges")
    if not differ and old.get("camera") != _as_json(scene.camera.as_dict()):
        differ.append("another camera (the model's shape changed)")
    if not differ:
        made = old.get("variants") if isinstance(old.get("variants"), list) else []
        for entry in made[:settings.variants]:
            index = entry.get("index") if isinstance(entry, dict) else None
            if not isinstance(index, int) or index < 0 or index >= settings.variants or \
                    entry != _as_json(sample_variant(model, settings.sampling, settings.seed, index).as_dict()):
                differ.append(f"other parameters for variant {index}")
                break
    if differ:
        raise FacepartError(f"{out}: {MASKS_DIR}/ holds label maps made for other renders than these ("
                            + "; ".join(differ) + f"); they would be voted with the new views: {fix}")


def write_render_set(model: FaceModel, settings: AnnotateSettings, out_dir: str | Path, renderer: Renderer,
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Render ``settings.variants`` variants and the frontal view into ``out_dir``; return the manifest path.

    Refused (before anything is written) when ``out_dir/masks`` holds label maps of other renders.
    """
    out = Path(out_dir)
    scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
    check_masks_still_match(model, settings, out, scene)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    write_png(image_path(out, FRONTAL_INDEX), frontal_view(model, settings.size, renderer).fragments.image)
    variants = []
    for variant, view in iter_views(model, settings, renderer, range(settings.variants), scene=scene):
        write_png(image_path(out, variant.index), view.fragments.image)
        variants.append(variant.as_dict())
        if progress is not None:
            progress(variant.index + 1, settings.variants)
    _remove_renders_past(out, settings.variants)
    manifest = {
        "format": RENDER_SET_FORMAT,
        "facepart_version": __version__,
        "model": recorded_model_settings(model),
        "fingerprint": model.fingerprint.as_dict(),
        "settings": settings.as_dict(),
        "camera": scene.camera.as_dict(),
        "images": [f"{IMAGES_DIR}/{render_file_name(v['index'])}" for v in variants],
        "calibration_image": f"{IMAGES_DIR}/{render_file_name(FRONTAL_INDEX)}",
        "masks": f"write one-channel PNGs of your parser's class ids to {MASKS_DIR}/ with the same names, "
                 "and its label table to labels.yaml",
        "variants": variants,
    }
    path = out / MANIFEST
    write_json_atomic(path, manifest, indent=1)
    return path


def _remove_renders_past(out: Path, variants: int) -> None:
    """Delete variant renders ``images/NNNNNN.png`` numbered ``variants`` and up: an earlier, larger render
    into the folder left them, and a parser that segments every image there would spend its time on them."""
    for path in (out / IMAGES_DIR).glob("*.png"):
        index = render_index(path.name)
        if index is not None and index >= variants:  # (the frontal render's index is negative)
            path.unlink(missing_ok=True)


def render_set_settings(render_dir: str | Path, model: FaceModel) -> AnnotateSettings:
    """The run settings of a render set, after checking that it was made from ``model``."""
    manifest = read_manifest(render_dir)
    settings = AnnotateSettings.from_dict(manifest["settings"], f"{Path(render_dir) / MANIFEST}: settings")
    check_render_set(render_dir, model.fingerprint.as_dict(), settings.as_dict())
    return settings
