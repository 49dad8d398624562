"""The Open3D window of ``facepart correct``: a thin layer over :class:`~facepart.correction_gui.editor.Editor`.

The window draws the mesh coloured by the editor, turns mouse and key events
into editor calls, and supplies the editor with a
:class:`~facepart.correction_gui.screen.ScreenView` (camera + depth image) for
picking. Open3D rules this code follows (see Open3D's
``examples/python/visualization``): GUI calls happen on the main thread
(work from other threads goes through ``post_to_main_thread``); mouse
coordinates are window coordinates (the scene widget's frame is subtracted);
``render_to_depth_image`` delivers camera-space z with ``inf`` for the
background at the next drawn frame; post-processing is off so colours stay
exact. A vertex-coloured triangle mesh cannot be updated in place in Open3D
0.20 (``update_geometry`` takes point clouds only), so new colours replace the
mesh geometry (~8 ms for ICT on a CPU).

Set ``FACEPART_VIEWER_TRACE=FILE`` to get one JSON line per event the viewer
handles (used by the tests to wait for the window deterministically). Filament's
start-up banner (engine, backend, swapchain) goes to the process's standard
output from native code; it is kept off the terminal unless
``FACEPART_VIEWER_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import FacepartError, require
from .editor import ERASE, Editor, Region
from .keymap import keymap_text
from .screen import VIEW_DIRECTIONS, ScreenView, camera_from_gl, headlight, look_at_pose
from .session import RECOVERY_FOR, Session

PANEL_WIDTH = 400
FIELD_OF_VIEW = 30.0
TOOLS = ("navigate", "brush", "erase", "lasso", "rectangle", "fill")
#: "headlight": an unlit material, vertex colours shaded on the CPU by a light at the camera (updated when the
#: camera comes to rest): about 5x faster than "pbr" on a software renderer (llvmpipe, measured at 1400x900).
#: "pbr": Open3D's lit material (smoother; for machines with a GPU).
SHADINGS = ("headlight", "pbr")
#: Headlight shading is re-applied only when it changes by more than this somewhere (of 1 = full light):
#: a wheel step moves the light along the view axis and changes it by about 1.5% (ICT), an orbit by far more.
RELIGHT_TOLERANCE = 0.02


def _open3d():
    o3d = require("open3d", "the correction viewer", "pip install open3d-cpu==0.20.0")
    import open3d.visualization.gui as gui
    import open3d.visualization.rendering as rendering

    return o3d, gui, rendering


@contextlib.contextmanager
def _native_stdout_quiet(quiet: bool = True):
    """Send file descriptor 1 (where Filament prints its start-up banner from C++) to /dev/null inside the block;
    this module's own messages go to standard error, and Python's standard output is flushed on both sides."""
    if not quiet:
        yield
        return
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output to redirect
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class Tracer:
    """Appends one JSON line per event to ``path`` (nothing when ``path`` is None)."""

    def __init__(self, path: str | None):
        self.fh = open(path, "a", buffering=1) if path else None
        self.t0 = time.perf_counter()

    def __call__(self, event: str, **data) -> None:
        if self.fh is not None:
            self.fh.write(json.dumps({"event": event, "t": round(time.perf_counter() - self.t0, 4), **data}) + "\n")

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


class ViewerApp:
    """The correction window.

    Args:
        session: what was opened (model, annotation, where to save).
        size: window (width, height) in pixels.
        screenshot: write the 3D view to this PNG once drawn, then close (no editing).
        view: the view to start with (front, left, right).
        shading: "headlight" or "pbr" (see :data:`SHADINGS`).
    """

    def __init__(self, session: Session, size: tuple[int, int] = (1400, 900), screenshot: str | Path | None = None,
                 view: str = "front", shading: str = "headlight"):
        self.t_start = time.perf_counter()
        if view not in VIEW_DIRECTIONS:
            raise FacepartError(f"unknown view '{view}'; choose one of {', '.join(VIEW_DIRECTIONS)}")
        if shading not in SHADINGS:
            raise FacepartError(f"unknown shading '{shading}'; choose one of {', '.join(SHADINGS)}")
        self.shading = shading
        self.session = session
        self.editor = Editor.from_model(session.model, session.annotation)
        self._shade = None  # (V,) headlight shading
        self._relight_posted = False  # a relight is queued on the main thread
        self.screenshot = Path(screenshot) if screenshot else None
        self.start_view = view
        self.size = size
        self.trace = Tracer(os.environ.get("FACEPART_VIEWER_TRACE"))
        self.tool = "navigate"
        self.view: ScreenView | None = None  # valid while the camera has not moved
        self._depth_pending = False
        self._queue: list[tuple] = []  # mouse events waiting for a depth image
        self._drag = None  # (mode, selection mode) of the drag in progress
        self._drag_points: list[tuple[float, float]] = []
        self._mods = set()  # modifier keys held
        self._view_cycle = 0
        self._closing_ok = False
        self._dialog_open = False
        self._close_posted = False  # a close request waits for its decision (ask, or close at once on Esc)
        self._escape_at = -1e9  # when Esc was last seen (Open3D closes the window on it)
        self._recovered = False  # unsaved edits already written to a recovery folder
        self.first_frame_s = None
        self.exit_code = 0
        self.result_path: Path | None = None
        self._signal = None

    # -- set-up ------------------------------------------------------------------------------------
    def run(self) -> int:
        with _native_stdout_quiet(os.environ.get("FACEPART_VIEWER_DEBUG") != "1"):
            return self._run()

    def _run(self) -> int:
        o3d, gui, rendering = _open3d()
        self.o3d, self.gui, self.rendering = o3d, gui, rendering
        o3d.utility.set_verbosity_level(o3d.utility.VerbosityLevel.Warning)
        app = gui.Application.instance
        app.initialize()
        self.app = app
        title = f"facepart correct - {self.session.source.name}"
        self.window = app.create_window(title, int(self.size[0]), int(self.size[1]))
        w = self.window
        self.scene = gui.SceneWidget()
        self.scene.scene = rendering.Open3DScene(w.renderer)
        self.scene.scene.set_background([0.97, 0.97, 0.97, 1.0])
        self.scene.scene.view.set_post_processing(False)  # keeps vertex colours exact
        self.scene.scene.set_lighting(rendering.Open3DScene.LightingProfile.NO_SHADOWS, [0.3, -0.35, -0.9])
        self.material = rendering.MaterialRecord()
        self.material.shader = "defaultUnlit" if self.shading == "headlight" else "defaultLit"
        self.material.base_roughness = 0.9
        self.material.base_reflectance = 0.1
        ed = self.editor
        self.mesh = o3d.t.geometry.TriangleMesh()
        self.mesh.vertex.positions = o3d.core.Tensor(ed.vertices.astype(np.float32))
        self.mesh.triangle.indices = o3d.core.Tensor(ed.surface_triangles.astype(np.int32))
        self.mesh.vertex.normals = o3d.core.Tensor(ed.normals.astype(np.float32))
        self._set_colors()
        shown = ed.vertices[ed.shown]
        self.center = 0.5 * (shown.min(axis=0) + shown.max(axis=0))
        self.radius = float(np.linalg.norm(shown - self.center, axis=1).max())
        self.bounds = o3d.geometry.AxisAlignedBoundingBox(shown.min(axis=0), shown.max(axis=0))
        self.scene.setup_camera(FIELD_OF_VIEW, self.bounds, self.center.astype(np.float32))
        self.scene.set_on_mouse(self._on_mouse)
        w.add_child(self.scene)
        self._build_panel()
        w.set_on_layout(self._on_layout)
        w.set_on_key(self._on_key)
        w.set_on_close(self._on_close)
        w.set_on_tick_event(self._on_tick)
        self.set_view(self.start_view)
        self._install_signals()
        for note in self.session.notes:
            print(note, file=sys.stderr)
        if self.screenshot is None:
            print(f"facepart correct: editing {self.session.source}; Ctrl+S saves to {self.session.save_dir}",
                  file=sys.stderr)
        self._after_first_frame()
        app.run()
        self._on_exit()
        return self.exit_code

    def _install_signals(self):
        def handler(signum, _frame):
            self._signal = signum
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):  # not the main thread (embedded use)
                pass

    def _after_first_frame(self):
        """Once the first frame is drawn: note the time, trace "ready", or write the screenshot and quit."""
        def drawn(image):
            h, w = np.asarray(image).shape[:2]
            frame = self.scene.frame
            if (w, h) != (frame.width, frame.height):  # drawn before the first layout: wait for the next frame
                self._render_to_image(drawn)
                return
            self.first_frame_s = time.perf_counter() - self.t_start
            if self.screenshot is not None:
                from ..annotate.preview import part_legend, write_png

                view = np.asarray(image)[..., :3]
                legend = part_legend(self.editor.parts, self.editor.labels, view.shape[1])
                self.result_path = write_png(self.screenshot, np.vstack([view, legend]))
                self.trace("screenshot", path=str(self.result_path))
                self._closing_ok = True
                self.app.post_to_main_thread(self.window, self.window.close)
                return
            self.trace("ready", first_frame_s=round(self.first_frame_s, 3), window=_rect(self.window.content_rect),
                       scene=_rect(self.scene.frame), widgets={k: _rect(v.frame) for k, v in self.widgets.items()},
                       radius_mm=self.editor.brush_radius_mm, parts=list(self.editor.parts.names))
        self._render_to_image(drawn)

    def _render_to_image(self, callback):
        def deliver(image):
            self.app.post_to_main_thread(self.window, lambda: callback(image))
        self.scene.scene.scene.render_to_image(deliver)
        self._redraw_now()

    def _redraw_now(self):
        """Ask for a frame and wake the event loop (which otherwise may sleep until the next input event)."""
        self.scene.force_redraw()
        self.window.post_redraw()
        self.app.post_to_main_thread(self.window, lambda: None)

    # -- panel -------------------------------------------------------------------------------------
    def _build_panel(self):
        gui = self.gui
        ed = self.editor
        em = self.window.theme.font_size
        sep = int(round(0.3 * em))
        self.panel = gui.ScrollableVert(sep, gui.Margins(sep * 2, sep * 2, sep * 2, sep * 2))
        self.widgets = {}
        p = self.panel
        p.add_child(gui.Label(f"{self.session.source.name}  ({ed.n_vertices} vertices)"))
        p.add_child(gui.Label("Parts (click: active part; keys 1-9, 0 = erase)"))
        self.count_labels = []
        self.part_buttons = []
        self.show_boxes = []
        self.lock_boxes = []
        for i, name in enumerate(ed.parts.names):
            row = gui.Horiz(sep)
            swatch = gui.Button(" ")
            swatch.background_color = gui.Color(*(ed.parts.colors[i] / 255.0))
            swatch.set_on_clicked(lambda i=i: self._do(lambda: ed.set_active(i)))
            b = gui.Button(self._part_text(i))
            b.set_on_clicked(lambda i=i: self._do(lambda: ed.set_active(i)))
            self.widgets[f"part:{name}"] = b
            count = gui.Label("0")
            show = gui.Checkbox("show")
            show.checked = True
            show.set_on_checked(lambda on, i=i: self._do(lambda: self._set_hidden(i, not on)))
            lock = gui.Checkbox("lock")
            lock.set_on_checked(lambda on, i=i: self._do(lambda: self._set_locked(i, on)))
            for wdg in (swatch, b, count):
                row.add_child(wdg)
            row.add_stretch()
            row.add_child(show)
            row.add_child(lock)
            p.add_child(row)
            self.part_buttons.append(b)
            self.count_labels.append(count)
            self.show_boxes.append(show)
            self.lock_boxes.append(lock)
        row = gui.Horiz(sep)
        b = gui.Button(self._part_text(ERASE))
        b.set_on_clicked(lambda: self._do(lambda: ed.set_active(ERASE)))
        self.widgets["part:(erase)"] = b
        self.part_buttons.append(b)
        self.unlabelled_label = gui.Label("0")
        self.unlabelled_box = gui.Checkbox("highlight (U)")
        self.unlabelled_box.set_on_checked(lambda on: self._do(lambda: setattr(ed, "show_unlabelled", on)))
        for wdg in (b, self.unlabelled_label):
            row.add_child(wdg)
        row.add_stretch()
        row.add_child(self.unlabelled_box)
        p.add_child(row)
        self.active_label = gui.Label("")
        p.add_child(self.active_label)

        p.add_child(gui.Label("Tool"))
        tools = gui.VGrid(3, sep)
        self.tool_buttons = {}
        for tool in TOOLS:
            b = gui.Button(tool)
            b.set_on_clicked(lambda t=tool: self._do(lambda: self.set_tool(t)))
            self.tool_buttons[tool] = b
            self.widgets[f"tool:{tool}"] = b
            tools.add_child(b)
        p.add_child(tools)
        row = gui.Horiz(sep)
        row.add_child(gui.Label("brush mm"))
        self.radius_slider = gui.Slider(gui.Slider.DOUBLE)
        self.radius_slider.set_limits(0.5, 30.0)
        self.radius_slider.set_on_value_changed(lambda v: self._do(lambda: ed.set_brush_radius(v)))
        row.add_child(self.radius_slider)
        p.add_child(row)
        row = gui.Horiz(sep)
        self.through_box = gui.Checkbox("through the mesh (T)")
        self.through_box.set_on_checked(lambda on: self._do(lambda: setattr(ed, "through", on)))
        self.mirror_box = gui.Checkbox("mirror (M)")
        self.mirror_box.set_on_checked(lambda on: self._do(lambda: ed.set_mirror(on)))
        row.add_child(self.through_box)
        row.add_child(self.mirror_box)
        p.add_child(row)

        p.add_child(gui.Label("Selection"))
        row = gui.Horiz(sep)
        for text, fn in (("grow", lambda: ed.grow_selection(1)), ("shrink", lambda: ed.grow_selection(-1)),
                         ("assign", ed.assign_selection), ("erase", ed.erase_selection),
                         ("clear", ed.clear_selection)):
            b = gui.Button(text)
            b.set_on_clicked(lambda fn=fn: self._do(fn))
            self.widgets[f"selection:{text}"] = b
            row.add_child(b)
        p.add_child(row)

        p.add_child(gui.Label("View"))
        row = gui.Horiz(sep)
        for name in (*VIEW_DIRECTIONS, "reset"):
            b = gui.Button(name)
            b.set_on_clicked(lambda n=name: self._do(lambda: self.set_view("front" if n == "reset" else n)))
            row.add_child(b)
        p.add_child(row)
        row = gui.Horiz(sep)
        self.heat_box = gui.Checkbox("confidence heat map (C)")
        self.heat_box.set_on_checked(lambda on: self._do(lambda: setattr(ed, "heat_map", on)))
        row.add_child(self.heat_box)
        b = gui.Button("next uncertain (N)")
        b.set_on_clicked(lambda: self._do(self.next_uncertain))
        row.add_child(b)
        p.add_child(row)
        p.add_child(gui.Label("Islands (click: fly there and select)"))
        self.island_list = gui.ListView()
        self.island_list.set_max_visible_items(6)
        self.island_list.set_on_selection_changed(lambda value, dbl: self._do(lambda: self._island_clicked()))
        p.add_child(self.island_list)
        self.islands: list[Region] = []

        row = gui.Horiz(sep)
        for text, fn in (("undo", ed.undo), ("redo", ed.redo), ("save", self.save)):
            b = gui.Button(text)
            b.set_on_clicked(lambda fn=fn: self._do(fn))
            self.widgets[f"button:{text}"] = b
            row.add_child(b)
        p.add_child(row)
        self.status = gui.Label("")
        p.add_child(self.status)
        keys = gui.CollapsableVert("Keys", sep, gui.Margins(sep, 0, 0, 0))
        keys.add_child(gui.Label(keymap_text(indent="")))
        keys.set_is_open(False)
        p.add_child(keys)
        self.window.add_child(self.panel)
        self._refresh_panel()

    def _part_text(self, part: int) -> str:
        name = self.editor.part_name(part)
        key = "0 " if part < 0 else (f"{part + 1} " if part < 9 else "")
        return (">> " if part == self.editor.active else "") + key + name

    def _on_layout(self, ctx):
        r = self.window.content_rect
        width = 0 if self.screenshot else min(PANEL_WIDTH * max(self.window.scaling, 1.0), r.width * 0.5)
        self.scene.frame = self.gui.Rect(r.x, r.y, int(r.width - width), r.height)
        self.panel.frame = self.gui.Rect(int(r.get_right() - width), r.y, int(width), r.height)
        self.view = None  # the view size changed

    def _refresh_panel(self):
        ed = self.editor
        counts = ed.counts()
        for i, lab in enumerate(self.count_labels):
            lab.text = f"{counts[i]:>6}"
            self.show_boxes[i].checked = not ed.hidden[i]
            self.lock_boxes[i].checked = bool(ed.locked[i])
        self.unlabelled_label.text = f"{counts[-1]} unlabelled"
        for i, b in enumerate(self.part_buttons):  # (toggle buttons lose their state when clicked: mark by text)
            b.text = self._part_text(i if i < ed.n_parts else ERASE)
        self.unlabelled_box.checked = ed.show_unlabelled
        active = ed.part_name(ed.active)
        flags = [f for f, on in (("mirror", ed.mirror), ("through", ed.through)) if on]
        self.active_label.text = (f"active: {active}{' (locked)' if ed.active >= 0 and ed.locked[ed.active] else ''}"
                                  f"   tool: {self.tool}" + (f"   [{', '.join(flags)}]" if flags else ""))
        for tool, b in self.tool_buttons.items():
            b.text = (">> " if tool == self.tool else "") + tool
        self.radius_slider.double_value = ed.brush_radius_mm
        self.through_box.checked = ed.through
        self.mirror_box.checked = ed.mirror
        self.heat_box.checked = ed.heat_map
        dirty = " (unsaved edits)" if ed.dirty else ""
        self.status.text = (ed.message or "") + dirty
        self.islands = [r for r in ed.islands() if r.piece > 0]
        self.island_list.set_items([f"{ed.part_name(r.part)}: piece {r.piece + 1}/{r.n_pieces}, {len(r.vertices)} v"
                                    for r in self.islands] or ["(every part is one piece)"])

    # -- actions -----------------------------------------------------------------------------------
    def _do(self, fn):
        """Run an editor action from the UI: show refusals in the status line, then redraw."""
        from .editor import EditRefused

        before = (self.editor._state_token(), self.editor.selection.sum())
        try:
            result = fn()
        except EditRefused as exc:
            self.editor.message = str(exc)
            result = None
        except FacepartError as exc:
            self.editor.message = f"error: {exc}"
            result = None
        self._set_colors()
        self._refresh_panel()
        self._redraw_now()
        self.trace("action", message=self.editor.message, active=self.editor.part_name(self.editor.active),
                   changed=before != (self.editor._state_token(), self.editor.selection.sum()))
        return result

    def _set_hidden(self, part: int, hidden: bool):
        if bool(self.editor.hidden[part]) != hidden:
            self.editor.toggle_hidden(part)

    def _set_locked(self, part: int, locked: bool):
        if bool(self.editor.locked[part]) != locked:
            self.editor.toggle_lock(part)

    def set_tool(self, tool: str):
        self.tool = tool
        self.editor.message = f"tool: {tool}"

    def _set_colors(self):
        """Push the editor's colours to the GPU (replaces the mesh: Open3D 0.20 updates only point clouds)."""
        colors = self.editor.colors()
        if self._shade is not None:
            colors = colors * self._shade[:, None]
        if getattr(self, "_colors", None) is not None and np.array_equal(colors, self._colors):
            return
        self._colors = colors
        self.mesh.vertex.colors = self.o3d.core.Tensor(colors)
        if hasattr(self, "scene"):
            if self.scene.scene.has_geometry("mesh"):
                self.scene.scene.remove_geometry("mesh")
            self.scene.scene.add_geometry("mesh", self.mesh, self.material)
            self.scene.force_redraw()

    def set_view(self, name: str):
        direction = VIEW_DIRECTIONS[name]
        distance = self.radius / np.tan(np.radians(FIELD_OF_VIEW / 2)) * 1.05
        self._look(self.center, np.asarray(direction), distance)
        self.editor.message = f"{name} view"

    def cycle_view(self):
        names = list(VIEW_DIRECTIONS)
        self._view_cycle = (self._view_cycle + 1) % len(names)
        self.set_view(names[self._view_cycle])

    def _look(self, target, direction, distance):
        center, eye, up = look_at_pose(target, direction, distance)
        self.scene.look_at(center.astype(np.float32), eye.astype(np.float32), up.astype(np.float32))
        self.scene.center_of_rotation = center.astype(np.float32)
        self.view = None
        self._camera_moved()

    def _camera_moved(self):
        """Re-light the mesh for the camera's new position (headlight shading)."""
        if self.shading != "headlight":
            return
        view = np.asarray(self.scene.scene.camera.get_view_matrix(), np.float64)
        eye = -view[:3, :3].T @ view[:3, 3]
        up = view[1, :3]  # the camera's up axis in world coordinates
        shade = headlight(self.editor.vertices, self.editor.normals, eye, up)
        change = float(np.abs(shade - self._shade).max()) if self._shade is not None else 1.0
        self.trace("relight", change=round(change, 4), applied=change > RELIGHT_TOLERANCE)
        if change <= RELIGHT_TOLERANCE:  # a wheel step: the shading barely moves; re-uploading the mesh would
            return  # cost a frame per step on a software renderer
        self._shade = shade
        self._set_colors()
        self._redraw_now()

    def _posted_relight(self):
        self._relight_posted = False
        self._camera_moved()

    def fly_to(self, region: Region):
        self._look(region.center, region.normal, 0.35 * self.radius / np.tan(np.radians(FIELD_OF_VIEW / 2)))
        self.editor.select_vertices(region.vertices)

    def next_uncertain(self):
        region = self.editor.next_uncertain()
        if region is not None:
            message = self.editor.message
            self.fly_to(region)
            self.editor.message = message

    def next_island(self):
        region = self.editor.next_island()
        if region is not None:
            message = self.editor.message
            self.fly_to(region)
            self.editor.message = message

    def _island_clicked(self):
        i = self.island_list.selected_index
        if 0 <= i < len(self.islands):
            r = self.islands[i]
            self.fly_to(r)
            self.editor.message = (f"island: {self.editor.part_name(r.part)} piece {r.piece + 1} of {r.n_pieces} "
                                   f"({len(r.vertices)} vertices selected: Enter assigns, Delete erases)")

    def save(self):
        npz, parts = self.editor.save(self.session.save_dir)
        self.result_path = npz
        self.trace("saved", path=str(npz), edits=len(self.editor.edit_log()))
        print(f"saved {npz} and {parts.name}", file=sys.stderr)

    # -- mouse ---------------------------------------------------------------------------------------
    def _on_mouse(self, e):
        gui = self.gui
        T = gui.MouseEvent.Type
        frame = self.scene.frame
        x, y = e.x - frame.x + 0.5, e.y - frame.y + 0.5  # the pixel's centre, in view coordinates
        if self.trace.fh is not None:
            self.trace("mouse", type=str(e.type).split(".")[-1], x=round(x, 1), y=round(y, 1),
                       ctrl=e.is_modifier_down(gui.KeyModifier.CTRL))
        if e.type == T.BUTTON_DOWN and e.is_button_down(gui.MouseButton.LEFT):
            ctrl = e.is_modifier_down(gui.KeyModifier.CTRL)
            shift = e.is_modifier_down(gui.KeyModifier.SHIFT)
            alt = e.is_modifier_down(gui.KeyModifier.ALT)
            mode = ("erase" if shift else "brush") if ctrl else self.tool
            if mode == "navigate":
                self.view = None
                return gui.Widget.EventCallbackResult.IGNORED
            self._drag = (mode, "add" if shift else ("remove" if alt else "replace"))
            self._queue.append(("down", x, y))
            self._pump()
            return gui.Widget.EventCallbackResult.CONSUMED
        if self._drag is not None and e.type == T.DRAG:
            self._queue.append(("move", x, y))
            self._pump()
            return gui.Widget.EventCallbackResult.CONSUMED
        if self._drag is not None and e.type == T.BUTTON_UP:
            self._queue.append(("up", x, y))
            self._pump()
            return gui.Widget.EventCallbackResult.CONSUMED
        if e.type in (T.DRAG, T.WHEEL, T.BUTTON_DOWN, T.BUTTON_UP):
            self.view = None  # the camera may move
        if e.type in (T.WHEEL, T.BUTTON_UP) and not self._relight_posted:
            # the camera comes to rest: relight after Open3D has handled the event, once for a burst of them
            self._relight_posted = True
            self.app.post_to_main_thread(self.window, self._posted_relight)
        return gui.Widget.EventCallbackResult.IGNORED

    def _pump(self):
        """Handle queued mouse events once a depth image of the current camera is at hand."""
        if self.view is None:
            self._request_view()
            return
        queue, self._queue = self._queue, []
        t0 = time.perf_counter()
        for kind, x, y in queue:
            self._handle(kind, x, y)
        if queue:
            self._set_colors()
            self._update_lasso()
            if any(k == "up" for k, _, _ in queue):
                self._refresh_panel()
                # a redraw asked for inside the mouse callback can be lost: ask again once it has returned
                self.app.post_to_main_thread(self.window, self._after_release)
            self._redraw_now()
            self.trace("handled", events=len(queue), ms=round(1000 * (time.perf_counter() - t0), 2))

    def _after_release(self):
        self._set_colors()
        self._refresh_panel()
        self._redraw_now()
        self.trace("redrawn")

    def _request_view(self):
        if self._depth_pending:
            return
        self._depth_pending = True
        cam = self.scene.scene.camera
        view_m = np.asarray(cam.get_view_matrix(), np.float64).copy()
        proj_m = np.asarray(cam.get_projection_matrix(), np.float64).copy()
        frame = self.scene.frame

        def got(image):
            depth = np.asarray(image, np.float32).copy()

            def on_main():
                self._depth_pending = False
                h, w = depth.shape[:2]
                if (w, h) != (frame.width, frame.height):  # resized meanwhile: ask again
                    self.view = None
                else:
                    self.view = ScreenView(camera_from_gl(view_m, proj_m, w, h), depth)
                if self._queue:
                    self._pump()
            self.app.post_to_main_thread(self.window, on_main)
        self.scene.scene.scene.render_to_depth_image(got)
        self._redraw_now()

    def _handle(self, kind: str, x: float, y: float):
        from .editor import EditRefused

        ed, view = self.editor, self.view
        mode, select_mode = self._drag or (None, None)
        try:
            if mode in ("brush", "erase"):
                if kind == "down":
                    ed.begin_stroke(ERASE if mode == "erase" else None)
                ed.stroke_to(view, x, y)
                if kind == "up":
                    edit = ed.end_stroke()
                    cam = view.camera
                    self.trace("stroke", centers=[int(c) for c in ed.stroke_centers],
                               changed=0 if edit is None else edit.log["count"],
                               part=ed.part_name(ERASE if mode == "erase" else ed.active),
                               radius_mm=ed.brush_radius_mm, through=ed.through,
                               camera=[cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height,
                                       np.asarray(cam.rotation).tolist(), np.asarray(cam.translation).tolist()])
            elif mode in ("lasso", "rectangle"):
                self._drag_points.append((x, y))
                if kind == "up":
                    pts = np.array(self._drag_points)
                    if mode == "lasso":
                        ed.select_polygon(view, pts, select_mode)
                    else:
                        ed.select_rectangle(view, *pts[0], *pts[-1], mode=select_mode)
                    self._drag_points = []
            elif mode == "fill" and kind == "up":
                ed.fill_at(view, x, y)
        except EditRefused as exc:
            ed.message = str(exc)
            ed._tx = None
            self._drag = None
        if kind == "up":
            self._drag = None
            self._drag_points = []

    def _update_lasso(self):
        """Draw the lasso or rectangle being dragged as a line just in front of the near plane."""
        scene = self.scene.scene
        if scene.has_geometry("lasso"):
            scene.remove_geometry("lasso")
        if not self._drag_points or self.view is None or len(self._drag_points) < 2:
            return
        pts = np.array(self._drag_points)
        if self._drag and self._drag[0] == "rectangle":
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            pts = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        z = 1.05 * self.view.camera.znear
        world = np.array([self.view.unproject(px, py, z) for px, py in pts])
        lines = self.o3d.geometry.LineSet()
        lines.points = self.o3d.utility.Vector3dVector(world)
        lines.lines = self.o3d.utility.Vector2iVector([(i, (i + 1) % len(world)) for i in range(len(world))])
        lines.paint_uniform_color([0.1, 0.1, 0.1])
        mat = self.rendering.MaterialRecord()
        mat.shader = "unlitLine"
        mat.line_width = 2.0
        scene.add_geometry("lasso", lines, mat)

    # -- keys ------------------------------------------------------------------------------------------
    def _on_key(self, e):
        gui = self.gui
        K = gui.KeyName
        key = int(e.key)
        if key == int(K.ESCAPE):
            self._escape_at = time.monotonic()
        mods = {int(K.LEFT_CONTROL): "ctrl", int(K.RIGHT_CONTROL): "ctrl", int(K.LEFT_SHIFT): "shift",
                int(K.RIGHT_SHIFT): "shift", int(K.ALT): "alt"}
        if key in mods:
            down = e.type == gui.KeyEvent.Type.DOWN
            (self._mods.add if down else self._mods.discard)(mods[key])
            self.trace("modifier", name=mods[key], down=down)
            return False
        if e.type != gui.KeyEvent.Type.DOWN:
            return False
        ctrl, shift = "ctrl" in self._mods, "shift" in self._mods
        self.trace("key", key=key, ctrl=ctrl, shift=shift)
        action = self._key_action(key, ctrl, shift)
        if action is None:
            return False
        self._do(action)
        return True

    def _key_action(self, key: int, ctrl: bool, shift: bool):
        K = self.gui.KeyName
        ed = self.editor
        if ctrl:
            return {int(K.Z): ed.redo if shift else ed.undo, int(K.Y): ed.redo, int(K.S): self.save,
                    int(K.Q): self.request_close}.get(key)
        digits = [K.ZERO, K.ONE, K.TWO, K.THREE, K.FOUR, K.FIVE, K.SIX, K.SEVEN, K.EIGHT, K.NINE]
        for d, k in enumerate(digits):
            if key == int(k):
                if d == 0:
                    return lambda: ed.set_active(ERASE)
                return (lambda d=d: ed.set_active(d - 1)) if d <= ed.n_parts else None
        table = {
            K.TAB: lambda: ed.set_active(((ed.active + (-1 if shift else 1)) % ed.n_parts) if ed.active >= 0
                                         else 0),
            K.LEFT_BRACKET: lambda: ed.scale_brush(1 / 1.25),
            K.RIGHT_BRACKET: lambda: ed.scale_brush(1.25),
            K.B: lambda: self.set_tool("brush"), K.E: lambda: self.set_tool("erase"),
            K.Q: lambda: self.set_tool("lasso"), K.R: lambda: self.set_tool("rectangle"),
            K.F: lambda: self.set_tool("fill"), K.SPACE: lambda: self.set_tool("navigate"),
            K.D: ed.clear_selection,
            K.PLUS: lambda: ed.grow_selection(1), K.EQUALS: lambda: ed.grow_selection(1),
            K.MINUS: lambda: ed.grow_selection(-1), K.ENTER: ed.assign_selection,
            K.DELETE: ed.erase_selection, K.BACKSPACE: ed.erase_selection,
            K.A: lambda: ed.select_part(None), K.T: lambda: self._toggle("through"),
            K.M: ed.toggle_mirror, K.L: lambda: ed.toggle_lock(None), K.H: lambda: ed.toggle_hidden(None),
            K.O: lambda: ed.show_only(None), K.U: lambda: self._toggle("show_unlabelled"),
            K.C: lambda: self._toggle("heat_map"), K.N: self.next_uncertain, K.I: self.next_island,
            K.V: self.cycle_view, K.HOME: lambda: self.set_view("front"),
        }
        return {int(k): v for k, v in table.items()}.get(key)

    def _toggle(self, attr: str):
        setattr(self.editor, attr, not getattr(self.editor, attr))
        self.editor.message = f"{attr.replace('_', ' ')} {'on' if getattr(self.editor, attr) else 'off'}"

    # -- closing ---------------------------------------------------------------------------------------
    def request_close(self):
        if self._on_close():
            self.window.close()

    def _on_close(self) -> bool:
        """Closing: fine when saved; with unsaved edits the answer comes once this event is handled
        (:meth:`_decide_close`). Open3D asks on Esc down and again on Esc up: one decision for both."""
        self.trace("close-requested", dirty=self.editor.dirty)
        if self._closing_ok or not self.editor.dirty:
            return True
        if not self._close_posted:
            self._close_posted = True
            self.app.post_to_main_thread(self.window, self._decide_close)
        return False

    def _decide_close(self):
        """Esc (Open3D's close key, seen by the key callback after the close request) closes at once, the
        unsaved edits going to a recovery folder; any other close asks Save / Discard / Cancel, never twice."""
        self._close_posted = False
        if self._closing_ok or not self.editor.dirty:
            return
        if time.monotonic() - self._escape_at < 2.0:
            self._close_dialog()  # (closing a window under an open dialog crashes Open3D)
            self._save_recovery("Esc")
            self._closing_ok = True
            self.window.close()
        elif not self._dialog_open:
            self._ask_unsaved()

    def _ask_unsaved(self):
        gui = self.gui
        em = self.window.theme.font_size
        dlg = gui.Dialog("Unsaved edits")
        box = gui.Vert(em, gui.Margins(em, em, em, em))
        n = len(self.editor._undo)
        box.add_child(gui.Label(f"The labels differ from what is saved in {self.session.save_dir}.\n"
                                "Save them before closing?"))
        row = gui.Horiz(em)

        def close(save: bool):
            self._close_dialog()
            if save:
                self.save()
            self._closing_ok = True
            self.window.close()

        for text, fn in (("Save", lambda: close(True)), ("Discard", lambda: close(False)),
                         ("Cancel", self._close_dialog)):
            b = gui.Button(text)
            b.set_on_clicked(fn)
            self.widgets[f"dialog:{text}"] = b
            row.add_child(b)
        box.add_child(row)
        dlg.add_child(box)
        self.window.show_dialog(dlg)
        self._dialog_open = True
        self.trace("ask-unsaved", edits=n)

    def _close_dialog(self):
        if self._dialog_open:
            self.window.close_dialog()
            self._dialog_open = False

    def _on_tick(self) -> bool:
        if self._signal is not None:  # SIGTERM / SIGHUP / Ctrl+C in the terminal: never lose edits
            sig, self._signal = self._signal, None
            try:
                self._save_recovery(f"signal {sig}")
            finally:  # whatever happened to the edits, the window closes
                self._closing_ok = True
                self._close_dialog()  # (closing a window under an open dialog crashes Open3D)
                self.app.post_to_main_thread(self.window, self.window.close)  # not from inside the tick
        return False

    def _save_recovery(self, why: str) -> Path | None:
        """Write the unsaved edits to a recovery folder (see :func:`write_recovery`) and say where, in one line;
        exit code 3 from then on."""
        if not self.editor.dirty or self._recovered:
            return None
        self._recovered = True
        self.exit_code = 3
        try:
            npz = write_recovery(self.editor, self.session.save_dir)
        except Exception as exc:  # noqa: BLE001 - the window must close whatever went wrong
            print(f"facepart correct: {why}; the unsaved edits could not be written anywhere "
                  f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); they are lost", file=sys.stderr)
            self.trace("recovery-failed", error=str(exc))
            return None
        print(f"facepart correct: {why}; unsaved edits written to {npz} (not to {self.session.save_dir})",
              file=sys.stderr)
        self.trace("recovered", path=str(npz))
        return npz

    def _on_exit(self):
        # the window went away without asking (Esc, the display closed); not after Save, Discard or a signal
        if self.editor.dirty and not self._closing_ok:
            self._save_recovery("the window closed with unsaved edits")
        self.trace("exit", code=self.exit_code)
        self.trace.close()


