"""Benchmark: how fast the correction viewer answers a brush event on the ICT model (target: < 50 ms), and how
long it takes to show its first frame.

Usage:
    python benchmarks/viewer_edit.py [--model PATH] [--events 60] [--size 1400x900] [--radius 4] [--skip-window]

Two measurements on the real ICT mesh (26,719 vertices) with a test labelling:

1. editor only (no window): a brush event = pick the vertex under the cursor,
   geodesic brush, assign, recompute the (V, 3) colours;
2. the real Open3D window (in a second process; on a private Xvfb when
   $DISPLAY is unset): the mouse events of one Ctrl+drag stroke through the
   window's own handler, each drag event timed from the event to the new
   colours being in the scene (mesh replaced) and, on the private Xvfb, to
   new pixels in the X framebuffer, i.e. on the screen; then the end of the
   stroke (undo step, panel counts and islands). Plus the time from opening
   the files to the window's first frame.

Timings on a shared machine are noisy: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
DEFAULT_ICT = ROOT.parent / "shared" / "models" / "ict-facekit" / "FaceXModel"


def stroke_points(width: int, height: int, n: int) -> list[tuple[float, float]]:
    """``n`` cursor positions zig-zagging over the middle of the face (view pixels)."""
    out = []
    for i in range(n):
        row = i // 15
        t = (i % 15) / 14
        x = width * (0.40 + 0.20 * (t if row % 2 == 0 else 1 - t))
        y = height * (0.30 + 0.05 * (row % 6))
        out.append((x + 0.5, y + 0.5))
    return out


def bench_editor(model, annotation, size, events, radius):
    from facepart.correction_gui.editor import Editor
    from facepart.correction_gui.screen import ScreenView
    from facepart.renderers.base import make_renderer
    from facepart.renderers.camera import Camera

    editor = Editor.from_model(model, annotation)
    editor.set_brush_radius(radius)
    shown = model.vertices[editor.shown]
    center = 0.5 * (shown.min(axis=0) + shown.max(axis=0))
    radius_m = float(np.linalg.norm(shown - center, axis=1).max())
    camera = Camera.looking_at(center, radius_m, size, fill=0.95)
    renderer = make_renderer(None, size)
    try:
        depth = renderer.render(model.vertices, model.triangles[model.render_triangles], camera).depth
    finally:
        renderer.close()
    view = ScreenView(camera, depth)
    editor.visible(view)  # computed once per camera position, like the window
    editor.set_active("nose")
    editor.begin_stroke()
    times = []
    for x, y in stroke_points(size[0], size[1], events):
        t0 = time.perf_counter()
        editor.stroke_to(view, x, y)
        editor.colors()
        times.append(time.perf_counter() - t0)
    edit = editor.end_stroke()
    return times, 0 if edit is None else len(edit.indices)


def bench_window(source, size, events, radius, screen=None):
    """Brush dabs through the real window's handler; ``screen()`` (the X framebuffer) times them to the screen."""
    from facepart.correction_gui.app import ViewerApp
    from facepart.correction_gui.session import open_for_correction

    t_open = time.perf_counter()
    session = open_for_correction(source)
    opened = time.perf_counter() - t_open
    viewer = ViewerApp(session, size=size)
    viewer.editor.set_brush_radius(radius)
    results = {"to_scene": [], "to_screen": [], "stroke_end": []}
    failure = []

    def on_main(fn):
        done = threading.Event()

        def run():
            try:
                fn(done)
            except Exception as exc:  # noqa: BLE001 - reported below
                failure.append(exc)
                done.set()
        viewer.app.post_to_main_thread(viewer.window, run)
        if not done.wait(600):
            raise RuntimeError("the viewer stopped answering")

    def event(done, kind, x, y, key):
        """A mouse event of a Ctrl+drag brush stroke, handled as the window's mouse callback does."""
        t0 = time.perf_counter()
        viewer._drag = ("brush", "replace")
        viewer._queue.append((kind, x, y))
        viewer._pump()
        if viewer._queue:  # waiting for the first depth image
            def wait_view():
                if viewer._queue:
                    threading.Timer(0.05, lambda: viewer.app.post_to_main_thread(viewer.window, wait_view)).start()
                else:
                    done.set()
            wait_view()
            return
        if key:
            results[key].append(time.perf_counter() - t0)
        done.set()

    def driver():
        try:
            while viewer.first_frame_s is None:
                time.sleep(0.05)
            frame = viewer.scene.frame
            points = stroke_points(frame.width, frame.height, events + 1)
            viewer.editor.set_active("nose")
            on_main(lambda done: event(done, "down", *points[0], None))  # fetches the depth image: not timed
            for x, y in points[1:]:
                before = screen() if screen is not None else None
                t0 = time.perf_counter()
                on_main(lambda done, x=x, y=y: event(done, "move", x, y, "to_scene"))
                if before is not None:
                    while time.perf_counter() - t0 < 120:
                        if not np.array_equal(screen(), before):
                            results["to_screen"].append(time.perf_counter() - t0)
                            break
                        time.sleep(0.005)

            on_main(lambda done: event(done, "up", *points[-1], "stroke_end"))

            def close(done):
                while viewer.editor.undo() is not None:  # leave nothing unsaved
                    pass
                viewer._closing_ok = True
                viewer.window.close()
                done.set()
            on_main(close)
        except Exception as exc:  # noqa: BLE001
            failure.append(exc)

    threading.Thread(target=driver, daemon=True).start()
    viewer.run()
    if failure:
        raise failure[0]
    return opened, viewer.first_frame_s, results


