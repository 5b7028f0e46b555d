"""Training and validation of the Caliban linking network on CTC ground truth (paper §3.5.4).

A training step draws ``pairs_per_batch`` frame pairs ``(t, t+1)`` from the training frames (the
first ``1 - val_fraction`` of each sequence), embeds the window ``t-H+1 .. t+1`` of each (masks
→ features → encoder, augmented by a random rotation by a multiple of 90° and a flip), runs the
tracking model on every GT history of ``t`` against its gated candidates in ``t+1`` and takes the
class-weighted cross-entropy (:mod:`.link_targets`); encoder and tracking model are trained jointly
with rectified Adam (paper: lr 1e-3) through :func:`celltrace.train.loop.fit`.

The masks are the ground truth's, or (``masks='predicted'``, ``'both'``) caliban's segmentation of
the same frames with the ground truth's tracks carried over to its objects
(:mod:`.link_noisy`): the merges, fragments and misses the linker meets in use, which the paper's
GT-only training never shows it.

Validation on the held-out last frames: accuracy per class (GT histories), and the tracking scores
(TRA, BC(2), DIV_F1, …) of linking the masks of those frames with the learned cost, beside the
classic linker on the same masks, against the ground truth.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from celltrace.methods.caliban.link_features import FrameFeatures, estimate_radius, frame_features, scaled_neighbor_distance
from celltrace.methods.caliban.link_infer import LinkingConfig, track_with_model
from celltrace.methods.caliban.link_targets import (CLASS_NAMES, PairTargets, class_counts, class_weights,
                                                    frame_pair_targets, gt_histories, node_offsets, window_tracking)
from celltrace.methods.caliban.linking_model import (CalibanLinkModel, GraphBatch, LinkModelConfig, concat_graphs,
                                                     graph_batch, save_model)

MODEL_FILE = "caliban_linking.pt"


@dataclass
class LinkTrainConfig:
    """Training settings (paper values where it gives them)."""

    pairs_per_batch: int = 4
    """Frame pairs per step (paper: a batch of eight images)."""
    lr: float = 1e-3
    """Rectified Adam learning rate (paper: 1e-3)."""
    clip_norm: float | None = 1.0
    """Gradient-norm clipping (paper: Keras clipnorm 1e-3, which with Adam-type steps mostly fixes the direction)."""
    class_weight_power: float = 0.5
    """Class weights ``(N / 3 N_c)^power`` (1 = fully balanced)."""
    val_fraction: float = 0.2
    """The last ``val_fraction`` of each sequence's frames are held out."""
    augment: bool = True
    """Random rotations by multiples of 90° and flips (paper: random rotations and translations)."""
    sequence: str = "02"
    """CTC sequence of each dataset folder."""
    masks: str = "gt"
    """The objects the linker trains on: ``gt`` (the ground-truth masks), ``predicted`` (a
    segmentation of the raw frames with the ground truth's tracks carried over,
    :func:`.link_noisy.predicted_tracking`: merges, fragments and misses as in use) or ``both``
    (each dataset twice). The division threshold is chosen on the validation frames of every
    sequence trained on, so ``both`` calibrates it on predicted masks too."""
    segmentation_weights: str | None = None
    """Caliban segmentation weights that make the predicted masks (default: the package's)."""

    def __post_init__(self) -> None:
        if self.masks not in ("gt", "predicted", "both"):
            raise ValueError(f"masks must be 'gt', 'predicted' or 'both', not {self.masks!r}")


@dataclass
class LinkSequence:
    """One GT sequence prepared for training: features of every frame and targets of every frame pair."""

    name: str
    features: list[FrameFeatures]
    radius: float
    neighbor_distance: float
    targets: list[PairTargets]
    train_stop: int
    movie: Any = None
    gt: Any = None
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    truth: Any = None
    """The ground truth to score against when ``gt`` is a predicted tracking (else ``gt`` itself)."""

    @property
    def reference(self) -> Any:
        """The tracking that validation scores against: :attr:`truth`, else :attr:`gt`."""
        return self.truth if self.truth is not None else self.gt

    def train_pairs(self) -> list[int]:
        """Indices ``t`` of the frame pairs inside the training frames that have candidates."""
        return [p.t for p in self.targets if p.t + 1 < self.train_stop and p.y.size]

    def val_pairs(self) -> list[int]:
        return [p.t for p in self.targets if p.t >= self.train_stop and p.y.size]


