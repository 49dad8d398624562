"""The command line against hostile and careless input: one property over every command and option.

Every command is driven in-process (``click.testing.CliRunner``) with its
options set to hostile values: negative, zero, huge, NaN and infinite
numbers, floats where whole numbers are expected, words where numbers are
expected, unknown choices, ``-O KEY=VALUE`` pairs, options that do not apply
to the model, paths that are missing, folders for files and files for
folders, outputs under missing or unwritable folders, and damaged copies of
every kind of file facepart reads (annotation.npz, parts.json, label tables,
mask folders, shards, models, vertex masks, images, parser configs).

The property: the command succeeds (exit 0), or it exits with 1 (a
``FacepartError``) or 2 (a usage error) and stderr ends in ONE ``Error:`` line
that names an option or a file of the command line; never a traceback,
never another exception, and no warning a user would see (a NumPy cast
warning is a value silently changed). Cases that pass validation run tiny work (demo
head, 1 variant at 32 px, no preview), so most cases are validation failures.

CI runs a fixed (derandomised) set of 2,030 cases. For a longer randomised
session set ``FACEPART_FUZZ_EXAMPLES=N`` (N cases per command) and
``FACEPART_FUZZ_COLLECT=FILE`` (every failing case is written to FILE and
the session goes on); ``FACEPART_FUZZ_TIMES=FILE`` records each case's
seconds, exit code and last stderr line.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import shutil
import signal
import time
import traceback
import warnings
from collections import Counter
from pathlib import Path

import click
import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from fuzz_bytes import mutate_bytes

from facepart.cli import main
from facepart.errors import one_line

_LONG = int(os.environ.get("FACEPART_FUZZ_EXAMPLES", "0"))
RUNNER = CliRunner()
COUNTS: Counter = Counter()
_CASE_IDS = itertools.count()
#: FACEPART_FUZZ_COLLECT=FILE: record every failing case in FILE and go on (a survey of failure classes).
_COLLECT = os.environ.get("FACEPART_FUZZ_COLLECT")
#: FACEPART_FUZZ_TIMES=FILE: record each case's seconds in FILE (to keep the file fast).
_TIMES = os.environ.get("FACEPART_FUZZ_TIMES")

#: Cases per command (2,000 or more in all).
EXAMPLES = {"annotate": 450, "render": 140, "vote": 200, "merge": 130, "segment": 110, "info": 200,
            "export": 250, "transfer": 110, "compare": 110, "landmarks": 110, "report": 110, "formats": 35,
            "labelsets": 35, "global": 40}

# The cheap valid run every annotate case starts from (a case's options are appended, so they override these).
TINY = ["--variants", "1", "--size", "32", "--eval-views", "0", "--no-preview", "--workers", "1", "--smooth", "0",
        "--no-symmetry"]


def fuzz_settings(command: str):
    return settings(max_examples=_LONG or EXAMPLES[command], deadline=None, derandomize=not _LONG, database=None,
                    suppress_health_check=list(HealthCheck))


# -- the property -------------------------------------------------------------------------------------------------

class CaseTimeout(BaseException):
    """A case ran for minutes: a cheap case became big work (a huge value taken as valid?) or hung."""


def _alarm(signum, frame):
    raise CaseTimeout(f"a case ran longer than {CASE_LIMIT_S} s")


#: Seconds one case may run; cases take well under 5 s, so this catches hangs and huge work only.
CASE_LIMIT_S = 120


#: Warnings Python does not show by default (numpy's np.load leaves a damaged .npz open: a ResourceWarning).
HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def invoke(argv: list[str]):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_LIMIT_S)
    t0 = time.perf_counter()
    result = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = RUNNER.invoke(main, argv, catch_exceptions=True)
        # the warnings Python shows a user by default: each would be two more lines on stderr
        result.warnings = [f"{w.category.__name__}: {w.message} @ {w.filename}:{w.lineno}" for w in caught
                           if not issubclass(w.category, HIDDEN_WARNINGS)]
        return result
    except CaseTimeout as exc:
        return exc
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        if _TIMES:
            last = (result.stderr.strip().split("\n") or [""])[-1][:300] if result is not None else "timeout"
            with open(_TIMES, "a") as f:
                f.write(f"{time.perf_counter() - t0:.3f}\t{getattr(result, 'exit_code', None)}\t{argv!r}\t{last!r}\n")


def check(result, argv: list[str], command: str) -> None:
    """Success, or exit 1/2 with one ``Error:`` line on stderr naming an option or file; no traceback."""
    COUNTS[command] += 1
    if _COLLECT:
        try:
            _check(result, argv)
        except AssertionError as failure:
            with open(_COLLECT, "a") as f:
                f.write(f"{command}\t{argv!r}\t{str(failure).strip().splitlines()[-1][-600:]}\n")
        return
    _check(result, argv)


def _check(result, argv: list[str]) -> None:
    assert not isinstance(result, CaseTimeout), (argv, str(result))
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        where = traceback.extract_tb(exc.__traceback__)[-1]
        raise AssertionError(f"{argv!r} raised {type(exc).__name__}:\n{tb}\n"
                             f"{type(exc).__name__}: {str(exc)[:300]} @ {where.filename}:{where.lineno}")
    assert result.exit_code in (0, 1, 2), (argv, result.exit_code, result.output)
    assert not getattr(result, "warnings", None), (argv, result.warnings)  # e.g. a complex array cast to real
    text = result.output
    assert "Traceback (most recent call last)" not in text and '  File "' not in text, (argv, text)
    if result.exit_code == 0:
        return
    if not argv and result.exit_code == 2 and "Commands:" in result.stderr:
        return  # `facepart` alone shows its help
    lines = [ln for ln in result.stderr.split("\n") if ln.strip()]  # a terminal breaks lines at \n only
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], (argv, result.stderr)
    message = errors[0][len("Error:"):].strip()
    assert message and names_something(message, argv), (argv, message)


def names_something(message: str, argv: list[str]) -> bool:
    """Whether ``message`` names an option of ``argv``, one of its paths (or the folder of one), its command's
    argument, or the value it rejects (quoted)."""
    for token in argv:
        if token.startswith("-") and len(token) > 1 and token.lstrip("-") and token.split("=")[0] in message:
            return True
        shown = one_line(token)
        if any(form in message for form in (f"'{token}'", f"({token})", repr(token), f"'{shown}'", f"({shown})")):
            return True
        if token and message.startswith(f"{shown}:"):  # "PATH: what was expected"
            return True
        if len(token) >= 2 and not token.startswith("-") and (token in message or shown in message):
            return True
        if "/" in token:
            path = Path(token)
            if path.name and path.name in message or any(len(str(p)) > 1 and str(p) in message for p in path.parents):
                return True
    if re.search(r"(^|[\s'(])--?[a-zA-Z][a-z-]*", message):  # names the option to give, e.g. "needs --truth"
        return True
    # click names a positional argument by its metavar (MODEL, ANNOTATION, ...), and a missing option or argument
    return any(word.isupper() and len(word) > 1 and word in message for word in message.replace("'", " ").split()) \
        or message.startswith(("Missing option", "Missing argument", "Invalid value for '", "Got unexpected extra",
                               "No such option"))


# -- the world: valid files made by the CLI itself, copied and damaged per case -----------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory, request):
    root = tmp_path_factory.mktemp("clifuzz")
    old = os.getcwd()
    os.chdir(root)  # `compare` writes differences.parts.json into the working folder by default
    w = {"root": root}

    def run(*argv):
        r = RUNNER.invoke(main, [str(a) for a in argv], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r

    run("annotate", "demo", "--out", root / "run", *TINY, "--variants", "2")
    w["annotation"], w["parts"] = root / "run" / "annotation.npz", root / "run" / "parts.json"
    for i in range(2):
        run("annotate", "demo", "--out", root / "shards", *TINY, "--shard", f"{i}/2")
    run("annotate", "demo", "--out", root / "other", *TINY, "--seed", "7", "--shard", "0/2")
    w["shards"] = [root / "shards" / f"shard-{i}-of-2.npz" for i in range(2)]
    w["other_shard"] = root / "other" / "shard-0-of-2.npz"
    w["shard"] = w["shards"][0]
    # a render set with masks a parser made elsewhere: all skin (helen class 1), the frontal one included
    run("render", "demo", "--out", root / "rs", "--variants", "1", "--size", "32")
    (root / "rs" / "masks").mkdir()
    for name in ("000000.png", "frontal.png"):
        cv2.imwrite(str(root / "rs" / "masks" / name), np.ones((32, 32), np.uint8))
    from facepart.segmenters import TABLES

    (root / "rs" / "labels.yaml").write_text("name: helen-like\nclasses: " + json.dumps(list(TABLES["helen"].classes))
                                             + "\n")
    w["masks"] = root / "rs"
    w["labels"] = root / "rs" / "labels.yaml"
    w["image"] = root / "rs" / "images" / "000000.png"
    w["config"] = root / "parser.yaml"
    w["config"].write_text("input_size: 64\nlabels: helen\nmean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\n")
    from facepart.data import load_model

    n = load_model("demo").n_vertices
    w["n_demo"] = n
    w["vmask_json"] = root / "mask.json"
    w["vmask_json"].write_text(json.dumps(list(range(0, n, 2))))
    w["vmask_npy"] = root / "mask.npy"
    np.save(w["vmask_npy"], np.arange(n) % 3 != 0)
    w["vmask_txt"] = root / "mask.txt"
    w["vmask_txt"].write_text("\n".join(str(i) for i in range(0, n, 5)))
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.08)
    w["model"] = root / "sphere.obj"
    sphere.export(w["model"])
    (root / "bs").mkdir()
    trimesh.Trimesh(sphere.vertices * 1.05, sphere.faces, process=False).export(root / "bs" / "wide.obj")
    w["blendshapes"] = root / "bs"
    w["texture"] = root / "texture.png"
    cv2.imwrite(str(w["texture"]), np.full((16, 16, 3), 128, np.uint8))
    w["index_map"] = root / "indices.npy"
    np.save(w["index_map"], np.arange(n))
    (root / "afile.txt").write_text("just text\n")
    (root / "empty_dir").mkdir()
    w["bytes"] = {k: Path(w[k]).read_bytes() for k in ("annotation", "parts", "labels", "config", "image", "vmask_json",
                                                        "vmask_npy", "vmask_txt", "model", "texture", "index_map")}
    w["bytes"]["shard"] = w["shards"][0].read_bytes()
    w["bytes"]["manifest"] = (root / "rs" / "manifest.json").read_bytes()
    w["cases"] = root / "cases"
    w["cases"].mkdir()
    yield w
    os.chdir(old)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nCLI fuzz cases: {sum(COUNTS.values())} in all; "
              + ", ".join(f"{k} {v}" for k, v in sorted(COUNTS.items())))


# -- values ---------------------------------------------------------------------------------------------------------

TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=10)
BAD_INTS = ["-1", "0", "-0", "1.5", "2.0", "1e3", "nan", "inf", "-inf", "abc", "", " ", "0x10", "1_0", "--",
            "99999999999999999999999", "-9223372036854775809", "9223372036854775808", "18446744073709551616",
            "1e309", "٣", "+1", " 2 "]
BAD_FLOATS = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e308", "-1e308", "-1", "abc",
              "", "0x1p3", "1,5", "181", "361", "-0", "0", "1", "100", "1e-320", "5e-324", "99.999", "0.5"]
JUNK = ["", " ", "nosuch", "-", "--", "garbage", "NONE", "é", "a,b", "../..", "{}", "[]", "null", "true", "1",
        "all,garbage", "oracle:x", ":"]


def int_token(data, small_ok=("1", "2")) -> str:
    """A whole-number option's value: mostly invalid, a few small valid ones (never large valid work)."""
    return data.draw(st.one_of(st.sampled_from(BAD_INTS), st.sampled_from(small_ok),
                               st.integers(max_value=0).map(str), st.integers(min_value=10**7).map(str),
                               st.floats(allow_nan=True, allow_infinity=True).map(repr), TEXT), label="int")


