"""``bisenet:PATH``: face-parsing.PyTorch's BiSeNet with a user's ``79999_iter.pth``-style weights.

The network (:mod:`facepart.segmenters.bisenet_net`) is facepart's own code with
that checkpoint's key names and shapes. Input: the image resized to 512x512,
RGB scaled to 0..1 and normalised with the ImageNet mean/std; output: logits
upsampled to the image size, argmax = CelebAMask-HQ classes in the BiSeNet
order (label set ``celebamask-bisenet``, formats.md 3.4). Runs on CPU or a
torch device such as ``cuda``. Weights load with ``weights_only=True``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from ..interrupts import deferred_interrupt
from ..errors import FacepartError, require
from .labelsets import TABLES, LabelSet, load_label_set

INSTALL = "pip install torch"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
INPUT_SIZE = 512
#: Keys under which training scripts wrap the state dict in a checkpoint ({"model": state_dict, "epoch": 3}).
WRAPPER_KEYS = ("state_dict", "model", "net", "model_state_dict", "model_state", "network")


def _torch():
    return require("torch", "the bisenet segmenter", INSTALL)


def build_bisenet(n_classes: int = 19):
    """An untrained :class:`~facepart.segmenters.bisenet_net.BiSeNet` (needs torch)."""
    _torch()
    from .bisenet_net import BiSeNet

    return BiSeNet(n_classes)


def file_digest(path: Path, chars: int = 12) -> str:
    """First ``chars`` hex digits of the file's SHA-256 (names the weights in run keys)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:chars]


def _first_line(exc: Exception) -> str:
    """The first line of ``exc``'s message, without terminal escapes, cut at a sentence end near 200 characters."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip()
    if not text:
        return type(exc).__name__
    line = text.splitlines()[0]
    if len(line) > 200:
        end = line.rfind(". ", 0, 200)
        line = line[:end + 1] if end > 40 else line[:197] + "..."
    return line


def _load_error(path: Path, exc: Exception) -> FacepartError:
    """One line for a ``torch.load(weights_only=True)`` failure: a pickled model, or not a checkpoint at all."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return FacepartError(f"{path}: not a PyTorch state-dict checkpoint: it holds a pickled {found.group(1)} "
                             f"(a whole model saved with torch.save(model)?), which is not loaded for safety; "
                             f"save the weights with torch.save(model.state_dict(), PATH)")
    detail = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    why = f"weights-only loading: {detail.group(1).strip()[:200]}" if detail else _first_line(exc)
    return FacepartError(f"{path}: not a PyTorch state-dict checkpoint ({why})")


def read_state_dict(path: str | Path) -> dict:
    """The tensors of a torch checkpoint file (``weights_only``), ``module.`` prefixes stripped."""
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise FacepartError(f"{path}: BiSeNet weights file not found")
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (not a zip/pickle), EOFError...
        raise _load_error(path, exc) from None
    if isinstance(data, dict):  # a training checkpoint: {"model": state_dict, "epoch": 3, ...}
        data = next((data[k] for k in WRAPPER_KEYS if isinstance(data.get(k), dict)), data)
    if not isinstance(data, dict) or not data or not all(torch.is_tensor(v) for v in data.values()):
        got = type(data).__name__ if not isinstance(data, dict) or not data else \
            "a dict with " + ", ".join(repr(k) for k in list(data)[:6])
        raise FacepartError(f"{path}: expected a state dict (names -> tensors) of face-parsing.PyTorch's "
                            f"BiSeNet, or one under {', '.join(repr(k) for k in WRAPPER_KEYS)}; got {got}")
    return {(k[7:] if k.startswith("module.") else k): v for k, v in data.items()}


def check_state_dict(state: dict, model, where: str) -> None:
    """One-line error unless ``state`` has exactly ``model``'s keys and shapes.

    ``num_batches_tracked`` counters may be absent (older checkpoints).
    """
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in state.items()}
    missing = [k for k in want if k not in have and not k.endswith("num_batches_tracked")]
    extra = [k for k in have if k not in want]
    shapes = [f"{k} {have[k]} (expected {want[k]})" for k in want if k in have and have[k] != want[k]]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} keys missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected keys (e.g. {extra[0]})")
        if shapes:
            parts.append(f"{len(shapes)} shapes differ (e.g. {shapes[0]})")
        raise FacepartError(f"{where}: not a face-parsing.PyTorch BiSeNet checkpoint: " + "; ".join(parts))


