"""The file format of every learned model we ship or train: one ``torch.save`` dict

    {"format": <method tag>, "version": 1, "network": <fields that define the shape>,
     "config": <all hyper-parameters>, "state_dict": ..., "extra": <plain data: manifest, scores>}

written atomically, and read with ``weights_only=True`` (no code runs from a weights file). Every
problem with a file is one :class:`~celltrace.errors.CelltraceError` line naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from celltrace.errors import CelltraceError


def save_weights(path: str | Path, fmt: str, model: torch.nn.Module, network: dict[str, Any],
                 config: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``model``'s weights with their ``network`` shape and ``config`` under the tag ``fmt``."""
    from celltrace.io.atomic import atomic_file

    path = Path(path)
    payload = {"format": fmt, "version": 1, "network": network, "config": config,
               "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_file(path) as tmp:
        torch.save(payload, tmp)
    return path


def locate_weights(path: str | Path | None, default: Path, what: str, trainer: str) -> Path:
    """``path`` if given, else ``default`` (the package's file); a missing file is one
    :class:`CelltraceError` line saying how to train one (``celltrace train <trainer>``)."""
    p = Path(path) if path is not None else default
    if not p.is_file():
        raise CelltraceError(f"no trained {what} model found at {p}; train one with "
                             f"`celltrace train {trainer} --data DATASET_DIR... --out MODEL.pt`")
    return p


def read_weights(path: str | Path, fmt: str, what: str, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The payload of a weights file tagged ``fmt``; ``what`` names the kind in errors
    ("caliban segmentation", …)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # missing, corrupt, truncated, not a torch file
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise CelltraceError(f"{path}: not a readable {what} weights file ({type(exc).__name__}: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        article = "an" if what[:1].lower() in "aeiou" else "a"
        raise CelltraceError(f"{path}: not {article} {what} weights file (format {found!r})")
    return payload


def build_from_weights(path: str | Path, payload: dict[str, Any], what: str,
                       make: Callable[[dict[str, Any]], torch.nn.Module]) -> torch.nn.Module:
    """``make(params)`` then load the payload's weights into it, ``params`` = the stored config with
    the network fields on top; a mismatch is one error line naming the file."""
    params = {**(payload.get("config") or {}), **(payload.get("network") or {})}
    try:
        model = make(params)
        model.load_state_dict(payload["state_dict"])
    except (TypeError, KeyError, ValueError, RuntimeError) as exc:
        raise CelltraceError(f"{path}: {what} weights do not fit the network ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    return model


__all__ = ["locate_weights", "save_weights", "read_weights", "build_from_weights"]