def float_token(data) -> str:
    return data.draw(st.one_of(st.sampled_from(BAD_FLOATS), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                               st.integers().map(str), TEXT), label="float")


def choice_token(data, valid) -> str:
    return data.draw(st.one_of(st.sampled_from(JUNK), st.sampled_from(list(valid)),
                               st.sampled_from([v.upper() for v in valid] + [f" {v}" for v in valid]), TEXT),
                     label="choice")


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6))
JSON_ANY = st.recursive(JSON_LEAF, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=6), c,
                                                                                       max_size=4), max_leaves=12)


def model_option_pair(data) -> str:
    key = data.draw(st.sampled_from(["topology", "jaw_open", "simplified", "unit", "texture", "blendshapes", "foo",
                                     "", " ", "a b", "=", "expression"]) | TEXT)
    value = data.draw(st.one_of(st.sampled_from(["1", "nan", "NaN", "Infinity", "-Infinity", "1e999", "true", "null",
                                                 "[1,2]", '{"a": 1}', "[" * 100_000, '"x"', "", "53215", "0.2",
                                                 "inf", "-1", "1e30"]),
                                JSON_ANY.map(json.dumps), TEXT))
    return data.draw(st.sampled_from([f"{key}={value}", key, f"={value}", f"{key}=={value}"]))


