"""CAP's inference: frames to network input, and RAW (rolling-as-window) inference (§3.3, Alg. 1)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage as ndi
from tqdm.auto import tqdm

from celltrace.nn.scaling import resample


def prepare_frame(image: np.ndarray, scale: float, percentiles: tuple[float, float] = (1.0, 99.8)) -> np.ndarray:
    """A frame as the network sees it: resampled by ``scale`` (:func:`celltrace.nn.scaling.resample`)
    and min–max normalised between its ``percentiles`` (float32; 0 background, ~1 bright cells)."""
    img = resample(np.asarray(image, dtype=np.float32), scale) if scale != 1.0 else np.asarray(image, np.float32)
    lo, hi = np.percentile(img, percentiles)
    return ((img - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)


# ---------------------------------------------------------------------------------- RAW inference
@dataclass
class PointTrack:
    """A track of the RAW loop: first frame, parent track (0: none) and its points
    ``(frame, y, x, visibility)`` in network pixels."""

    begin: int
    parent: int = 0
    points: list[tuple[int, float, float, float]] = field(default_factory=list)


class FeatureCache:
    """Feature pyramids of the frames, each frame encoded once (in chunks) and dropped when passed."""

    def __init__(self, model: torch.nn.Module, frame: Callable[[int], np.ndarray], device: str = "cpu", chunk: int = 8):
        self.model, self.frame, self.device, self.chunk = model, frame, device, chunk
        self.cache: dict[int, list[torch.Tensor]] = {}

    @torch.no_grad()
    def window(self, start: int, length: int) -> list[torch.Tensor]:
        """The pyramid of frames ``[start, start + length)`` as S tensors ``(1, length, C, h, w)``."""
        for t in [t for t in self.cache if t < start]:
            del self.cache[t]
        missing = [t for t in range(start, start + length) if t not in self.cache]
        for i in range(0, len(missing), self.chunk):
            ts = missing[i:i + self.chunk]
            x = torch.from_numpy(np.stack([self.frame(t) for t in ts])).to(self.device)
            pyr = self.model.encode(x[None])
            for j, t in enumerate(ts):
                self.cache[t] = [p[0, j] for p in pyr]
        return [torch.stack([self.cache[t][s] for t in range(start, start + length)])[None]
                for s in range(len(self.cache[start]))]


def _label_at(labels: np.ndarray, y: float, x: float) -> int:
    """The object at ``(y, x)``, else the most frequent object among its 8 neighbours, else 0."""
    H, W = labels.shape
    i, j = int(round(y)), int(round(x))
    if not (0 <= i < H and 0 <= j < W):
        return 0
    if labels[i, j]:
        return int(labels[i, j])
    near = labels[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]
    near = near[near > 0]
    return int(np.bincount(near).argmax()) if near.size else 0


@torch.no_grad()
def raw_inference(model: torch.nn.Module, frame: Callable[[int], np.ndarray], detect: Callable[[int], np.ndarray],
                  n_frames: int, min_area: float = 0.0, gate: bool = True, device: str = "cpu",
                  progress: bool = False) -> dict[int, PointTrack]:
    """Rolling-as-window inference (Alg. 1) over ``n_frames`` frames at network scale.

    ``frame(t)`` is the network input of frame ``t`` (:func:`prepare_frame`), ``detect(t)`` a label
    image of the detector's objects at network scale. The queries of frame 0 are the detected objects'
    centroids. A window of ``l_win`` frames from ``t`` tracks the queries; its frames are read in
    order, and in frame ``f`` each query cell is

    * continued when its cell slot (or exactly one daughter slot) is visible (``σ(W F) ≥``
      ``visibility_threshold``),
    * divided when both daughter slots exceed ``division_threshold`` (and, with
      ``division_needs_mother_gone``, the cell slot is not visible): the track ends at ``f − 1``
      and two daughter tracks begin at ``f``; with ``gate``, also when both daughter slots exceed
      the lower ``confirmed_division_threshold`` and their points lie on two distinct detected
      objects that no other track holds (the detector confirms a split the slots point at),
    * ended when no slot is visible, or (``gate``) when its point lies on no detected object or on
      one that an older track's point already holds (a track that drifted off its cell ends
      rather than leaving a false marker; the cell, if still there, comes back as a new cell);

    a detected object of at least ``min_area`` pixels that holds no continued or daughter point is a
    new cell. At the first frame with a division or a new cell the next window starts, with the
    daughters and new cells added to the queries (Eq. 5); otherwise the next window starts at the
    window's last frame. Returns the tracks by id (1, 2, …).
    """
    config = model.config
    th = config.visibility_threshold
    th_div = config.division_threshold
    th_confirm = config.confirmed_division_threshold
    feats = FeatureCache(model, frame, device)
    tracks: dict[int, PointTrack] = {}

    def start(t: int, y: float, x: float, parent: int = 0, v: float = 1.0) -> int:
        k = len(tracks) + 1
        tracks[k] = PointTrack(t, parent, [(t, float(y), float(x), float(v))])
        return k

    def objects(labels: np.ndarray, exclude: set[int]) -> list[tuple[float, float]]:
        ids = [int(i) for i in np.unique(labels) if i > 0 and int(i) not in exclude]
        if not ids:
            return []
        area = ndi.sum_labels(np.ones(labels.shape), labels, ids)
        cents = ndi.center_of_mass(np.ones(labels.shape), labels, ids)
        return [c for c, a in zip(cents, area) if a >= min_area]

    det0 = detect(0)
    active = {start(0, y, x): (y, x) for y, x in objects(det0, set())}
    H, W = det0.shape
    t = 0
    bar = tqdm(total=max(n_frames - 1, 0), desc="cap", unit="frame", disable=not progress)
    while t < n_frames - 1:
        if not active:  # nothing to track: look for cells in the next frame
            t += 1
            bar.update(1)
            active = {start(t, y, x): (y, x) for y, x in objects(detect(t), set())}
            continue
        length = min(config.l_win, n_frames - t)
        ids = list(active)
        q = torch.tensor([active[i] for i in ids], dtype=torch.float32, device=device)[None]
        out = model.track(feats.window(t, length), q, torch.ones(1, len(ids), dtype=torch.bool, device=device))
        loc = out["locations"][-1][0].cpu().numpy()
        vis = torch.sigmoid(out["visibility"][0]).cpu().numpy()
        alive = dict.fromkeys(ids, True)
        restart = t + length - 1
        for k in range(1, length):
            f = t + k
            det = detect(f)
            cont: dict[int, tuple[float, float, float]] = {}
            divisions: dict[int, list[tuple[float, float, float]]] = {}
            for n, i in enumerate(ids):
                if not alive[i]:
                    continue
                v = vis[k, n]
                if min(v[1], v[2]) >= th_div and (v[0] < th or not config.division_needs_mother_gone):
                    divisions[i] = [(*loc[k, n, s], v[s]) for s in (1, 2)]
                elif v.max() >= th:
                    s = 0 if v[0] >= th else int(np.argmax(v[1:])) + 1
                    cont[i] = (*loc[k, n, s], v[s])
                else:
                    alive[i] = False
            owner: dict[int, int] = {}
            for i, (y, x, v) in list(cont.items()):
                lab = _label_at(det, y, x)
                # left the field of view; with gating: on no detected object, or on one an older track holds
                if not (0 <= y <= H - 1 and 0 <= x <= W - 1) or (gate and (lab == 0 or lab in owner)):
                    del cont[i]
                    alive[i] = False
                elif lab:
                    owner[lab] = i
            if gate and th_confirm < 1.0:
                for n, i in enumerate(ids):
                    if i not in cont or min(vis[k, n, 1], vis[k, n, 2]) < th_confirm:
                        continue
                    labs = [_label_at(det, *loc[k, n, s]) for s in (1, 2)]
                    # two distinct detected objects, neither held by another track: a split the
                    # detector sees where the network puts its daughters
                    if 0 in labs or labs[0] == labs[1] or any(owner.get(lab, i) != i for lab in labs):
                        continue
                    divisions[i] = [(*loc[k, n, s], vis[k, n, s]) for s in (1, 2)]
                    del cont[i]
                    owner = {lab: o for lab, o in owner.items() if o != i}
            held = {_label_at(det, y, x) for y, x, _ in cont.values()}
            held |= {_label_at(det, y, x) for ds in divisions.values() for y, x, _ in ds}
            new = objects(det, held)
            for i, (y, x, v) in cont.items():
                tracks[i].points.append((f, float(y), float(x), float(v)))
            if divisions or new:
                active = {i: cont[i][:2] for i in cont}
                for i, ds in divisions.items():
                    alive[i] = False
                    for y, x, v in ds:
                        y, x = float(np.clip(y, 0, H - 1)), float(np.clip(x, 0, W - 1))
                        active[start(f, y, x, parent=i, v=v)] = (y, x)
                for y, x in new:
                    active[start(f, y, x)] = (y, x)
                restart = f
                break
        else:
            active = {i: tracks[i].points[-1][1:3] for i in ids if alive[i] and tracks[i].points[-1][0] == restart}
        bar.update(restart - t)
        t = restart
    bar.close()
    return tracks
