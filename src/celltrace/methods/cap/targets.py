"""Ground truth → CAP's training windows, and CAP's loss (§3.1–3.2, Fig. 2, Eq. 3–4).

A :class:`PointMovie` is a movie at network scale with point tracks: frames ``(T, H, W)``
(normalised), one ``(frame, label, y, x)`` row per cell per frame (TRA marker centroids, or the
exact centres of :mod:`celltrace.synth`), and the CTC lineage. Only TRA markers are needed.

A training *clip* of ``clip`` frames (anchored at a division with the AEG sampler,
:mod:`celltrace.train.samplers`) is cut into windows of ``window`` frames starting every ``slide``
frames (semi-overlapping). In window ``[s, s + window)`` the query cells are those present in frame
``s`` inside the crop; the target of query cell ``i`` in frame ``t`` has three slots (Fig. 2):

* slot 0 (the cell): visible while the cell's track (or its only child, a CTC gap) is present;
* slots 1, 2 (daughters): the first two children of a division, visible while they are present.

A slot is invisible when its cell is absent or outside the crop; its location is then not scored.
The daughters are unordered: the loss scores each cell with the daughter assignment (1, 2) or
(2, 1) that fits the last iteration better.

Loss (Eq. 3–4): ``Σ_j Σ_m γ^(M−m) mean_visible ‖L̂(m, j) − L(j)‖ / p + w_vis · BCE(V̂(M, j), V(j))``,
averaged over the J windows; ``p = position_scale``. With ``balance_daughters`` (ours) the BCE is
the mean over the cell slots plus, for the daughter slots, the average of the mean over visible
and the mean over invisible targets: a visible daughter is ~1 slot in 10³, and a plain mean
teaches the network that daughters are never visible (no division is ever called).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from celltrace.methods.cap.config import CapConfig
from celltrace.methods.cap.infer import prepare_frame
from celltrace.nn.scaling import network_scale
from celltrace.synth import SynthConfig, render, simulate_cells
from celltrace.train.samplers import AEGSampler, division_events

SLOTS = 3


@dataclass
class PointMovie:
    """Frames at network scale with point tracks (module docstring); ``scale`` = network px per
    source px."""

    frames: np.ndarray
    points: pd.DataFrame
    lineage: pd.DataFrame
    name: str = ""
    scale: float = 1.0
    tracks: dict[int, tuple[int, np.ndarray]] = field(init=False, repr=False)
    children: dict[int, list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        T = len(self.frames)
        self.tracks = {}
        for label, g in self.points.groupby("label"):
            f = g["frame"].to_numpy(int)
            yx = np.full((f.max() - f.min() + 1, 2), np.nan, np.float32)
            yx[f - f.min()] = g[["y", "x"]].to_numpy(np.float32)
            self.tracks[int(label)] = (int(f.min()), yx)
        self.children = {}
        for label, parent in zip(self.lineage["label"].astype(int), self.lineage["parent"].astype(int)):
            if parent > 0:
                self.children.setdefault(parent, []).append(label)
        for v in self.children.values():
            v.sort()
        self.n_frames = T

    def position(self, label: int, t: int) -> np.ndarray | None:
        """``(y, x)`` of ``label`` in frame ``t``, ``None`` when absent."""
        tr = self.tracks.get(label)
        if tr is None or not 0 <= t - tr[0] < len(tr[1]) or np.isnan(tr[1][t - tr[0], 0]):
            return None
        return tr[1][t - tr[0]]

    def events(self) -> list:
        """The divisions whose mother has points here (lineage rows of cells outside a training
        region are dropped)."""
        return [e for e in division_events(self.lineage) if e.parent in self.tracks]


def marker_centroids(markers: np.ndarray, t: int) -> pd.DataFrame:
    """``(frame, label, y, x)`` of the centroids of the markers of one frame."""
    ids = np.unique(markers)
    ids = ids[ids > 0]
    if ids.size == 0:
        return pd.DataFrame({"frame": [], "label": [], "y": [], "x": []})
    c = np.asarray(ndi.center_of_mass(np.ones(markers.shape, np.float32), markers, ids), dtype=np.float64).reshape(-1, 2)
    return pd.DataFrame({"frame": t, "label": ids.astype(int), "y": c[:, 0], "x": c[:, 1]})


def ctc_point_movie(seq: Any, config: CapConfig, radius: float | None = None) -> PointMovie:
    """A CTC training sequence (:class:`celltrace.train.data.CTCSequence`, region applied) at network
    scale: the frames resampled by ``cell_radius / r`` (``r`` the default method's radius estimate,
    as at inference), TRA marker centroids, lineage from ``TRA/man_track.txt``."""
    from celltrace.io.ctc import read_lineage
    from celltrace.train.data import estimated_radius

    frames = seq.frames
    if radius is None:
        radius = estimated_radius(seq)
    scale = network_scale(config.cell_radius, float(radius))
    imgs, pts = [], []
    for i, t in enumerate(frames):
        imgs.append(prepare_frame(seq.image(t), scale).astype(np.float16))
        pts.append(marker_centroids(seq.markers(t), i))
    points = pd.concat(pts, ignore_index=True)
    points[["y", "x"]] = points[["y", "x"]] * scale
    lineage = read_lineage(seq.gt_dir / "TRA" / "man_track.txt")
    if frames[0] != 0:  # frames renumbered from 0
        lineage = lineage.assign(begin=lineage["begin"] - frames[0], end=lineage["end"] - frames[0])
    return PointMovie(np.stack(imgs), points, lineage, seq.name, scale)


def synthetic_point_movie(rng: np.random.Generator, config: CapConfig, n_frames: int, side: int) -> PointMovie:
    """A random synthetic movie (:mod:`celltrace.synth`) at network scale with its exact tracks and
    divisions: cells of radius around ``cell_radius``, random density, motion, division rate,
    texture and noise."""
    r = config.cell_radius
    cfg = SynthConfig(
        n_frames=n_frames, shape=(side, side), n_cells=int(rng.integers(4, max(5, int(side * side / (9 * r * r))))),
        seed=int(rng.integers(2**31)), radius=(0.7 * r, 1.4 * r), elongation=(1.0, float(rng.uniform(1.0, 2.0))),
        motion_sigma=float(rng.uniform(0.3, 0.4 * r)), drift=tuple(float(v) for v in rng.normal(0, 0.3, 2)),
        division_rate=float(rng.uniform(0.01, 0.06)), death_rate=float(rng.uniform(0.0, 0.01)),
        texture=float(rng.uniform(0.0, 0.5)), blur_sigma=float(rng.uniform(0.5, 1.5)),
        noise_sigma=float(rng.uniform(0.005, 0.05)), background=float(rng.uniform(0.02, 0.2)),
        intensity=(float(rng.uniform(0.15, 0.4)), float(rng.uniform(0.45, 0.9))), dtype=np.float32)
    sim = simulate_cells(cfg)
    movie, _ = render(sim)
    frames = np.stack([prepare_frame(movie[t], 1.0) for t in range(n_frames)]).astype(np.float16)
    points = sim.points[["frame", "label", "y", "x"]].astype({"y": np.float64, "x": np.float64})
    return PointMovie(frames, points, sim.lineage, f"synthetic-{cfg.seed}")


def window_targets(pm: PointMovie, start: int, length: int, box: tuple[int, int, int, int],
                   rng: np.random.Generator, max_queries: int, must: int | None = None) -> dict[str, np.ndarray]:
    """Queries and slot targets of the window ``[start, start + length)`` in the crop ``box`` =
    ``(y0, x0, h, w)`` (module docstring): ``queries (N, 2)``, ``valid (N,)``, ``loc (T, N, 3, 2)``,
    ``vis (T, N, 3)``, padded to ``max_queries`` (a random subset when more, keeping ``must``)."""
    y0, x0, h, w = box
    T = length
    inside = lambda p: p is not None and y0 <= p[0] < y0 + h and x0 <= p[1] < x0 + w  # noqa: E731
    cand = [lab for lab in pm.tracks if inside(pm.position(lab, start))]
    if len(cand) > max_queries:
        keep = [must] if must in cand else []
        rest = [c for c in cand if c not in keep]
        cand = keep + [rest[i] for i in rng.choice(len(rest), max_queries - len(keep), replace=False)]
    queries = np.zeros((max_queries, 2), np.float32)
    valid = np.zeros(max_queries, bool)
    loc = np.zeros((T, max_queries, SLOTS, 2), np.float32)
    vis = np.zeros((T, max_queries, SLOTS), np.float32)
    origin = np.array([y0, x0], np.float32)
    for n, lab in enumerate(cand):
        queries[n] = pm.position(lab, start) - origin
        valid[n] = True
        kids = pm.children.get(lab, [])
        slot_tracks = [[lab] + (kids if len(kids) == 1 else []), [], []]
        if len(kids) >= 2:
            slot_tracks[1], slot_tracks[2] = [kids[0]], [kids[1]]
        for s, labels in enumerate(slot_tracks):
            for t in range(T):
                for lb in labels:
                    p = pm.position(lb, start + t)
                    if p is not None:
                        loc[t, n, s] = p - origin
                        vis[t, n, s] = float(inside(p))
                        break
    return {"queries": queries, "valid": valid, "loc": loc, "vis": vis}


def crop_frames(frames: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """``frames[:, y0:y0+h, x0:x0+w]`` as float32, zero-padded where the box leaves the frame."""
    y0, x0, h, w = box
    out = np.zeros((len(frames), h, w), np.float32)
    H, W = frames.shape[1:]
    sy0, sx0, sy1, sx1 = max(y0, 0), max(x0, 0), min(y0 + h, H), min(x0 + w, W)
    if sy1 > sy0 and sx1 > sx0:
        out[:, sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frames[:, sy0:sy1, sx0:sx1]
    return out


def augment_clip(sample: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A random 90° rotation / flip of frames and coordinates, and a random gamma and contrast."""
    img = sample["images"]
    H = img.shape[1]
    k = int(rng.integers(4))
    for _ in range(k):  # rot90 counter-clockwise: (y, x) -> (W-1-x, y) ... for a square crop: (H-1-x, y)
        img = np.rot90(img, 1, axes=(1, 2))
        for key in ("queries", "loc"):
            yx = sample[key]
            sample[key] = np.stack([H - 1 - yx[..., 1], yx[..., 0]], axis=-1)
    if rng.random() < 0.5:
        img = img[:, :, ::-1]
        for key in ("queries", "loc"):
            sample[key] = sample[key].copy()
            sample[key][..., 1] = img.shape[2] - 1 - sample[key][..., 1]
    gamma = float(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    img = np.clip(img, 0, None) ** gamma * float(rng.uniform(0.7, 1.3)) + float(rng.uniform(-0.1, 0.1))
    sample["images"] = np.ascontiguousarray(img, dtype=np.float32)
    return sample


class ClipBatches:
    """``batches(step)`` for :func:`celltrace.train.fit`: ``batch`` clips, each from a synthetic movie
    (always before ``pretrain_steps``, then with probability ``synth_fraction``) or a real one
    (uniformly), its start drawn by the AEG sampler (``config.aeg``), its crop centred on the
    anchoring division (AEG) or on a random cell. Seeded by ``(seed, step)``: reproducible on resume.

    Batch: ``images (B, clip, crop, crop)``; per window j of the clip ``queries (B, J, N, 2)``,
    ``valid (B, J, N)``, ``loc (B, J, window, N, 3, 2)``, ``vis (B, J, window, N, 3)``.
    """

    def __init__(self, movies: list[PointMovie], config: CapConfig, seed: int = 0, pretrain_steps: int = 0):
        self.movies = movies
        self.config = config
        self.seed = seed
        self.pretrain_steps = pretrain_steps
        c = config
        self.starts = list(range(0, max(c.clip - c.window, 0) + 1, c.slide))
        self.samplers = [AEGSampler(len(m.frames), c.clip, m.events(), enabled=c.aeg) for m in movies]

    def clip(self, pm: PointMovie, sampler: AEGSampler, rng: np.random.Generator) -> dict[str, np.ndarray]:
        c = self.config
        win = sampler.sample(rng)
        H, W = pm.frames.shape[1:]
        if win.event is not None:
            centre = pm.position(win.event.parent, win.event.a)
            centre = centre + rng.normal(0, c.crop / 8, 2) if centre is not None else None
        else:
            labs = [lab for lab in pm.tracks if pm.position(lab, win.start) is not None]
            centre = pm.position(labs[int(rng.integers(len(labs)))], win.start) if labs and rng.random() < 0.8 else None
        if centre is None:
            centre = np.array([rng.uniform(0, H), rng.uniform(0, W)])
        y0 = int(np.clip(round(centre[0] - c.crop / 2), min(0, H - c.crop), max(0, H - c.crop)))
        x0 = int(np.clip(round(centre[1] - c.crop / 2), min(0, W - c.crop), max(0, W - c.crop)))
        box = (y0, x0, c.crop, c.crop)
        length = min(c.clip, len(pm.frames))
        images = np.zeros((c.clip, c.crop, c.crop), np.float32)
        images[:length] = crop_frames(pm.frames[win.start:win.start + length], box)
        parts = [window_targets(pm, win.start + s, c.window, box, rng, c.max_queries,
                                must=win.event.parent if win.event is not None else None) for s in self.starts]
        sample = {k: np.stack([p[k] for p in parts]) for k in parts[0]}
        sample["images"] = images
        return augment_clip(sample, rng)

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, step])
        c = self.config
        clips = []
        for _ in range(c.batch):
            synthetic = not self.movies or step < self.pretrain_steps or rng.random() < c.synth_fraction
            if synthetic:
                pm = synthetic_point_movie(rng, c, c.clip + 8, c.crop + 2 * c.stride * 4)
                sampler = AEGSampler(len(pm.frames), c.clip, pm.events(), enabled=c.aeg)
            else:
                i = int(rng.integers(len(self.movies)))
                pm, sampler = self.movies[i], self.samplers[i]
            clips.append(self.clip(pm, sampler, rng))
        return {k: torch.from_numpy(np.stack([cl[k] for cl in clips])) for k in clips[0]}


