"""CAP's network (§3.2): a feature CNN ϕ, multi-scale correlation around the current estimates, and a
transformer Θ with time and cross-trajectory (joint) attention that refines, M times, the three
slots (cell, daughter 1, daughter 2) of every query cell in every frame of a window.

Shapes: a window of ``T`` frames ``(B, T, H, W)`` (network pixels, normalised intensities), query
cells ``(B, N, 2)`` as ``(y, x)`` in frame 0 with a validity mask ``(B, N)``. Per iteration
``m = 1..M`` the locations ``L̂(m)`` are ``(B, T, N, 3, 2)``; the visibility logits of the last
iteration ``(B, T, N, 3)`` are ``W F(M)`` (Eq. 2 and after).

Token of cell i, frame t: ``[(L̂_t − q_i) / p, σ(W F_t), F_t, C_t]`` — displacements of the three
slots from the query ``q_i`` in units of ``p = position_scale``, their current visibilities, the
track feature, and the correlations ``C_t`` of ``F_t`` with the image features in a (2Δ+1)²
neighbourhood of each slot at each of the S average-pooled scales (Eq. 1). Θ returns
``(ΔL̂, ΔF)``: ``L̂ ← L̂ + p ΔL̂``, ``F ← F + ΔF``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from celltrace.errors import CelltraceError
from celltrace.methods.cap.config import CapConfig
from celltrace.nn.weights_file import build_from_weights, read_weights, save_weights

WEIGHTS_FORMAT = "celltrace-cap"
SLOTS = 3


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8 if cout % 8 == 0 else 1, cout), nn.ReLU(inplace=True))


class FeatureCNN(nn.Module):
    """ϕ: a frame ``(n, 1, H, W)`` → features ``(n, C, ⌈H/k⌉, ⌈W/k⌉)`` at stride ``k`` (4 or 8)."""

    def __init__(self, channels: int = 64, stride: int = 4):
        super().__init__()
        if stride not in (4, 8):
            raise ValueError(f"stride must be 4 or 8, not {stride}")
        c1, c2 = max(channels // 2, 8), channels
        layers = [_conv(1, c1, 2), _conv(c1, c1), _conv(c1, c2, 2), _conv(c2, c2)]
        if stride == 8:
            layers += [_conv(c2, c2, 2)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(c2, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


def sample_at(fmap: torch.Tensor, points: torch.Tensor, cell: float) -> torch.Tensor:
    """Bilinear samples of ``fmap`` ``(n, C, h, w)`` at network-pixel positions ``points``
    ``(n, P, 2)`` (y, x), for a map whose cells are ``cell`` pixels wide (cell j's centre at
    ``j·cell + (cell − 1)/2``); outside the map the edge value. Returns ``(n, P, C)``."""
    h, w = fmap.shape[-2:]
    f = (points - (cell - 1) / 2) / cell
    gy = 2 * f[..., 0] / max(h - 1, 1) - 1
    gx = 2 * f[..., 1] / max(w - 1, 1) - 1
    grid = torch.stack([gx, gy], dim=-1).unsqueeze(2)  # (n, P, 1, 2)
    out = F.grid_sample(fmap, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return out[..., 0].transpose(1, 2)


def time_embedding(T: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sinusoidal embedding of frames ``0..T−1`` (``(T, dim)``)."""
    half = dim // 2
    freq = torch.exp(-math.log(1000.0) * torch.arange(half, device=device, dtype=torch.float32) / max(half, 1))
    ang = torch.arange(T, device=device, dtype=torch.float32)[:, None] * freq[None]
    emb = torch.cat([torch.sin(ang), torch.cos(ang)], dim=1)
    return F.pad(emb, (0, dim - emb.shape[1]))


