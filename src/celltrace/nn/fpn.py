"""A small feature-pyramid encoder–decoder (Lin et al. 2017, "Feature Pyramid Networks"), light
enough for CPU inference on whole 1024² frames.

Encoder (ResNet-like): a stride-2 stem, then stages ``C1..C5`` at strides ``2^1..2^5``; every stage
after the first halves the resolution with a stride-2 3×3 convolution and adds ``depth`` residual
blocks ``x + f(x)``, ``f = conv3×3 → BN → ReLU → conv3×3 → BN``.

Decoder (top-down FPN): ``P5 = L5(C5)``, ``P_k = L_k(C_k) + up2(P_{k+1})`` with ``L_k`` a 1×1
lateral convolution and ``up2`` nearest-neighbour upsampling; each ``P_k`` (k ≥ 2) is smoothed by
a 3×3 convolution. ``P1`` (stride 2) is the output feature map: ``FPN(x)`` returns it and
:class:`FPNNet` puts 1×1 heads on it and upsamples their outputs bilinearly to the input size.

Optionally (``coords=True``) the input is concatenated with a 2-channel coordinate map
``(y, x) ∈ [-1, 1]²`` of the input tensor (as Caliban's "coordinate map"), so the network can use
position; the map is computed inside the model, callers pass only the image.
Inputs of any size work: they are padded (reflect) to a multiple of ``2^levels`` and the outputs cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def coordinate_map(x: torch.Tensor) -> torch.Tensor:
    """``(N, 2, H, W)`` map of pixel coordinates ``y, x`` scaled linearly to ``[-1, 1]``."""
    n, _, h, w = x.shape
    ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype)
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([yy, xx]).unsqueeze(0).expand(n, 2, h, w)


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, act: bool = True) -> nn.Sequential:
    """``conv k×k (no bias) → BatchNorm → ReLU``."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """``y = ReLU(x + BN(conv(ReLU(BN(conv(x))))))`` (a ResNet basic block)."""

    def __init__(self, channels: int):
        super().__init__()
        self.f = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels, act=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.f(x), inplace=True)


class Encoder(nn.Module):
    """Stages ``C1..C_L`` at strides ``2, 4, …, 2^L`` with ``widths[k]`` channels each."""

    def __init__(self, in_channels: int, widths: Sequence[int], depths: Sequence[int]):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError("widths and depths must have the same length")
        stages = []
        cin = in_channels
        for k, (w, d) in enumerate(zip(widths, depths)):
            layers: list[nn.Module] = [conv_bn(cin, w, 3, stride=2)]
            layers += [ResidualBlock(w) for _ in range(d)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


class FPN(nn.Module):
    """Encoder + top-down pyramid; ``forward(x)`` returns ``P1`` (stride 2, ``p1_channels`` channels).

    ``widths``/``depths`` give the encoder stages (their number is the number of levels),
    ``channels`` the width of ``P2..P_L``; ``P1`` is narrower (``p1_channels``) because it is the
    largest map and costs the most.
    """

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 24, 48, 64, 96),
                 depths: Sequence[int] = (0, 1, 1, 2, 1), channels: int = 32, p1_channels: int = 16,
                 coords: bool = True):
        super().__init__()
        self.coords = coords
        self.levels = len(widths)
        self.encoder = Encoder(in_channels + (2 if coords else 0), widths, depths)
        self.lateral = nn.ModuleList([nn.Conv2d(w, channels if k > 0 else p1_channels, 1)
                                      for k, w in enumerate(widths)])
        self.smooth = nn.ModuleList([conv_bn(channels, channels) for _ in widths[1:]])
        self.reduce1 = nn.Conv2d(channels, p1_channels, 1)
        self.p1 = conv_bn(p1_channels, p1_channels)
        self.out_channels = p1_channels

    @property
    def multiple(self) -> int:
        """Input sizes must be multiples of this (:meth:`forward` pads to it)."""
        return 2 ** self.levels

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``P1`` of an input whose size is a multiple of :attr:`multiple`."""
        if self.coords:
            x = torch.cat([x, coordinate_map(x)], dim=1)
        c = self.encoder(x)
        p = self.smooth[-1](self.lateral[-1](c[-1]))
        for k in range(self.levels - 2, 0, -1):
            p = self.lateral[k](c[k]) + F.interpolate(p, size=c[k].shape[-2:], mode="nearest")
            p = self.smooth[k - 1](p)
        p1 = self.lateral[0](c[0]) + F.interpolate(self.reduce1(p), size=c[0].shape[-2:], mode="nearest")
        return self.p1(p1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad ``x`` (N, C, H, W) at the bottom/right to multiples of ``multiple`` (reflect where possible)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class FPNNet(nn.Module):
    """:class:`FPN` + named 1×1 heads on ``P1`` (with a shared 3×3 conv before them), outputs
    upsampled bilinearly ×2 to the input size. ``forward(x)`` returns ``{head: (N, C_head, H, W)}``."""

    def __init__(self, heads: dict[str, int], in_channels: int = 1, widths: Sequence[int] = (16, 24, 48, 64, 96),
                 depths: Sequence[int] = (0, 1, 1, 2, 1), channels: int = 32, p1_channels: int = 16,
                 coords: bool = True):
        super().__init__()
        self.fpn = FPN(in_channels, widths, depths, channels, p1_channels, coords)
        c = self.fpn.out_channels
        self.heads = nn.ModuleDict({name: nn.Conv2d(c, n, 1) for name, n in heads.items()})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x, (h, w) = pad_to_multiple(x, self.fpn.multiple)
        p1 = self.fpn(x)
        out = {}
        for name, head in self.heads.items():
            y = F.interpolate(head(p1), scale_factor=2.0, mode="bilinear", align_corners=False)
            out[name] = y[..., :h, :w]
        return out


__all__ = ["FPN", "FPNNet", "Encoder", "ResidualBlock", "conv_bn", "coordinate_map", "pad_to_multiple"]