# -- files ----------------------------------------------------------------------------------------------------------

class Case:
    """One example's folder; every hostile path of the example is made in it."""

    def __init__(self, world, data, command: str):
        self.w, self.data = world, data
        self.dir = world["cases"] / f"{command}-{next(_CASE_IDS)}"
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir()
        self.n = 0

    def draw(self, strategy, label=None):
        return self.data.draw(strategy, label=label)

    def fresh(self, name: str) -> Path:
        self.n += 1
        return self.dir / f"{self.n}-{name}"

    # outputs ------------------------------------------------------------------------------------------------

    def out_dir(self, valid_weight: int = 8) -> str:
        kind = self.draw(st.sampled_from(["new"] * valid_weight + ["existing", "file", "under_missing", "under_file",
                                                                   "unwritable", "proc", "empty", "dot_file"]),
                         "out_dir")
        return self._out(kind, "out")

    def out_file(self, suffix: str, valid_weight: int = 8) -> str:
        kind = self.draw(st.sampled_from(["new"] * valid_weight + ["existing_dir", "under_missing", "under_file",
                                                                   "unwritable", "proc", "empty", "existing_file"]),
                         "out_file")
        return self._out(kind, "out" + suffix)

    def _out(self, kind: str, name: str) -> str:
        if kind == "new":
            return str(self.fresh(name))
        if kind in ("existing", "existing_dir"):
            p = self.fresh("dir")
            p.mkdir()
            return str(p)
        if kind in ("file", "existing_file", "dot_file"):
            p = self.fresh(name if kind == "existing_file" else "afile")
            p.write_text("previous\n")
            return str(p)
        if kind == "under_missing":
            return str(self.fresh("no") / "such" / "dir" / name)
        if kind == "under_file":
            p = self.fresh("blocker")
            p.write_text("x")
            return str(p / name)
        if kind == "unwritable":
            return f"/sys/facepart-fuzz-{name}"
        if kind == "proc":
            return f"/proc/facepart-fuzz/{name}"
        return ""

    # inputs -------------------------------------------------------------------------------------------------

    def input_file(self, kind: str, valid_weight: int = 2) -> str:
        """A path for an input of ``kind``: the valid file, a damaged copy, or a hostile path."""
        how = self.draw(st.sampled_from(["valid"] * valid_weight + ["damaged"] * 4 + ["missing", "dir", "empty",
                                                                                      "garbage", "other", "", "sys"]),
                        f"input {kind}")
        if how == "valid":
            return str(self.w[kind])
        if how == "missing":
            return str(self.fresh("missing" + self._suffix(kind)))
        if how == "dir":
            p = self.fresh("folder" + self._suffix(kind))
            p.mkdir()
            return str(p)
        if how == "empty":
            p = self.fresh("empty" + self._suffix(kind))
            p.write_bytes(b"")
            return str(p)
        if how == "garbage":
            p = self.fresh("garbage" + self._suffix(kind))
            p.write_bytes(self.draw(st.binary(max_size=64)))
            return str(p)
        if how == "other":
            other = self.draw(st.sampled_from(sorted(k for k in self.w["bytes"] if k != kind)))
            p = self.fresh("other" + self._suffix(kind))
            p.write_bytes(self.w["bytes"][other])
            return str(p)
        if how == "sys":
            return "/proc/self/mem" if kind != "image" else "/dev/null"
        if how == "":
            return ""
        p = self.fresh("damaged" + self._suffix(kind))
        p.write_bytes(self.damaged(kind))
        return str(p)

    @staticmethod
    def _suffix(kind: str) -> str:
        return {"annotation": ".npz", "shard": ".npz", "parts": ".json", "labels": ".yaml", "config": ".yaml",
                "image": ".png", "texture": ".png", "vmask_json": ".json", "vmask_npy": ".npy", "vmask_txt": ".txt",
                "model": ".obj", "index_map": ".npy", "manifest": ".json"}.get(kind, "")

    def damaged(self, kind: str) -> bytes:
        raw = self.w["bytes"][kind]
        suffix = self._suffix(kind)
        ways = ["bytes"]
        if suffix == ".npz":
            ways += ["entry", "values", "values", "drop_entry", "pickle"]
        if suffix in (".json", ".yaml"):
            ways += ["json", "json_edit", "json_edit", "deep"]
        if suffix == ".yaml":
            ways += ["yaml"]
        if suffix in (".png",):
            ways += ["png", "png"]
        if suffix == ".npy":
            ways += ["npy", "npy"]
        if suffix in (".txt", ".obj"):
            ways += ["text", "text"]
        way = self.draw(st.sampled_from(ways), f"damage {kind}")
        if way == "bytes":
            return mutate_bytes(self.data, raw)
        if way in ("entry", "values", "drop_entry", "pickle"):
            return self.damaged_npz(raw, way)
        if way == "json":
            return json.dumps(self.draw(JSON_ANY)).encode()
        if way == "json_edit":
            return json_edit(self.data, raw)
        if way == "deep":
            depth = self.draw(st.sampled_from([100, 2000, 100_000]))
            return (("[" * depth) + ("]" * depth)).encode() if self.draw(st.booleans()) else \
                ('{"a":' * depth + "1" + "}" * depth).encode()
        if way == "yaml":
            return self.draw(st.sampled_from([
                b"!!python/object/apply:os.system ['true']\n", b"a: &a [*a]\n", b"classes: !!binary AAAA\n",
                b"a: &x [1,2]\nb: [*x,*x,*x,*x]\nclasses: [*x]\n", b"---\n---\n", b"\t\x00\xff", b"classes: {a: 1}\n",
                b"name: [1]\nclasses: [background, skin, skin]\n", b"classes: [" + b"x," * 70000 + b"y]\n"]))
        if way == "png":
            shape = self.draw(st.sampled_from([(32, 32), (32, 32, 3), (32, 32, 4), (1, 1), (31, 33), (64, 64)]))
            dtype = self.draw(st.sampled_from([np.uint8, np.uint16]))
            arr = np.random.default_rng(self.draw(st.integers(0, 9))).integers(0, 300, shape).astype(dtype)
            ok, buf = cv2.imencode(".png", arr)
            return buf.tobytes() if ok else b""
        if way == "npy":
            arr = self.draw(st.sampled_from([
                np.array(["a", "b"]), np.array([1 + 2j]), np.array([1e30, 2]), np.array([-1, 3]), np.zeros((2, 2)),
                np.array([np.nan]), np.array(5), np.array([True, False]), np.array([{"a": 1}], dtype=object),
                np.array([2**40]), np.empty(0), np.ones(10**5, np.float16)]))
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=True)
            return buf.getvalue()
        # text
        return "\n".join(self.draw(st.lists(st.sampled_from(["1", "-1", "1e30", "abc", "1+2j", "nan", "v 0 0 0",
                                                             "f 1 2 3", "f 1 2 99", "v nan 0 0", "1.5", "", "#"]),
                                            max_size=8))).encode()

    def damaged_npz(self, raw: bytes, way: str) -> bytes:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            entries = {k: z[k] for k in z.files}
        key = self.draw(st.sampled_from(sorted(entries)), "npz entry")
        if way == "drop_entry":
            entries.pop(key)
        elif way == "values":  # the same entry with wrong values: out of range, negative, fractional, NaN, complex
            like = entries[key]
            change = self.draw(st.sampled_from(["negative", "huge", "fraction", "nan", "complex", "text", "plus_one"]))
            with np.errstate(all="ignore"):
                if change == "negative" and like.dtype.kind in "iuf":
                    entries[key] = -like.astype(np.int64 if like.dtype.kind in "iu" else like.dtype) - 1
                elif change == "huge" and like.dtype.kind in "iuf":
                    entries[key] = like.astype(np.int64 if like.dtype.kind in "iu" else like.dtype) + 10**6
                elif change == "plus_one" and like.dtype.kind in "iu":
                    entries[key] = like.astype(np.int64) + 1
                elif change == "fraction" and like.dtype.kind in "iuf":
                    entries[key] = like.astype(np.float64) + 0.5
                elif change == "nan" and like.dtype.kind in "iuf":
                    entries[key] = np.where(np.arange(like.size).reshape(like.shape) % 2 == 0, np.nan, like)
                elif change == "complex" and like.dtype.kind in "iuf":
                    entries[key] = like.astype(np.complex128) + 1j
                else:
                    entries[key] = like.astype(str)
        elif way == "pickle":
            entries[key] = np.array([{"x": 1}, None], dtype=object)
        else:
            like = entries[key]
            shape = self.draw(st.sampled_from([like.shape, (), (0,), (3,), (3, 3), like.shape[::-1], (like.size + 1,)]))
            dtype = np.dtype(self.draw(st.sampled_from([like.dtype, np.bool_, np.int8, np.int64, np.uint64, np.float64,
                                                        np.complex64, "U3", "S2"])))
            arr = np.zeros(shape, dtype)
            if arr.size and self.draw(st.booleans()):
                arr.flat[0] = self.draw(st.sampled_from({"i": [-1, 1, 127], "u": [1, 127]}.get(dtype.kind, [1])))
            entries[key] = arr
        buf = io.BytesIO()
        np.savez(buf, **entries)
        return buf.getvalue()

    def masks_dir(self) -> str:
        """A render set with masks: the valid one, a damaged copy, or a hostile path."""
        how = self.draw(st.sampled_from(["valid", "damaged", "damaged", "damaged", "missing", "file", "empty_dir",
                                         "no_masks", "no_manifest", "no_labels"]), "masks dir")
        if how == "valid":
            return str(self.w["masks"])
        if how == "missing":
            return str(self.fresh("nomasks"))
        if how == "file":
            return str(self.w["labels"])
        if how == "empty_dir":
            p = self.fresh("emptyset")
            p.mkdir()
            return str(p)
        p = self.fresh("rs")
        shutil.copytree(self.w["masks"], p)
        if how == "no_masks":
            shutil.rmtree(p / "masks")
        elif how == "no_manifest":
            (p / "manifest.json").unlink()
        elif how == "no_labels":
            (p / "labels.yaml").unlink()
        else:
            target = self.draw(st.sampled_from(["manifest", "labels", "mask", "frontal", "mask_missing",
                                                "masks_file"]))
            if target == "manifest":
                (p / "manifest.json").write_bytes(self.damaged("manifest"))
            elif target == "labels":
                (p / "labels.yaml").write_bytes(self.damaged("labels"))
            elif target in ("mask", "frontal"):
                (p / "masks" / ("000000.png" if target == "mask" else "frontal.png")).write_bytes(self.damaged("image"))
            elif target == "mask_missing":
                (p / "masks" / "000000.png").unlink()
            else:
                shutil.rmtree(p / "masks")
                (p / "masks").write_text("not a folder")
        return str(p)

    def model(self, demo_weight: int = 4) -> str:
        how = self.draw(st.sampled_from(["demo"] * demo_weight + ["mesh", "file", "Demo", "demo ", "", "garbage"]),
                        "model")
        if how == "demo":
            return "demo"
        if how == "mesh":
            return self.input_file("model")
        if how == "garbage":  # bytes under the suffix of each model format facepart reads
            suffix = self.draw(st.sampled_from([".obj", ".ply", ".stl", ".off", ".glb", ".npz", ".npy", ".pkl", ".mat",
                                                ".h5", ".json"]))
            p = self.fresh("model" + suffix)
            p.write_bytes(self.draw(st.binary(max_size=96)))
            return str(p)
        if how == "file":
            return self.input_file(self.draw(st.sampled_from(["annotation", "parts", "image", "labels"])))
        return how


