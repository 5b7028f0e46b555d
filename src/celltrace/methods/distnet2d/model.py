"""DistNet2D's network (paper §3.1, Figure 3, Table S1), CPU-sized, and its weights file.

A window of ``N`` frames (:func:`window_offsets`) goes through:

* a **shared encoder** per frame: a stem convolution, then three ``Down`` steps (2×2 max-pool
  concatenated with a 2×2-strided convolution) each followed by a residual block (``RConv``: two
  3×3 convolutions, the second activation applied to input + output), dilated at stride 8;
* a **pair blender** per frame pair (:func:`window_pairs`: the ``N−1`` consecutive pairs and the
  ``N−3`` pairs of the central frame with the outer ones): ``Combine`` = concatenation + a 5×5
  convolution to ``F`` filters;
* **feature blending**: one ``Combine`` (1×1) of all frames' features, one of all pairs', one of
  both, then three residual blocks;
* a **segmentation extractor** (1×1 convolution to ``N`` feature groups) decoded per frame, with
  that frame's encoder skips, into ``EDM`` and ``GDCM``; a **tracking extractor** (``P`` groups)
  decoded per pair, with the sum of both frames' skips, into backward displacement ``(dY, dX)``
  and multiplicity logits at the later frame's cells, and forward displacement and multiplicity
  logits at the earlier frame's cells.

Ours differs from the paper in size (widths in the config) and in using one decoder for the two
segmentation maps and one for the tracking maps (paper: one per output type). At inference each
frame is encoded once (:meth:`DistNet2DModel.encode`) and only the central frame and the pair
``(t−1, t)`` are decoded (:meth:`DistNet2DModel.decode`).

Saved weights are one ``torch.save`` dict (:mod:`celltrace.nn.weights_file` layout).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from celltrace.errors import CelltraceError
from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.nn.weights_file import build_from_weights, read_weights, save_weights

WEIGHTS_FORMAT = "celltrace-distnet2d"
TRACK_CHANNELS = 10
"""Per pair: backward dY, dX, 3 multiplicity logits (at the later frame), forward dY, dX, 3 logits."""


def window_offsets(frames: int, gap: int, step: int = 1) -> list[int]:
    """Frame offsets of the window centred on ``t`` (in frames of the movie, ``step`` = temporal
    subsampling): ``N = 2``: ``[−1, 0]·step``; odd ``N``: ``t−1, t, t+1`` plus ``m = (N−3)/2`` frames
    each side at ``∓(1 + k·gap)``, ``k = 1..m`` — e.g. N = 7, gap 3: ``[−7, −4, −1, 0, 1, 4, 7]``."""
    if frames == 2:
        return [-step, 0]
    m = (frames - 3) // 2
    left = [-(1 + k * gap) * step for k in range(m, 0, -1)]
    return left + [-step, 0, step] + [-o for o in reversed(left)]


def centre_index(frames: int) -> int:
    """Index of frame ``t`` in the window."""
    return 1 if frames == 2 else frames // 2


def window_pairs(frames: int) -> list[tuple[int, int]]:
    """Pairs ``(a, b)`` of window indices, ``a`` earlier than ``b``: the ``N−1`` consecutive pairs,
    then the central frame with each outer frame (``N−3`` pairs). The pair ``(c−1, c)`` (index
    ``c−1``) links ``t−1`` to ``t``."""
    pairs = [(i, i + 1) for i in range(frames - 1)]
    c = centre_index(frames)
    pairs += [(min(i, c), max(i, c)) for i in range(frames) if abs(i - c) > 1]
    return pairs


class RConv(nn.Module):
    """Residual block: ``relu(x + conv(relu(conv(x))))``, 3×3 convolutions with ``dilation``."""

    def __init__(self, ch: int, dilation: int = 1):
        super().__init__()
        self.a = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)
        self.b = nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(F.relu(self.a(x))))


class Down(nn.Module):
    """``relu(max_pool_2×2(x) ‖ conv_2×2,stride 2(x))`` from ``cin`` to ``cout`` channels."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        if cout <= cin:
            raise ValueError(f"Down needs more output than input channels ({cin} → {cout})")
        self.conv = nn.Conv2d(cin, cout - cin, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.cat([F.max_pool2d(x, 2), self.conv(x)], dim=1))


