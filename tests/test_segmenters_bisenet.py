"""BiSeNet (face-parsing.PyTorch layout): keys and shapes, save/load, a run on a render, bad files."""

from __future__ import annotations

import numpy as np
import pytest

from facepart.errors import FacepartError, MissingDependency

torch = pytest.importorskip("torch")

from facepart.segmenters.bisenet import BiSeNetParser, build_bisenet, load_bisenet  # noqa: E402

# The published ``79999_iter.pth`` layout (face-parsing.PyTorch model.py + resnet.py).
# "name: shape" for convolutions; "name: BN c" for a BatchNorm2d with weight, bias, running_mean,
# running_var of shape (c,) and a num_batches_tracked counter.
PUBLISHED_LAYOUT = """
cp.resnet.conv1.weight: 64 3 7 7
cp.resnet.bn1: BN 64
cp.resnet.layer1.0.conv1.weight: 64 64 3 3
cp.resnet.layer1.0.bn1: BN 64
cp.resnet.layer1.0.conv2.weight: 64 64 3 3
cp.resnet.layer1.0.bn2: BN 64
cp.resnet.layer1.1.conv1.weight: 64 64 3 3
cp.resnet.layer1.1.bn1: BN 64
cp.resnet.layer1.1.conv2.weight: 64 64 3 3
cp.resnet.layer1.1.bn2: BN 64
cp.resnet.layer2.0.conv1.weight: 128 64 3 3
cp.resnet.layer2.0.bn1: BN 128
cp.resnet.layer2.0.conv2.weight: 128 128 3 3
cp.resnet.layer2.0.bn2: BN 128
cp.resnet.layer2.0.downsample.0.weight: 128 64 1 1
cp.resnet.layer2.0.downsample.1: BN 128
cp.resnet.layer2.1.conv1.weight: 128 128 3 3
cp.resnet.layer2.1.bn1: BN 128
cp.resnet.layer2.1.conv2.weight: 128 128 3 3
cp.resnet.layer2.1.bn2: BN 128
cp.resnet.layer3.0.conv1.weight: 256 128 3 3
cp.resnet.layer3.0.bn1: BN 256
cp.resnet.layer3.0.conv2.weight: 256 256 3 3
cp.resnet.layer3.0.bn2: BN 256
cp.resnet.layer3.0.downsample.0.weight: 256 128 1 1
cp.resnet.layer3.0.downsample.1: BN 256
cp.resnet.layer3.1.conv1.weight: 256 256 3 3
cp.resnet.layer3.1.bn1: BN 256
cp.resnet.layer3.1.conv2.weight: 256 256 3 3
cp.resnet.layer3.1.bn2: BN 256
cp.resnet.layer4.0.conv1.weight: 512 256 3 3
cp.resnet.layer4.0.bn1: BN 512
cp.resnet.layer4.0.conv2.weight: 512 512 3 3
cp.resnet.layer4.0.bn2: BN 512
cp.resnet.layer4.0.downsample.0.weight: 512 256 1 1
cp.resnet.layer4.0.downsample.1: BN 512
cp.resnet.layer4.1.conv1.weight: 512 512 3 3
cp.resnet.layer4.1.bn1: BN 512
cp.resnet.layer4.1.conv2.weight: 512 512 3 3
cp.resnet.layer4.1.bn2: BN 512
cp.arm16.conv.conv.weight: 128 256 3 3
cp.arm16.conv.bn: BN 128
cp.arm16.conv_atten.weight: 128 128 1 1
cp.arm16.bn_atten: BN 128
cp.arm32.conv.conv.weight: 128 512 3 3
cp.arm32.conv.bn: BN 128
cp.arm32.conv_atten.weight: 128 128 1 1
cp.arm32.bn_atten: BN 128
cp.conv_head32.conv.weight: 128 128 3 3
cp.conv_head32.bn: BN 128
cp.conv_head16.conv.weight: 128 128 3 3
cp.conv_head16.bn: BN 128
cp.conv_avg.conv.weight: 128 512 1 1
cp.conv_avg.bn: BN 128
ffm.convblk.conv.weight: 256 256 1 1
ffm.convblk.bn: BN 256
ffm.conv1.weight: 64 256 1 1
ffm.conv2.weight: 256 64 1 1
conv_out.conv.conv.weight: 256 256 3 3
conv_out.conv.bn: BN 256
conv_out.conv_out.weight: 19 256 1 1
conv_out16.conv.conv.weight: 64 128 3 3
conv_out16.conv.bn: BN 64
conv_out16.conv_out.weight: 19 64 1 1
conv_out32.conv.conv.weight: 64 128 3 3
conv_out32.conv.bn: BN 64
conv_out32.conv_out.weight: 19 64 1 1
"""