def json_edit(data, raw: bytes) -> bytes:
    """A valid JSON/YAML file with one value replaced by another JSON value, or one key removed."""
    import yaml

    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, (dict, list)) or not doc:
        return json.dumps(data.draw(JSON_ANY)).encode()
    node = doc
    for _ in range(data.draw(st.integers(0, 2))):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        child = node[data.draw(st.sampled_from(keys))]
        if not isinstance(child, (dict, list)) or not child:
            break
        node = child
    keys = list(node) if isinstance(node, dict) else list(range(len(node)))
    key = data.draw(st.sampled_from(keys))
    if isinstance(node, dict) and data.draw(st.booleans()):
        del node[key]
    else:
        node[key] = data.draw(JSON_ANY)
    return json.dumps(doc).encode()


# -- options shared by commands ------------------------------------------------------------------------------------

def model_options(c: Case, demo: bool = True) -> list[str]:
    which = c.draw(st.sampled_from(["unit", "blendshapes", "texture", "O", "format"]), "model option")
    if which == "unit":
        return ["--unit", choice_token(c.data, ["m", "dm", "cm", "mm", "um"])]
    if which == "blendshapes":
        return ["--blendshapes", c.draw(st.sampled_from([str(c.w["blendshapes"]), str(c.w["texture"]), "/nonexistent"]))]
    if which == "texture":
        return ["--texture", c.input_file("texture")]
    if which == "O":
        return ["-O", model_option_pair(c.data)]
    from facepart.data import FORMATS

    return ["--format", choice_token(c.data, list(FORMATS))]


