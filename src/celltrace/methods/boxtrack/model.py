"""BoxTrack's compact promptable segmenter (our stand-in for SAM2, paper §3.1) and its weights file.

For each prompt the network sees a window of the frame around the prompt box (``window.py``):

1. **Image encoder** ``F_t = E(I_t)`` (Eq. 2): a small residual CNN, stride 4 → ``h × w`` tokens of
   ``dim`` channels, plus a stride-2 skip map for the mask decoder.
2. **Prompt encoder** ``P = PE(b)`` (Eq. 1): the box corners in window coordinates, Fourier-encoded,
   plus a learned embedding per corner → 2 sparse tokens.
3. **Memory attention**: the image tokens attend to themselves and to the track's memory bank —
   each entry is the entry frame's features fused with its mask (``memory_tokens²`` pooled tokens)
   plus its object token, with a learned embedding of its age; a learned "no memory" token is
   always present, so a first frame (empty bank) works the same way.
4. **Mask decoder** (Eq. 3): ``K`` mask tokens and the prompt tokens pass a two-way transformer
   with the image tokens; each mask token's output is the proposal's **object token** ``z_k`` and,
   through a hypernetwork MLP, the weights of its mask ``M_k = ⟨MLP_k(z_k), U(F)⟩`` on the
   upsampled features; ``σ(MLP_o(z_k))`` is its objectness (Eq. 7).

Saved weights: the :mod:`celltrace.nn.weights_file` layout with format ``celltrace-boxtrack``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from celltrace.errors import CelltraceError
from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.nn.attention import MLP, AttentionBlock, FourierPositions, TwoWayLayer
from celltrace.nn.fpn import ResidualBlock, conv_bn
from celltrace.nn.weights_file import build_from_weights, read_weights, save_weights

WEIGHTS_FORMAT = "celltrace-boxtrack"


class ImageEncoder(nn.Module):
    """``(N, 1, S, S)`` → features ``(N, dim, S/4, S/4)`` and skip ``(N, dim/2, S/2, S/2)``."""

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        self.stem = nn.Sequential(conv_bn(1, 16), ResidualBlock(16))
        self.down2 = nn.Sequential(conv_bn(16, half, stride=2), ResidualBlock(half))
        self.down4 = nn.Sequential(conv_bn(half, dim, stride=2), ResidualBlock(dim), ResidualBlock(dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.down2(self.stem(x))
        return self.down4(skip), skip


class MemoryEncoder(nn.Module):
    """A memory entry from a frame's features and its mask: ``pool(conv(F + D(M)))`` →
    ``memory_tokens²`` tokens, followed by the entry's object token."""

    def __init__(self, dim: int, tokens: int):
        super().__init__()
        self.tokens = tokens
        self.mask_down = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.GELU(),
                                       nn.Conv2d(16, dim, 3, stride=2, padding=1))
        self.fuse = nn.Sequential(conv_bn(dim, dim), nn.Conv2d(dim, dim, 1))
        self.object_proj = nn.Linear(dim, dim)

    def forward(self, features: torch.Tensor, mask: torch.Tensor, object_token: torch.Tensor) -> torch.Tensor:
        """``features (N, dim, h, w)``, ``mask (N, 1, S, S)`` probabilities, ``object_token (N, dim)``
        → ``(N, tokens² + 1, dim)``."""
        m = self.mask_down(mask)
        m = F.interpolate(m, size=features.shape[-2:], mode="bilinear", align_corners=False)
        fused = F.adaptive_avg_pool2d(self.fuse(features + m), self.tokens)
        return torch.cat([fused.flatten(2).transpose(1, 2), self.object_proj(object_token)[:, None]], dim=1)