def published_keys() -> dict[str, tuple[int, ...]]:
    out = {}
    for line in PUBLISHED_LAYOUT.strip().splitlines():
        name, spec = (s.strip() for s in line.split(":"))
        if spec.startswith("BN"):
            c = int(spec.split()[1])
            for leaf in ("weight", "bias", "running_mean", "running_var"):
                out[f"{name}.{leaf}"] = (c,)
            out[f"{name}.num_batches_tracked"] = ()
        else:
            out[name] = tuple(int(v) for v in spec.split())
    return out


def test_layout_matches_the_published_checkpoint():
    expected = published_keys()
    assert len(expected) == 191 and sum(k.endswith("num_batches_tracked") for k in expected) == 31
    state = build_bisenet(19).state_dict()
    assert list(state) == list(expected)  # same names, same order
    for k, v in state.items():
        assert tuple(v.shape) == expected[k], k
    n_params = sum(int(np.prod(s)) for k, s in expected.items() if not k.endswith("num_batches_tracked"))
    assert n_params == 13_313_088  # x 4 bytes = the ~53 MB of 79999_iter.pth


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A saved state dict with non-default BN statistics and a head that favours skin (class 1)."""
    torch.manual_seed(0)
    model = build_bisenet(19)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        w = model.conv_out.conv_out.weight
        w.zero_()
        w[1] = 0.05  # non-negative ReLU features -> class 1 wins wherever they are positive
        w[10, :8] = 0.01  # a weaker "nose" channel
    path = tmp_path_factory.mktemp("bisenet") / "79999_iter.pth"
    torch.save(model.state_dict(), path)
    return path, model.eval()


def test_save_load_and_run_on_a_render(checkpoint, demo_model, renderer256):
    from facepart.annotate.pipeline import make_scene, render_view
    from facepart.annotate.variants import Variant
    from facepart.renderers.light import Light

    path, original = checkpoint
    loaded = load_bisenet(path)
    for (k, a), (_, b) in zip(original.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    parser = BiSeNetParser(path)
    assert parser.labels.name == "celebamask-bisenet" and len(parser.labels) == 19

    scene = make_scene(demo_model, 256)
    variant = Variant(0, np.zeros(0), np.zeros(0), np.zeros(0), 10.0, 0.0, 0.0,
                      Light(np.array([0.0, 0.0, -1.0]), 3.0, 0.4))
    image = render_view(demo_model, variant, scene, renderer256).fragments.image
    labels = parser.parse(image)
    assert labels.shape == image.shape[:2] and labels.dtype == np.int16
    assert labels.min() >= 0 and labels.max() <= 18
    assert set(np.unique(labels).tolist()) <= {0, 1, 10}
    assert (labels == 1).mean() > 0.5  # the saved head's favourite class: the weights were used

    # same logits as the original network run by hand (input 512, ImageNet normalisation)
    import cv2

    x = cv2.resize(image, (512, 512), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    with torch.inference_mode():
        ref = original(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])
        ref = torch.nn.functional.interpolate(ref, (256, 256), mode="bilinear", align_corners=True)[0].numpy()
    np.testing.assert_allclose(parser.logits(image), ref, rtol=1e-4, atol=1e-4)


def test_through_the_factory_on_a_render(checkpoint, demo_model, renderer256):
    from facepart.annotate.pipeline import make_scene, render_view
    from facepart.annotate.variants import sample_variant, SamplingSettings
    from facepart.segmenters import make_parser_segmenter

    path, _ = checkpoint
    seg = make_parser_segmenter(f"bisenet:{path}", cleanup="none")
    assert seg.yaw_range is None and "sha256:" in seg.describe()
    view = render_view(demo_model, sample_variant(demo_model, SamplingSettings(), 0, 0),
                       make_scene(demo_model, 256), renderer256)
    pm = seg.part_map(view)
    assert pm.shape == (256, 256) and set(np.unique(pm).tolist()) <= {-1, 6, 7}  # nose, skin


def test_module_prefix_and_missing_counters_are_accepted(checkpoint, tmp_path):
    path, model = checkpoint
    state = {f"module.{k}": v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    p = tmp_path / "dp.pth"
    torch.save({"state_dict": state}, p)
    assert isinstance(load_bisenet(p), torch.nn.Module)


def test_training_checkpoint_wrappers_are_accepted(checkpoint, tmp_path):
    path, model = checkpoint
    for key in ("model", "net", "model_state_dict", "state_dict"):
        p = tmp_path / f"{key}.pth"
        torch.save({key: model.state_dict(), "epoch": 3, "optimizer": {"lr": 0.1}}, p)
        loaded = load_bisenet(p)
        assert torch.equal(loaded.conv_out.conv_out.weight, model.conv_out.conv_out.weight), key
    p = tmp_path / "other.pth"
    torch.save({"weights": model.state_dict(), "epoch": 3}, p)
    with pytest.raises(FacepartError, match="or one under 'state_dict', 'model'.*got a dict with 'weights', 'epoch'"):
        load_bisenet(p)


def test_a_whole_pickled_model_says_to_save_the_state_dict(checkpoint, tmp_path):
    _, model = checkpoint
    p = tmp_path / "whole.pth"
    torch.save(model, p)
    with pytest.raises(FacepartError, match=r"pickled .*BiSeNet .*torch.save\(model.state_dict\(\), PATH\)$") as err:
        BiSeNetParser(p)
    msg = str(err.value)
    assert str(p) in msg and "\x1b" not in msg and "\n" not in msg


def test_not_a_bisenet_checkpoint_gives_one_clear_error(checkpoint, tmp_path):
    path, model = checkpoint
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    other = tmp_path / "resnet.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), other)
    bad_shape = tmp_path / "shape.pth"
    state = dict(model.state_dict())
    state["cp.arm16.conv.conv.weight"] = torch.zeros(128, 128, 3, 3)
    torch.save(state, bad_shape)
    pickled = tmp_path / "pickled.pth"
    torch.save({"net": model}, pickled)  # a whole module: refused by weights_only loading
    cases = [
        (junk, "not a PyTorch state-dict checkpoint"),
        (other, "not a face-parsing.PyTorch BiSeNet checkpoint"),
        (bad_shape, r"1 shapes differ \(e.g. cp.arm16.conv.conv.weight"),
        (pickled, "not a PyTorch state-dict checkpoint"),
        (tmp_path / "missing.pth", "not found"),
    ]
    for p, match in cases:
        with pytest.raises(FacepartError, match=match) as err:
            BiSeNetParser(p)
        assert str(p) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(FacepartError, match="has 11"):
        BiSeNetParser(path, labels="helen")
    with pytest.raises(FacepartError, match="device 'gpu'"):
        BiSeNetParser(path, device="gpu")
    if not torch.cuda.is_available():
        with pytest.raises(FacepartError, match="device 'cuda' is not usable"):
            BiSeNetParser(path, device="cuda")


def test_missing_torch_is_one_line(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingDependency) as err:
        BiSeNetParser(tmp_path / "x.pth")
    msg = str(err.value)
    assert "\n" not in msg and "pip install torch" in msg and "bisenet" in msg