def window_main(args, size):
    """The window measurements, in a process of their own (no pyrender GL context beside Open3D's)."""
    import tempfile

    from facepart.data import load_model
    from facepart.data.annotation import save_annotation
    from viewer_data import ict_annotation

    with tempfile.TemporaryDirectory() as tmp:
        save_annotation(ict_annotation(load_model(args.model)), tmp)
        src = Path(tmp) / "annotation.npz"
        if os.environ.get("DISPLAY"):
            opened, first, res = bench_window(src, size, args.events, args.radius)
        else:
            from facepart.correction_gui.xvfb import virtual_display

            with virtual_display((size[0] + 64, size[1] + 64), fbdir=Path(tmp) / "fb", outlive=True) as display:
                os.environ["DISPLAY"] = display.name
                opened, first, res = bench_window(src, size, args.events, args.radius, screen=display.screen)
    print(f"window, brush event -> colours in the scene:       {ms(res['to_scene'])}")
    print(f"window, end of the stroke (undo step, panel):      {ms(res['stroke_end'])}")
    if res["to_screen"]:
        print(f"window, brush event -> new pixels on the screen:   {ms(res['to_screen'])}")
    else:
        print("window, brush event -> new pixels on the screen:   not measured (needs the private Xvfb: unset DISPLAY)")
    print(f"start-up: open files {opened:.2f} s, window to first frame {first:.2f} s, total {opened + first:.2f} s")
    sys.stdout.flush()


def ms(values) -> str:
    v = 1000 * np.asarray(values)
    return f"median {np.median(v):6.1f} ms   p90 {np.percentile(v, 90):6.1f} ms   max {v.max():6.1f} ms   (n={len(v)})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--events", type=int, default=60)
    ap.add_argument("--size", default="1400x900", help="window size WxH")
    ap.add_argument("--radius", type=float, default=4.0, help="brush radius, mm")
    ap.add_argument("--skip-window", action="store_true", help="measure the editor only")
    ap.add_argument("--window-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    size = tuple(int(s) for s in args.size.split("x"))
    if args.window_only:
        window_main(args, size)
        return

    from facepart.data import load_model
    from viewer_data import ict_annotation

    model = load_model(args.model)
    annotation = ict_annotation(model)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; model {model.name} ({model.n_vertices} vertices); "
          f"brush {args.radius} mm")
    view_size = (size[0] - 400, size[1])
    times, touched = bench_editor(model, annotation, view_size, args.events, args.radius)
    print(f"editor only, brush event -> new colours:           {ms(times)}; {touched} vertices painted")
    if args.skip_window:
        return
    import subprocess

    sys.stdout.flush()
    cmd = [sys.executable, __file__, "--window-only", "--model", args.model, "--events", str(args.events),
           "--size", args.size, "--radius", str(args.radius)]
    code = subprocess.call(cmd)
    if code:
        print(f"(the window measurement exited with code {code})")
    print(f"(median of the editor-only times: {1000 * statistics.median(times):.1f} ms; target < 50 ms)")


if __name__ == "__main__":
    main()