def parser_options(c: Case) -> list[str]:
    from facepart.segmenters import TABLES
    from facepart.segmenters.cleanup import STEPS

    which = c.draw(st.sampled_from(["labels", "labels_file", "config", "device", "cleanup", "keep_forehead",
                                    "ear_parser"]), "parser option")
    if which == "labels":
        return ["--labels", choice_token(c.data, list(TABLES))]
    if which == "labels_file":
        return ["--labels", c.input_file("labels")]
    if which == "config":
        return ["--parser-config", c.input_file("config")]
    if which == "device":
        return ["--device", choice_token(c.data, ["cpu", "cuda", "cuda:7", "mps"])]
    if which == "cleanup":
        return ["--cleanup", choice_token(c.data, list(STEPS) + ["all", "none", "ears,islands", "ears,,hair"])]
    if which == "keep_forehead":
        return ["--keep-forehead"]
    return ["--ear-parser", segmenter_spec(c, live_only=True)]


def segmenter_spec(c: Case, live_only: bool = False) -> str:
    kind = c.draw(st.sampled_from(["junk", "masks", "onnx", "bisenet", "mediapipe", "oracle", "bare"]), "segmenter")
    if kind == "junk":
        return choice_token(c.data, ["oracle", "mediapipe"])
    if kind == "masks":
        return "masks:" + c.masks_dir()
    if kind in ("onnx", "bisenet"):
        p = c.fresh("weights" + (".onnx" if kind == "onnx" else ".pth"))
        p.write_bytes(c.draw(st.binary(max_size=64)))
        return f"{kind}:" + c.draw(st.sampled_from([str(p), str(c.dir), "/nonexistent/w", ""]))
    if kind == "bare":
        return c.draw(st.sampled_from(["masks", "onnx", "bisenet", "masks:", "MEDIAPIPE", "mediapipe:x"]))
    return kind


def quality_options(c: Case) -> list[str]:
    from facepart.annotate.settings import RULES, VIEW_WEIGHTS, VOTE_MODES

    which = c.draw(st.sampled_from(["smooth", "grazing", "view-weight", "vote", "k", "rule", "flags"]), "quality")
    if which in ("smooth", "grazing"):
        return [f"--{which}", float_token(c.data)]
    if which == "k":
        return ["--k", int_token(c.data, ("1", "2"))]
    if which == "flags":
        return [c.draw(st.sampled_from(["--symmetry", "--no-symmetry", "--reweight", "--no-reweight", "--eyeballs",
                                        "--no-eyeballs", "--symmetry=yes"]))]
    valid = {"view-weight": VIEW_WEIGHTS, "vote": VOTE_MODES, "rule": RULES}[which]
    return [f"--{which}", choice_token(c.data, list(valid))]


def vertex_mask(c: Case) -> list[str]:
    kind = c.draw(st.sampled_from(["vmask_json", "vmask_npy", "vmask_txt"]))
    return ["--vertex-mask", c.input_file(kind)]


def any_option(command: str):
    """A mutation that sets any option of ``command`` (also one added after this file was written) to a hostile
    value of its type: a whole number, a number, a choice, a path, a flag, or text."""

    def mutate(c: Case) -> list[str]:
        options = sorted((p for p in main.commands[command].params if isinstance(p, click.Option)),
                         key=lambda p: p.name)
        p = c.draw(st.sampled_from(options), f"{command} option")
        if p.is_flag:
            return [c.draw(st.sampled_from(list(p.opts) + list(p.secondary_opts)))]
        name, kind = max(p.opts, key=len), p.type
        if isinstance(kind, click.Choice):
            value = choice_token(c.data, [str(v) for v in kind.choices])
        elif isinstance(kind, click.types.IntParamType):
            value = int_token(c.data)
        elif isinstance(kind, click.types.FloatParamType):
            value = float_token(c.data)
        elif isinstance(kind, click.Path):
            value = c.draw(st.sampled_from(["out_dir", "out_file", "input"]), "path kind")
            value = c.out_dir(valid_weight=1) if value == "out_dir" else c.out_file(".x", valid_weight=1) \
                if value == "out_file" else c.input_file(c.draw(st.sampled_from(sorted(c.w["bytes"]))))
        else:
            value = c.draw(st.sampled_from(JUNK) | TEXT, "text")
        return [name, value]

    return mutate


def stray(c: Case) -> list[str]:
    """A token that does not belong: an unknown option, an extra argument, a flag with a value."""
    return c.draw(st.sampled_from([["--nosuch"], ["extra"], ["--preview=maybe"], ["-O"], ["--"], ["-Z", "1"],
                                   ["--help"], ["--out"]]))


# -- commands -------------------------------------------------------------------------------------------------------

def fuzz_command(world, data, command: str, build) -> None:
    c = Case(world, data, command)
    try:
        argv = build(c)
        note(f"argv: {argv!r}")
        check(invoke(argv), argv, command)
    finally:
        shutil.rmtree(c.dir, ignore_errors=True)


def mutations(c: Case, options, lo: int = 1, hi: int = 3) -> list[str]:
    out = []
    for _ in range(c.draw(st.integers(lo, hi), "how many")):
        out += c.draw(st.sampled_from(options), "mutation")(c)
    return out


ANNOTATE_OPTIONS = [
    lambda c: ["--variants", int_token(c.data)],
    lambda c: ["--size", int_token(c.data, ("32", "33"))],
    lambda c: ["--seed", int_token(c.data, ("1", "3", "9223372036854775807"))],
    lambda c: ["--eval-views", int_token(c.data, ("0", "1"))],
    lambda c: ["--workers", int_token(c.data, ("1",))],
    lambda c: ["--yaw", float_token(c.data)],
    lambda c: ["--tolerance", float_token(c.data), "--until-stable"],
    lambda c: ["--until-stable"],
    lambda c: ["--shard", c.draw(st.sampled_from(["3/2", "0/0", "-1/2", "a/b", "1/2/3", "1", "0/1", "1/2", "", "/",
                                                 "0/99999999999999999999", "1.0/2", "nan/2"]) | TEXT)],
    lambda c: ["--noise", choice_token(c.data, ["default", "none"])],
    lambda c: ["--renderer", choice_token(c.data, ["pyrender", "moderngl"])],
    lambda c: ["--truth", c.input_file(c.draw(st.sampled_from(["annotation", "parts"])))],
    lambda c: ["--segmenter", segmenter_spec(c)],
    lambda c: ["--out", c.out_dir(valid_weight=0)],
    lambda c: ["--report"],
    vertex_mask, quality_options, parser_options, model_options, stray,
    any_option("annotate"),
]