class PromptableSegmenter(nn.Module):
    """The network of the module docstring; ``config`` travels with it."""

    def __init__(self, config: BoxTrackConfig | None = None):
        super().__init__()
        self.config = c = config or BoxTrackConfig()
        d = c.dim
        self.encoder = ImageEncoder(d)
        self.positions = FourierPositions(d)
        self.corner_embed = nn.Parameter(torch.randn(2, d) * 0.02)
        self.memory_encoder = MemoryEncoder(d, c.memory_tokens)
        self.age_embed = nn.Embedding(c.max_age + 1, d)
        self.no_memory = nn.Parameter(torch.randn(1, d) * 0.02)
        self.memory_self = AttentionBlock(d, c.heads)
        self.memory_cross = AttentionBlock(d, c.heads)
        self.mask_tokens = nn.Parameter(torch.randn(c.proposals, d) * 0.02)
        self.decoder = nn.ModuleList([TwoWayLayer(d, c.heads) for _ in range(c.decoder_layers)])
        self.final_attention = AttentionBlock(d, c.heads)
        half = d // 2
        self.upsample = nn.ConvTranspose2d(d, half, 2, stride=2)
        self.refine = nn.Sequential(conv_bn(2 * half, half), nn.Conv2d(half, half, 1))
        self.hyper = nn.ModuleList([MLP(d, d, half, layers=3) for _ in range(c.proposals)])
        self.objectness = MLP(d, d, 1, layers=3)

    # ------------------------------------------------------------------ parts
    def encode_image(self, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Image encoder (Eq. 2) on ``(N, 1, S, S)`` windows."""
        return self.encoder(windows)

    def encode_prompts(self, corners: torch.Tensor) -> torch.Tensor:
        """Prompt encoder (Eq. 1): ``(N, 2, 2)`` box corners in ``[−1, 1]`` → ``(N, 2, dim)``."""
        return self.positions(corners) + self.corner_embed

    def encode_memory(self, features: torch.Tensor, mask: torch.Tensor, object_token: torch.Tensor) -> torch.Tensor:
        """One memory entry per row: ``(N, memory_tokens² + 1, dim)``."""
        return self.memory_encoder(features, mask, object_token)

    def memory_positions(self, ages: torch.Tensor) -> torch.Tensor:
        """Position of every token of ``(N, E)`` entries of given ages: spatial encoding + age
        embedding → ``(N, E, L, dim)``."""
        t = self.config.memory_tokens
        spatial = torch.cat([self.positions.grid(t, t), torch.zeros_like(self.no_memory)], dim=0)  # (L, d)
        age = self.age_embed(ages.clamp(1, self.config.max_age).long())  # (N, E, d)
        return spatial[None, None] + age[:, :, None]

    # ------------------------------------------------------------------ forward
    def forward(self, windows: torch.Tensor, corners: torch.Tensor, memory: torch.Tensor | None = None,
                ages: torch.Tensor | None = None, valid: torch.Tensor | None = None,
                features: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Proposals for ``N`` prompts.

        ``windows (N, 1, S, S)``; ``corners (N, 2, 2)``; ``memory (N, E, L, dim)`` entries (from
        :meth:`encode_memory`) with ``ages (N, E)`` (frames since the entry) and ``valid (N, E)``
        (False for padding); ``features``: the image encoder's output when already computed.

        Returns ``masks (N, K, S, S)`` logits, ``tokens (N, K, dim)`` object tokens,
        ``objectness (N, K)`` logits, ``features`` and ``skip`` (the image encoder's maps).
        """
        feats, skip = features if features is not None else self.encode_image(windows)
        n, d, h, w = feats.shape
        image = feats.flatten(2).transpose(1, 2)  # (N, hw, d)
        image_pos = self.positions.grid(h, w)[None].expand(n, -1, -1)
        mem = self.no_memory[None].expand(n, -1, -1)
        mem_pos = torch.zeros_like(mem)
        padding = torch.zeros(n, 1, dtype=torch.bool, device=feats.device)
        if memory is not None and memory.shape[1] > 0:
            e, L = memory.shape[1], memory.shape[2]
            ages = ages if ages is not None else torch.ones(n, e, device=feats.device)
            valid = valid if valid is not None else torch.ones(n, e, dtype=torch.bool, device=feats.device)
            mem = torch.cat([mem, memory.reshape(n, e * L, d)], dim=1)
            mem_pos = torch.cat([mem_pos, self.memory_positions(ages).reshape(n, e * L, d)], dim=1)
            padding = torch.cat([padding, (~valid)[:, :, None].expand(n, e, L).reshape(n, e * L)], dim=1)
        image = self.memory_self(image, image_pos)
        image = self.memory_cross(image, image_pos, mem, mem_pos, padding)
        prompts = self.encode_prompts(corners)
        tokens = torch.cat([self.mask_tokens[None].expand(n, -1, -1), prompts], dim=1)
        token_pos = torch.cat([torch.zeros_like(self.mask_tokens)[None].expand(n, -1, -1),
                               self.positions(corners)], dim=1)
        for layer in self.decoder:
            tokens, image = layer(tokens, image, image_pos, token_pos)
        tokens = self.final_attention(tokens, token_pos, image, image_pos)
        k = self.config.proposals
        z = tokens[:, :k]  # object tokens
        up = self.upsample(image.transpose(1, 2).reshape(n, d, h, w))
        up = self.refine(torch.cat([up, skip], dim=1))  # (N, d/2, 2h, 2w)
        weights = torch.stack([self.hyper[i](z[:, i]) for i in range(k)], dim=1)  # (N, K, d/2)
        masks = torch.einsum("nkc,nchw->nkhw", weights, up)
        masks = F.interpolate(masks, size=windows.shape[-2:], mode="bilinear", align_corners=False)
        return {"masks": masks, "tokens": z, "objectness": self.objectness(z)[..., 0], "features": feats, "skip": skip}


def save_model(model: PromptableSegmenter, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout)."""
    return save_weights(path, WEIGHTS_FORMAT, model, model.config.network(), model.config.as_dict(), extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> PromptableSegmenter:
    """Load weights written by :func:`save_model`; problems are one :class:`CelltraceError` line.
    ``overrides`` change non-network parameters (tracking settings)."""
    what = "boxtrack"
    payload = read_weights(path, WEIGHTS_FORMAT, what, device)
    bad = set(overrides) & set(BoxTrackConfig().network())
    if bad:
        raise CelltraceError(f"{path}: network parameters {sorted(bad)} come from the weights, not overrides")
    model = build_from_weights(path, payload, what,
                               lambda params: PromptableSegmenter(BoxTrackConfig.from_params(**{**params, **overrides})))
    return model.to(device).eval()


__all__ = ["PromptableSegmenter", "ImageEncoder", "MemoryEncoder", "save_model", "load_model", "WEIGHTS_FORMAT"]
