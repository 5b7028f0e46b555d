"""ERFNet blocks (Romera et al. 2018, "ERFNet: Efficient residual factorized ConvNet") and the
branched ERFNet of EmbedTrack (Löffler & Mikut 2022, §3.1).

Blocks:

* :class:`Downsampler` — ``concat(conv3×3 stride 2 (C_out − C_in channels), maxpool2×2) → BN → ReLU``;
* :class:`NonBottleneck1D` — ``x + f(x)`` then ReLU, ``f`` = two factorised 3×1/1×3 convolution pairs
  (the second pair dilated by ``d``) with BN and dropout;
* :class:`Upsampler` — ``transposed conv3×3 stride 2 → BN → ReLU``.

:class:`ERFEncoder` (stride 8): ``down(1→w1)``, ``down(w1→w2)``, ``blocks[0]`` × NB1D(w2),
``down(w2→w3)``, ``blocks[1]`` × NB1D(w3) with dilations cycling 2, 4, 8, 16 (paper's ERFNet:
widths 16, 64, 128; blocks 5, 8). :class:`ERFDecoder`: ``up(w3→w2)``, ``n`` × NB1D(w2), ``up(w2→w1)``,
``n`` × NB1D(w1), transposed conv 2×2 stride 2 → ``out`` channels (paper: n = 2).

:class:`BranchedERFNet`: one shared encoder applied to frames ``t−1`` and ``t`` separately; per frame
a decoder for segmentation offsets ``O^S`` (tanh, 2 channels) + clustering bandwidths ``S`` (sigmoid,
2 channels) and a decoder for the seediness ``D`` (sigmoid, 1 channel); a tracking decoder on the
concatenated encodings ``[E(t), E(t−1)]`` for tracking offsets ``O^T`` (tanh, 2 channels) from pixels
at ``t`` to their cell centre at ``t−1``. Vector channels are ordered ``(y, x)``.

Output initialisation (as Neven et al. 2019 start their offset/bandwidth head): the offset and
tracking heads start at exactly 0 (every pixel its own centre, no motion) and the bandwidth head at
``sigmoid(1)`` everywhere (a narrow Gaussian, ~5 px at EmbedTrack's defaults). From a random start
the Gaussian scores of far-shifted pixels have vanishing gradients, and training on CPU budgets
stalls with every pixel shifted by one constant vector.
Inputs of any size work: they are padded (reflect) to a multiple of 8 and the outputs cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class Downsampler(nn.Module):
    """Halve the resolution: ``concat(conv3×3/2 (C_out − C_in), maxpool2×2) → BN → ReLU`` (needs
    ``C_out > C_in``)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        if cout <= cin:
            raise ValueError(f"downsampler needs more output than input channels ({cin} → {cout})")
        self.conv = nn.Conv2d(cin, cout - cin, 3, stride=2, padding=1, bias=True)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(torch.cat([self.conv(x), self.pool(x)], 1)))


class NonBottleneck1D(nn.Module):
    """``relu(x + f(x))``, ``f`` = conv3×1 → ReLU → conv1×3 → BN → ReLU → conv3×1(dil d) → ReLU →
    conv1×3(dil d) → BN → dropout."""

    def __init__(self, channels: int, dropout: float = 0.0, dilation: int = 1):
        super().__init__()
        c, d = channels, dilation
        self.conv1 = nn.Conv2d(c, c, (3, 1), padding=(1, 0))
        self.conv2 = nn.Conv2d(c, c, (1, 3), padding=(0, 1))
        self.bn1 = nn.BatchNorm2d(c, eps=1e-3)
        self.conv3 = nn.Conv2d(c, c, (3, 1), padding=(d, 0), dilation=(d, 1))
        self.conv4 = nn.Conv2d(c, c, (1, 3), padding=(0, d), dilation=(1, d))
        self.bn2 = nn.BatchNorm2d(c, eps=1e-3)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        y = F.relu(self.bn1(self.conv2(y)))
        y = F.relu(self.conv3(y))
        y = self.dropout(self.bn2(self.conv4(y)))
        return F.relu(x + y)