@fuzz_settings("annotate")
@given(data=st.data())
def test_fuzz_annotate(world, data):
    def build(c):
        return ["annotate", c.model(), "--out", c.out_dir(), *TINY, *mutations(c, ANNOTATE_OPTIONS)]

    fuzz_command(world, data, "annotate", build)


RENDER_OPTIONS = [
    lambda c: ["--variants", int_token(c.data)],
    lambda c: ["--size", int_token(c.data, ("32",))],
    lambda c: ["--seed", int_token(c.data, ("1",))],
    lambda c: ["--yaw", float_token(c.data)],
    lambda c: ["--out", c.out_dir(valid_weight=0)],
    model_options, stray,
    any_option("render"),
]


@fuzz_settings("render")
@given(data=st.data())
def test_fuzz_render(world, data):
    def build(c):
        return ["render", c.model(), "--out", c.out_dir(), "--variants", "1", "--size", "32",
                *mutations(c, RENDER_OPTIONS)]

    fuzz_command(world, data, "render", build)


VOTE_OPTIONS = [
    lambda c: ["--masks", c.masks_dir()],
    lambda c: ["--masks", c.masks_dir()],
    lambda c: ["--out", c.out_dir(valid_weight=0)],
    lambda c: ["--preview"],
    vertex_mask, quality_options, parser_options, model_options, stray,
    any_option("vote"),
]


@fuzz_settings("vote")
@given(data=st.data())
def test_fuzz_vote(world, data):
    def build(c):
        return ["vote", c.model(demo_weight=8), "--masks", str(world["masks"]), "--out", c.out_dir(), "--no-preview",
                "--smooth", "0", "--no-symmetry", *mutations(c, VOTE_OPTIONS)]

    fuzz_command(world, data, "vote", build)


@fuzz_settings("merge")
@given(data=st.data())
def test_fuzz_merge(world, data):
    def build(c):
        shards = [str(p) for p in world["shards"]]
        how = c.draw(st.sampled_from(["damage", "damage", "one", "dup", "other_run", "annotation", "missing",
                                      "options", "dir"]), "merge case")
        extra: list[str] = []
        if how == "damage":
            shards[c.draw(st.integers(0, 1))] = c.input_file("shard", valid_weight=0)
        elif how == "one":
            shards = shards[:1]
        elif how == "dup":
            shards = [shards[0], shards[0]]
        elif how == "other_run":
            shards = [str(world["other_shard"]), shards[1]]
        elif how == "annotation":
            shards[1] = str(world["annotation"])
        elif how == "missing":
            shards.append(str(c.fresh("shard-2-of-2.npz")))
        elif how == "dir":
            shards[0] = str(c.dir)
        else:
            extra = mutations(c, [lambda c: ["--model", c.model(demo_weight=1)],
                                  lambda c: ["--out", c.out_dir(valid_weight=0)], model_options, stray,
                                  any_option("merge")])
        return ["merge", *shards, "--model", "demo", "--out", c.out_dir(), "--no-preview", *extra]

    fuzz_command(world, data, "merge", build)


SEGMENT_OPTIONS = [
    lambda c: ["--segmenter", segmenter_spec(c)],
    lambda c: ["--out", c.out_file(".png", valid_weight=0)],
    lambda c: ["--out", c.out_file(".png", valid_weight=0)],
    parser_options, stray,
    any_option("segment"),
]


@fuzz_settings("segment")
@given(data=st.data())
def test_fuzz_segment(world, data):
    def build(c):
        image = c.input_file("image", valid_weight=1)
        argv = ["segment", image, "--out", c.out_file(".png")]
        # the valid image with valid options runs MediaPipe: keep that to the few cases it takes
        return argv + mutations(c, SEGMENT_OPTIONS, lo=0 if image != str(world["image"]) else 1)

    fuzz_command(world, data, "segment", build)


@fuzz_settings("info")
@given(data=st.data())
def test_fuzz_info(world, data):
    def build(c):
        kind = c.draw(st.sampled_from(["annotation", "parts", "model", "image", "labels", "shard", "vmask_json",
                                       "index_map", "config", "demo", "run_dir"]), "info target")
        if kind == "demo":
            target = c.model()
        elif kind == "run_dir":
            target = c.draw(st.sampled_from([str(world["annotation"].parent), str(world["masks"]), str(c.dir)]))
        else:
            target = c.input_file(kind)
        extra = mutations(c, [model_options, stray, any_option("info"),
                              lambda c: ["--export-regions", c.out_dir(valid_weight=1)]], lo=0, hi=2)
        return ["info", target, *extra]

    fuzz_command(world, data, "info", build)


def export_formats(kind: str = "annotation") -> list[str]:
    from facepart.export import EXPORTERS

    return [e.name for e in EXPORTERS.values() if e.kind == kind]


EXPORT_OPTIONS = [
    lambda c: ["--to", choice_token(c.data, export_formats() + export_formats("landmarks"))],
    lambda c: ["--out", c.out_file(c.draw(st.sampled_from([".json", ".npz", ".ply", ".png", ""])), valid_weight=1)],
    lambda c: ["--model", c.model(demo_weight=2)],
    lambda c: ["--from-format", choice_token(c.data, export_formats())],
    lambda c: ["--rule", choice_token(c.data, ["majority", "union"])],
    lambda c: ["--parts", c.draw(st.sampled_from(["nose", "nose,skin", "", ",", "nosuch", "left_eye,left_eye",
                                                  "eyes", "face"]) | TEXT)],
    lambda c: ["--group", c.draw(st.sampled_from(["default", "face=all", "eyes=left_eye+right_eye", "x=", "=a",
                                                  "a=nosuch", "nose=nose", "a=b=c", "", "eyes=left_eye+"]) | TEXT)],
    lambda c: ["--tri-rule", choice_token(c.data, ["all", "any", "majority"])],
    lambda c: ["--split"],
    lambda c: ["--into", c.input_file("index_map")],
    lambda c: ["--size", int_token(c.data, ("16", "64"))],
    model_options, stray,
    any_option("export"),
]


@fuzz_settings("export")
@given(data=st.data())
def test_fuzz_export(world, data):
    def build(c):
        source = c.input_file(c.draw(st.sampled_from(["annotation", "parts", "annotation"])), valid_weight=3)
        to = c.draw(st.sampled_from(["json", "parts", "csv", "npz", "flame-pkl", "meshcapade", "blender", "tri",
                                     "obj"]), "to")
        suffix = {"npz": ".npz", "tri": ".npz", "csv": ".csv", "flame-pkl": ".pkl", "blender": ".py",
                  "obj": ".obj"}.get(to, ".json")
        return ["export", source, "--to", to, "--out", c.out_file(suffix), "--model", "demo",
                *mutations(c, EXPORT_OPTIONS, lo=0 if source != str(world["annotation"]) else 1)]

    fuzz_command(world, data, "export", build)


