"""Training samples of the promptable segmenter and its loss.

A sample is one cell at two times of a training sequence: a **memory frame** ``t_m`` and the
**prompted frame** ``t = t_m + k`` (``1 ≤ k ≤ memory_frames``). As at inference, where the prompt of
frame ``t`` is the Kalman prediction from earlier boxes, the prompt of ``t`` is the cell's box at
``t_m`` with jitter (each side moved by up to ``jitter`` of the box size); the memory entry is
built from frame ``t_m`` with the cell's mask there and the object token the network gives for the
cell's (jittered) box at ``t_m``. Targets are the cell's full masks at ``t_m`` and ``t``:

* a cell is a SEG object of frame ``t`` (or a TRA marker where markers are masks, SIM+), its
  identity the TRA marker under it;
* its mask at ``t_m``: the SEG object holding the same marker there, else (no SEG at ``t_m``) the
  mask of ``t`` moved by the marker's displacement (a pseudo-mask, used only to build memory).

A fraction ``p_negative`` of the prompts sit on background (empty target, objectness 0), and a
sample may come without memory (as the first frame of a track does).

Loss, for each prompt with proposals ``M_1..M_K``, object tokens ``z_k`` and objectness logits ``o_k``:

* mask: ``min_k [BCE(M_k, Y) + w_dice · Dice(M_k, Y)]`` (multi-mask training: only the best
  proposal learns the mask, SAM);
* objectness: ``mean_k BCE(o_k, IoU(M_k > 0, Y))`` (0 for background prompts), so ``σ(o)`` ranks
  proposals by quality;
* affinity: InfoNCE over the batch between the best proposals' tokens at ``t`` and ``t_m``
  (``cos / τ``, τ = 0.1), so ``cos(z_t, z_{t−1})`` is high for the same cell and low for others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.methods.boxtrack.window import boxes_in_windows, crop_windows, prompt_windows
from celltrace.shifts import Photometric, robust_range
from celltrace.train.data import CTCSequence, FrameRef

TEMPERATURE = 0.1


def normalise(image: np.ndarray) -> np.ndarray:
    """``(I − p1) / (p99.8 − p1)`` (float32): the segmenter's input scale, train and inference."""
    lo, s = robust_range(image)
    return ((np.asarray(image, dtype=np.float32) - lo) / s).astype(np.float32)