class Upsampler(nn.Module):
    """Double the resolution: transposed conv3×3 stride 2 → BN → ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class ERFEncoder(nn.Module):
    """Stride-8 ERFNet encoder (module docstring); ``widths = (w1, w2, w3)``, ``blocks = (n2, n3)``."""

    def __init__(self, in_channels: int = 1, widths: Sequence[int] = (16, 64, 128), blocks: Sequence[int] = (5, 8),
                 dropout: tuple[float, float] = (0.03, 0.3)):
        super().__init__()
        w1, w2, w3 = widths
        layers: list[nn.Module] = [Downsampler(in_channels, w1), Downsampler(w1, w2)]
        layers += [NonBottleneck1D(w2, dropout[0], 1) for _ in range(blocks[0])]
        layers.append(Downsampler(w2, w3))
        layers += [NonBottleneck1D(w3, dropout[1], 2 ** (1 + i % 4)) for i in range(blocks[1])]
        self.layers = nn.Sequential(*layers)
        self.out_channels = w3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ERFDecoder(nn.Module):
    """ERFNet decoder from stride 8 to full resolution with ``out`` raw output channels."""

    def __init__(self, in_channels: int, out: int, widths: Sequence[int] = (16, 64), blocks: int = 2):
        super().__init__()
        w1, w2 = widths
        layers: list[nn.Module] = [Upsampler(in_channels, w2)]
        layers += [NonBottleneck1D(w2) for _ in range(blocks)]
        layers.append(Upsampler(w2, w1))
        layers += [NonBottleneck1D(w1) for _ in range(blocks)]
        self.layers = nn.Sequential(*layers)
        self.head = nn.ConvTranspose2d(w1, out, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


def _pad8(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % 8, (-w) % 8
    if ph or pw:
        mode = "reflect" if h > ph and w > pw else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class BranchedERFNet(nn.Module):
    """EmbedTrack's network (module docstring).

    ``forward(prev, curr)`` with images ``(N, 1, H, W)`` returns ``{"prev": seg, "curr": seg,
    "track": (N, 2, H, W)}`` with ``seg = {"offset": (N, 2, H, W) ∈ (−1, 1), "sigma": (N, 2, H, W) ∈
    (0, 1), "seed": (N, 1, H, W) ∈ (0, 1)}``. :meth:`encode`, :meth:`segment` and :meth:`track` are
    the parts (inference computes the segmentation of ``t`` only).
    """

    def __init__(self, widths: Sequence[int] = (16, 64, 128), blocks: Sequence[int] = (5, 8),
                 decoder_blocks: int = 2, dropout: tuple[float, float] = (0.03, 0.3), in_channels: int = 1):
        super().__init__()
        self.encoder = ERFEncoder(in_channels, widths, blocks, dropout)
        w = self.encoder.out_channels
        dec = (widths[0], widths[1])
        self.offset_sigma = ERFDecoder(w, 4, dec, decoder_blocks)
        self.seediness = ERFDecoder(w, 1, dec, decoder_blocks)
        self.tracking = ERFDecoder(2 * w, 2, dec, decoder_blocks)
        with torch.no_grad():
            for head, sl, bias in ((self.offset_sigma.head, slice(0, 2), 0.0), (self.offset_sigma.head, slice(2, 4), 1.0),
                                   (self.tracking.head, slice(0, 2), 0.0)):
                head.weight[:, sl].zero_()  # ConvTranspose2d weight: (in, out, kh, kw)
                head.bias[sl].fill_(bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder features (stride 8) of an image batch padded to a multiple of 8."""
        return self.encoder(_pad8(x)[0])

    def segment(self, features: torch.Tensor, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        """``offset`` (tanh), ``sigma`` (sigmoid), ``seed`` (sigmoid) cropped to ``size``."""
        h, w = size
        os_ = self.offset_sigma(features)[..., :h, :w]
        seed = self.seediness(features)[..., :h, :w]
        return {"offset": torch.tanh(os_[:, :2]), "sigma": torch.sigmoid(os_[:, 2:4]), "seed": torch.sigmoid(seed)}

    def track(self, features_prev: torch.Tensor, features_curr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Tracking offsets ``O^T`` (tanh) from the encodings ``[E(t), E(t−1)]``, cropped to ``size``."""
        h, w = size
        return torch.tanh(self.tracking(torch.cat([features_curr, features_prev], 1))[..., :h, :w])

    def forward(self, prev: torch.Tensor, curr: torch.Tensor) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
        n = prev.shape[0]
        size = (prev.shape[-2], prev.shape[-1])
        feats = self.encode(torch.cat([prev, curr], 0))  # one pass, frames kept apart
        seg = self.segment(feats, size)
        return {"prev": {k: v[:n] for k, v in seg.items()}, "curr": {k: v[n:] for k, v in seg.items()},
                "track": self.track(feats[:n], feats[n:], size)}


__all__ = ["Downsampler", "NonBottleneck1D", "Upsampler", "ERFEncoder", "ERFDecoder", "BranchedERFNet"]
