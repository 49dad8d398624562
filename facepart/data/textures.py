"""Model colour: UV texture images, and a skin-tone basis that makes texture part of variant sampling.

* :func:`read_texture` / :func:`sample_texture`: a UV texture image (``--texture IMG``)
  sampled bilinearly at each vertex's UV (origin bottom-left, as in OBJ and
  OpenGL) gives per-vertex albedo; the renderer shades per-vertex colour.
* :func:`tone_basis`: three global albedo modes (brightness, redness,
  yellowness) around any base colour, coefficient ~ N(0, 1), so that variants of
  a model without a colour PCA (a texture, vertex colours, or the neutral skin
  shading) still vary in skin tone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import FacepartError

TEXTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: Std dev of each tone mode: brightness (relative), redness and yellowness (absolute, in [0, 1] colour).
TONE_STD = (0.12, 0.035, 0.035)


def read_texture(path: str | Path) -> np.ndarray:
    """(H, W, 3) float32 image in [0, 1] (alpha dropped, grey expanded)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: texture image not found")
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            img = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise FacepartError(f"{path}: not a readable texture image ({exc})") from None
    if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise FacepartError(f"{path}: expected an RGB texture image, got shape {img.shape}")
    return img


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(V, 3) colours of ``image`` (H, W, 3) at ``uv`` (V, 2), bilinear, UVs clamped to [0, 1].

    u runs left to right, v bottom to top (v = 0 is the last image row).
    """
    h, w = image.shape[:2]
    uv = np.clip(np.asarray(uv, np.float64), 0.0, 1.0)
    x = uv[:, 0] * (w - 1)
    y = (1.0 - uv[:, 1]) * (h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    top = image[y0, x0] * (1 - fx) + image[y0, x1] * fx
    bottom = image[y1, x0] * (1 - fx) + image[y1, x1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def tone_basis(albedo: np.ndarray) -> np.ndarray:
    """(3, V, 3) float32 skin-tone modes around ``albedo`` (V, 3): brightness, redness, yellowness."""
    albedo = np.asarray(albedo, np.float32)
    v = albedo.shape[0]
    out = np.empty((3, v, 3), np.float32)
    out[0] = albedo * TONE_STD[0]
    out[1] = np.array([1.0, -0.4, -0.4], np.float32) * TONE_STD[1]
    out[2] = np.array([0.5, 0.5, -1.0], np.float32) * TONE_STD[2]
    return out


def apply_texture(model, texture: str | Path):
    """Give ``model`` the per-vertex albedo of a UV texture image (and skin-tone variation); returns it."""
    path = Path(texture)
    if model.uv is None:
        raise FacepartError(f"{path}: --texture needs a model with UV coordinates, and "
                            f"{model.meta.get('path', model.name)} has none")
    image = read_texture(path)
    model.albedo = np.clip(sample_texture(image, model.uv), 0, 1)
    model.albedo_basis = tone_basis(model.albedo)
    model.meta["texture"] = str(path)
    model.meta.setdefault("notes", []).append(
        f"albedo sampled per vertex from the texture {path.name} ({image.shape[1]}x{image.shape[0]}); "
        "the model's own colour basis (if any) was replaced by skin-tone variation")
    return model