def write_recovery(editor: Editor, save_dir: Path) -> Path:
    """Write the editor's state to ``<save_dir>/unsaved-<time>/``; if that folder cannot be written, to a
    ``facepart-unsaved-<time>-*`` folder in the system's temporary folder, then in the current folder.
    Returns the ``annotation.npz`` written; one line (``FacepartError``) when none of them can be written."""
    import tempfile

    stamp = time.strftime("%Y%m%d-%H%M%S")
    errors = []
    places = ((Path(save_dir), "unsaved-"), (None, "facepart-unsaved-"), (Path.cwd(), "facepart-unsaved-"))
    for parent, prefix in places:
        try:
            if parent is None:
                folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{stamp}-"))
                made = folder
            else:
                folder = parent / f"{prefix}{stamp}"
                made = None if folder.exists() else folder
                folder.mkdir(parents=True, exist_ok=True)
            try:
                npz = save_unsaved(editor, folder)[0]
            except BaseException:  # no empty recovery folder left where nothing could be written
                if made is not None:
                    with contextlib.suppress(OSError):
                        made.rmdir()
                raise
            if parent != Path(save_dir):  # elsewhere: say for which save folder, so `correct` finds it again
                with contextlib.suppress(OSError):
                    (folder / RECOVERY_FOR).write_text(str(Path(save_dir).resolve()) + "\n")
            return npz
        except (OSError, FacepartError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0]
            errors.append(f"{parent or tempfile.gettempdir()}: {why}")
    raise FacepartError("cannot write the unsaved edits: " + "; ".join(errors))


def save_unsaved(editor: Editor, folder: Path):
    """Write the editor's state to ``folder`` without marking it saved (it is not where the user saves)."""
    from ..data.annotation import save_annotation

    return save_annotation(editor.annotation(), folder)


def _rect(r) -> list[int]:
    return [int(r.x), int(r.y), int(r.width), int(r.height)]
