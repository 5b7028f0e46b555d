"""The Caliban linking network (paper §3.5.2–3.5.3): a neighbourhood encoder and a tracking model,
trained jointly.

**Neighbourhood encoder** (one frame, ``n`` cells, graph of cells closer than the neighbour distance):

* appearance ``a_i = CNN(crop_i)`` (the 2-channel crop of :mod:`.link_features`);
* position ``p_i = MLP(y_i / H, x_i / W, min(d_border_i / D, 1))`` (``D`` the neighbour distance);
* morphology ``m_i = MLP(log(area_i / pi r^2), perimeter_i / 2 pi r, eccentricity_i)``;
* a graph-attention layer (GATv2, Brody et al. 2021) over ``h_i = [a_i, p_i, m_i]`` with self loops
  and the neighbour offset ``delta_ij = (c_j - c_i) / D`` as edge feature::

      e_ij = v_k^T LeakyReLU(W_l h_i + W_r h_j + W_e delta_ij)          (per head k)
      alpha_ij = softmax_{j in N(i) + i} e_ij,   g_i = ELU(||_k sum_j alpha_ij W_r h_j)

* embedding ``z_i = Linear([g_i, a_i, m_i])`` (the paper concatenates appearance and morphology
  to the graph layer's output).

**Tracking model** — for cell ``i`` of frame ``t`` with history ``i_{t-H+1}, ..., i_t`` (``H`` = 7)
and a candidate ``j`` of frame ``t+1``:

* ``s_i = LSTM([z_{i_k}, (c_{i_k} - c_{i_t}) / r, valid_k]_{k})`` (last hidden state; missing
  history steps are zeros with ``valid = 0``);
* pair features ``[s_i, z_{i_t}, z_j, z_j - z_{i_t}, d / r, |d| / r, (d - v) / r, log(A_j / A_i)]``
  with ``d = c_j - c_{i_t}`` and ``v`` the last velocity of ``i`` (0 without history);
* two fully connected layers → logits of (same, different, parent–child); the probabilities are
  their softmax.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from celltrace.methods.caliban.link_features import FrameFeatures


@dataclass
class LinkModelConfig:
    """Sizes of the linking network."""

    crop_size: int = 16
    """Side of the appearance crop (paper: 16)."""
    embed_dim: int = 64
    """Width of each input head's embedding and of the final neighbourhood embedding."""
    heads: int = 4
    """Attention heads of the graph layer."""
    lstm_dim: int = 64
    """Hidden size of the history LSTM."""
    history: int = 7
    """Frames of history per cell (paper: the previous seven frames)."""
    fc_dim: int = 128
    """Width of the fully connected pair classifier."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GraphBatch:
    """Several frames' cells as one disjoint graph (tensors), plus per-node geometry."""

    crops: torch.Tensor       # (N, 2, S, S)
    position: torch.Tensor    # (N, 3) normalised position inputs
    morph: torch.Tensor       # (N, 3) normalised morphology inputs
    edges: torch.Tensor       # (2, E) (dst i, src j), self loops included
    offset: torch.Tensor      # (E, 2) (c_j - c_i) / D
    centroids: torch.Tensor   # (N, 2) pixels
    area: torch.Tensor        # (N,)
    radius: torch.Tensor      # (N,) cell radius r of the node's movie (pixels)


