"""The correction viewer: open an annotation, fix the errant vertices by brush, lasso and fill, save.

* :mod:`.editor` -- :class:`Editor`, all editing logic (no Open3D): pick, brush (radius in mm along
  the surface), lasso/rectangle, fill, grow/shrink, mirror, locks, undo/redo, colours, save.
* :mod:`.screen` -- :class:`ScreenView` (camera + depth image): which vertices a view shows.
* :mod:`.session` -- :func:`open_for_correction`: annotation.npz, parts.json, FLAME_masks.pkl,
  or a model file's region sets (3DDFA-V3 ``face_model.npy``).
* :mod:`.app` -- the Open3D window, a thin layer over the editor; :mod:`.keymap` -- its keys.
* :mod:`.xvfb` -- a private X display for screenshots without a screen.

``facepart correct`` calls :func:`correct`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from .editor import EditRefused, Editor
from .keymap import KEYMAP, keymap_text
from .session import Session, open_for_correction

__all__ = ["Editor", "EditRefused", "KEYMAP", "keymap_text", "Session", "open_for_correction", "correct",
           "CorrectResult"]


class CorrectResult(NamedTuple):
    exit_code: int  # 0, or 3 when unsaved edits went to a recovery folder
    written: Path | None  # the screenshot, or the annotation.npz saved last
    save_dir: Path
    first_frame_s: float | None  # seconds from opening the window to its first drawn frame


def correct(path: str | Path, model=None, out: str | Path | None = None, screenshot: str | Path | None = None,
            view: str = "front", size: tuple[int, int] = (1400, 900), regions: str | None = None,
            shading: str = "headlight", **load_options) -> CorrectResult:
    """Open ``path`` in the correction window (or, with ``screenshot``, draw it to a PNG and return).

    Without a display ($DISPLAY unset), a screenshot is drawn on a private Xvfb display; the
    interactive window needs a real one.

    Returns:
        A :class:`CorrectResult`.
    """
    from .app import ViewerApp

    session = open_for_correction(path, model, out=out, regions=regions, **load_options)
    viewer = ViewerApp(session, size=size, screenshot=screenshot, view=view, shading=shading)
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        code = viewer.run()
    elif screenshot is not None:
        from .xvfb import virtual_display

        with virtual_display((size[0] + 64, size[1] + 64), outlive=True) as display:
            os.environ["DISPLAY"] = display.name
            try:
                code = viewer.run()
            finally:
                del os.environ["DISPLAY"]
    else:
        from ..errors import FacepartError

        raise FacepartError("no display: the viewer needs a desktop ($DISPLAY is not set); for a picture "
                            "without one use --screenshot PNG")
    return CorrectResult(code, viewer.result_path, session.save_dir, viewer.first_frame_s)