def jitter_box(box: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Each side of ``(x0, y0, x1, y1)`` moved by ``U(−amount, amount)`` of the box's width/height."""
    w, h = box[2] - box[0], box[3] - box[1]
    d = rng.uniform(-amount, amount, 4) * np.array([w, h, w, h])
    out = box + d
    if out[2] - out[0] < 2:
        out[[0, 2]] = box[[0, 2]]
    if out[3] - out[1] < 2:
        out[[1, 3]] = box[[1, 3]]
    return out


@dataclass
class _Frame:
    image: torch.Tensor  # normalised, float32 (H, W)
    cells: torch.Tensor  # full-mask labels (SEG, or markers that are masks) as float32; 0 where none
    markers: np.ndarray  # TRA markers
    identity: dict[int, int]  # cell label → TRA marker label
    boxes: dict[int, np.ndarray]  # cell label → box (x0, y0, x1, y1)
    centres: dict[int, np.ndarray]  # marker label → centre (y, x)


def _boxes(labels: np.ndarray) -> dict[int, np.ndarray]:
    out = {}
    for i, sl in enumerate(ndi.find_objects(labels), start=1):
        if sl is not None:
            out[i] = np.array([sl[1].start, sl[0].start, sl[1].stop, sl[0].stop], dtype=np.float64)
    return out


class PromptSamples:
    """``batches(step) → batch`` for :func:`celltrace.train.fit`: ``config.batch`` samples (module
    docstring) drawn with a generator seeded by ``(seed, step)``; frames are read once and cached."""

    def __init__(self, sequences: Sequence[CTCSequence], refs: Sequence[FrameRef], config: BoxTrackConfig,
                 seed: int = 0):
        self.sequences = list(sequences)
        self.config = config
        self.seed = seed
        self.allowed = {(r.seq, r.t) for r in refs}
        # prompted frames: full masks at t (SEG, or markers that are masks) and a frame before it
        self.targets: list[list[int]] = []
        for i, seq in enumerate(self.sequences):
            full = set(seq.frames) if seq.markers_are_masks else set(seq.seg_files) & set(seq.frames)
            self.targets.append(sorted(t for t in full if (i, t) in self.allowed and (i, t - 1) in self.allowed))
        self._cache: dict[tuple[int, int], _Frame] = {}

    def frame(self, i: int, t: int) -> _Frame:
        key = (i, t)
        if key not in self._cache:
            seq = self.sequences[i]
            markers = seq.markers(t).astype(np.int32)
            seg = seq.seg(t)
            cells = markers if seq.markers_are_masks else (seg.astype(np.int32) if seg is not None else np.zeros_like(markers))
            identity: dict[int, int] = {}
            sel = (cells > 0) & (markers > 0)
            if sel.any():
                pairs, counts = np.unique(np.stack([cells[sel], markers[sel]]), axis=1, return_counts=True)
                for (c, m), _ in sorted(zip(pairs.T.tolist(), counts.tolist()), key=lambda x: x[1]):
                    identity[int(c)] = int(m)  # the most frequent marker wins (sorted ascending)
            ids = [int(v) for v in np.unique(markers) if v > 0]
            centres = dict(zip(ids, (np.array(c) for c in ndi.center_of_mass(markers > 0, markers, ids))))
            self._cache[key] = _Frame(torch.from_numpy(normalise(seq.image(t))), torch.from_numpy(cells.astype(np.float32)),
                                      markers, identity, _boxes(cells), centres)
        return self._cache[key]

    def sample(self, rng: np.random.Generator) -> dict[str, Any] | None:
        c = self.config
        seqs = [i for i, ts in enumerate(self.targets) if ts]
        i = int(rng.choice(seqs))
        t = int(rng.choice(self.targets[i]))
        k = int(rng.integers(1, c.memory_frames + 1))
        t_m = t - k
        while t_m < t - 1 and (i, t_m) not in self.allowed:
            t_m += 1
        cur, mem = self.frame(i, t), self.frame(i, t_m)
        cells = [cl for cl, m in cur.identity.items() if m in mem.centres and cl in cur.boxes]
        if rng.random() < c.p_negative or not cells:
            return self._negative(rng, cur, mem, t - t_m)
        cell = int(rng.choice(cells))
        marker = cur.identity[cell]
        inv = [cl for cl, m in mem.identity.items() if m == marker and cl in mem.boxes]
        if inv:
            mem_label, shift, box_m = inv[0], np.zeros(2), mem.boxes[inv[0]]
        else:  # pseudo-mask: the mask of t moved by the marker's displacement (dy, dx)
            shift = np.round(mem.centres[marker] - cur.centres[marker])
            mem_label, box_m = cell, cur.boxes[cell] + np.array([shift[1], shift[0], shift[1], shift[0]])
        return {"image": cur.image, "labels": cur.cells, "label": cell, "shift": np.zeros(2),
                "mem_image": mem.image, "mem_labels": (mem.cells if inv else cur.cells), "mem_label": mem_label,
                "mem_shift": shift, "prompt": jitter_box(box_m, c.jitter, rng),
                "mem_prompt": jitter_box(box_m, c.jitter, rng), "age": t - t_m, "negative": False}

    def _negative(self, rng: np.random.Generator, cur: _Frame, mem: _Frame, age: int) -> dict[str, Any] | None:
        """A prompt on background: a box of a typical cell size where neither frame has a cell."""
        H, W = cur.image.shape
        sides = [max(b[2] - b[0], b[3] - b[1]) for b in list(cur.boxes.values())[:9]]
        side = float(np.median(sides)) if sides else 30.0
        for _ in range(10):
            cx, cy = rng.uniform(side / 2, W - side / 2), rng.uniform(side / 2, H - side / 2)
            box = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
            rows, cols = slice(max(0, int(box[1])), int(box[3])), slice(max(0, int(box[0])), int(box[2]))
            if not (cur.markers[rows, cols].any() or mem.markers[rows, cols].any() or cur.cells[rows, cols].any()):
                return {"image": cur.image, "labels": cur.cells, "label": -1, "shift": np.zeros(2),
                        "mem_image": mem.image, "mem_labels": cur.cells, "mem_label": -1, "mem_shift": np.zeros(2),
                        "prompt": box, "mem_prompt": box, "age": age, "negative": True}
        return None

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step])
        samples: list[dict[str, Any]] = []
        while len(samples) < self.config.batch:
            s = self.sample(rng)
            if s is not None:
                samples.append(s)
        return collate(samples, self.config, rng)


