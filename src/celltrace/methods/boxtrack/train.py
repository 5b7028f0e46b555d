"""Training entry point of BoxTrack's promptable segmenter: CTC folders in, weights + manifest out.

Samples (:class:`~celltrace.methods.boxtrack.targets.PromptSamples`) come from the train split of
each sequence's frames (tail block; the last 20 % validate), restricted to ``region`` of the field
when given (``--param region=0:0.6``: the spatial hold-out of the generalization protocol). The
shared loop (:func:`celltrace.train.fit`) runs Adam with a one-cycle schedule.

Validation on the held-out frames: prompts from the cell's jittered box one frame earlier and one
memory entry built from that frame (as the tracker does); the proposal with the highest objectness
is scored by IoU against the cell's mask (``mean_iou``), beside the same without memory
(``mean_iou_no_memory``) and the IoU of the best proposal (``oracle_iou``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.methods.boxtrack.model import PromptableSegmenter, save_model
from celltrace.methods.boxtrack.targets import PromptSamples, boxtrack_loss, mask_iou
from celltrace.train.data import find_sequences, frame_refs, training_frames
from celltrace.train.loop import checkpoint_folder, fit, seed_everything
from celltrace.train.manifest import run_settings, training_manifest, write_manifest


@torch.no_grad()
def validation_scores(model: PromptableSegmenter, sequences: Sequence[Any], refs: Sequence[Any],
                      config: BoxTrackConfig, device: str = "cpu", seed: int = 1) -> dict[str, Any]:
    """Module docstring's numbers, per sequence and pooled."""
    val_config = BoxTrackConfig.from_params(**{**config.as_dict(), "p_negative": 0.0, "p_photometric": 0.0,
                                               "memory_frames": 1, "batch": config.val_samples})
    out: dict[str, Any] = {"per_sequence": {}}
    pooled: dict[str, list[float]] = {"mean_iou": [], "mean_iou_no_memory": [], "oracle_iou": []}
    for i, seq in enumerate(sequences):
        seq_refs = [r for r in refs if r.seq == i]
        samples = PromptSamples([seq], [type(r)(0, r.t) for r in seq_refs], val_config, seed=seed)
        if not samples.targets[0]:
            continue
        batch = {k: v.to(device) for k, v in samples(0).items()}
        batch["use_memory"][:] = True
        out_m = model(batch["mem_windows"], batch["mem_corners"])
        best_m = out_m["objectness"].argmax(1)
        rows = torch.arange(len(best_m), device=device)
        memory = model.encode_memory(out_m["features"], torch.sigmoid(out_m["masks"][rows, best_m])[:, None],
                                     out_m["tokens"][rows, best_m])[:, None]
        scores = {}
        for name, mem in (("mean_iou", memory), ("mean_iou_no_memory", None)):
            o = model(batch["windows"], batch["corners"], memory=mem, ages=batch["ages"][:, None])
            iou = mask_iou(o["masks"] > 0, batch["targets"].expand_as(o["masks"]) > 0.5)
            scores[name] = iou[rows, o["objectness"].argmax(1)].cpu().numpy()
            if mem is not None:
                scores["oracle_iou"] = iou.max(1).values.cpu().numpy()
        out["per_sequence"][seq.name] = {k: float(np.mean(v)) for k, v in scores.items()}
        for k, v in scores.items():
            pooled[k] += list(map(float, v))
    out.update({k: float(np.mean(v)) if v else None for k, v in pooled.items()})
    return out


def train_boxtrack(data_dirs: Sequence[str | Path], out: str | Path, steps: int = 1600, seed: int = 0,
                   crop: int | None = None, batch: int | None = None, lr: float | None = None, device: str = "cpu",
                   *, checkpoint_dir: str | Path | None = None, resume: bool = True, validate: bool = True,
                   progress: bool = True, command: str | None = None, region: str | None = None,
                   **params: Any) -> Path:
    """Train the segmenter on the train split of ``data_dirs`` (CTC dataset or sequence folders) and
    write ``out`` (weights) plus ``out.json`` (manifest: command, data, region, steps, time, losses,
    validation). ``crop`` sets the window size; ``params`` override :class:`BoxTrackConfig` fields.
    Checkpoints go to ``checkpoint_dir`` (default ``<out>.ckpt/``): an interrupted run resumes."""
    out = Path(out)
    overrides = {k: v for k, v in (("window", crop), ("batch", batch), ("lr", lr)) if v is not None}
    config = BoxTrackConfig.from_params(**{**params, **overrides})
    sequences, train_refs, val_refs = training_frames(data_dirs, config, region)
    seed_everything(seed)
    model = PromptableSegmenter(config)
    sampler = PromptSamples(sequences, train_refs, config, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(steps, 1))
    ckpt = checkpoint_folder(out, checkpoint_dir)
    started = time.time()
    history = fit(model, lambda m, b: boxtrack_loss(m, b, config), sampler, optimizer, steps=steps,
                  checkpoint_dir=ckpt, seed=seed, resume=resume, log_every=10, checkpoint_every=25,
                  progress=progress, scheduler=scheduler, device=device,
                  settings=run_settings(seed, data_dirs, config.as_dict(), region=region, schedule_steps=max(steps, 1)))
    model.eval()
    scores = validation_scores(model, sequences, val_refs, config, device) if validate else {}
    manifest = training_manifest("boxtrack", data_dirs=data_dirs, sequences=sequences, train_refs=train_refs,
                                 val_refs=val_refs, seed=seed, history=history, started=started, device=device,
                                 config=config.as_dict(), model=model, validation=scores, command=command,
                                 region=region)
    model.cpu()
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time", "region")}})
    write_manifest(out, manifest)
    return out


def weights_from_checkpoint(checkpoint: str | Path, out: str | Path, validate: bool = False) -> Path:
    """Weights (+ manifest saying the run was cut short, at which step) from a training run's last
    checkpoint, e.g. of a run stopped before its end; the network is rebuilt from the run's settings."""
    from celltrace.train.loop import History, load_checkpoint

    state = load_checkpoint(checkpoint)
    settings = (state.get("extra") or {}).get("settings") or {}
    config = BoxTrackConfig.from_params(**settings.get("config", {}))
    model = PromptableSegmenter(config)
    model.load_state_dict(state["model"])
    model.eval()
    history = History.from_dict(state["history"])
    data = settings.get("data", [])
    sequences = find_sequences(data, region=settings.get("region"))
    train_refs = frame_refs(sequences, "train", config.split, config.val_fraction)
    val_refs = frame_refs(sequences, "val", config.split, config.val_fraction)
    scores = validation_scores(model, sequences, val_refs, config) if validate else {}
    manifest = training_manifest("boxtrack", data_dirs=data, sequences=sequences, train_refs=train_refs,
                                 val_refs=val_refs, seed=settings.get("seed", 0), history=history,
                                 started=time.time() - history.seconds, device="cpu", config=config.as_dict(),
                                 model=model, validation=scores, command=f"weights_from_checkpoint({checkpoint})",
                                 region=settings.get("region"), cut_short=True,
                                 schedule_steps=settings.get("schedule_steps"))
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time", "region")}})
    write_manifest(out, manifest)
    return Path(out)


__all__ = ["train_boxtrack", "validation_scores", "weights_from_checkpoint"]
