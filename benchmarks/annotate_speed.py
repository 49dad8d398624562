"""Benchmark: facepart's annotate() against a straightforward Algorithm 1, in one run (issue 12).

Usage:
    python benchmarks/annotate_speed.py [--variants 40] [--repeats 3] [--segmenters oracle,mediapipe]
                                        [--renderer NAME] [--workers N] [--size 512] [--quick]
                                        [--quiet-below 0.5] [--json OUT.json]

On the ICT model ($FACEPART_ICT_MODEL or ../shared/models/ict-facekit/FaceXModel) at 512x512 it runs,
for each segmenter, with the same variants (seed, sampling) and the same calibrated segmenter object
(built and calibrated once, then pickled into every configuration, as facepart's workers get it):

* (a) the reference: ``benchmarks/reference_alg1.py`` (a fresh pyrender scene per variant, one
  colour + depth render, a KD-tree nearest visible vertex per labelled pixel, union and majority);
* (b) facepart's default path: ``facepart.annotate.pipeline.annotate`` with default settings (the
  segmenter's yaw range, as ``facepart annotate`` uses) and the default renderer (or ``--renderer``),
  with 1 worker and with all cores (``--workers``).

Every configuration runs in its own process, so each peak RSS is its own: the peak of the summed
RSS of the process and its worker processes, sampled every 50 ms with psutil when it is installed,
plus ``getrusage`` maxima (self, largest child). The order of the configurations alternates between
repeats. Variants/s counts the whole run, from the model and a calibrated segmenter to per-vertex
labels: renderer and worker start-up and the final aggregation (facepart: consensus, symmetric
pooling, graph cut) included; the "loop" figure leaves out what comes after the last view.
It prints variants/s (median of the repeats), the ratios (b)/(a), peak RSS, and the label agreement
between (a)'s majority labels and (b)'s labels on the vertices both saw, with the machine and its load.
On a shared machine the figures are noisy: ``--quiet-below`` waits (up to ``--max-wait`` s) before
each configuration until other processes use less than that many cores.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from machine import cpu_name, usable_cores  # noqa: E402,F401  (benchmarks/machine.py)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_ICT = ROOT.parent / "shared" / "models" / "ict-facekit" / "FaceXModel"


# -- the machine -------------------------------------------------------------------------------

def machine_line() -> str:
    return (f"{cpu_name()}, {usable_cores()} cores usable ({os.cpu_count()} online), "
            f"Python {platform.python_version()}, GL platform {os.environ.get('PYOPENGL_PLATFORM') or 'EGL (auto)'}")


def busy_cores(seconds: float = 2.0) -> float:
    """Cores busy over ``seconds`` (from /proc/stat; this process sleeps meanwhile, so: other processes)."""
    def sample():
        with open("/proc/stat") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        idle = values[3] + values[4]
        return sum(values[:8]) - idle, sum(values[:8])
    try:
        b0, t0 = sample()
        time.sleep(seconds)
        b1, t1 = sample()
    except OSError:
        return float("nan")
    return usable_cores() * (b1 - b0) / max(1, t1 - t0)


def wait_for_quiet(limit: float, max_wait: float) -> tuple[float, float]:
    """Wait until other processes use fewer than ``limit`` cores (at most ``max_wait`` s); (busy, waited)."""
    t0 = time.monotonic()
    busy = busy_cores()
    while busy >= limit and time.monotonic() - t0 < max_wait:
        time.sleep(3.0)
        busy = busy_cores()
    return busy, time.monotonic() - t0


# -- one configuration, in its own process ---------------------------------------------------------

def run_one(config: dict) -> dict:
    """Run one configuration (called in a fresh process by :func:`measure`); write its labels to config['out']."""
    import resource

    sys.path.insert(0, str(ROOT))
    from facepart.annotate.settings import AnnotateSettings, sampling_for
    from facepart.data import load_model

    model = load_model(config["model"])
    with open(config["segmenter"], "rb") as f:
        segmenter = pickle.load(f)
    settings = AnnotateSettings(variants=config["variants"], size=config["size"], seed=config["seed"],
                                sampling=sampling_for(segmenter))
    result: dict = {"kind": config["kind"], "workers": config.get("workers", 1)}
    if config["kind"] == "reference":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from reference_alg1 import reference_annotate

        import scipy.spatial  # noqa: F401  (imports before the clock, as for facepart)
        import trimesh  # noqa: F401

        ref = reference_annotate(model, segmenter, settings, msaa=config.get("msaa", False))
        np.savez_compressed(config["out"], labels=ref.majority, seen=ref.seen, union=ref.union)
        result.update(seconds=ref.seconds, loop_seconds=ref.seconds, parsed=ref.parsed, skipped=ref.skipped,
                      stage_ms={k: 1e3 * v / settings.variants for k, v in ref.stage_seconds.items()})
    else:
        from facepart.annotate.pipeline import annotate

        from facepart.renderers.base import DEFAULT_RENDERER

        if (config["renderer"] or DEFAULT_RENDERER) == "pyrender":  # the backend's imports before the clock, as (a)
            from facepart.renderers.pyrender_backend import choose_platform

            choose_platform(None)
            import pyrender  # noqa: F401
        else:
            import moderngl  # noqa: F401
        from facepart.renderers.base import make_renderer

        t0 = time.perf_counter()
        # the default: annotate() makes its own renderer (workers make theirs); another backend is passed in
        renderer = make_renderer(config["renderer"], settings.size) if config["renderer"] else None
        res = annotate(model, segmenter, settings, renderer=renderer, workers=config["workers"])
        seconds = time.perf_counter() - t0
        if renderer is not None:
            renderer.close()
        ann = res.annotation
        np.savez_compressed(config["out"], labels=ann.labels, seen=ann.visible_count)
        result.update(seconds=seconds, loop_seconds=res.stats.seconds, parsed=res.stats.variants - res.stats.skipped,
                      skipped=res.stats.skipped, workers=res.stats.workers)
    result["variants"] = settings.variants
    result["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


class TreeMemory:
    """Samples the summed RSS of a process and all its descendants (psutil), keeping the peak."""

    def __init__(self, pid: int, interval: float = 0.05):
        try:
            import psutil
        except ImportError:
            self.available = False
            return
        self.available = True
        self._proc = psutil.Process(pid)
        self._psutil = psutil
        self.peak = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _run(self, interval: float) -> None:
        ps = self._psutil
        while not self._stop.is_set():
            try:
                procs = [self._proc] + self._proc.children(recursive=True)
            except ps.Error:
                return
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except ps.Error:
                    pass
            if total > self.peak:
                self.peak, self.peak_processes = total, len(procs)
            self._stop.wait(interval)

    def stop(self) -> float | None:
        """Peak MB, or None without psutil."""
        if not self.available:
            return None
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def measure(config: dict, env: dict | None = None) -> dict:
    """Run ``config`` in a fresh Python process; its result plus the sampled peak RSS of its process tree."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    try:
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--one", f.name],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(
                                    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                   if p])})
        memory = TreeMemory(proc.pid)
        out, err = proc.communicate()
        peak = memory.stop()
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        sys.exit(f"configuration {config['kind']} (workers {config.get('workers', 1)}) failed:\n{err[-4000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_tree_mb"] = peak
    if peak is None:  # no psutil: the sum of this process's and its largest child's maxima (an upper bound)
        result["peak_mb"] = result["maxrss_self_mb"] + result["maxrss_children_mb"]
    else:
        result["peak_mb"] = peak
    return result


