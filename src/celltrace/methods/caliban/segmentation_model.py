"""Caliban's nuclear segmentation network (§3.4.1): a feature pyramid on the image + coordinate map,
with three heads — foreground/background logits (2 classes), inner distance, outer distance.

Saved weights are one ``torch.save`` dict: ``format``, ``version``, ``network`` (the config fields
that define the shape), ``config`` (all hyper-parameters used), ``state_dict``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.nn.fpn import FPNNet
from celltrace.nn.weights_file import build_from_weights, read_weights, save_weights

WEIGHTS_FORMAT = "celltrace-caliban-segmentation"
HEADS = {"fgbg": 2, "inner": 1, "outer": 1}


class CalibanSegModel(nn.Module):
    """``forward(x)`` with ``x`` (N, 1, H, W) preprocessed images returns ``{"fgbg": (N, 2, H, W)
    logits, "inner": (N, 1, H, W), "outer": (N, 1, H, W)}``."""

    def __init__(self, config: CalibanSegConfig | None = None):
        super().__init__()
        self.config = config or CalibanSegConfig()
        c = self.config
        self.net = FPNNet(HEADS, in_channels=1, widths=c.widths, depths=c.depths, channels=c.fpn_channels,
                          p1_channels=c.p1_channels, coords=c.coords)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net(x)


def save_model(model: CalibanSegModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the weights atomically (:mod:`celltrace.nn.weights_file` layout)."""
    return save_weights(path, WEIGHTS_FORMAT, model, model.config.network(), model.config.as_dict(), extra)


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> CalibanSegModel:
    """Load weights written by :func:`save_model`; any problem is one :class:`CelltraceError` line
    naming the file. ``overrides`` change non-network hyper-parameters (post-processing...)."""
    what = "caliban segmentation"
    payload = read_weights(path, WEIGHTS_FORMAT, what, device)
    model = build_from_weights(path, payload, what,
                               lambda params: CalibanSegModel(CalibanSegConfig.from_params(**{**params, **overrides})))
    return model.to(device).eval()


__all__ = ["CalibanSegModel", "save_model", "load_model", "HEADS", "WEIGHTS_FORMAT"]
