"""Training entry point of CAP: CTC folders (TRA markers only) in, weights + JSON manifest out.

One run of the shared loop (:func:`celltrace.train.fit`): the first ``pretrain_fraction`` of the
steps on synthetic movies with exact point tracks and divisions (:mod:`celltrace.synth`; the
analogue of CoTracker's synthetic pre-training, which we cannot use), the rest on AEG-sampled clips
of the real sequences (``region`` = the part of each field used) mixed with synthetic ones. AdamW
with a one-cycle schedule, gradient-norm clip 1. No SEG is read: CAP needs TRA markers only.

Validation: on the last ``val_fraction`` of each sequence's frames (never trained on), the mean
position error (network px) of visible slot-0 points and the visibility accuracy after the last
iteration, beside the error of not moving (the query position).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.methods.cap.config import CapConfig
from celltrace.methods.cap.model import CapModel, load_model, save_model
from celltrace.methods.cap.targets import PointMovie, cap_loss, crop_frames, ctc_point_movie, window_targets
from celltrace.train.data import find_sequences
from celltrace.train.loop import checkpoint_folder, fit, load_initial_weights, seed_everything
from celltrace.train.manifest import run_settings, training_manifest, write_manifest


def split_movie(pm: PointMovie, val_fraction: float) -> tuple[PointMovie, PointMovie | None]:
    """The movie's first ``1 − val_fraction`` of frames (training) and the rest (validation)."""
    T = len(pm.frames)
    k = int(np.ceil(val_fraction * T)) if val_fraction > 0 else 0
    if k == 0 or T - k < 2:
        return pm, None
    cut = T - k

    def part(a: int, b: int) -> PointMovie:
        pts = pm.points[(pm.points["frame"] >= a) & (pm.points["frame"] < b)].copy()
        pts["frame"] -= a
        lin = pm.lineage.copy()
        lin["begin"], lin["end"] = lin["begin"] - a, lin["end"] - a
        lin = lin[(lin["end"] >= 0) & (lin["begin"] < b - a)]
        return PointMovie(pm.frames[a:b], pts, lin, pm.name, pm.scale)

    return part(0, cut), part(cut, T)


@torch.no_grad()
def validation_scores(model: CapModel, movies: Sequence[PointMovie], seed: int = 0, windows: int = 4) -> dict[str, Any]:
    """Position error and visibility accuracy on up to ``windows`` full-field windows per movie."""
    c = model.config
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    for pm in movies:
        T, H, W = pm.frames.shape
        errs, errs0, acc = [], [], []
        for s in np.linspace(0, max(T - c.window, 0), windows).astype(int):
            length = min(c.window, T - s)
            tg = window_targets(pm, int(s), length, (0, 0, H, W), rng, 10_000)
            if not tg["valid"].any():
                continue
            n = int(tg["valid"].sum())
            frames = torch.from_numpy(crop_frames(pm.frames[s:s + length], (0, 0, H, W)))[None]
            res = model(frames, torch.from_numpy(tg["queries"][:n])[None], torch.ones(1, n, dtype=torch.bool))
            pred = res["locations"][-1][0].numpy()
            vis = tg["vis"][:, :n]
            m = vis[..., 0] > 0
            errs.append(np.linalg.norm(pred[:, :, 0] - tg["loc"][:, :n, 0], axis=-1)[m])
            errs0.append(np.linalg.norm(tg["queries"][None, :n] - tg["loc"][:, :n, 0], axis=-1)[m])
            acc.append(((torch.sigmoid(res["visibility"][0]).numpy() > 0.5) == (vis > 0)).ravel())
        if errs:
            e, e0, a = np.concatenate(errs), np.concatenate(errs0), np.concatenate(acc)
            out[pm.name] = {"position_error_px": float(e.mean()), "no_motion_error_px": float(e0.mean()),
                            "visibility_accuracy": float(a.mean()), "points": int(e.size)}
    return out


def train_cap(data_dirs: Sequence[str | Path], out: str | Path, steps: int = 3000, seed: int = 0,
              crop: int | None = None, batch: int | None = None, lr: float | None = None, device: str = "cpu",
              *, checkpoint_dir: str | Path | None = None, resume: bool = True, validate: bool = True,
              progress: bool = True, command: str | None = None, region: str | None = None,
              val_fraction: float = 0.2, init: str | Path | None = None, **params: Any) -> Path:
    """Train CAP on ``data_dirs`` (CTC datasets or sequences; TRA markers only; ``region`` ``"X0:X1"``
    keeps that part of each field) and write ``out`` (weights) and ``out``.json (manifest).
    ``params`` override :class:`CapConfig` fields. An empty ``data_dirs`` trains on synthetic movies
    only. ``init``: start from these weights (same network; fine-tuning, e.g. with
    ``pretrain_fraction=0``) instead of a random initialisation. Checkpoints go to ``checkpoint_dir``
    (default ``<out>.ckpt/``). Returns ``out``."""
    from celltrace.methods.cap.targets import ClipBatches

    out = Path(out)
    overrides = {k: v for k, v in (("crop", crop), ("batch", batch), ("lr", lr)) if v is not None}
    config = CapConfig.from_params(**{**params, **overrides})
    sequences = find_sequences(data_dirs, region=region) if data_dirs else []
    movies, val_movies = [], []
    for seq in sequences:
        train_part, val_part = split_movie(ctc_point_movie(seq, config), val_fraction)
        movies.append(train_part)
        if val_part is not None:
            val_movies.append(val_part)
    seed_everything(seed)
    model = CapModel(config)
    if init is not None:
        load_initial_weights(model, init, load_model)
    pretrain = int(round(config.pretrain_fraction * steps)) if movies else steps
    sampler = ClipBatches(movies, config, seed=seed, pretrain_steps=pretrain)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(steps, 1), pct_start=0.1)
    ckpt = checkpoint_folder(out, checkpoint_dir)
    started = time.time()
    history = fit(model, cap_loss, sampler, optimizer, steps=steps, checkpoint_dir=ckpt, seed=seed, resume=resume,
                  log_every=10, checkpoint_every=50, progress=progress, clip_norm=1.0, scheduler=scheduler,
                  device=device, settings=run_settings(seed, data_dirs, config.as_dict(), region=region,
                                                        schedule_steps=max(steps, 1), val_fraction=val_fraction,
                                                        init=None if init is None else str(init)))
    model.eval().cpu()
    scores = validation_scores(model, val_movies, seed) if validate else {}
    manifest = training_manifest("cap", data_dirs=data_dirs, sequences=[], train_refs=[], val_refs=[],
                                 seed=seed, history=history, started=started, device=device,
                                 config=config.as_dict(), model=model, validation=scores, command=command)
    manifest.update({"sequences": [{"name": pm.name, "train_frames": len(pm.frames), "scale": pm.scale}
                                   for pm in movies], "region": region, "pretrain_steps": pretrain, "val_fraction": val_fraction,
                     "annotations": "TRA markers only",
                     "init": None if init is None else str(init)})
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time", "region")}})
    write_manifest(out, manifest)
    return out


__all__ = ["train_cap", "split_movie", "validation_scores"]