def graph_batch(frames: list[FrameFeatures], radius: float, neighbor_distance: float,
                device: torch.device | str = "cpu") -> GraphBatch:
    """Stack frames (in order) into a :class:`GraphBatch`; node ``k`` of frame ``f`` gets index
    ``sum(len(frames[:f])) + k``."""
    r, D = float(radius), float(neighbor_distance)
    crops, pos, morph, edges, off, cen, area = [], [], [], [], [], [], []
    base = 0
    for f in frames:
        n = len(f)
        H, W = f.shape
        c = f.centroids
        border = np.minimum.reduce([c[:, 0], H - 1 - c[:, 0], c[:, 1], W - 1 - c[:, 1]]) if n else np.zeros(0)
        pos.append(np.stack([c[:, 0] / H, c[:, 1] / W, np.clip(border / D, 0, 1)], 1) if n else np.zeros((0, 3)))
        mo = f.morphology
        morph.append(np.stack([np.log(np.maximum(mo[:, 0], 1) / (math.pi * r * r)), mo[:, 1] / (2 * math.pi * r),
                               mo[:, 2]], 1) if n else np.zeros((0, 3)))
        e = np.concatenate([f.edges, np.stack([np.arange(n), np.arange(n)])], axis=1)
        edges.append(e + base)
        off.append((c[e[1]] - c[e[0]]) / D if n else np.zeros((0, 2)))
        crops.append(f.crops)
        cen.append(c)
        area.append(mo[:, 0] if n else np.zeros(0))
        base += n

    def t(x: list[np.ndarray], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.concatenate(x), dtype=dtype, device=device)

    return GraphBatch(crops=t(crops), position=t(pos), morph=t(morph),
                      edges=torch.as_tensor(np.concatenate(edges, axis=1), dtype=torch.long, device=device),
                      offset=t(off), centroids=t(cen), area=t(area), radius=torch.full((base,), r, device=device))


def concat_graphs(graphs: list[GraphBatch]) -> GraphBatch:
    """One disjoint graph of several (node indices of graph ``k`` shifted by the sizes of ``graphs[:k]``)."""
    sizes = [int(g.centroids.shape[0]) for g in graphs]
    shift = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return GraphBatch(crops=torch.cat([g.crops for g in graphs]), position=torch.cat([g.position for g in graphs]),
                      morph=torch.cat([g.morph for g in graphs]),
                      edges=torch.cat([g.edges + int(s) for g, s in zip(graphs, shift)], 1),
                      offset=torch.cat([g.offset for g in graphs]), centroids=torch.cat([g.centroids for g in graphs]),
                      area=torch.cat([g.area for g in graphs]), radius=torch.cat([g.radius for g in graphs]))


class GATv2Layer(nn.Module):
    """One multi-head GATv2 layer with edge features (see module docstring)."""

    def __init__(self, in_dim: int, out_dim: int, heads: int, edge_dim: int = 2):
        super().__init__()
        if out_dim % heads:
            raise ValueError("out_dim must be a multiple of heads")
        self.heads, self.dh = heads, out_dim // heads
        self.wl = nn.Linear(in_dim, out_dim)
        self.wr = nn.Linear(in_dim, out_dim)
        self.we = nn.Linear(edge_dim, out_dim, bias=False)
        self.att = nn.Parameter(torch.randn(heads, self.dh) / math.sqrt(self.dh))

    def forward(self, h: torch.Tensor, edges: torch.Tensor, edge_attr: torch.Tensor) -> torch.Tensor:
        n = h.shape[0]
        dst, src = edges[0], edges[1]
        xl = self.wl(h).view(n, self.heads, self.dh)
        xr = self.wr(h).view(n, self.heads, self.dh)
        ee = self.we(edge_attr).view(-1, self.heads, self.dh)
        score = (F.leaky_relu(xl[dst] + xr[src] + ee, 0.2) * self.att).sum(-1)           # (E, heads)
        smax = torch.full((n, self.heads), -1e30, dtype=score.dtype, device=score.device)
        smax = smax.scatter_reduce(0, dst[:, None].expand_as(score), score, reduce="amax", include_self=True)
        w = torch.exp(score - smax[dst])
        den = torch.zeros((n, self.heads), dtype=w.dtype, device=w.device).index_add_(0, dst, w)
        alpha = w / den[dst].clamp_min(1e-12)
        out = torch.zeros_like(xr).index_add_(0, dst, alpha[..., None] * xr[src])
        return F.elu(out.reshape(n, -1))