class AttentionBlock(nn.Module):
    """Pre-norm self-attention + MLP over the middle axis of ``(n, L, D)``."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, key_padding_mask=pad, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class CapModel(nn.Module):
    """CAP: ``encode(frames)`` → feature pyramid; ``track(pyramid, queries, valid)`` → per-iteration
    locations and the last visibility logits (module docstring). ``config`` travels with the model."""

    def __init__(self, config: CapConfig | None = None):
        super().__init__()
        self.config = c = config or CapConfig()
        self.cnn = FeatureCNN(c.channels, c.stride)
        k = (2 * c.radius + 1) ** 2
        self.register_buffer("offsets", torch.stack(torch.meshgrid(
            torch.arange(-c.radius, c.radius + 1, dtype=torch.float32),
            torch.arange(-c.radius, c.radius + 1, dtype=torch.float32), indexing="ij"), dim=-1).reshape(k, 2),
            persistent=False)
        corr_dim = SLOTS * c.scales * k
        self.corr_proj = nn.Linear(corr_dim, c.hidden)
        self.token = nn.Linear(2 * SLOTS + SLOTS + c.channels + c.hidden, c.hidden)
        self.time_blocks = nn.ModuleList(AttentionBlock(c.hidden, c.heads) for _ in range(c.depth))
        self.joint_blocks = nn.ModuleList(AttentionBlock(c.hidden, c.heads) for _ in range(c.depth)) \
            if c.joint_attention else None
        self.norm = nn.LayerNorm(c.hidden)
        self.delta = nn.Linear(c.hidden, 2 * SLOTS + c.channels)
        self.feature_norm = nn.LayerNorm(c.channels)
        self.visibility = nn.Linear(c.channels, SLOTS)  # W of V̂ = σ(W F)
        nn.init.zeros_(self.delta.weight)
        nn.init.zeros_(self.delta.bias)

    # ------------------------------------------------------------------ features
    def encode(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """Frames ``(B, T, H, W)`` → S maps ``(B, T, C, h_s, w_s)``, map s average-pooled by ``2^s``."""
        B, T, H, W = frames.shape
        f = self.cnn(frames.reshape(B * T, 1, H, W))
        out = [f]
        for _ in range(1, self.config.scales):
            f = F.avg_pool2d(f, 2, ceil_mode=True) if min(f.shape[-2:]) > 1 else f
            out.append(f)
        return [p.reshape(B, T, *p.shape[1:]) for p in out]

    def correlations(self, pyramid: list[torch.Tensor], loc: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        """``C``: ``⟨F_t, ϕ_s(I_t)⟩/√C`` on the (2Δ+1)² grid around each slot at each scale:
        ``loc`` ``(B, T, N, 3, 2)``, ``feat`` ``(B, T, N, C)`` → ``(B, T, N, 3·S·(2Δ+1)²)``."""
        B, T, N = loc.shape[:3]
        K = self.offsets.shape[0]
        scale = 1.0 / math.sqrt(feat.shape[-1])
        out = []
        for s, fmap in enumerate(pyramid):
            # the full correlation map of each track feature (cheap at stride ≥ 4), then sampled:
            # one channel per query instead of C
            cmap = torch.einsum("btnc,btchw->btnhw", feat, fmap) * scale
            cell = float(self.config.stride * 2 ** s)
            pts = loc.reshape(B * T * N, SLOTS, 1, 2) + cell * self.offsets.view(1, 1, K, 2)
            samples = sample_at(cmap.reshape(B * T * N, 1, *cmap.shape[-2:]), pts.reshape(B * T * N, SLOTS * K, 2), cell)
            out.append(samples.reshape(B, T, N, SLOTS, K))
        return torch.stack(out, dim=4).reshape(B, T, N, -1)

    # ------------------------------------------------------------------ transformer
    def _theta(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        B, T, N, D = tokens.shape
        x = tokens
        pad = ~valid
        pad = pad & ~pad.all(dim=1, keepdim=True)  # a window without queries attends to its padding
        for i, tb in enumerate(self.time_blocks):
            x = tb(x.permute(0, 2, 1, 3).reshape(B * N, T, D)).reshape(B, N, T, D).permute(0, 2, 1, 3)
            if self.joint_blocks is not None:
                jp = pad[:, None].expand(B, T, N).reshape(B * T, N)
                x = self.joint_blocks[i](x.reshape(B * T, N, D), jp).reshape(B, T, N, D)
        return self.delta(self.norm(x))

    def track(self, pyramid: list[torch.Tensor], queries: torch.Tensor, valid: torch.Tensor,
              iterations: int | None = None) -> dict[str, Any]:
        """Refine the slots of the query cells over the window of ``pyramid`` (from :meth:`encode`).

        Returns ``{"locations": [L̂(1), …, L̂(M)]`` (each ``(B, T, N, 3, 2)``), ``"visibility"``:
        logits ``(B, T, N, 3)`` of the last iteration}."""
        c = self.config
        M = iterations or c.iterations
        B, T = pyramid[0].shape[:2]
        N = queries.shape[1]
        q_feat = sample_at(pyramid[0][:, 0], queries, float(c.stride))  # (B, N, C) at frame 0
        feat = q_feat[:, None].expand(B, T, N, q_feat.shape[-1]).contiguous()
        loc = queries[:, None, :, None, :].expand(B, T, N, SLOTS, 2).contiguous()
        temb = time_embedding(T, c.hidden, queries.device)[None, :, None]
        history = []
        p = c.position_scale
        vis_logits = self.visibility(self.feature_norm(feat))
        for _ in range(M):
            loc_d = loc.detach()
            corr = self.corr_proj(self.correlations(pyramid, loc_d, feat))
            rel = ((loc_d - queries[:, None, :, None, :]) / p).reshape(B, T, N, 2 * SLOTS)
            tokens = self.token(torch.cat([rel, torch.sigmoid(vis_logits.detach()), feat, corr], dim=-1)) + temb
            out = self._theta(tokens, valid)
            loc = loc_d + p * out[..., :2 * SLOTS].reshape(B, T, N, SLOTS, 2)
            feat = feat + out[..., 2 * SLOTS:]
            vis_logits = self.visibility(self.feature_norm(feat))
            history.append(loc)
        return {"locations": history, "visibility": vis_logits}

    def forward(self, frames: torch.Tensor, queries: torch.Tensor, valid: torch.Tensor) -> dict[str, Any]:
        return self.track(self.encode(frames), queries, valid)


def save_model(model: CapModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout)."""
    return save_weights(path, WEIGHTS_FORMAT, model, model.config.network(), model.config.as_dict(), extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> CapModel:
    """Load weights written by :func:`save_model`; ``overrides`` change non-network parameters
    (inference window, thresholds, …); any problem is one :class:`CelltraceError` line."""
    payload = read_weights(path, WEIGHTS_FORMAT, "cap", device)
    bad = set(overrides) & set(CapConfig().network())
    if bad:
        raise CelltraceError(f"{path}: network parameters {sorted(bad)} come from the weights, not overrides")
    model = build_from_weights(path, payload, "cap", lambda params: CapModel(CapConfig.from_params(**{**params, **overrides})))
    return model.to(device).eval()


__all__ = ["CapModel", "FeatureCNN", "sample_at", "save_model", "load_model", "WEIGHTS_FORMAT", "SLOTS"]
