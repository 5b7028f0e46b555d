"""The manifest written beside every trained model: what was trained, on what, how, and how well.

Fields: ``method`` (+ ``part``), ``command``, ``data``, ``sequences`` (train / validation frames of
each), ``seed``, ``steps``, ``train_seconds``, ``time`` (start), ``device``, ``threads``, versions,
``parameters``, ``config``, ``final_losses`` (means over the last 50 steps), ``validation``.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def training_manifest(method: str, *, data_dirs: Sequence[str | Path], sequences: Sequence[Any],
                      train_refs: Sequence[Any], val_refs: Sequence[Any], seed: int, history: Any, started: float,
                      device: str, config: dict[str, Any], model: torch.nn.Module, validation: dict[str, Any],
                      command: str | None = None, **more: Any) -> dict[str, Any]:
    """The manifest of a run of :func:`celltrace.train.fit` (``history`` its :class:`History`);
    ``more`` adds method-specific fields (``part``…)."""
    n = min(50, len(history.loss))
    final = {"loss": history.mean_last(n), **{k: float(np.mean(v[-n:])) for k, v in history.parts.items()}}
    return {
        "method": method, **more,
        "command": command or " ".join(sys.argv),
        "data": [str(Path(d)) for d in data_dirs],
        "sequences": [{"name": s.name, "train_frames": [r.t for r in train_refs if r.seq == i],
                       "validation_frames": [r.t for r in val_refs if r.seq == i],
                       "markers_are_masks": s.markers_are_masks} for i, s in enumerate(sequences)],
        "seed": seed, "steps": history.steps, "train_seconds": history.seconds,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "device": device, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "python": platform.python_version(), "parameters": sum(p.numel() for p in model.parameters()),
        "config": config, "final_losses": final, "validation": validation,
    }


def run_settings(seed: int, data_dirs: Sequence[str | Path], config: dict[str, Any], **more: Any) -> dict[str, Any]:
    """What makes a training run this run (stored in its checkpoints, compared on resume by
    :func:`celltrace.train.fit`): the seed, the data (resolved paths), the config (crop, batch,
    learning rate… included) and ``more``."""
    return {"seed": int(seed), "data": [str(Path(d).resolve()) for d in data_dirs], "config": config, **more}


def write_manifest(weights: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` atomically as JSON beside ``weights`` (same name, suffix ``.json``)."""
    from celltrace.io.atomic import atomic_file

    path = Path(weights).with_suffix(".json")
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
    return path


__all__ = ["training_manifest", "run_settings", "write_manifest"]
