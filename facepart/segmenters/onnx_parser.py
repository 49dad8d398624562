"""``onnx:PATH``: any face parser exported to ONNX, run with onnxruntime.

What the model expects and what its classes are is given by options or by a
small config file (YAML or JSON; by default ``PATH`` with the suffix
``.yaml``, ``.yml`` or ``.json`` is read when it exists)::

    labels: lapa                 # required: a built-in table name, a label-table file (relative to
                                 # this file), or the table itself: {classes: [background, skin, ...]}
    input_size: [512, 512]       # width, height (8..4096); default: the model's fixed input size, else 512
    mean: [0.485, 0.456, 0.406]  # per channel (or one number for all), after scaling (default: ImageNet)
    std: [0.229, 0.224, 0.225]   # per channel (or one number), > 0
    scale: 0.00392156862745098   # pixel values (0..255) are multiplied by this first (> 0, default 1/255)
    channels: rgb                # or bgr
    layout: nchw                 # or nhwc
    output: 0                    # which output (index or name)

The model takes one image at a time (batch size 1, or a dynamic batch axis).
The output may be logits, (1, C, h, w) or (1, h, w, C) with C = the label
count, which are resized bilinearly to the image and arg-maxed; or class ids,
(1, h, w) or (1, 1, h, w), resized nearest.

The file beside the model may also be just a label table (a mapping with
``classes``, see :func:`~facepart.segmenters.labelsets.load_label_set`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..interrupts import deferred_interrupt
from ..errors import FacepartError, require
from ..io_utils import read_mapping_file
from .bisenet import file_digest
from .labelsets import LabelSet, label_set_from_dict, load_label_set

INSTALL = "pip install onnxruntime"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_SIZE = 512
MIN_SIZE, MAX_SIZE = 8, 4096  # sides of input_size, in pixels


def _numbers(value, key: str) -> tuple[float, float, float]:
    """``mean``/``std``: three finite numbers, or one for all channels (std > 0)."""
    positive = key == "std"
    expected = f"{key} must be 3 finite numbers{' > 0' if positive else ''} (one per channel) or one for all"
    try:
        vals = tuple(float(v) for v in ((value,) * 3 if isinstance(value, (int, float, str)) else value))
    except (TypeError, ValueError):
        raise ValueError(f"{expected}, got {value!r}") from None
    if len(vals) != 3 or not all(math.isfinite(v) for v in vals) or (positive and min(vals) <= 0):
        raise ValueError(f"{expected}, got {value!r}")
    return vals


@dataclass(frozen=True)
class OnnxOptions:
    """Pre-processing and label table of an ONNX face parser (see the module docstring)."""

    labels: "str | dict | LabelSet | None" = None  # table name, file, or an inline table mapping
    input_size: tuple[int, int] | None = None  # (width, height)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    channels: str = "rgb"
    layout: str = "nchw"
    output: int | str = 0

    @classmethod
    def from_dict(cls, data: dict, where: str) -> "OnnxOptions":
        if not isinstance(data, dict):
            raise FacepartError(f"{where}: expected a mapping of ONNX parser options")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FacepartError(f"{where}: unknown option(s) {unknown}; known: {', '.join(sorted(known))}")
        kw = {}
        try:
            for key, value in data.items():
                if value is None:
                    continue
                if key == "labels":
                    kw[key] = value if isinstance(value, (dict, LabelSet)) else str(value)
                elif key == "input_size":
                    size = [value, value] if isinstance(value, int) else list(value)
                    if len(size) != 2 or not all(MIN_SIZE <= int(s) <= MAX_SIZE for s in size):
                        raise ValueError(f"input_size must be [width, height] (or one side), each "
                                         f"{MIN_SIZE}..{MAX_SIZE} pixels, got {value!r}")
                    kw[key] = (int(size[0]), int(size[1]))
                elif key in ("mean", "std"):
                    kw[key] = _numbers(value, key)
                elif key == "scale":
                    scale = float(value)
                    if not (math.isfinite(scale) and scale > 0):
                        raise ValueError(f"scale must be a finite number > 0 (e.g. 1/255), got {value!r}")
                    kw[key] = scale
                elif key in ("channels", "layout"):
                    allowed = ("rgb", "bgr") if key == "channels" else ("nchw", "nhwc")
                    if str(value).lower() not in allowed:
                        raise ValueError(f"{key} must be one of {', '.join(allowed)}")
                    kw[key] = str(value).lower()
                elif key == "output":
                    kw[key] = value if isinstance(value, int) else str(value)
        except (TypeError, ValueError) as exc:
            raise FacepartError(f"{where}: {exc}") from None
        return cls(**kw)

    def merged(self, **overrides) -> "OnnxOptions":
        """These options with every non-None override applied (checked like a config file)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update({k: v for k, v in overrides.items() if v is not None})
        return OnnxOptions.from_dict(data, "ONNX options")


