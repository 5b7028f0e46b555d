"""Small transformer blocks for prompt/token models (the SAM/SAM2 family, Kirillov et al. 2023;
Ravi et al. 2024): Fourier position encodings, pre-norm attention blocks, and the two-way
attention layer of a mask decoder.

* :class:`FourierPositions`: ``pe(p) = [sin(2π pB), cos(2π pB)]`` for points ``p ∈ [−1, 1]²``,
  ``B ∈ R^{2×d/2}`` a fixed Gaussian matrix (Tancik et al. 2020), so boxes and feature-map
  positions share one encoding.
* :class:`AttentionBlock`: ``x ← x + Attn(LN(x) + pos_q, LN(y) + pos_k, LN(y))``; ``x ← x + MLP(LN(x))``
  (self-attention when ``y`` is ``x``).
* :class:`TwoWayLayer`: tokens attend to themselves, tokens attend to the image, the image attends
  to the tokens (SAM's mask decoder).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class FourierPositions(nn.Module):
    """``pe(p) = [sin(2π pB), cos(2π pB)]`` (``dim`` channels) of points ``p`` in ``[−1, 1]²``."""

    def __init__(self, dim: int, scale: float = 1.0, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("B", scale * torch.randn(2, dim // 2, generator=gen))

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        """``(..., 2)`` points → ``(..., dim)`` encodings."""
        proj = 2 * math.pi * points.to(self.B.dtype) @ self.B
        return torch.cat([proj.sin(), proj.cos()], dim=-1)

    def grid(self, h: int, w: int) -> torch.Tensor:
        """``(h·w, dim)`` encodings of the pixel centres of an ``h × w`` map (row-major)."""
        ys = (torch.arange(h, device=self.B.device, dtype=self.B.dtype) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, device=self.B.device, dtype=self.B.dtype) + 0.5) / w * 2 - 1
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        return self(torch.stack([xx, yy], dim=-1).reshape(-1, 2))


class MLP(nn.Module):
    """``Linear → GELU → Linear`` (``layers`` > 2 adds hidden layers)."""

    def __init__(self, dim_in: int, hidden: int, dim_out: int, layers: int = 2):
        super().__init__()
        dims = [dim_in] + [hidden] * (layers - 1) + [dim_out]
        mods: list[nn.Module] = []
        for i in range(layers):
            mods.append(nn.Linear(dims[i], dims[i + 1]))
            if i < layers - 1:
                mods.append(nn.GELU())
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class AttentionBlock(nn.Module):
    """Pre-norm attention + MLP: ``x ← x + Attn(LN(x) + pos_q, LN(y) + pos_k, LN(y))``,
    ``x ← x + MLP(LN(x))``; ``y = x`` (self-attention) when ``context`` is None."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio), dim)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_pos: torch.Tensor | None = None, padding: torch.Tensor | None = None) -> torch.Tensor:
        """``x (N, L, d)``; ``context (N, M, d)`` with ``padding (N, M)`` True where a key is absent."""
        q = self.norm_q(x)
        kv = q if context is None else self.norm_kv(context)
        k_pos = pos if context is None else context_pos
        qq = q + pos if pos is not None else q
        kk = kv + k_pos if k_pos is not None else kv
        x = x + self.attn(qq, kk, kv, key_padding_mask=padding, need_weights=False)[0]
        return x + self.mlp(self.norm_mlp(x))


class TwoWayLayer(nn.Module):
    """One layer of a two-way transformer (SAM's mask decoder): tokens ← self-attention; tokens ←
    cross-attention to the image; image ← cross-attention to the tokens."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 2.0):
        super().__init__()
        self.tokens_self = AttentionBlock(dim, heads, mlp_ratio)
        self.tokens_to_image = AttentionBlock(dim, heads, mlp_ratio)
        self.image_to_tokens = AttentionBlock(dim, heads, mlp_ratio)

    def forward(self, tokens: torch.Tensor, image: torch.Tensor, image_pos: torch.Tensor,
                token_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.tokens_self(tokens, token_pos)
        tokens = self.tokens_to_image(tokens, token_pos, image, image_pos)
        image = self.image_to_tokens(image, image_pos, tokens, token_pos)
        return tokens, image


__all__ = ["FourierPositions", "MLP", "AttentionBlock", "TwoWayLayer"]