def collate(samples: Sequence[dict[str, Any]], config: BoxTrackConfig, rng: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """Windows, box corners and targets of a list of samples as batch tensors: ``windows``,
    ``corners``, ``targets`` (prompted frame) and ``mem_windows``, ``mem_corners``, ``mem_targets``
    (memory frame), ``ages``, ``negative``, ``use_memory``."""
    c = config
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("windows", "corners", "targets", "mem_windows",
                                                          "mem_corners", "mem_targets")}
    for s in samples:
        for prefix in ("", "mem_"):
            box = s[prefix + "prompt"]
            win = prompt_windows(box[None], c.context, c.min_window)
            out[prefix + "windows"].append(crop_windows(s[prefix + "image"], win, c.window)[0])
            dy, dx = s[prefix + "shift"]
            label_win = win - np.array([[dx, dy, 0.0]])  # the label image is read where the cell was
            labels = crop_windows(s[prefix + "labels"], label_win, c.window, nearest=True)[0]
            out[prefix + "targets"].append((labels == s[prefix + "label"]).float())
            out[prefix + "corners"].append(torch.from_numpy(boxes_in_windows(box[None], win)[0]).float())
    batch = {k: torch.stack(v) for k, v in out.items()}
    if rng is not None and c.p_photometric > 0:
        for j in range(len(samples)):
            if rng.random() < c.p_photometric:
                shift = Photometric.draw(rng, 1.0)
                pair = shift.apply_torch(torch.cat([batch["windows"][j], batch["mem_windows"][j]]))
                batch["windows"][j], batch["mem_windows"][j] = pair[:1], pair[1:]
    batch["ages"] = torch.tensor([s["age"] for s in samples], dtype=torch.float32)
    batch["negative"] = torch.tensor([s["negative"] for s in samples])
    use = rng.random(len(samples)) > 0.15 if rng is not None else np.ones(len(samples), bool)
    batch["use_memory"] = torch.from_numpy(use)
    return batch


def mask_iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU of boolean masks over the last two axes (1 when both are empty)."""
    inter = (pred & target).flatten(-2).sum(-1).float()
    union = (pred | target).flatten(-2).sum(-1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


def proposal_losses(out: dict[str, torch.Tensor], targets: torch.Tensor, negative: torch.Tensor,
                    config: BoxTrackConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(mask loss, objectness loss, best proposal index (N,), IoU of the best (N,))`` of one pass."""
    logits = out["masks"]  # (N, K, S, S)
    y = targets.expand_as(logits)
    bce = F.binary_cross_entropy_with_logits(logits, y, reduction="none").flatten(2).mean(-1)
    p = torch.sigmoid(logits).flatten(2)
    yy = y.flatten(2)
    dice = 1 - (2 * (p * yy).sum(-1) + 1) / (p.sum(-1) + yy.sum(-1) + 1)
    per = bce + config.w_dice * dice  # (N, K)
    best = per.argmin(dim=1)
    mask_loss = per.gather(1, best[:, None]).mean()
    iou = mask_iou(logits > 0, y > 0.5).detach()
    iou = torch.where(negative[:, None], torch.zeros_like(iou), iou)
    obj_loss = F.binary_cross_entropy_with_logits(out["objectness"], iou)
    return mask_loss, obj_loss, best, iou.gather(1, best[:, None])[:, 0]


def affinity_loss(z: torch.Tensor, z_mem: torch.Tensor) -> torch.Tensor:
    """InfoNCE of ``cos(z_i, z_mem_j) / τ`` with the diagonal as the positives (both directions)."""
    if len(z) < 2:
        return z.sum() * 0
    a = F.normalize(z, dim=-1)
    b = F.normalize(z_mem, dim=-1)
    logits = a @ b.T / TEMPERATURE
    labels = torch.arange(len(z), device=z.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


def boxtrack_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], config: BoxTrackConfig
                  ) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of the module docstring on one batch of :class:`PromptSamples` (both passes: the
    memory frame without memory, then the prompted frame with the memory entry built from it)."""
    neg = batch["negative"]
    out_m = model(batch["mem_windows"], batch["mem_corners"])
    mask_m, obj_m, best_m, _ = proposal_losses(out_m, batch["mem_targets"], neg, config)
    rows = torch.arange(len(best_m), device=best_m.device)
    z_m = out_m["tokens"][rows, best_m]
    memory = model.encode_memory(out_m["features"], batch["mem_targets"], z_m)[:, None]
    valid = batch["use_memory"][:, None]
    out = model(batch["windows"], batch["corners"], memory=memory, ages=batch["ages"][:, None], valid=valid)
    mask_t, obj_t, best_t, iou_t = proposal_losses(out, batch["targets"], neg, config)
    z_t = out["tokens"][rows, best_t]
    pos = ~neg
    aff = affinity_loss(z_t[pos], z_m[pos])
    loss = mask_t + 0.5 * mask_m + config.w_objectness * (obj_t + 0.5 * obj_m) + config.w_affinity * aff
    return loss, {"mask": float(mask_t.detach()), "mask_memory_frame": float(mask_m.detach()),
                  "objectness": float(obj_t.detach()), "affinity": float(aff.detach()),
                  "iou": float(iou_t[pos].mean()) if pos.any() else 0.0}


__all__ = ["PromptSamples", "collate", "boxtrack_loss", "proposal_losses", "affinity_loss", "mask_iou", "normalise",
           "jitter_box"]
