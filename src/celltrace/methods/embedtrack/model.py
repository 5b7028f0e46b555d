"""EmbedTrack's network (a branched ERFNet, :class:`celltrace.nn.BranchedERFNet`) with its config,
and its weights file.

Saved weights are one ``torch.save`` dict: ``format``, ``version``, ``network`` (the config fields
that define the shape), ``config`` (all hyper-parameters used, including the ``min_size`` learned
from the training masks), ``state_dict``, ``extra``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from celltrace.errors import CelltraceError
from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.nn.weights_file import build_from_weights, read_weights, save_weights
from celltrace.nn.erfnet import BranchedERFNet

WEIGHTS_FORMAT = "celltrace-embedtrack"


class EmbedTrackModel(nn.Module):
    """``forward(prev, curr)`` as :class:`BranchedERFNet`; ``config`` travels with the model."""

    def __init__(self, config: EmbedTrackConfig | None = None):
        super().__init__()
        self.config = config or EmbedTrackConfig()
        self.net = BranchedERFNet(**self.config.network_kwargs())

    def forward(self, prev: torch.Tensor, curr: torch.Tensor) -> dict[str, Any]:
        return self.net(prev, curr)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)

    def segment(self, features: torch.Tensor, size: tuple[int, int]) -> dict[str, torch.Tensor]:
        return self.net.segment(features, size)

    def track(self, features_prev: torch.Tensor, features_curr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.net.track(features_prev, features_curr, size)


def save_model(model: EmbedTrackModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout)."""
    return save_weights(path, WEIGHTS_FORMAT, model, model.config.network(), model.config.as_dict(), extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> EmbedTrackModel:
    """Load weights written by :func:`save_model`; any problem is one :class:`CelltraceError` line
    naming the file. ``overrides`` change non-network hyper-parameters (clustering, tiles, TTA...)."""
    what = "embedtrack"
    payload = read_weights(path, WEIGHTS_FORMAT, what, device)
    bad_net = set(overrides) & set(EmbedTrackConfig().network())
    if bad_net:
        raise CelltraceError(f"{path}: network parameters {sorted(bad_net)} come from the weights, not overrides")
    model = build_from_weights(path, payload, what,
                               lambda params: EmbedTrackModel(EmbedTrackConfig.from_params(**{**params, **overrides})))
    return model.to(device).eval()


__all__ = ["EmbedTrackModel", "save_model", "load_model", "WEIGHTS_FORMAT"]