class NeighborhoodEncoder(nn.Module):
    """Appearance CNN + position MLP + morphology MLP → GATv2 → neighbourhood embedding ``z``."""

    def __init__(self, cfg: LinkModelConfig):
        super().__init__()
        d = cfg.embed_dim
        self.cnn = nn.Sequential(
            nn.Conv2d(2, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(64, d), nn.ReLU())
        self.pos = nn.Sequential(nn.Linear(3, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU())
        self.morph = nn.Sequential(nn.Linear(3, d), nn.ReLU(), nn.Linear(d, d), nn.ReLU())
        self.gat = GATv2Layer(3 * d, d, cfg.heads)
        self.out = nn.Linear(3 * d, d)

    def forward(self, g: GraphBatch) -> torch.Tensor:
        a = self.cnn(g.crops)
        m = self.morph(g.morph)
        h = torch.cat([a, self.pos(g.position), m], 1)
        return self.out(torch.cat([self.gat(h, g.edges, g.offset), a, m], 1))


class TrackingHead(nn.Module):
    """History LSTM + pairwise fully connected classifier (see module docstring)."""

    def __init__(self, cfg: LinkModelConfig):
        super().__init__()
        d = cfg.embed_dim
        self.lstm = nn.LSTM(d + 3, cfg.lstm_dim, batch_first=True)
        self.fc = nn.Sequential(nn.Linear(cfg.lstm_dim + 3 * d + 6, cfg.fc_dim), nn.ReLU(),
                                nn.Linear(cfg.fc_dim, cfg.fc_dim // 2), nn.ReLU(), nn.Linear(cfg.fc_dim // 2, 3))

    def forward(self, z: torch.Tensor, centroids: torch.Tensor, area: torch.Tensor, radius: torch.Tensor,
                history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Logits ``(P, 3)`` of pairs (``history[k]`` → ``candidates[k]``); ``history`` is ``(P, H)``
        of node indices, right-aligned, -1 = missing; its last column must be valid."""
        valid = history >= 0
        hi = history.clamp_min(0)
        last = hi[:, -1]
        radius = radius[last][:, None]
        rel = (centroids[hi] - centroids[last][:, None, :]) / radius[:, None]
        seq = torch.cat([z[hi], rel, valid[..., None].float()], -1) * valid[..., None].float()
        _, (hn, _) = self.lstm(seq)
        s = hn[-1]
        d = (centroids[candidates] - centroids[last]) / radius
        prev_ok = valid[:, -2:-1].float() if history.shape[1] > 1 else torch.zeros_like(d[:, :1])
        v = (centroids[last] - centroids[hi[:, -2]]) / radius * prev_ok if history.shape[1] > 1 else torch.zeros_like(d)
        ratio = torch.log(area[candidates].clamp_min(1) / area[last].clamp_min(1))[:, None]
        zl, zc = z[last], z[candidates]
        x = torch.cat([s, zl, zc, zc - zl, d, d.norm(dim=1, keepdim=True), d - v, ratio], 1)
        return self.fc(x)


class CalibanLinkModel(nn.Module):
    """Neighbourhood encoder + tracking model; ``config`` is kept with the weights."""

    def __init__(self, config: LinkModelConfig | None = None):
        super().__init__()
        self.config = config or LinkModelConfig()
        self.encoder = NeighborhoodEncoder(self.config)
        self.head = TrackingHead(self.config)

    def embed(self, g: GraphBatch) -> torch.Tensor:
        """Neighbourhood embeddings ``(N, embed_dim)`` of all nodes of a graph batch."""
        return self.encoder(g)

    def pair_logits(self, g: GraphBatch, z: torch.Tensor, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Logits ``(P, 3)`` (same, different, parent–child) for node histories → candidate nodes."""
        return self.head(z, g.centroids, g.area, g.radius, history, candidates)

    def forward(self, g: GraphBatch, history: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return self.pair_logits(g, self.embed(g), history, candidates)


WEIGHTS_FORMAT = "celltrace-caliban-linking"


def save_model(model: CalibanLinkModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout; ``extra``: the linking
    settings it was trained with, scores, the manifest)."""
    from celltrace.nn.weights_file import save_weights

    cfg = model.config.to_dict()
    return save_weights(path, WEIGHTS_FORMAT, model, cfg, cfg, extra)


def load_model(path: str | Path, map_location: str = "cpu") -> tuple[CalibanLinkModel, dict[str, Any]]:
    """``(model in eval mode, extra)`` from :func:`save_model`'s file; any problem is one
    :class:`~celltrace.errors.CelltraceError` line naming the file."""
    from celltrace.nn.weights_file import build_from_weights, read_weights

    what = "caliban linking"
    payload = read_weights(path, WEIGHTS_FORMAT, what, map_location)
    model = build_from_weights(path, payload, what, lambda params: CalibanLinkModel(LinkModelConfig(**params)))
    model.eval()
    return model, payload.get("extra", {})