def load_sequence(dataset: str | Path, config: LinkTrainConfig | None = None, linking: LinkingConfig | None = None,
                  frames: tuple[int, int] | None = None, progress: bool = False,
                  predicted: bool = False) -> LinkSequence:
    """Features and targets of ``dataset/<sequence>`` (raw) with ``dataset/<sequence>_GT`` (TRA
    masks + lineage) — or of a sequence folder ``…/NN`` with ``…/NN_GT`` beside it;
    ``frames = (start, stop)`` restricts to a window (renumbered from 0). ``predicted``: the
    objects are caliban's segmentation of the raw frames (``config.segmentation_weights``) with the
    ground truth's tracks carried over (:func:`.link_noisy.predicted_tracking`), and the ground
    truth is kept as :attr:`LinkSequence.truth`."""
    from tqdm.auto import tqdm

    from celltrace.io.ctc import read_ctc
    from celltrace.movie import open_movie

    cfg, lcfg = config or LinkTrainConfig(), linking or LinkingConfig()
    dataset = Path(dataset)
    if (dataset.parent / f"{dataset.name}_GT").is_dir():  # a sequence folder …/NN rather than the dataset
        raw_dir, gt_dir = dataset, dataset.parent / f"{dataset.name}_GT"
        dataset = dataset.parent
    else:
        raw_dir, gt_dir = dataset / cfg.sequence, dataset / f"{cfg.sequence}_GT"
    movie = open_movie(raw_dir)
    gt = read_ctc(gt_dir)
    if frames is not None:
        gt = window_tracking(gt, *frames)
        frames_ = movie.frames[frames[0]:frames[1]]
    else:
        frames_ = movie.frames
    truth = None
    if predicted:
        from celltrace.methods.caliban.link_noisy import predicted_tracking
        from celltrace.methods.caliban.tracker import CalibanTracker
        from celltrace.movie import Movie

        segmenter = CalibanTracker(weights=cfg.segmentation_weights)
        seg_radius = segmenter.estimate_radius(Movie(frames=frames_))
        pred = [segmenter.segment(np.asarray(frames_[t]), seg_radius)
                for t in tqdm(range(len(gt.masks)), desc=f"segmenting {dataset.name}", unit="frame",
                              disable=not progress)]
        truth, gt = gt, predicted_tracking(pred, gt)
    r = estimate_radius(gt.masks)
    D = scaled_neighbor_distance(r, lcfg.reference_radius)
    feats = [frame_features(np.asarray(frames_[t]), np.asarray(gt.masks[t]), r, lcfg.crop_size, lcfg.crop_factor, D)
             for t in tqdm(range(len(gt.masks)), desc=f"features {dataset.name}", unit="frame", disable=not progress)]
    targets = frame_pair_targets(feats, gt.lineage, lcfg.gate_factor * r)
    T = len(feats)
    stop = max(2, int(round(T * (1 - cfg.val_fraction))))
    return LinkSequence(name=f"{dataset.name} (predicted masks)" if predicted else dataset.name, features=feats,
                        radius=r, neighbor_distance=D, targets=targets, train_stop=stop, movie=frames_, gt=gt,
                        offsets=node_offsets(feats), truth=truth)


def dihedral(f: FrameFeatures, k: int, flip: bool) -> FrameFeatures:
    """The frame rotated by ``k`` x 90° (as ``np.rot90``) and then mirrored left-right if ``flip``:
    crops and centroids move together, the graph and the morphology stay."""
    H, W = f.shape
    c = f.centroids.copy()
    crops = f.crops
    for _ in range(k % 4):  # np.rot90: (y, x) -> (W - 1 - x, y), shape (H, W) -> (W, H)
        c = np.stack([W - 1 - c[:, 1], c[:, 0]], 1)
        H, W = W, H
        crops = np.rot90(crops, 1, axes=(2, 3))
    if flip:
        c = np.stack([c[:, 0], W - 1 - c[:, 1]], 1)
        crops = crops[..., ::-1]
    return FrameFeatures(labels=f.labels, centroids=c, crops=np.ascontiguousarray(crops), morphology=f.morphology,
                         edges=f.edges, shape=(H, W))


