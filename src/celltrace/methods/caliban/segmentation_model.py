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

from celltrace.errors import CelltraceError
from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.nn.fpn import FPNNet

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
    """Write the weights atomically (see the module docstring for the layout)."""
    from celltrace.io.atomic import atomic_file

    path = Path(path)
    payload = {"format": WEIGHTS_FORMAT, "version": 1, "network": model.config.network(),
               "config": model.config.as_dict(), "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> CalibanSegModel:
    """Load weights written by :func:`save_model`; any problem is one :class:`CelltraceError` line
    naming the file. ``overrides`` change non-network hyper-parameters (post-processing...)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # corrupt, truncated, not a torch file
        raise CelltraceError(f"{path}: not a readable caliban weights file ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        raise CelltraceError(f"{path}: not a caliban segmentation weights file (format "
                             f"{payload.get('format') if isinstance(payload, dict) else type(payload).__name__!r})")
    params = dict(payload.get("config") or {})
    params.update(payload.get("network") or {})
    params.update(overrides)
    try:
        config = CalibanSegConfig.from_params(**params)
        model = CalibanSegModel(config)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, RuntimeError) as exc:
        raise CelltraceError(f"{path}: caliban weights do not fit the network ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]})") from None
    return model.to(device).eval()


__all__ = ["CalibanSegModel", "save_model", "load_model", "HEADS", "WEIGHTS_FORMAT"]