def read_config(path: str | Path) -> dict:
    """The mapping in a YAML or JSON options file."""
    path = Path(path)
    data = read_mapping_file(path, "ONNX parser config")
    if not isinstance(data, dict):
        raise FacepartError(f"{path}: expected a mapping of ONNX parser options")
    return data


def sibling_config(model_path: Path) -> Path | None:
    for suffix in (".yaml", ".yml", ".json"):
        p = model_path.with_suffix(suffix)
        if p.is_file():
            return p
    return None


class OnnxParser:
    """An ONNX face parser -> label map in its label set.

    Args:
        path: the ``.onnx`` file.
        config: options file (default: ``path`` with a .yaml/.yml/.json suffix, if present).
        device: ``"cpu"`` or ``"cuda"`` (CUDA provider when onnxruntime has it).
        labels: label table (name, file or :class:`LabelSet`), overriding the config's.
        **options: :class:`OnnxOptions` fields, overriding the config file (``labels=...``).
    """

    name = "onnx"
    needs_image = True

    def __init__(self, path: str | Path, config: str | Path | None = None, device: str = "cpu",
                 labels: "str | LabelSet | None" = None, **options):
        self._args = dict(path=path, config=config, device=device, labels=labels, **options)
        ort = require("onnxruntime", "the onnx segmenter", INSTALL)
        self.path = Path(path)
        if not self.path.is_file():
            raise FacepartError(f"{self.path}: ONNX model file not found")
        cfg_path = Path(config) if config is not None else sibling_config(self.path)
        base = OnnxOptions()
        if cfg_path is not None:
            data = read_config(cfg_path)
            if "classes" in data and set(data) <= {"classes", "name", "canonical", "sides"}:
                data = {"labels": data}  # the file beside the model is a label table
            if isinstance(data.get("labels"), str) and data["labels"].lower().endswith((".yaml", ".yml", ".json")):
                data["labels"] = str(cfg_path.parent / data["labels"])  # relative to the config file
            base = OnnxOptions.from_dict(data, str(cfg_path))
        self.options = base.merged(labels=labels, **options)
        if self.options.labels is None:
            raise FacepartError(f"{self.path}: the onnx segmenter needs a label table (--labels NAME or FILE, "
                                f"or 'labels:' in {self.path.with_suffix('.yaml').name})")
        self.labels: LabelSet = self._label_set(self.options.labels, cfg_path)
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        opts = ort.SessionOptions()
        opts.log_severity_level = 4  # errors come back as one FacepartError line, not as ORT's log
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=providers)
        except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile...
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise FacepartError(f"{self.path}: not a loadable ONNX model ({first})") from None
        self.device = device
        self.max_workers = 1 if "CUDAExecutionProvider" in providers else None  # one process holds the GPU
        self.digest = file_digest(self.path)
        self._input = self.session.get_inputs()[0]
        if self._input.type not in ("tensor(float)", "tensor(float16)"):
            raise FacepartError(f"{self.path}: the model's input is {self._input.type}; expected a float image tensor")
        self.input_size = self._resolve_size()
        outputs = self.session.get_outputs()
        out = self.options.output
        if isinstance(out, int):
            if not 0 <= out < len(outputs):
                raise FacepartError(f"{self.path}: output {out} asked for, the model has {len(outputs)}")
            self._output = outputs[out].name
        else:
            if out not in [o.name for o in outputs]:
                raise FacepartError(f"{self.path}: no output named '{out}'; outputs: {[o.name for o in outputs]}")
            self._output = out

    def __reduce__(self):
        """Pickled (for worker processes) as the arguments it was made with; the copy rebuilds its session."""
        return (functools.partial(type(self), **self._args), ())

    def _label_set(self, spec, cfg_path: Path | None) -> LabelSet:
        if isinstance(spec, dict):
            return label_set_from_dict(spec, str(cfg_path or self.path), default_name=self.path.stem)
        return load_label_set(spec)

    def _resolve_size(self) -> tuple[int, int]:
        shape = list(self._input.shape)
        if len(shape) != 4:
            raise FacepartError(f"{self.path}: input of rank {len(shape)}; expected a 4-D image batch")
        if isinstance(shape[0], int) and shape[0] != 1:
            raise FacepartError(f"{self.path}: the model takes batches of {shape[0]} images; facepart feeds one "
                                f"image at a time: export it with batch size 1 (or a dynamic batch axis)")
        h, w = (shape[2], shape[3]) if self.options.layout == "nchw" else (shape[1], shape[2])
        ch = shape[1] if self.options.layout == "nchw" else shape[3]
        if isinstance(ch, int) and ch != 3:
            hint = "set layout: nhwc if the channels come last" if self.options.layout == "nchw" else \
                "set layout: nchw if the channels come first"
            raise FacepartError(f"{self.path}: input has {ch} channels in layout {self.options.layout}; "
                                f"expected 3 ({hint})")
        fixed = (w, h) if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 else None
        want = self.options.input_size
        if fixed and want and tuple(want) != fixed:
            raise FacepartError(f"{self.path}: the model takes {fixed[0]}x{fixed[1]} images, "
                                f"but input_size {want[0]}x{want[1]} was given")
        return fixed or want or (DEFAULT_SIZE, DEFAULT_SIZE)

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        import cv2

        w, h = self.input_size
        x = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.options.channels == "bgr":
            x = x[..., ::-1]
        x = (x.astype(np.float32) * np.float32(self.options.scale) - np.array(self.options.mean, np.float32)) \
            / np.array(self.options.std, np.float32)
        x = x.transpose(2, 0, 1)[None] if self.options.layout == "nchw" else x[None]
        dtype = np.float16 if self._input.type == "tensor(float16)" else np.float32
        return np.ascontiguousarray(x, dtype=dtype)

    def parse(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) int16 class ids of :attr:`labels`."""
        import cv2

        h, w = image.shape[:2]
        feed = {self._input.name: self._prepare(image)}
        try:
            with deferred_interrupt():  # onnxruntime's threads finish before Ctrl-C lands
                out = np.asarray(self.session.run([self._output], feed)[0])
        except Exception as exc:  # onnxruntime's Fail, InvalidArgument, RuntimeException...
            why = " ".join(str(exc).split()) or type(exc).__name__
            why = why if len(why) <= 300 else why[:297] + "..."
            w_in, h_in = self.input_size
            raise FacepartError(f"{self.path}: onnxruntime failed on a {w_in}x{h_in} input ({why}); check "
                                f"input_size and layout in the parser's config") from None
        n = len(self.labels)
        if out.ndim == 4 and out.shape[0] == 1:
            out = out[0]
        if out.ndim == 3 and out.shape[0] == n and n > 1:
            logits = out.transpose(1, 2, 0)
        elif out.ndim == 3 and out.shape[2] == n and n > 1:
            logits = out
        elif out.ndim == 3 and 1 in (out.shape[0], out.shape[2]) and np.issubdtype(out.dtype, np.integer):
            ids = out[0] if out.shape[0] == 1 else out[..., 0]  # (h, w)
            ids = cv2.resize(ids.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
            if ids.min() < 0 or ids.max() >= n:
                raise FacepartError(f"{self.path}: output class ids {ids.min()}..{ids.max()} outside the label "
                                    f"set '{self.labels.name}' (0..{n - 1})")
            return ids.astype(np.int16)
        else:
            raise FacepartError(f"{self.path}: output of shape {out.shape} ({out.dtype}) does not match label set "
                                f"'{self.labels.name}' ({n} classes); expected logits (1, {n}, h, w) or class ids")
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        if logits.shape[:2] != (h, w):
            if n <= 512:
                logits = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
            else:
                raise FacepartError(f"{self.path}: more than 512 classes are not supported")
            if logits.ndim == 2:  # cv2 drops a single channel
                logits = logits[..., None]
        return logits.argmax(axis=2).astype(np.int16)

    def describe(self) -> str:
        o = self.options
        return (f"onnx {self.path.name} sha256:{self.digest} ({o.layout} {o.channels} "
                f"{self.input_size[0]}x{self.input_size[1]}, scale {o.scale:g}, mean {list(o.mean)}, "
                f"std {list(o.std)}, output {o.output})")