def pair_batch(seq: LinkSequence, t: int, history: int, aug: tuple[int, bool] | None = None) -> tuple[GraphBatch, np.ndarray, np.ndarray, np.ndarray]:
    """Graph of frames ``t-H+1 .. t+1`` and, in its node numbering, the GT histories of frame ``t``'s
    candidate rows, the candidate nodes of ``t+1`` and the classes."""
    p = seq.targets[t]
    t0 = max(0, t - history + 1)
    window = seq.features[t0:t + 2]
    if aug is not None:
        window = [dihedral(f, *aug) for f in window]
    g = graph_batch(window, seq.radius, seq.neighbor_distance)
    h = gt_histories(seq.features, t, p.rows, history)
    h = np.where(h >= 0, h - seq.offsets[t0], -1)
    c = seq.offsets[t + 1] - seq.offsets[t0] + p.cols
    return g, h, c, p.y


def merge_pairs(parts: list[tuple[GraphBatch, np.ndarray, np.ndarray, np.ndarray]], weights: np.ndarray) -> dict[str, Any]:
    """One training batch (a dict of tensors, as :func:`celltrace.train.loop.fit` moves them)."""
    shift = np.concatenate([[0], np.cumsum([int(g.centroids.shape[0]) for g, *_ in parts])[:-1]])
    g = concat_graphs([q[0] for q in parts])
    h = np.concatenate([np.where(q[1] >= 0, q[1] + s, -1) for q, s in zip(parts, shift)])
    c = np.concatenate([q[2] + s for q, s in zip(parts, shift)])
    y = np.concatenate([q[3] for q in parts])
    return {"graph": {f.name: getattr(g, f.name) for f in fields(g)}, "history": torch.as_tensor(h, dtype=torch.long),
            "candidates": torch.as_tensor(c, dtype=torch.long), "y": torch.as_tensor(y, dtype=torch.long),
            "weights": torch.as_tensor(weights, dtype=torch.float32)}


class PairSampler:
    """``sampler(step) -> batch``: reproducible per ``(seed, step)``; sequences drawn in proportion to
    their training pairs."""

    def __init__(self, seqs: list[LinkSequence], config: LinkTrainConfig, history: int, seed: int = 0):
        self.seqs, self.cfg, self.history, self.seed = seqs, config, history, seed
        self.pairs = [s.train_pairs() for s in seqs]
        n = np.array([len(p) for p in self.pairs], np.float64)
        if n.sum() == 0:
            raise ValueError("no training frame pairs with candidates")
        self.p = n / n.sum()
        counts = sum(class_counts([s.targets[t] for t in pr]) for s, pr in zip(seqs, self.pairs))
        self.counts = np.asarray(counts)
        self.weights = class_weights(self.counts, config.class_weight_power)

    def __call__(self, step: int) -> dict[str, Any]:
        rng = np.random.default_rng([self.seed, step])
        parts = []
        for _ in range(self.cfg.pairs_per_batch):
            k = int(rng.choice(len(self.seqs), p=self.p))
            t = int(rng.choice(self.pairs[k]))
            aug = (int(rng.integers(4)), bool(rng.integers(2))) if self.cfg.augment else None
            parts.append(pair_batch(self.seqs[k], t, self.history, aug))
        return merge_pairs(parts, self.weights)