def load_bisenet(path: str | Path, device: str = "cpu", n_classes: int | None = None):
    """Build BiSeNet and load the weights at ``path``; the model in eval mode on ``device``.

    The class count comes from ``conv_out.conv_out.weight`` unless ``n_classes`` is given.
    """
    torch = _torch()
    state = read_state_dict(path)
    head = state.get("conv_out.conv_out.weight")
    if n_classes is None:
        if head is None or head.ndim != 4:
            raise FacepartError(f"{path}: not a face-parsing.PyTorch BiSeNet checkpoint "
                                f"(no conv_out.conv_out.weight)")
        n_classes = int(head.shape[0])
    model = build_bisenet(n_classes)
    check_state_dict(state, model, str(path))
    model.load_state_dict(state, strict=False)  # strict apart from optional num_batches_tracked
    try:
        dev = torch.device(device)
        model = model.to(dev).eval()
    except (RuntimeError, AssertionError) as exc:
        raise FacepartError(f"torch device '{device}' is not usable here ({_first_line(exc)})") from None
    return model


class BiSeNetParser:
    """face-parsing.PyTorch BiSeNet -> label map (default label set ``celebamask-bisenet``).

    Args:
        path: the ``.pth`` state dict.
        device: torch device, e.g. ``"cpu"`` or ``"cuda"``.
        labels: the output's label set (default: CelebAMask-HQ in BiSeNet order; give
            another when the checkpoint was trained on other classes).
        input_size: the square network input side.
    """

    name = "bisenet"
    needs_image = True

    def __init__(self, path: str | Path, device: str = "cpu", labels: "str | LabelSet | None" = None,
                 input_size: int = INPUT_SIZE):
        self._args = dict(path=path, device=device, labels=labels, input_size=input_size)
        self.torch = _torch()
        self.path = Path(path)
        self.labels = load_label_set(labels) if labels is not None else TABLES["celebamask-bisenet"]
        self.model = load_bisenet(self.path, device)
        n_out = self.model.conv_out.conv_out.out_channels
        if n_out != len(self.labels):
            raise FacepartError(f"{self.path}: the network has {n_out} classes but label set "
                                f"'{self.labels.name}' has {len(self.labels)}; give a matching --labels table")
        self.device = str(device)
        self.max_workers = 1 if self.device.startswith("cuda") else None  # one process holds the GPU
        self.input_size = int(input_size)
        self._mean = np.array(MEAN, np.float32)
        self._std = np.array(STD, np.float32)
        self.digest = file_digest(self.path)

    def __reduce__(self):
        """Pickled (for worker processes) as the arguments it was made with; the copy rebuilds its session."""
        return (functools.partial(type(self), **self._args), ())

    def logits(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (C, H, W) float32 logits at the image size."""
        import cv2

        torch = self.torch
        h, w = image.shape[:2]
        s = self.input_size
        x = cv2.resize(image, (s, s), interpolation=cv2.INTER_LINEAR) if (h, w) != (s, s) else image
        x = (x.astype(np.float32) / 255.0 - self._mean) / self._std
        device = self.model.conv_out.conv_out.weight.device
        t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)
        with torch.inference_mode(), deferred_interrupt():  # torch's threads finish before Ctrl-C lands
            out = self.model(t)
            if (h, w) != (s, s):
                out = torch.nn.functional.interpolate(out, (h, w), mode="bilinear", align_corners=True)
        return out[0].float().cpu().numpy()

    def parse(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) int16 class ids of :attr:`labels`."""
        return self.logits(image).argmax(axis=0).astype(np.int16)

    def describe(self) -> str:
        return (f"bisenet {self.path.name} sha256:{self.digest} ({len(self.labels)} classes, {self.input_size}px, "
                f"{self.device})")
