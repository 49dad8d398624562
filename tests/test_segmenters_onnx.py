"""``onnx:PATH``: tiny models exported here, run through the segmenter with a label table."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from facepart.errors import FacepartError, MissingDependency
from facepart.segmenters import make_parser_segmenter
from facepart.segmenters.onnx_parser import OnnxParser

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


class RedIsSkin(torch.nn.Module):
    """11 Helen classes at half resolution: skin (1) where input channel 0 is bright, else background."""

    def __init__(self, n_classes: int = 11, ids: bool = False):
        super().__init__()
        self.n, self.ids = n_classes, ids

    def forward(self, x):
        x = torch.nn.functional.avg_pool2d(x, 2)
        red = x[:, :1]
        others = torch.full_like(red, -10.0).repeat(1, self.n - 2, 1, 1)
        logits = torch.cat([-red, red, others], dim=1)
        return logits.argmax(dim=1) if self.ids else logits


def export(model, path, size=64, dynamic=False):
    kwargs = {}
    if dynamic:
        kwargs["dynamic_axes"] = {"input": {2: "h", 3: "w"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.zeros(1, 3, size, size), str(path), input_names=["input"],
                          output_names=["out"], dynamo=False, **kwargs)
    return path


def half_image(size=80, channel=0):
    """Left half bright in ``channel`` (RGB), right half black."""
    img = np.zeros((size, size, 3), np.uint8)
    img[:, : size // 2, channel] = 255
    return img


def test_tiny_model_through_the_onnx_segmenter(tmp_path):
    path = export(RedIsSkin(), tmp_path / "tiny.onnx")
    seg = make_parser_segmenter(f"onnx:{path}", labels="helen", cleanup="none", mean=(0.5, 0.5, 0.5),
                                std=(0.5, 0.5, 0.5))
    assert seg.parser.input_size == (64, 64)  # from the model's fixed input
    img = half_image(80)
    seg_result = seg.segment_image(img)
    labels, parts = seg_result.label_map, seg_result.part_map
    assert labels.shape == (80, 80) and set(np.unique(labels).tolist()) == {0, 1}
    assert (labels[:, :36] == 1).all() and (labels[:, 44:] == 0).all()
    assert (parts[:, :36] == 7).all() and (parts[:, 44:] == -1).all()  # skin, ignore
    assert "onnx tiny.onnx" in seg.describe() and "labels helen" in seg.describe()


def test_config_file_beside_the_model(tmp_path):
    path = export(RedIsSkin(), tmp_path / "parser.onnx", dynamic=True)
    (tmp_path / "parser.yaml").write_text(
        "labels: lapa\ninput_size: [48, 48]\nmean: [0.5, 0.5, 0.5]\nstd: [0.5, 0.5, 0.5]\nchannels: bgr\n")
    parser = OnnxParser(path)
    assert parser.labels.name == "lapa" and parser.input_size == (48, 48) and parser.options.channels == "bgr"
    # BGR: the model's channel 0 is the image's blue
    out = parser.parse(half_image(64, channel=2))
    assert (out[:, :28] == 1).all() and (out[:, 36:] == 0).all()
    assert (parser.parse(half_image(64, channel=0)) == 0).all()
    # options override the file; an explicit config file wins over the sibling
    other = tmp_path / "other.json"
    other.write_text('{"labels": "helen", "input_size": 32}')
    p2 = OnnxParser(path, config=other, labels="ibugmask")
    assert p2.labels.name == "ibugmask" and p2.input_size == (32, 32)


def test_class_id_output(tmp_path):
    path = export(RedIsSkin(ids=True), tmp_path / "ids.onnx")
    parser = OnnxParser(path, labels="helen", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    out = parser.parse(half_image(64))
    assert out.dtype == np.int16 and (out[:, :30] == 1).all() and (out[:, 34:] == 0).all()


def test_user_label_table_file(tmp_path):
    path = export(RedIsSkin(n_classes=3), tmp_path / "three.onnx")
    table = tmp_path / "three.yaml"
    table.write_text("classes: [bg, face, blob]\n")
    with pytest.raises(FacepartError, match="does not know: blob"):  # it would vote for nothing, silently
        make_parser_segmenter(f"onnx:{path}", labels=str(table), cleanup="none")
    table.write_text("classes: [bg, face, blob]\ncanonical: {blob: background}\n")
    seg = make_parser_segmenter(f"onnx:{path}", labels=str(table), cleanup="none")
    pm = seg.segment_image(half_image(64)).part_map
    assert set(np.unique(pm).tolist()) <= {-1, 7}
    # the table beside the model, found without --labels, and an inline table in a config
    assert OnnxParser(path).labels.classes == ("bg", "face", "blob")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("labels: {name: inline, classes: [bg, skin, hair]}\nscale: 1.0\n")
    p = OnnxParser(path, config=cfg)
    assert p.labels.name == "inline" and p.labels.canonical[2] == "hair" and p.options.scale == 1.0
    from facepart.segmenters.labelsets import TABLES

    assert OnnxParser(path, labels=TABLES["helen"], config=cfg).labels is TABLES["helen"]


def test_bad_onnx_inputs_give_one_clear_error(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not an onnx file at all")
    good = export(RedIsSkin(), tmp_path / "tiny.onnx")
    cases = [
        (lambda: OnnxParser(junk, labels="helen"), "not a loadable ONNX model"),
        (lambda: OnnxParser(tmp_path / "none.onnx", labels="helen"), "not found"),
        (lambda: OnnxParser(good), "needs a label table"),
        (lambda: OnnxParser(good, labels="helen", input_size=(32, 32)), "takes 64x64"),
        (lambda: OnnxParser(good, labels="celebamask").parse(half_image(64)), "does not match label set"),
    ]
    for make, match in cases:
        with pytest.raises(FacepartError, match=match) as err:
            make()
        assert "\n" not in str(err.value)
    bad_cfg = tmp_path / "bad.yaml"
    bad_cfg.write_text("labels: helen\nlayout: nchwx\n")
    with pytest.raises(FacepartError, match="layout must be one of") as err:
        OnnxParser(good, config=bad_cfg)
    assert str(bad_cfg) in str(err.value)
    bad_cfg.write_text("labels: helen\nsize: 3\n")
    with pytest.raises(FacepartError, match="unknown option"):
        OnnxParser(good, config=bad_cfg)


class Batch2(torch.nn.Module):
    def forward(self, x):
        return RedIsSkin()(x)


class EvenOnly(torch.nn.Module):
    """Pools and upsamples back: only even input sizes fit (the sum fails at run time otherwise)."""

    def forward(self, x):
        down = torch.nn.functional.avg_pool2d(x, 2)
        y = torch.nn.functional.interpolate(down, scale_factor=2.0, mode="nearest") + x
        red = y[:, :1]
        return torch.cat([-red, red, torch.full_like(red, -10.0).repeat(1, 9, 1, 1)], dim=1)


def test_batch_size_and_runtime_errors_are_one_line(tmp_path):
    b2 = tmp_path / "b2.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Batch2(), torch.zeros(2, 3, 64, 64), str(b2), input_names=["input"], dynamo=False)
    with pytest.raises(FacepartError, match="batches of 2 images.*batch size 1") as err:
        OnnxParser(b2, labels="helen")
    assert str(b2) in str(err.value) and "\n" not in str(err.value)
    even = export(EvenOnly(), tmp_path / "even.onnx", dynamic=True)
    assert OnnxParser(even, labels="helen", input_size=32).parse(half_image(40)).shape == (40, 40)
    with pytest.raises(FacepartError, match=r"onnxruntime failed on a 33x33 input \(\[ONNXRuntimeError\]") as err:
        OnnxParser(even, labels="helen", input_size=33).parse(half_image(40))
    assert str(even) in str(err.value) and "\n" not in str(err.value) and len(str(err.value)) < 500


def test_option_values_are_checked(tmp_path):
    good = export(RedIsSkin(), tmp_path / "tiny.onnx", dynamic=True)
    assert OnnxParser(good, labels="helen", mean=0.5, std=0.25).options.mean == (0.5, 0.5, 0.5)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("labels: helen\nmean: 0.5\nstd: [0.5, 0.5, 0.5]\n")
    assert OnnxParser(good, config=cfg).options.mean == (0.5, 0.5, 0.5)
    cases = [
        ("mean: [.nan, 0, 0]", "mean must be 3 finite numbers"),
        ("mean: [0, 0]", "mean must be 3 finite numbers"),
        ("std: [.inf, 1, 1]", "std must be 3 finite numbers > 0"),
        ("scale: 0", "scale must be a finite number > 0"),
        ("scale: .inf", "scale must be a finite number > 0"),
        ("scale: -1", "scale must be a finite number > 0"),
        ("input_size: 100000", "input_size must be .* 8..4096 pixels"),
        ("input_size: [64, 5000]", "input_size must be .* 8..4096 pixels"),
    ]
    for line, match in cases:
        cfg.write_text(f"labels: helen\n{line}\n")
        with pytest.raises(FacepartError, match=match) as err:
            OnnxParser(good, config=cfg)
        assert str(cfg) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FacepartError, match="scale must be"):
        OnnxParser(good, labels="helen", scale=float("nan"))


def test_missing_onnxruntime_is_one_line(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependency) as err:
        make_parser_segmenter(f"onnx:{tmp_path / 'm.onnx'}", labels="helen")
    msg = str(err.value)
    assert "\n" not in msg and "pip install onnxruntime" in msg