def link_loss(model: CalibanLinkModel, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
    """Class-weighted cross-entropy ``sum_k w_{y_k} (-log p_{y_k}) / sum_k w_{y_k}`` of the batch's pairs
    (and the batch accuracy, logged)."""
    import torch.nn.functional as F

    g = GraphBatch(**batch["graph"])
    logits = model(g, batch["history"], batch["candidates"])
    loss = F.cross_entropy(logits, batch["y"], weight=batch["weights"])
    acc = float((logits.argmax(1) == batch["y"]).float().mean())
    return loss, {"accuracy": acc}


@torch.no_grad()
def pair_accuracy(model: CalibanLinkModel, seq: LinkSequence, ts: list[int], history: int) -> dict[str, Any]:
    """Per-class accuracy (recall) and confusion matrix of the GT pairs of frame pairs ``ts`` (GT histories)."""
    model.eval()
    conf = np.zeros((3, 3), np.int64)
    for t in ts:
        g, h, c, y = pair_batch(seq, t, history)
        logits = model(g, torch.as_tensor(h), torch.as_tensor(c))
        pred = logits.argmax(1).numpy()
        np.add.at(conf, (y, pred), 1)
    out: dict[str, Any] = {"confusion": conf.tolist()}
    for k, name in enumerate(CLASS_NAMES):
        out[f"acc_{name}"] = float(conf[k, k] / conf[k].sum()) if conf[k].sum() else None
    out["accuracy"] = float(np.trace(conf) / max(conf.sum(), 1))
    return out


SCORE_KEYS = ("TRA", "LNK", "BC(2)", "DIV_F1", "DIV_precision", "DIV_recall", "CT", "TF")


def validate_linking(model: CalibanLinkModel, seq: LinkSequence, linking: LinkingConfig | None = None,
                     classic: bool = True) -> dict[str, Any]:
    """Scores on the held-out frames ``train_stop .. T-1`` of ``seq``: pair accuracy per class, and
    TRA/BC(2)/DIV_F1… of linking the masks of those frames (GT or predicted) with the model (and
    with the classic linker on the same masks), scored against the ground truth."""
    from celltrace.metrics import evaluate

    lcfg = linking or LinkingConfig()
    out: dict[str, Any] = {"sequence": seq.name, "frames": [seq.train_stop, len(seq.features)]}
    out.update(pair_accuracy(model, seq, seq.val_pairs(), lcfg.history))
    masks = window_tracking(seq.gt, seq.train_stop, len(seq.features)).masks
    gt = window_tracking(seq.reference, seq.train_stop, len(seq.features))
    movie = np.stack([np.asarray(seq.movie[t]) for t in range(seq.train_stop, len(seq.features))])
    tr = track_with_model(movie, masks, model, lcfg, radius=seq.radius).validate()
    sc = evaluate(tr, gt, metrics=["ctc", "bio", "divisions"])
    out["caliban"] = {k: sc.get(k) for k in SCORE_KEYS}
    if classic:
        from celltrace.methods.classic.tracker import ClassicTracker

        ref = ClassicTracker(cell_radius=seq.radius).track(movie, masks=masks, progress=False)
        sc = evaluate(ref, gt, metrics=["ctc", "bio", "divisions"])
        out["classic"] = {k: sc.get(k) for k in SCORE_KEYS}
    return out


DIVISION_THRESHOLDS = (0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def choose_division_threshold(model: CalibanLinkModel, seqs: list[LinkSequence], linking: LinkingConfig,
                              thresholds: tuple[float, ...] = DIVISION_THRESHOLDS) -> tuple[float, list[dict[str, Any]]]:
    """The ``division_probability`` among ``thresholds`` with the best mean division F1 over the
    held-out frames of the sequences that have divisions there (ties: the higher threshold, the
    paper's side); also the scores of every threshold."""
    from dataclasses import replace

    sweep = []
    for th in thresholds:
        sc = [validate_linking(model, s, replace(linking, division_probability=th), classic=False) for s in seqs]
        f1 = [v["caliban"]["DIV_F1"] for v in sc if v["caliban"]["DIV_F1"] is not None]
        sweep.append({"division_probability": th, "mean_DIV_F1": float(np.mean(f1)) if f1 else None,
                      "per_sequence": {v["sequence"]: v["caliban"] for v in sc}})
    scored = [w for w in sweep if w["mean_DIV_F1"] is not None]
    if not scored:
        return linking.division_probability, sweep
    best = max(scored, key=lambda w: (round(w["mean_DIV_F1"], 6), w["division_probability"]))
    return float(best["division_probability"]), sweep


def train_caliban_linking(data_dirs: list[str | Path], out: str | Path, steps: int = 2000, seed: int = 0,
                          crop: int | None = None, batch: int | None = None, lr: float | None = None,
                          device: str = "cpu", *, checkpoint_dir: str | Path | None = None, resume: bool = True,
                          validate: bool = True, progress: bool = True, command: str | None = None,
                          frames: tuple[int, int] | None = None, log_every: int = 10,
                          thresholds: tuple[float, ...] = DIVISION_THRESHOLDS, **params: Any) -> Path:
    """Train the linking network on the GT of ``data_dirs`` (CTC dataset folders holding ``02`` and
    ``02_GT``) and write ``out`` (weights, :func:`.linking_model.save_model`) and ``out`` with suffix
    ``.json`` (manifest: command, data, seed, steps, time, device, class counts, validation).
    ``batch`` is frame pairs per step, ``crop`` is unused (the appearance crop is a linking setting);
    ``params`` set :class:`LinkingConfig` or :class:`LinkTrainConfig` fields. With ``validate``, the
    division threshold is chosen on the held-out frames (:func:`choose_division_threshold`) and
    stored with the weights, and the scores at that threshold are recorded beside the classic
    linker's. Checkpoints go to ``checkpoint_dir`` (default ``<out>.ckpt/``; resumable)."""
    import platform
    import sys
    import time

    from celltrace.io.atomic import atomic_file
    from celltrace.train.loop import checkpoint_folder, fit
    from celltrace.train.manifest import run_settings

    link_names = {f.name for f in fields(LinkingConfig)}
    train_names = {f.name for f in fields(LinkTrainConfig)}
    unknown = sorted(set(params) - link_names - train_names)
    if unknown:
        raise TypeError(f"unknown caliban linking parameter(s) {unknown}; known: {sorted(link_names | train_names)}")
    lcfg = LinkingConfig(**{k: v for k, v in params.items() if k in link_names})
    train_over = {k: v for k, v in params.items() if k in train_names}
    if batch is not None:
        train_over["pairs_per_batch"] = batch
    if lr is not None:
        train_over["lr"] = lr
    cfg = LinkTrainConfig(**train_over)
    mcfg = LinkModelConfig(crop_size=lcfg.crop_size, history=lcfg.history)
    out = Path(out)
    started = time.time()
    seqs = [load_sequence(d, cfg, lcfg, frames=frames, progress=progress, predicted=predicted) for d in data_dirs
            for predicted in {"gt": (False,), "predicted": (True,), "both": (False, True)}[cfg.masks]]
    sampler = PairSampler(seqs, cfg, lcfg.history, seed)
    torch.manual_seed(seed)
    model = CalibanLinkModel(mcfg)
    opt = torch.optim.RAdam(model.parameters(), lr=cfg.lr)
    ckpt = checkpoint_folder(out, checkpoint_dir)
    hist = fit(model, link_loss, sampler, opt, steps=steps, checkpoint_dir=ckpt, seed=seed, resume=resume,
               log_every=log_every, progress=progress, clip_norm=cfg.clip_norm, device=device,
               settings=run_settings(seed, data_dirs, {"linking": lcfg.to_dict(), "train": asdict(cfg)},
                                     frames=list(frames) if frames is not None else None))
    model.cpu().eval()
    sweep: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    if validate:
        th, sweep = choose_division_threshold(model, seqs, lcfg, thresholds)
        from dataclasses import replace

        lcfg = replace(lcfg, division_probability=th)
        scores = [validate_linking(model, s, lcfg) for s in seqs]
    n = min(50, len(hist.loss))
    manifest = {
        "method": "caliban", "part": "linking", "command": command or " ".join(sys.argv),
        "data": [str(Path(d)) for d in data_dirs],
        "sequences": [{"name": s.name, "train_frames": [0, s.train_stop - 1],
                       "validation_frames": [s.train_stop, len(s.features) - 1], "cell_radius": s.radius}
                      for s in seqs],
        "seed": seed, "steps": hist.steps, "train_seconds": hist.seconds,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
        "device": device, "torch": torch.__version__, "python": platform.python_version(),
        "linking": lcfg.to_dict(), "train": asdict(cfg), "model": mcfg.to_dict(),
        "class_counts": sampler.counts.tolist(), "class_weights": sampler.weights.tolist(),
        "final_loss": hist.mean_last(n), "division_threshold_sweep": sweep, "validation": scores,
    }
    save_model(model, out, {"linking": lcfg.to_dict(), "manifest": {k: manifest[k] for k in
                                                                      ("data", "seed", "steps", "time", "device")},
                            "validation": scores})
    with atomic_file(out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str))
    return out


__all__ = ["LinkTrainConfig", "LinkSequence", "load_sequence", "PairSampler", "link_loss", "pair_accuracy",
           "validate_linking", "choose_division_threshold", "train_caliban_linking", "MODEL_FILE"]