class Encoder(nn.Module):
    """One frame → skips at strides 1, 2, 4 and features at stride 8."""

    def __init__(self, widths: tuple[int, ...], dilations: tuple[int, ...]):
        super().__init__()
        w1, w2, w3 = widths
        w0 = max(4, w1 // 2)
        self.stem = nn.Conv2d(1, w0, 3, padding=1)
        self.down1, self.res1 = Down(w0, w1), RConv(w1)
        self.down2, self.res2 = Down(w1, w2), RConv(w2)
        self.down3 = Down(w2, w3)
        self.res3 = nn.Sequential(*[RConv(w3, d) for d in dilations])
        self.skip_widths = (w0, w1, w2)

    def forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        s0 = F.relu(self.stem(x))
        s1 = self.res1(self.down1(s0))
        s2 = self.res2(self.down2(s1))
        return [s0, s1, s2], self.res3(self.down3(s2))


class Decoder(nn.Module):
    """Features at stride 8 + skips at strides 4, 2, 1 → ``out`` maps at full resolution
    (transpose-convolution upsampling, concatenated skip, 3×3 convolution, residual block)."""

    def __init__(self, cin: int, skip_widths: tuple[int, int, int], width: int, out: int):
        super().__init__()
        chans = [2 * width, width, width]
        self.ups = nn.ModuleList()
        self.fuse = nn.ModuleList()
        self.res = nn.ModuleList()
        prev = cin
        for c, s in zip(chans, reversed(skip_widths)):
            self.ups.append(nn.ConvTranspose2d(prev, c, 2, stride=2))
            self.fuse.append(nn.Conv2d(c + s, c, 3, padding=1))
            self.res.append(RConv(c))
            prev = c
        self.head = nn.Conv2d(width, out, 1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for up, fuse, res, skip in zip(self.ups, self.fuse, self.res, reversed(skips)):
            x = up(x)
            x = res(F.relu(fuse(torch.cat([x, skip], dim=1))))
        return self.head(x)


class DistNet2DModel(nn.Module):
    """``forward(window)`` with ``window`` of shape ``(B, N, H, W)`` (``H, W`` multiples of 8) →
    ``edm``, ``gdcm`` ``(B, N, H, W)``; ``disp_bwd``, ``disp_fwd`` ``(B, P, 2, H, W)`` (``(dY, dX)``
    in pixels); ``mult_bwd``, ``mult_fwd`` ``(B, P, 3, H, W)`` logits of multiplicity 0, 1, >1."""

    def __init__(self, config: DistNet2DConfig | None = None):
        super().__init__()
        self.config = c = config or DistNet2DConfig()
        self.pairs = window_pairs(c.frames)
        w3 = c.widths[-1]
        self.encoder = Encoder(tuple(c.widths), tuple(c.dilations))
        self.pair_blender = nn.Conv2d(2 * w3, w3, 5, padding=2)
        B = c.blend_width
        self.combine_frames = nn.Conv2d(c.frames * w3, B, 1)
        self.combine_pairs = nn.Conv2d(len(self.pairs) * w3, B, 1)
        self.combine_all = nn.Conv2d(2 * B, B, 1)
        self.blend = nn.Sequential(RConv(B), RConv(B), RConv(B))
        D = 4 * c.decoder_width
        self.segmentation_extractor = nn.Conv2d(B, c.frames * D, 1)
        self.tracking_extractor = nn.Conv2d(B, len(self.pairs) * D, 1)
        self.segmentation_decoder = Decoder(D, self.encoder.skip_widths, c.decoder_width, 2)
        self.tracking_decoder = Decoder(D, self.encoder.skip_widths, c.decoder_width, TRACK_CHANNELS)
        self.bottleneck = D

    def encode(self, frames: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(B, 1, H, W)`` frames → encoder skips and stride-8 features (each frame independent)."""
        return self.encoder(frames)

    def decode(self, encoded: list[tuple[list[torch.Tensor], torch.Tensor]], frames: list[int] | None = None,
               pairs: list[int] | None = None) -> dict[str, torch.Tensor]:
        """Blend the ``N`` encoded frames of a window and decode the segmentation of window frames
        ``frames`` and the tracking maps of pairs ``pairs`` (indices into :attr:`pairs`; ``None`` = all)."""
        c = self.config
        frames = list(range(c.frames)) if frames is None else frames
        pairs = list(range(len(self.pairs))) if pairs is None else pairs
        feats = [f for _, f in encoded]
        pair_feats = [F.relu(self.pair_blender(torch.cat([feats[a], feats[b]], 1))) for a, b in self.pairs]
        x = torch.cat([F.relu(self.combine_frames(torch.cat(feats, 1))),
                       F.relu(self.combine_pairs(torch.cat(pair_feats, 1)))], 1)
        x = self.blend(F.relu(self.combine_all(x)))
        D = self.bottleneck
        out: dict[str, torch.Tensor] = {}
        if frames:
            seg = F.relu(self.segmentation_extractor(x))
            maps = [self.segmentation_decoder(seg[:, i * D:(i + 1) * D], encoded[i][0]) for i in frames]
            m = torch.stack(maps, 1) * c.output_gain
            out["edm"], out["gdcm"] = m[:, :, 0], m[:, :, 1]
        if pairs:
            tra = F.relu(self.tracking_extractor(x))
            maps = []
            for k in pairs:
                a, b = self.pairs[k]
                skips = [sa + sb for sa, sb in zip(encoded[a][0], encoded[b][0])]
                maps.append(self.tracking_decoder(tra[:, k * D:(k + 1) * D], skips))
            m = torch.stack(maps, 1)
            out["disp_bwd"], out["mult_bwd"] = m[:, :, 0:2] * c.output_gain, m[:, :, 2:5]
            out["disp_fwd"], out["mult_fwd"] = m[:, :, 5:7] * c.output_gain, m[:, :, 7:10]
        return out

    def forward(self, window: torch.Tensor) -> dict[str, torch.Tensor]:
        B, N, H, W = window.shape
        if N != self.config.frames:
            raise ValueError(f"window of {N} frames, the network takes {self.config.frames}")
        skips, f = self.encode(window.reshape(B * N, 1, H, W))
        encoded = [([s.reshape(B, N, *s.shape[1:])[:, i] for s in skips], f.reshape(B, N, *f.shape[1:])[:, i])
                   for i in range(N)]
        return self.decode(encoded)


def save_model(model: DistNet2DModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout)."""
    return save_weights(path, WEIGHTS_FORMAT, model, model.config.network(), model.config.as_dict(), extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> DistNet2DModel:
    """Load weights written by :func:`save_model`; any problem is one :class:`CelltraceError` line
    naming the file. ``overrides`` change non-network hyper-parameters (post-processing, tiles...)."""
    payload = read_weights(path, WEIGHTS_FORMAT, "distnet2d", device)
    bad_net = set(overrides) & set(DistNet2DConfig().network())
    if bad_net:
        raise CelltraceError(f"{path}: network parameters {sorted(bad_net)} come from the weights, not overrides")
    model = build_from_weights(path, payload, "distnet2d",
                               lambda params: DistNet2DModel(DistNet2DConfig.from_params(**{**params, **overrides})))
    return model.to(device).eval()


__all__ = ["DistNet2DModel", "window_offsets", "window_pairs", "centre_index", "save_model", "load_model",
           "WEIGHTS_FORMAT", "TRACK_CHANNELS"]
