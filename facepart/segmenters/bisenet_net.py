"""The BiSeNet face parser of face-parsing.PyTorch, written for facepart (imports torch: load lazily).

Module names and tensor shapes match that project's ``79999_iter.pth``
state dict exactly, so its published weights load without renaming:

* ``cp``: the context path: ``cp.resnet`` (ResNet-18: ``conv1`` 7x7/2, ``bn1``,
  max-pool, ``layer1..layer4`` of two BasicBlocks each, a ``downsample`` conv+BN
  on the first block of layers 2-4), attention refinement ``arm16`` (256->128)
  and ``arm32`` (512->128), ``conv_head32``, ``conv_head16`` (3x3, 128) and
  ``conv_avg`` (1x1, 512->128) on the globally pooled 1/32 features;
* ``ffm``: feature fusion of the 1/8 ResNet features and the context path
  (``convblk`` 1x1 256->256, channel attention ``conv1`` 256->64, ``conv2`` 64->256);
* ``conv_out`` (256->256->classes), ``conv_out16``, ``conv_out32`` (128->64->classes):
  output heads; only ``conv_out`` is used for inference.

Every ConvBNReLU is a bias-free ``conv`` plus ``bn``. Logits are upsampled
bilinearly (corners aligned) to the input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Module):
    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, pad: int | None = None):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, k // 2 if pad is None else pad, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if cin != cout or stride != 1:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        skip = x if self.downsample is None else self.downsample(x)
        return F.relu(skip + y)


def _layer(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))


class ResNet18(nn.Module):
    """Returns the 1/8, 1/16 and 1/32 feature maps (128, 256, 512 channels)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = _layer(64, 64, 1)
        self.layer2 = _layer(64, 128, 2)
        self.layer3 = _layer(128, 256, 2)
        self.layer4 = _layer(256, 512, 2)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        f8 = self.layer2(self.layer1(x))
        f16 = self.layer3(f8)
        return f8, f16, self.layer4(f16)


class AttentionRefinement(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, 3)
        self.conv_atten = nn.Conv2d(cout, cout, 1, bias=False)
        self.bn_atten = nn.BatchNorm2d(cout)

    def forward(self, x):
        feat = self.conv(x)
        weight = torch.sigmoid(self.bn_atten(self.conv_atten(F.adaptive_avg_pool2d(feat, 1))))
        return feat * weight


class ContextPath(nn.Module):
    def __init__(self):
        super().__init__()
        self.resnet = ResNet18()
        self.arm16 = AttentionRefinement(256, 128)
        self.arm32 = AttentionRefinement(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, 3)
        self.conv_head16 = ConvBNReLU(128, 128, 3)
        self.conv_avg = ConvBNReLU(512, 128, 1)

    def forward(self, x):
        f8, f16, f32 = self.resnet(x)
        glob = self.conv_avg(F.adaptive_avg_pool2d(f32, 1))
        up32 = self.arm32(f32) + F.interpolate(glob, f32.shape[2:], mode="nearest")
        up32 = self.conv_head32(F.interpolate(up32, f16.shape[2:], mode="nearest"))
        up16 = self.arm16(f16) + up32
        up16 = self.conv_head16(F.interpolate(up16, f8.shape[2:], mode="nearest"))
        return f8, up16, up32


class FeatureFusion(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.convblk = ConvBNReLU(cin, cout, 1)
        self.conv1 = nn.Conv2d(cout, cout // 4, 1, bias=False)
        self.conv2 = nn.Conv2d(cout // 4, cout, 1, bias=False)

    def forward(self, spatial, context):
        feat = self.convblk(torch.cat([spatial, context], dim=1))
        weight = torch.sigmoid(self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(feat, 1)))))
        return feat + feat * weight


class OutputHead(nn.Module):
    def __init__(self, cin: int, mid: int, n_classes: int):
        super().__init__()
        self.conv = ConvBNReLU(cin, mid, 3)
        self.conv_out = nn.Conv2d(mid, n_classes, 1, bias=False)

    def forward(self, x):
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """(N, 3, H, W) normalised RGB -> (N, n_classes, H, W) logits (main head only).

    ``forward_all`` also returns the two auxiliary heads' logits, as in training.
    """

    def __init__(self, n_classes: int = 19):
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusion(256, 256)
        self.conv_out = OutputHead(256, 256, n_classes)
        self.conv_out16 = OutputHead(128, 64, n_classes)
        self.conv_out32 = OutputHead(128, 64, n_classes)

    def _up(self, x, size):
        return F.interpolate(x, size, mode="bilinear", align_corners=True)

    def forward(self, x):
        f8, c8, _ = self.cp(x)
        return self._up(self.conv_out(self.ffm(f8, c8)), x.shape[2:])

    def forward_all(self, x):
        f8, c8, c16 = self.cp(x)
        size = x.shape[2:]
        return (self._up(self.conv_out(self.ffm(f8, c8)), size), self._up(self.conv_out16(c8), size),
                self._up(self.conv_out32(c16), size))
