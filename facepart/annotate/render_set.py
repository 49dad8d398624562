"""Render sets: renders written to a folder so a parser elsewhere can segment them.

``facepart render MODEL --out DIR`` writes ``DIR/manifest.json`` (model
fingerprint, run settings, camera, variants) and the shaded renders under
``DIR/images/`` in the layout of :mod:`facepart.segmenters.masks` (variant
renders ``000012.png``, the frontal calibration view ``frontal.png``). The
user's parser writes label PNGs with the same names under ``DIR/masks/``.
``facepart vote MODEL --masks DIR`` re-renders the geometry of every variant
from the manifest (same seed and settings: exactly the same views), reads the
masks and votes. Nothing but the manifest and the PNGs is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .. import __version__
from ..data.face_model import FaceModel
from ..data.loaders import recorded_model_settings
from ..io_utils import write_json_atomic
from ..renderers.base import Renderer
from ..segmenters.base import FRONTAL_INDEX
from ..segmenters.masks import (IMAGES_DIR, MANIFEST, MASKS_DIR, RENDER_SET_FORMAT, check_render_set, image_path,
                                read_manifest, render_file_name)
from .preview import write_png
from .settings import AnnotateSettings
from .views import frontal_view, iter_views, make_scene


def write_render_set(model: FaceModel, settings: AnnotateSettings, out_dir: str | Path, renderer: Renderer,
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Render ``settings.variants`` variants and the frontal view into ``out_dir``; return the manifest path."""
    out = Path(out_dir)
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    scene = make_scene(model, settings.size, eyeballs=settings.eyeballs)
    write_png(image_path(out, FRONTAL_INDEX), frontal_view(model, settings.size, renderer).fragments.image)
    variants = []
    for variant, view in iter_views(model, settings, renderer, range(settings.variants), scene=scene):
        write_png(image_path(out, variant.index), view.fragments.image)
        variants.append(variant.as_dict())
        if progress is not None:
            progress(variant.index + 1, settings.variants)
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


def render_set_settings(render_dir: str | Path, model: FaceModel) -> AnnotateSettings:
    """The run settings of a render set, after checking that it was made from ``model``."""
    manifest = read_manifest(render_dir)
    settings = AnnotateSettings.from_dict(manifest["settings"], f"{Path(render_dir) / MANIFEST}: settings")
    check_render_set(render_dir, model.fingerprint.as_dict(), settings.as_dict())
    return settings
