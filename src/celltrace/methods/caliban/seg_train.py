"""Training entry point of Caliban's segmentation model: CTC folders in, weights + JSON manifest out.

Frames of every sequence are split into train / validation (tail block by default, so validation
frames of ``02`` are held out); training crops come from the train frames only
(:class:`~celltrace.methods.caliban.seg_targets.SegBatches`), the shared loop
(:func:`celltrace.train.fit`) runs the optimisation, and the model is scored on the SEG frames of
the validation split with the CTC SEG measure (below), beside the classic method's segmentation.

CTC SEG of a frame: for each ground-truth object ``g``, the predicted object ``p`` with
``|g ∩ p| > |g|/2`` (at most one exists) gives ``J = |g ∩ p| / |g ∪ p|``, else ``J = 0``; SEG is the
mean of ``J`` over the ground-truth objects. Unannotated cells of a partly annotated frame do
not count (only ground-truth objects are scored).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.frames import spread
from celltrace.metrics.ctc import seg_jaccards
from celltrace.train.manifest import run_settings, training_manifest, write_manifest


def validation_scores(model: torch.nn.Module, sequences: Sequence[Any], refs: Sequence[Any], config: Any,
                      device: str = "cpu", classic: bool = True, progress: bool = False) -> dict[str, Any]:
    """CTC SEG (mean ``J`` over annotated objects) of the model — and of the classic method — on the
    SEG frames of ``refs``, per sequence and pooled."""
    from tqdm.auto import tqdm

    from celltrace.methods.caliban.seg_infer import estimate_radius, segment_frame
    from celltrace.movie import Movie

    per: dict[str, dict[str, list[float]]] = {}
    classic_tracker = None
    if classic:
        from celltrace.methods.classic import ClassicTracker

        classic_tracker = ClassicTracker()
    radii: dict[int, float] = {}
    for ref in tqdm(refs, desc="validating", unit="frame", disable=not progress):
        seq = sequences[ref.seq]
        gt = seq.seg(ref.t)
        if gt is None:
            continue
        image = seq.image(ref.t)
        d = per.setdefault(seq.name, {"caliban": [], "classic": [], "frames": [], "radius": None})
        if d["radius"] is None:  # one radius per sequence, as the tracker does for a movie
            ts = [r.t for r in refs if r.seq == ref.seq]
            ts = [ts[i] for i in spread(len(ts), config.radius_frames)]
            d["radius"] = estimate_radius([seq.image(t) for t in ts], config)
        d["caliban"] += list(seg_jaccards(gt, segment_frame(model, image, config, device, radius=d["radius"])))
        d["frames"].append(ref.t)
        if classic_tracker is not None:
            if ref.seq not in radii:
                radii[ref.seq] = classic_tracker.estimate_radius(Movie(frames=image[None]))
            d["classic"] += list(seg_jaccards(gt, classic_tracker.segment(image, radii[ref.seq])))
    out: dict[str, Any] = {"per_sequence": {}}
    pooled: dict[str, list[float]] = {"caliban": [], "classic": []}
    for name, d in per.items():
        out["per_sequence"][name] = {"frames": d["frames"], "n_objects": len(d["caliban"]),
                                     "cell_radius": d["radius"],
                                     "SEG": float(np.mean(d["caliban"])) if d["caliban"] else None,
                                     "SEG_classic": float(np.mean(d["classic"])) if d["classic"] else None}
        pooled["caliban"] += d["caliban"]
        pooled["classic"] += d["classic"]
    out["SEG"] = float(np.mean(pooled["caliban"])) if pooled["caliban"] else None
    out["SEG_classic"] = float(np.mean(pooled["classic"])) if pooled["classic"] else None
    out["n_objects"] = len(pooled["caliban"])
    return out


def train_caliban_segmentation(data_dirs: Sequence[str | Path], out: str | Path, steps: int = 2000, seed: int = 0,
                               crop: int | None = None, batch: int | None = None, lr: float | None = None,
                               device: str = "cpu", *, checkpoint_dir: str | Path | None = None, resume: bool = True,
                               validate: bool = True, progress: bool = True, command: str | None = None,
                               region: str | None = None, init: str | Path | None = None, **params: Any) -> Path:
    """Train the segmentation model on the train split of ``data_dirs`` (CTC dataset folders with
    ``NN`` + ``NN_GT``, or sequence folders) and write ``out`` (weights, :func:`save_model` layout)
    plus ``out`` with suffix ``.json`` (manifest: command, data, seed, steps, time, device, final
    losses, validation scores). ``region`` (``"X0:X1"``, fractions of the width) trains on that
    part of every field of view only (a spatial hold-out). On an accelerator ``device`` the
    targets of all training frames are computed first (one process per CPU core) and the crops are
    made on the device. ``init``: start from these segmentation weights (same network) instead of
    a random initialisation (fine-tuning). ``params`` override :class:`CalibanSegConfig` fields. Checkpoints go
    to ``checkpoint_dir`` (default ``<out>.ckpt/``), so an interrupted run resumes. Returns ``out``."""
    from celltrace.methods.caliban.config import CalibanSegConfig
    from celltrace.methods.caliban.seg_targets import SegBatches, seg_loss
    from celltrace.methods.caliban.segmentation_model import CalibanSegModel, save_model
    from celltrace.train.data import training_frames
    from celltrace.train.loop import checkpoint_folder, fit, load_initial_weights, seed_everything

    out = Path(out)
    overrides = {k: v for k, v in (("crop", crop), ("batch", batch), ("lr", lr)) if v is not None}
    config = CalibanSegConfig.from_params(**{**params, **overrides})
    sequences, train_refs, val_refs = training_frames(data_dirs, config, region, require_seg_val=True)
    seed_everything(seed)
    model = CalibanSegModel(config)
    if init is not None:
        from celltrace.methods.caliban.segmentation_model import load_model

        load_initial_weights(model, init, load_model)
    sampler = SegBatches(sequences, train_refs, config, seed=seed,
                         device=None if torch.device(device).type == "cpu" else device)
    ckpt = checkpoint_folder(out, checkpoint_dir)
    if sampler.device is not None:
        sampler.warm(max(1, (os.cpu_count() or 1)))
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: config.lr_decay ** (s // config.decay_every))
    started = time.time()
    history = fit(model, lambda m, b: seg_loss(m(b["image"]), b, config.ce_weight), sampler, optimizer, steps=steps,
                  checkpoint_dir=ckpt, seed=seed, resume=resume, log_every=10, checkpoint_every=50,
                  progress=progress, clip_norm=config.clip_norm, scheduler=scheduler, device=device,
                  settings=run_settings(seed, data_dirs, config.as_dict(), region=region,
                                        init=None if init is None else str(init)))
    model.eval()
    scores = validation_scores(model, sequences, val_refs, config, device, progress=progress) if validate else {}
    manifest = training_manifest("caliban", part="segmentation", data_dirs=data_dirs, sequences=sequences,
                                 train_refs=train_refs, val_refs=val_refs, seed=seed, history=history,
                                 started=started, device=device, config=config.as_dict(), model=model,
                                 validation=scores, command=command)
    manifest["region"] = region
    manifest["init"] = None if init is None else str(init)
    model.cpu()
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time")}})
    write_manifest(out, manifest)
    return out


def train_caliban(data_dirs: Sequence[str | Path], out: str | Path, **options: Any) -> Path:
    """What ``celltrace train caliban`` calls: trains the segmentation model (the linking model is
    trained by ``celltrace train caliban-linking``, :mod:`celltrace.methods.caliban.link_train`)."""
    return train_caliban_segmentation(data_dirs, out, **options)


__all__ = ["train_caliban_segmentation", "train_caliban", "validation_scores"]
