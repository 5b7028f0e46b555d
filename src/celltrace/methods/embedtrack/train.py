"""Training entry point of EmbedTrack: CTC folders in, weights + JSON manifest out.

Frames of every sequence are split into train / validation (tail block by default, so the last
20 % of each ``02`` are held out). Training pairs ``(t−1, t)`` with both frames in the train split
come from :class:`~celltrace.methods.embedtrack.targets.PairBatches`; the shared loop
(:func:`celltrace.train.fit`) runs Adam with a one-cycle learning-rate schedule (paper: lr 5·10⁻⁴).
The minimum instance size of the clustering is set to half the 1 % percentile of the training mask
sizes (paper §3.3) and stored with the weights.

Validation on held-out pairs (at most ``val_frames`` per sequence, no TTA): CTC SEG of the
clustered masks on SEG frames (mean Jaccard of matched annotated objects, ``|g ∩ p| > |g|/2``), and
the link recall / precision of the tracking step on the ground-truth instances (a link is right when
the cell at ``t`` continues the same track or is a daughter of the mask at ``t−1``), beside the same
numbers for zero tracking offsets (link by overlap: the baseline the tracking decoder must beat).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.metrics.ctc import seg_jaccards
from celltrace.train.manifest import run_settings, training_manifest, write_manifest


def min_size_from_masks(sequences: Sequence[Any], refs: Sequence[Any], per_sequence: int = 20,
                        default: int = 10) -> int:
    """``⌊0.5 · P_1(sizes)⌋`` of the full cell masks in up to ``per_sequence`` evenly spaced training
    frames of each sequence (paper §3.3); ``default`` when no frame has full masks."""
    from celltrace.methods.embedtrack.targets import mask_sizes

    sizes = []
    for i, seq in enumerate(sequences):
        ts = [r.t for r in refs if r.seq == i and (r.t in seq.seg_files or seq.markers_are_masks)]
        for t in ts[:: max(1, len(ts) // per_sequence)][:per_sequence]:
            sizes.append(mask_sizes(seq.sample(t)))
    allsizes = np.concatenate(sizes) if sizes else np.zeros(0)
    return max(1, int(0.5 * np.percentile(allsizes, 1))) if allsizes.size else default


def validation_scores(model: torch.nn.Module, sequences: Sequence[Any], refs: Sequence[Any], config: Any,
                      device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """SEG and link recall/precision on held-out pairs (module docstring), per sequence and pooled."""
    from tqdm.auto import tqdm

    from celltrace.methods.embedtrack.clustering import cluster
    from celltrace.methods.embedtrack.infer import predict_maps
    from celltrace.methods.embedtrack.targets import UNTRACKED, frame_labels, parents_of
    from celltrace.methods.embedtrack.tracking_step import link_frames

    out: dict[str, Any] = {"per_sequence": {}, "tta": False}
    pooled = {"jac": [], "hit": 0, "gt": 0, "pred": 0, "hit0": 0, "pred0": 0}
    for i, seq in enumerate(sequences):
        ts = sorted(r.t for r in refs if r.seq == i)
        pairs = [t for t in ts if t - 1 in seq.frames][: config.val_frames]
        parents = parents_of(seq)
        jac: list[float] = []
        hit = n_gt = n_pred = hit0 = n_pred0 = 0
        for t in tqdm(pairs, desc=f"validating {seq.name}", unit="pair", disable=not progress):
            maps = predict_maps(model, seq.image(t - 1), seq.image(t), config, device, tta=False)
            seg = seq.seg(t)
            if seg is not None:
                jac += list(seg_jaccards(seg, cluster(maps["offset"], maps["sigma"], maps["seed"], config)))
            a = frame_labels(seq.sample(t - 1), config).labels
            b = frame_labels(seq.sample(t), config).labels
            pred = {(p, c) for _, p, _, c in link_frames(a, b, maps["track"], config.position_scale, t)}
            pred0 = {(p, c) for _, p, _, c in link_frames(a, b, np.zeros_like(maps["track"]), config.position_scale, t)}
            prev_ids = set(np.unique(a).tolist())
            gt = set()
            for c in np.unique(b[(b > 0) & (b < UNTRACKED)]).tolist():
                src = c if c in prev_ids else parents.get(c, 0)
                if src in prev_ids and src > 0:
                    gt.add((src, c))
            hit += len(gt & pred)
            hit0 += len(gt & pred0)
            n_gt += len(gt)
            n_pred += len(pred)
            n_pred0 += len(pred0)
        out["per_sequence"][seq.name] = {"pairs": pairs, "n_objects": len(jac), "SEG": float(np.mean(jac)) if jac else None,
                                         **_link_scores(hit, hit0, n_gt, n_pred, n_pred0)}
        pooled["jac"] += jac
        for k, v in (("hit", hit), ("gt", n_gt), ("pred", n_pred), ("hit0", hit0), ("pred0", n_pred0)):
            pooled[k] += v
    out["SEG"] = float(np.mean(pooled["jac"])) if pooled["jac"] else None
    out.update(_link_scores(pooled["hit"], pooled["hit0"], pooled["gt"], pooled["pred"], pooled["pred0"]))
    return out


def _link_scores(hit: int, hit0: int, n_gt: int, n_pred: int, n_pred0: int) -> dict[str, float | None]:
    ratio = lambda a, b: a / b if b else None  # noqa: E731
    return {"link_recall": ratio(hit, n_gt), "link_precision": ratio(hit, n_pred),
            "link_recall_zero_offsets": ratio(hit0, n_gt), "link_precision_zero_offsets": ratio(hit0, n_pred0)}


def train_embedtrack(data_dirs: Sequence[str | Path], out: str | Path, steps: int = 2000, seed: int = 0,
                     crop: int | None = None, batch: int | None = None, lr: float | None = None, device: str = "cpu",
                     *, checkpoint_dir: str | Path | None = None, resume: bool = True, validate: bool = True,
                     progress: bool = True, command: str | None = None, region: str | None = None,
                     **params: Any) -> Path:
    """Train EmbedTrack on the train split of ``data_dirs`` (CTC dataset folders with ``NN`` + ``NN_GT``,
    or sequence folders; ``region`` ``"X0:X1"`` keeps only that part of each field, e.g. ``0:0.6`` for
    the generalization protocol's spatial hold-out) and write ``out`` (weights,
    :func:`~celltrace.methods.embedtrack.model.save_model` layout) plus ``out`` with suffix ``.json`` (manifest: command, data, seed, steps, time, device,
    final losses, validation scores). ``params`` override :class:`EmbedTrackConfig` fields; ``crop``
    also sets ``position_scale`` unless that is given. Checkpoints go to ``checkpoint_dir`` (default
    ``<out>.ckpt/``), so an interrupted run resumes. Returns ``out``."""
    from celltrace.methods.embedtrack.config import EmbedTrackConfig
    from celltrace.methods.embedtrack.loss import embedtrack_loss
    from celltrace.methods.embedtrack.model import EmbedTrackModel, save_model
    from celltrace.methods.embedtrack.targets import PairBatches
    from celltrace.train.data import training_frames
    from celltrace.train.loop import checkpoint_folder, fit, seed_everything

    out = Path(out)
    overrides = {k: v for k, v in (("crop", crop), ("batch", batch), ("lr", lr)) if v is not None}
    if crop is not None and "position_scale" not in params:
        overrides["position_scale"] = float(crop)
    config = EmbedTrackConfig.from_params(**{**params, **overrides})
    sequences, train_refs, val_refs = training_frames(data_dirs, config, region)
    if "min_size" not in params:
        config.min_size = min_size_from_masks(sequences, train_refs, default=config.min_size)
    seed_everything(seed)
    model = EmbedTrackModel(config)
    sampler = PairBatches(sequences, train_refs, config, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=max(steps, 1))
    ckpt = checkpoint_folder(out, checkpoint_dir)
    started = time.time()
    history = fit(model, lambda m, b: embedtrack_loss(m(b["prev_image"], b["curr_image"]), b, config), sampler,
                  optimizer, steps=steps, checkpoint_dir=ckpt, seed=seed, resume=resume, log_every=10,
                  checkpoint_every=50, progress=progress, clip_norm=config.clip_norm, scheduler=scheduler,
                  device=device, settings=run_settings(seed, data_dirs, config.as_dict(), region=region,
                                                       schedule_steps=max(steps, 1)))
    model.eval()
    scores = validation_scores(model, sequences, val_refs, config, device, progress=progress) if validate else {}
    manifest = training_manifest("embedtrack", data_dirs=data_dirs, sequences=sequences, train_refs=train_refs,
                                 val_refs=val_refs, seed=seed, history=history, started=started, device=device,
                                 config=config.as_dict(), model=model, validation=scores, command=command,
                                 region=region)
    model.cpu()
    save_model(model, out, extra={"manifest": {k: manifest[k] for k in ("data", "seed", "steps", "time", "region")}})
    write_manifest(out, manifest)
    return out


__all__ = ["train_embedtrack", "validation_scores", "min_size_from_masks"]