TRANSFER_OPTIONS = [
    lambda c: ["--to", c.model(demo_weight=1)],
    lambda c: ["--out", c.out_dir(valid_weight=0)],
    lambda c: ["--via", c.input_file("index_map")],
    lambda c: ["--from", c.model(demo_weight=1)],
    lambda c: ["--align", choice_token(c.data, ["none", "landmarks"])],
    lambda c: ["--smooth", int_token(c.data, ("0", "1"))],
    lambda c: ["--max-median", float_token(c.data)],
    lambda c: ["--max-distance", float_token(c.data)],
    model_options, stray,
    any_option("transfer"),
]


@fuzz_settings("transfer")
@given(data=st.data())
def test_fuzz_transfer(world, data):
    def build(c):
        source = c.input_file(c.draw(st.sampled_from(["annotation", "parts"])), valid_weight=1)
        return ["transfer", source, "--to", "demo", "--out", c.out_dir(),
                *mutations(c, TRANSFER_OPTIONS, lo=0 if source != str(world["annotation"]) else 1)]

    fuzz_command(world, data, "transfer", build)


@fuzz_settings("compare")
@given(data=st.data())
def test_fuzz_compare(world, data):
    def build(c):
        a = c.input_file(c.draw(st.sampled_from(["annotation", "parts"])), valid_weight=2)
        b = c.input_file(c.draw(st.sampled_from(["annotation", "parts", "shard"])), valid_weight=1)
        extra = mutations(c, [lambda c: ["--out", c.out_file(".json", valid_weight=0)],
                              lambda c: ["--model", c.model(demo_weight=2)],
                              lambda c: ["--rule", choice_token(c.data, ["majority", "union"])], model_options, stray,
                              any_option("compare")],
                          lo=0, hi=2)
        return ["compare", a, b, "--out", c.out_file(".json"), *extra]

    fuzz_command(world, data, "compare", build)


LANDMARK_OPTIONS = [
    lambda c: ["--variants", int_token(c.data)],
    lambda c: ["--size", int_token(c.data, ("32",))],
    lambda c: ["--seed", int_token(c.data, ("1",))],
    lambda c: ["--held-out", int_token(c.data, ("0",))],
    lambda c: ["--yaw", float_token(c.data)],
    lambda c: ["--bin-width", float_token(c.data)],
    lambda c: ["--set", choice_token(c.data, ["478", "68", "105"])],
    lambda c: ["--detector", choice_token(c.data, ["mediapipe"])],
    lambda c: ["--to", choice_token(c.data, export_formats("landmarks"))],
    lambda c: ["--out", c.out_dir(valid_weight=0)],
    lambda c: ["--expressions"],
    model_options, stray,
    any_option("landmarks"),
]


@fuzz_settings("landmarks")
@given(data=st.data())
def test_fuzz_landmarks(world, data):
    def build(c):
        return ["landmarks", c.model(), "--out", c.out_dir(), "--variants", "1", "--held-out", "0", "--size", "32",
                "--no-figure", *mutations(c, LANDMARK_OPTIONS)]

    fuzz_command(world, data, "landmarks", build)


REPORT_OPTIONS = [
    lambda c: ["--size", int_token(c.data, ("16",))],
    lambda c: ["--low-confidence", float_token(c.data)],
    lambda c: ["--model", c.model(demo_weight=1)],
    lambda c: ["--out", c.out_file(".html", valid_weight=0)],
    model_options, stray,
    any_option("report"),
]


@fuzz_settings("report")
@given(data=st.data())
def test_fuzz_report(world, data):
    def build(c):
        source = c.draw(st.sampled_from(["file", "file", "dir"]), "report source")
        ann = c.input_file("annotation", valid_weight=0) if source == "file" else str(world["annotation"])
        return ["report", ann, "--out", c.out_file(".html"), "--size", "16", "--model", "demo",
                *mutations(c, REPORT_OPTIONS, lo=0 if source == "file" else 1)]

    fuzz_command(world, data, "report", build)


@fuzz_settings("formats")
@given(data=st.data())
def test_fuzz_formats(world, data):
    fuzz_command(world, data, "formats", lambda c: ["formats", *c.draw(st.lists(
        st.sampled_from(["--exports", "--nosuch", "extra", "-h"]) | TEXT, max_size=3))])


@fuzz_settings("labelsets")
@given(data=st.data())
def test_fuzz_labelsets(world, data):
    fuzz_command(world, data, "labelsets", lambda c: ["labelsets", *c.draw(st.lists(
        st.sampled_from(["--nosuch", "extra", "-h"]) | TEXT, max_size=3))])


@fuzz_settings("global")
@given(data=st.data())
def test_fuzz_global_options_and_help(world, data):
    from facepart.cli import main as group

    commands = sorted(group.commands)
    def build(c):
        argv = c.draw(st.sampled_from([["--version"], ["-h"], [], ["nosuch"], ["--gl"], ["annotate"], ["annotate", "demo"],
                                       *[[cmd, "-h"] for cmd in commands], *[[cmd] for cmd in commands]]))
        if c.draw(st.booleans()):
            # never a valid platform: switching GL platforms inside one process that has rendered is not supported
            argv = ["--gl", c.draw(st.sampled_from(JUNK + ["EGL", "osmesa "]) | TEXT)] + argv
        return argv

    fuzz_command(world, data, "global", build)


# -- each class the fuzzing found (or the issue listed), by example ------------------------------------------------

def one_line_error(argv, *needles, code: int | None = None) -> str:
    """Run ``argv``; check the property and that the one error line holds every needle; return the line."""
    argv = [str(a) for a in argv]
    result = invoke(argv)
    _check(result, argv)
    assert result.exit_code in ((code,) if code else (1, 2)), (result.exit_code, result.output)
    line = result.stderr.strip().split("\n")[-1]
    for needle in needles:
        assert needle in line, line
    return line


def tiny_png(path: Path) -> Path:
    img = np.zeros((48, 48, 3), np.uint8)
    cv2.circle(img, (24, 24), 15, (180, 160, 150), -1)
    cv2.imwrite(str(path), img)
    return path