# -- set-up: one calibrated segmenter per kind -------------------------------------------------------

def prepare_segmenter(config: dict) -> dict:
    """Build and calibrate a segmenter with facepart's renderer, pickle it to config['out'] (in its own process)."""
    sys.path.insert(0, str(ROOT))
    from facepart.annotate.views import frontal_view
    from facepart.data import load_model
    from facepart.renderers.base import make_renderer
    from facepart.segmenters import make_segmenter

    model = load_model(config["model"])
    if config["segmenter"] == "oracle":
        sys.path.insert(0, str(ROOT / "tests"))
        from truth import ict_truth  # the tests' landmark-based labelling of ICT (the oracle's truth)

        segmenter = make_segmenter("oracle", model=model, truth=ict_truth(model))
    else:
        segmenter = make_segmenter(config["segmenter"], model=model)
    renderer = make_renderer(config["renderer"], config["size"])
    calibration = segmenter.calibrate(frontal_view(model, config["size"], renderer))
    renderer.close()
    with open(config["out"], "wb") as f:
        pickle.dump(segmenter, f)
    return {"describe": segmenter.describe(),
            "calibration": calibration.summary() if calibration is not None else None}


def prepare(model: str, segmenter: str, renderer: str | None, size: int, out: Path) -> dict:
    """Make and calibrate ``segmenter`` in a separate process and pickle it to ``out``; what it said."""
    prep = {"model": model, "segmenter": segmenter, "renderer": renderer, "size": size, "out": str(out)}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=out.parent) as f:
        json.dump(prep, f)
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare", f.name], capture_output=True,
                          text=True)
    os.unlink(f.name)
    if proc.returncode != 0:
        sys.exit(f"could not make the {segmenter} segmenter:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(a_path: str, b_path: str) -> dict:
    """(a)-majority against (b) labels on vertices both saw: all of them, and those both labelled."""
    a, b = np.load(a_path), np.load(b_path)
    both = (a["seen"] > 0) & (b["seen"] > 0)
    la, lb = a["labels"], b["labels"]
    labelled = both & (la >= 0) & (lb >= 0)
    return {"both_saw": int(both.sum()),
            "agree": float(np.mean(la[both] == lb[both])) if both.any() else float("nan"),
            "both_labelled": int(labelled.sum()),
            "agree_labelled": float(np.mean(la[labelled] == lb[labelled])) if labelled.any() else float("nan")}


# -- the benchmark ---------------------------------------------------------------------------------

def fmt_rate(x: float) -> str:
    return f"{x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.environ.get("FACEPART_ICT_MODEL", str(DEFAULT_ICT)))
    ap.add_argument("--variants", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--segmenters", default="oracle,mediapipe")
    ap.add_argument("--renderer", default=None, help="facepart's renderer (default: facepart's default)")
    ap.add_argument("--workers", type=int, default=usable_cores(), help="(b) with this many workers too")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="a short check: 8 variants, 1 repeat, no waiting")
    ap.add_argument("--quiet-below", type=float, default=0.5,
                    help="before each configuration, wait until other processes use fewer cores than this")
    ap.add_argument("--max-wait", type=float, default=60.0, help="seconds to wait for quiet, per configuration")
    ap.add_argument("--reference-msaa", action="store_true",
                    help="(a) keeps pyrender's 4x multisampling for the lit render (its EGL default; ~4x the "
                         "render time on a CPU); default: single-sample, like facepart")
    ap.add_argument("--json", help="also write every figure here")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--prepare", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(json.loads(Path(args.one).read_text()))))
        return
    if args.prepare:
        print(json.dumps(prepare_segmenter(json.loads(Path(args.prepare).read_text()))))
        return
    if args.quick:
        args.variants, args.repeats, args.max_wait = 8, 1, 0.0
    if not Path(args.model).is_dir():
        sys.exit(f"ICT model folder not found: {args.model} (set FACEPART_ICT_MODEL)")
    segmenters = [s.strip() for s in args.segmenters.split(",") if s.strip()]
    workers = max(1, args.workers)
    kinds = [("reference", 1), ("facepart", 1)] + ([("facepart", workers)] if workers > 1 else [])

    print(f"Machine: {machine_line()}")
    print(f"Model {Path(args.model).name}, {args.size}x{args.size}, {args.variants} variants (seed {args.seed}), "
          f"{args.repeats} repeat(s), facepart renderer {args.renderer or 'default'}, reference "
          f"{'4x MSAA' if args.reference_msaa else 'single-sample'}; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="facepart-speed-"))
    record: dict = {"machine": machine_line(), "cpu": cpu_name(), "cores": usable_cores(), "size": args.size,
                    "reference_msaa": args.reference_msaa,
                    "variants": args.variants, "repeats": args.repeats, "renderer": args.renderer,
                    "workers": workers, "runs": {}, "segmenters": {}}
    for seg in segmenters:
        info = prepare(args.model, seg, args.renderer, args.size, tmp / f"{seg}.pkl")
        record["segmenters"][seg] = info
        print(f"{seg}: {info['describe']}" + (f"; {info['calibration']}" if info["calibration"] else ""))

    for rep in range(args.repeats):
        for seg in segmenters:
            order = kinds if rep % 2 == 0 else kinds[::-1]
            for kind, w in order:
                name = f"{seg}/{kind}/{w}"
                busy, waited = wait_for_quiet(args.quiet_below, args.max_wait) if args.max_wait > 0 else (
                    busy_cores(1.0), 0.0)
                load = os.getloadavg()[0]
                config = {"kind": kind, "workers": w, "model": args.model, "segmenter": str(tmp / f"{seg}.pkl"),
                          "variants": args.variants, "size": args.size, "seed": args.seed,
                          "renderer": args.renderer, "msaa": args.reference_msaa,
                          "out": str(tmp / f"{seg}-{kind}-{w}-{rep}.npz")}
                res = measure(config)
                res.update(busy_before=busy, waited_s=waited, load_before=load, out=config["out"])
                record["runs"].setdefault(name, []).append(res)
                label = "(a) reference" if kind == "reference" else f"(b) facepart, {w} worker{'s' * (w > 1)}"
                print(f"  repeat {rep + 1} {seg:9s} {label:26s} {res['variants'] / res['seconds']:6.2f} variants/s "
                      f"({res['seconds']:.2f} s; loop {res['loop_seconds']:.2f} s), peak RSS {res['peak_mb']:.0f} MB, "
                      f"{res['parsed']} parsed / {res['skipped']} skipped; others busy {busy:.2f} cores, "
                      f"load {load:.2f}", flush=True)

    # summary
    def med(name, key):
        runs = record["runs"][name]
        return statistics.median(r["variants"] / r[key] for r in runs)

    lines = ["", f"Machine: {machine_line()}",
             f"ICT at {args.size}², {args.variants} variants, median of {args.repeats}; variants/s of the whole run "
             "(start-up and the final labels included; in brackets: until the last view)", "",
             f"| segmenter | (a) reference | (b) facepart, 1 worker | (b) facepart, {workers} workers | "
             f"b1/a | b{workers}/a | peak RSS a / b1 / b{workers} | agreement a-majority vs b |",
             "|---|---|---|---|---|---|---|---|"]
    for seg in segmenters:
        a, b1 = f"{seg}/reference/1", f"{seg}/facepart/1"
        bn = f"{seg}/facepart/{workers}" if workers > 1 else b1
        ra, r1, rn = med(a, "seconds"), med(b1, "seconds"), med(bn, "seconds")
        la, l1, ln = med(a, "loop_seconds"), med(b1, "loop_seconds"), med(bn, "loop_seconds")
        peaks = [max(r["peak_mb"] for r in record["runs"][n]) for n in (a, b1, bn)]
        ag = agreement(record["runs"][a][0]["out"], record["runs"][bn][0]["out"])
        same = np.array_equal(np.load(record["runs"][b1][0]["out"])["labels"],
                              np.load(record["runs"][bn][0]["out"])["labels"])
        record["segmenters"][seg].update(rate_a=ra, rate_b1=r1, rate_bn=rn, loop_a=la, loop_b1=l1, loop_bn=ln,
                                         ratio_b1=r1 / ra, ratio_bn=rn / ra, peaks_mb=peaks, agreement=ag,
                                         b1_equals_bn=same)
        lines.append(f"| {seg} | {fmt_rate(ra)} ({fmt_rate(la)}) | {fmt_rate(r1)} ({fmt_rate(l1)}) | "
                     f"{fmt_rate(rn)} ({fmt_rate(ln)}) | {r1 / ra:.2f}× ({l1 / la:.2f}×) | "
                     f"{rn / ra:.2f}× ({ln / la:.2f}×) | {peaks[0]:.0f} / {peaks[1]:.0f} / {peaks[2]:.0f} MB | "
                     f"{100 * ag['agree']:.1f}% of {ag['both_saw']} ({100 * ag['agree_labelled']:.1f}% of "
                     f"{ag['both_labelled']} labelled by both) |")
    lines.append("")
    for seg in segmenters:  # each repeat's a and b ran minutes apart at most: their ratio shrugs off slow drift
        a, b1 = f"{seg}/reference/1", f"{seg}/facepart/1"
        bn = f"{seg}/facepart/{workers}" if workers > 1 else b1
        per = [(ra["seconds"] / r1["seconds"], ra["seconds"] / rn["seconds"])
               for ra, r1, rn in zip(record["runs"][a], record["runs"][b1], record["runs"][bn])]
        record["segmenters"][seg]["paired_ratios"] = per
        lines.append(f"{seg}: ratios within each repeat, b1/a and b{workers}/a: "
                     + ", ".join(f"{x:.2f}× and {y:.2f}×" for x, y in per)
                     + f" (medians {statistics.median(x for x, _ in per):.2f}× and "
                       f"{statistics.median(y for _, y in per):.2f}×)")
    for seg in segmenters:
        runs_a = record["runs"][f"{seg}/reference/1"]
        runs_b = record["runs"][f"{seg}/facepart/1"]
        lines.append(f"{seg}: views parsed (a) {runs_a[0]['parsed']}, (b) {runs_b[0]['parsed']} of {args.variants}; "
                     f"(a) ms/variant by stage " + ", ".join(
                         f"{k} {statistics.median(r['stage_ms'][k] for r in runs_a):.0f}"
                         for k in runs_a[0]["stage_ms"])
                     + f"; (b) 1 worker and {workers} workers give the same labels: "
                     + ("yes" if record["segmenters"][seg]["b1_equals_bn"] else "NO"))
    busy = [r["busy_before"] for runs in record["runs"].values() for r in runs]
    loads = [r["load_before"] for runs in record["runs"].values() for r in runs]
    lines.append(f"Conditions: other processes used {min(busy):.2f}-{max(busy):.2f} cores just before each "
                 f"configuration (median {statistics.median(busy):.2f}); 1-min load average {min(loads):.2f}-"
                 f"{max(loads):.2f} (includes this benchmark's previous configuration).")
    lines.append("Peak RSS: summed over the configuration's process and its workers (psutil, 50 ms samples)"
                 if record["runs"][f"{segmenters[0]}/reference/1"][0]["peak_tree_mb"] is not None else
                 "Peak RSS: the process's maximum plus its largest child's (getrusage; psutil not installed)")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1, default=float))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