def _daughter_order(pred: torch.Tensor, loc: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """Targets with daughters swapped where ``(2, 1)`` fits ``pred`` better than ``(1, 2)``."""
    swapped = loc[..., [0, 2, 1], :]
    vis_sw = vis[..., [0, 2, 1]]
    keep = ((pred - loc).norm(dim=-1) * vis)[..., 1:].sum(dim=(1, 3))  # (B, N)
    swap = ((pred - swapped).norm(dim=-1) * vis_sw)[..., 1:].sum(dim=(1, 3))
    use = (swap < keep)[:, None, :, None]
    return torch.where(use[..., None], swapped, loc), torch.where(use, vis_sw, vis)


def window_loss(out: dict[str, Any], loc: torch.Tensor, vis: torch.Tensor, valid: torch.Tensor,
                config: CapConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Trajectory (Eq. 3) and visibility (Eq. 4) terms of one window (module docstring)."""
    locs = out["locations"]
    M = len(locs)
    loc, vis = _daughter_order(locs[-1].detach(), loc, vis)
    w = vis * valid[:, None, :, None].float()
    denom = w.sum().clamp(min=1.0)
    traj = sum(config.gamma ** (M - 1 - m) * (torch.sqrt(((L - loc) ** 2).sum(-1) + 1e-6) * w).sum() / denom
               for m, L in enumerate(locs)) / config.position_scale
    vmask = valid[:, None, :, None].expand_as(vis).float()
    bce = F.binary_cross_entropy_with_logits(out["visibility"], vis, reduction="none")
    if not config.balance_daughters:
        return traj, (bce * vmask).sum() / vmask.sum().clamp(min=1.0)
    mean = lambda w: (bce * w).sum() / w.sum().clamp(min=1.0)  # noqa: E731
    cell, daughters = vmask.clone(), vmask.clone()
    cell[..., 1:] = 0
    daughters[..., 0] = 0
    seen = daughters * (vis > 0.5).float()
    unseen = daughters - seen
    vis_loss = mean(cell) + (0.5 * (mean(seen) + mean(unseen)) if seen.sum() > 0 else mean(unseen))
    return traj, vis_loss


def cap_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of a :class:`ClipBatches` batch, averaged over the clip's windows; logs ``traj``, ``vis``."""
    c = model.config
    pyramid = model.encode(batch["images"])
    J = batch["queries"].shape[1]
    traj_sum = vis_sum = 0.0
    for j in range(J):
        s = j * c.slide
        pyr = [p[:, s:s + c.window] for p in pyramid]
        out = model.track(pyr, batch["queries"][:, j], batch["valid"][:, j])
        traj, vis = window_loss(out, batch["loc"][:, j], batch["vis"][:, j], batch["valid"][:, j], c)
        traj_sum = traj_sum + traj
        vis_sum = vis_sum + vis
    loss = (traj_sum + c.w_visibility * vis_sum) / J
    return loss, {"traj": float(traj_sum.detach()) / J, "vis": float(vis_sum.detach()) / J}


__all__ = ["PointMovie", "marker_centroids", "ctc_point_movie", "synthetic_point_movie", "window_targets",
           "crop_frames", "augment_clip", "ClipBatches", "window_loss", "cap_loss"]