def test_model_options_that_do_not_apply_to_the_demo_head(tmp_path):
    one_line_error(["info", "demo", "--unit", "mm"], "--unit", "demo")
    one_line_error(["info", "demo", "--blendshapes", tmp_path], "--blendshapes", "demo")
    one_line_error(["info", "demo", "-O", "topology=53215"], "-O topology", "demo")
    one_line_error(["annotate", "demo", "--out", tmp_path / "o", "-O", "foo=1"], "-O foo", "demo")
    # -O may not smuggle an option that has its own flag, nor a value that is not a finite number
    one_line_error(["info", "demo", "-O", "texture=x.png"], "-O", "--texture")
    one_line_error(["info", "demo", "-O", "jaw_open=NaN"], "-O", "finite")


def test_a_loader_option_is_checked_against_the_type_of_its_default():
    from facepart.data.loaders import _coerce
    from facepart.errors import FacepartError

    assert _coerce("flame", "jaw_open", "0.2", 0.0) == 0.2 and _coerce("bfm2009", "topology", 53215.0, 0) == 53215
    for value, default in (("nan", 0.0), ("inf", 0.0), (float("inf"), 0), ("1e999", 0), ("1.5", 0), (True, 0.0)):
        with pytest.raises(FacepartError, match="option x of the f format expects"):
            _coerce("f", "x", value, default)


def test_segment_out_under_a_missing_folder_fails_before_the_parser_runs(tmp_path):
    image = tiny_png(tmp_path / "face.png")
    target = tmp_path / "no" / "such" / "x.png"
    one_line_error(["segment", image, "--out", target], str(target), "does not exist")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    one_line_error(["segment", image, "--out", blocker / "x.png"], "a_file is a file, not a folder")
    assert not (tmp_path / "no").exists()


def test_cleanup_garbage_is_refused_naming_the_option(tmp_path):
    image = tiny_png(tmp_path / "face.png")
    out = tmp_path / "fig.png"
    one_line_error(["segment", image, "--out", out, "--cleanup", "garbage"], "--cleanup", "'garbage'")
    one_line_error(["segment", image, "--out", out, "--cleanup", ","], "--cleanup", "no step")
    # the oracle renders exact maps: no parser clean-up applies, and the message names the flag
    one_line_error(["annotate", "demo", "--out", tmp_path / "o", "--cleanup", "islands"], "--cleanup", "oracle")
    one_line_error(["annotate", "demo", "--out", tmp_path / "o", "--device", "cpu"], "--device", "oracle")
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--eval-views", "-1"), ("--seed", "-1"), ("--variants", str(10**20)),
                                           ("--size", "99999"), ("--k", "0"), ("--yaw", "nan"), ("--smooth", "inf"),
                                           ("--grazing", "-0.5"), ("--eval-views", "10001")])
def test_annotate_numbers_are_checked_before_anything_is_made(tmp_path, option, value):
    out = tmp_path / "never"
    one_line_error(["annotate", "demo", "--out", out, *TINY, option, value], option)
    assert not out.exists()  # the output folder is not made for a run that cannot start


@pytest.mark.parametrize("argv, option", [
    (["render", "demo", "--seed", "-1"], "--seed"),
    (["render", "demo", "--variants", str(10**20)], "--variants"),
    (["landmarks", "demo", "--seed", "-1"], "--seed"),
    (["landmarks", "demo", "--variants", str(10**20)], "--variants"),
    (["landmarks", "demo", "--bin-width", "nan"], "--bin-width"),
    (["landmarks", "demo", "--bin-width", "-5"], "--bin-width"),
    (["landmarks", "demo", "--yaw", "inf"], "--yaw"),
])
def test_render_and_landmark_numbers_name_their_option(tmp_path, argv, option):
    one_line_error([*argv, "--out", tmp_path / "o"], option)


def test_format_nosuch_is_an_unknown_format_not_a_missing_file(tmp_path):
    one_line_error(["info", "demo", "--format", "nosuch"], "unknown format 'nosuch'")
    line = one_line_error(["info", tmp_path / "absent.obj", "--format", "nosuch"], "unknown format 'nosuch'")
    assert "no such file" not in line
    one_line_error(["export", tmp_path / "a.npz", "--to", "nosuch"], "nosuch")


def test_an_empty_value_is_a_usage_error_naming_it(tmp_path):
    one_line_error(["annotate", "", "--out", tmp_path / "o"], "'MODEL'", "empty", code=2)
    one_line_error(["segment", "x.png", "--out", ""], "'--out'", "empty", code=2)
    one_line_error(["merge", "a.npz", "", "--model", "demo", "--out", tmp_path / "o"], "SHARDS", "empty", code=2)
    from facepart.data import load_model
    from facepart.errors import FacepartError

    with pytest.raises(FacepartError, match="model path is empty"):  # the library says so too, not ".: ..."
        load_model("")


def test_a_huge_worker_count_starts_no_more_processes_than_views(tmp_path):
    result = invoke(["annotate", "demo", "--out", str(tmp_path / "o"), *TINY, "--workers", str(10**20)])
    _check(result, [])
    assert result.exit_code == 0, result.output  # was OverflowError from the process pool's semaphore
    assert (tmp_path / "o" / "annotation.npz").is_file()


def test_report_sizes_are_bounded_before_rendering(world):
    for size in (str(2**63), "15", "0"):
        one_line_error(["report", world["annotation"], "--model", "demo", "--size", size], "--size")
    one_line_error(["report", world["annotation"], "--model", "demo", "--low-confidence", "nan"], "--low-confidence")
    from facepart.errors import FacepartError
    from facepart.renderers.base import make_renderer

    with pytest.raises(FacepartError, match="--size"):  # every renderer is made through the one factory
        make_renderer(None, 10**9)


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc (a file whose read fails)")
def test_a_file_whose_read_fails_is_one_line(tmp_path):
    one_line_error(["annotate", "demo", "--out", tmp_path / "o", *TINY, "--vertex-mask", "/proc/self/mem"],
                   "/proc/self/mem", "cannot read")
    from facepart.errors import FacepartError
    from facepart.io_utils import open_input

    with pytest.raises(FacepartError, match="(?i)not utf-8 text"):  # text read through open_input: one line too
        bad = tmp_path / "bad.txt"
        bad.write_bytes(b"\xff\xfe\xfa")
        with open_input(bad, "r", "a text file", encoding="utf-8") as fh:
            fh.read()


def test_deep_json_is_one_line_in_every_reader(tmp_path, world):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    one_line_error(["export", deep, "--to", "csv", "--model", "demo"], str(deep), "nested too deeply")
    one_line_error(["compare", deep, world["parts"], "--out", tmp_path / "d.json"], str(deep))
    one_line_error(["info", deep], str(deep), "nested too deeply")


def test_compare_with_another_topology_names_the_file(tmp_path, world):
    line = one_line_error(["compare", world["annotation"], world["parts"], "--model", world["model"],
                           "--out", tmp_path / "d.json"], "another topology")
    assert str(world["annotation"]) in line
