"""Training entry point of DistNet2D: CTC folders in, weights + JSON manifest out.

Frames of every sequence are split into train / validation (tail block: the last 20 % of each
``02`` are held out); ``region`` (``"X0:X1"``) keeps only that part of each field (the protocol's
spatial hold-out). Windows come from :class:`~celltrace.methods.distnet2d.targets.WindowBatches`
(random temporal subsampling per batch, crops with zoom and per-frame drift, photometric
augmentation); the shared loop (:func:`celltrace.train.fit`) runs Adam (paper §3.5: lr 2·10⁻⁴,
halved on plateaus; ours halved once, after 75 % of the steps). Validation: the loss and its parts
on fixed, un-augmented windows of the held-out frames.

:func:`weights_from_checkpoint` turns the last checkpoint of a run stopped early into a weights
file with a manifest saying so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.methods.distnet2d.model import DistNet2DModel, save_model
from celltrace.methods.distnet2d.targets import WindowBatches, collate, distnet2d_loss
from celltrace.train.data import find_sequences, frame_refs, training_frames
from celltrace.train.loop import (CHECKPOINT_NAME, checkpoint_folder, fit, load_checkpoint, load_initial_weights,
                                  seed_everything)
from celltrace.train.manifest import run_settings, training_manifest, write_manifest


@torch.no_grad()
def validation_losses(model: DistNet2DModel, sampler: WindowBatches, windows: int = 4,
                      device: str = "cpu") -> dict[str, float]:
    """Mean loss and parts over ``windows`` fixed un-augmented windows per sequence of ``sampler``."""
    model.eval()
    parts: dict[str, list[float]] = {}
    rng = np.random.default_rng(0)
    for seq, ts in sorted(sampler.frames.items()):
        for t in [ts[i] for i in np.linspace(0, len(ts) - 1, min(windows, len(ts))).astype(int)]:

            batch = {k: v.to(device) for k, v in collate([sampler.window(seq, t, 1, rng)]).items()}
            loss, p = distnet2d_loss(model(batch["image"]), batch, sampler.config)
            for k, v in {"loss": float(loss), **p}.items():
                parts.setdefault(k, []).append(v)
    return {k: float(np.mean(v)) for k, v in parts.items()}


def train_distnet2d(data_dirs: Sequence[str | Path], out: str | Path, steps: int = 1000, seed: int = 0,
                    crop: int | None = None, batch: int | None = None, lr: float | None = None,
                    device: str = "cpu", *, checkpoint_dir: str | Path | None = None, resume: bool = True,
                    validate: bool = True, progress: bool = True, command: str | None = None,
                    region: str | None = None, init: str | Path | None = None, **params: Any) -> Path:
    """Train DistNet2D on the train split of ``data_dirs`` (CTC dataset folders with ``NN`` + ``NN_GT``,
    or sequence folders) and write ``out`` (weights) plus ``out`` with suffix ``.json`` (manifest:
    command, data, region, seed, steps, time, final losses, validation losses). ``params`` override
    :class:`DistNet2DConfig` fields; ``init``: start from these weights (same network) instead of a
    random initialisation (continuing a run with other settings). Checkpoints go to ``checkpoint_dir`` (default ``<out>.ckpt/``),
    so an interrupted run resumes. Returns ``out``."""
    out = Path(out)
    overrides = {k: v for k, v in (("crop", crop), ("batch", batch), ("lr", lr)) if v is not None}
    config = DistNet2DConfig.from_params(**{**params, **overrides})
    sequences, train_refs, val_refs = training_frames(data_dirs, config, region)
    seed_everything(seed)
    model = DistNet2DModel(config)
    if init is not None:
        from celltrace.methods.distnet2d.model import load_model

        load_initial_weights(model, init, load_model)
    sampler = WindowBatches(sequences, train_refs, config, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    decay_at = int(0.75 * steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 if s >= decay_at else 1.0)
    ckpt = checkpoint_folder(out, checkpoint_dir)
    started = time.time()
    history = fit(model, lambda m, b: distnet2d_loss(m(b["image"]), b, config), sampler, optimizer, steps=steps,
                  checkpoint_dir=ckpt, seed=seed, resume=resume, log_every=10, checkpoint_every=25,
                  progress=progress, clip_norm=config.clip_norm, scheduler=scheduler, device=device,
                  settings=run_settings(seed, data_dirs, config.as_dict(), region=region, steps=steps,
                                        init=None if init is None else str(init)))
    scores = {}
    if validate and val_refs:
        scores = validation_losses(model, WindowBatches(sequences, val_refs, config, seed=seed, augment=False),
                                   device=device)
    manifest = training_manifest("distnet2d", data_dirs=data_dirs, sequences=sequences, train_refs=train_refs,
                                 val_refs=val_refs, seed=seed, history=history, started=started, device=device,
                                 config=config.as_dict(), model=model, validation=scores, command=command)
    manifest.update({"region": region, "cut_short": False, "init": None if init is None else str(init)})
    model.cpu()
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time", "region")}})
    write_manifest(out, manifest)
    return out


def weights_from_checkpoint(checkpoint_dir: str | Path, out: str | Path, validate: bool = True) -> Path:
    """Weights + manifest from the last checkpoint of a :func:`train_distnet2d` run stopped before its
    end (the network rebuilt from the config the checkpoint records; manifest ``cut_short: true``)."""
    state = load_checkpoint(Path(checkpoint_dir) / CHECKPOINT_NAME)
    settings = (state.get("extra") or {}).get("settings") or {}
    config = DistNet2DConfig.from_params(**settings.get("config", {}))
    model = DistNet2DModel(config)
    model.load_state_dict(state["model"])
    history = state["history"]
    data = settings.get("data", [])
    scores = {}
    if validate:
        sequences = find_sequences(data, region=settings.get("region"))
        val_refs = frame_refs(sequences, "val", config.split, config.val_fraction)
        if val_refs:
            scores = validation_losses(model, WindowBatches(sequences, val_refs, config, augment=False))
    n = min(50, len(history["loss"]))
    manifest = {"method": "distnet2d", "cut_short": True, "steps": int(state["step"]),
                "planned_steps": settings.get("steps"), "train_seconds": history.get("seconds"),
                "data": data, "region": settings.get("region"), "seed": settings.get("seed"),
                "parameters": sum(p.numel() for p in model.parameters()), "config": config.as_dict(),
                "final_losses": {"loss": float(np.mean(history["loss"][-n:])) if n else None,
                                 **{k: float(np.mean(v[-n:])) for k, v in history.get("parts", {}).items() if v}},
                "loss_every_50": [float(np.mean(history["loss"][i:i + 50])) for i in range(0, len(history["loss"]), 50)],
                "validation": scores}
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "region", "cut_short")}})
    write_manifest(out, json.loads(json.dumps(manifest, default=str)))
    return Path(out)


__all__ = ["train_distnet2d", "weights_from_checkpoint", "validation_losses"]
