"""Ground truth → EmbedTrack's training targets: instance masks, their medoid centres, the
centre at ``t−1`` each cell at ``t`` moves from, ignore masks, and the sampler of augmented
training pairs of consecutive frames.

**Instances of a frame** (shared with DistNet2D: :mod:`celltrace.train.instances`; labels are TRA
track ids, so identities carry across frames):

1. *SEG frame*: each SEG object takes the track id of the TRA marker it overlaps most (an object
   without a marker gets an id of its own, ``≥ UNTRACKED``, and no tracking target). A TRA marker
   with less than ``covered_fraction`` of its pixels on SEG labels is a cell the frame does not
   annotate: its marker pixels become its instance (as the paper fills gold truth with silver
   truth, here with the markers) and the pixels within ``ignore_factor · r_m + ignore_margin`` of it
   that no instance covers are **ignored** — never taught as background.
2. *frame without SEG whose markers are masks* (SIM+): the markers are the instances.
3. *other frames without SEG*: the markers are the instances (they lie inside their cells), the
   pixels near a marker but outside it are ignored, the rest is background.

**Centres** ``c_m`` are medoids ``argmin_{q ∈ P_m} Σ_{p ∈ P_m} |p − q|``, so they always lie inside the
cell; computed on the whole frame (so a cell cut by a crop keeps its true centre) and mapped into
each crop with :func:`celltrace.train.augment.transform_points`. **Tracking targets**: a cell at
``t`` moves from the centre of the same track at ``t−1``, or, right after a division, from its
parent's centre; cells without either (new tracks, untracked objects) get NaN and no tracking loss.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from scipy import ndimage as ndi

from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.nn.normalize import normalize
from celltrace.segmentation.medoids import medoid, medoids
from celltrace.train.augment import apply_transform, draw_transform, transform_points
from celltrace.train.data import CTCSequence, FrameRef
from celltrace.train.instances import UNTRACKED, FrameLabels, frame_labels, mask_sizes, parents_of



# ---------------------------------------------------------------------- pair sampler
class PairBatches:
    """``batches(step)`` → a batch of ``config.batch`` augmented crops of consecutive training frames
    ``(t−1, t)`` (a callable for :func:`celltrace.train.fit`; step ``k`` always gives the same batch).

    Per pair one transform (window, 90° rotation, flips; centred on a random cell of ``t`` with
    probability ``p_centre``) is applied to both frames; with probability ``p_shift`` the ``t−1``
    window is moved by up to ``max_shift · crop`` pixels per axis (larger apparent motion). Each crop
    is percentile-normalised, then CLAHE (``p_clahe``) and Gaussian blur (``p_blur``) hit both frames
    alike. Centres are mapped into the crops (see the module docstring), so offsets need no
    separate augmentation. Frames are cached (least recently used out beyond ``cache_mb``).
    """

    def __init__(self, sequences: Sequence[CTCSequence], refs: Sequence[FrameRef], config: EmbedTrackConfig,
                 seed: int = 0):
        self.sequences = list(sequences)
        self.config = config
        self.seed = int(seed)
        have = {(r.seq, r.t) for r in refs}
        self.pairs = [(r.seq, r.t - 1, r.t) for r in refs if (r.seq, r.t - 1) in have]
        if not self.pairs:
            raise ValueError("no pair of consecutive training frames")
        self.parents = [parents_of(s) for s in self.sequences]
        self.cache: OrderedDict[tuple[int, int], tuple[np.ndarray, FrameLabels]] = OrderedDict()

    def frame(self, seq: int, t: int) -> tuple[np.ndarray, FrameLabels]:
        """Raw image (float32) and instances of a frame (cached)."""
        key = (seq, t)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        sample = self.sequences[seq].sample(t)
        item = (np.asarray(sample.image, dtype=np.float32), frame_labels(sample, self.config))
        self.cache[key] = item
        nbytes = lambda it: it[0].nbytes + it[1].labels.nbytes + it[1].ignore.nbytes  # noqa: E731
        while len(self.cache) > 2 and sum(nbytes(v) for v in self.cache.values()) > self.config.cache_mb * 2**20:
            self.cache.popitem(last=False)
        return item

    def _photometric(self, images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        c = self.config
        out = [normalize(im, c.percentiles) for im in images]
        if rng.random() < c.p_clahe:
            from skimage.exposure import equalize_adapthist

            out = [equalize_adapthist(np.clip(im, 0, 1), clip_limit=0.01).astype(np.float32) for im in out]
        if rng.random() < c.p_blur:
            sigma = float(rng.uniform(0.5, 1.5))
            out = [ndi.gaussian_filter(im, sigma).astype(np.float32) for im in out]
        return out

    def crop_pair(self, seq: int, t0: int, t1: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One augmented pair: images, labels (1..M per frame), ignore masks, centres in crop pixels
        and, for ``t``, the tracking centres at ``t−1`` (NaN where none)."""
        c = self.config
        (im0, f0), (im1, f1) = self.frame(seq, t0), self.frame(seq, t1)
        centre = None
        if f1.centres and rng.random() < c.p_centre:
            ids = sorted(f1.centres)
            centre = f1.centres[ids[int(rng.integers(len(ids)))]]
        tr1 = draw_transform(im1.shape, c.crop, rng, tuple(c.scale_range), centre=centre)
        tr0 = tr1
        if rng.random() < c.p_shift:
            dy, dx = rng.uniform(-c.max_shift, c.max_shift, 2) * c.crop / tr1.scale
            tr0 = replace(tr1, y0=tr1.y0 + (round(dy) if tr1.scale == 1.0 else dy),
                          x0=tr1.x0 + (round(dx) if tr1.scale == 1.0 else dx))
        out: dict[str, np.ndarray] = {}
        imgs = []
        for name, im, f, tr in (("prev", im0, f0, tr0), ("curr", im1, f1, tr1)):
            imgs.append(apply_transform(im, tr, 1))
            lab = apply_transform(f.labels, tr, 0)
            valid = apply_transform(np.ones(f.labels.shape, dtype=bool), tr, 0)
            out[f"{name}_ignore"] = apply_transform(f.ignore, tr, 0) | ~valid
            ids = np.unique(lab[lab > 0])
            out[f"{name}_labels"] = np.where(lab > 0, np.searchsorted(ids, lab) + 1, 0).astype(np.int64)
            out[f"{name}_ids"] = ids
            out[f"{name}_centres"] = transform_points(np.array([f.centres[int(i)] for i in ids], float).reshape(-1, 2),
                                                      tr).astype(np.float32)
        parents = self.parents[seq]
        track = np.full((len(out["curr_ids"]), 2), np.nan, dtype=np.float32)
        for k, i in enumerate(out["curr_ids"].tolist()):
            if i >= UNTRACKED:
                continue
            src = i if i in f0.centres else parents.get(i, 0)
            if src in f0.centres and src < UNTRACKED:
                track[k] = transform_points(np.array([f0.centres[src]], float), tr0)[0]
        out["track_centres"] = track
        out["prev_image"], out["curr_image"] = self._photometric(imgs, rng)
        return out

    def __call__(self, step: int) -> dict[str, object]:
        rng = np.random.default_rng((self.seed, int(step)))
        crops = [self.crop_pair(*self.pairs[int(rng.integers(len(self.pairs)))], rng) for _ in range(self.config.batch)]
        return collate(crops)


def collate(crops: Sequence[dict[str, np.ndarray]]) -> dict[str, object]:
    """Stack crops: images (N, 1, H, W) float32, labels (N, H, W) int64, ignore (N, H, W) bool; the
    per-crop centre tables stay lists of (M, 2) float32 tensors."""
    out: dict[str, object] = {}
    for k in ("prev_image", "curr_image"):
        out[k] = torch.from_numpy(np.stack([c[k] for c in crops]).astype(np.float32)).unsqueeze(1)
    for k in ("prev_labels", "curr_labels", "prev_ignore", "curr_ignore"):
        out[k] = torch.from_numpy(np.stack([c[k] for c in crops]))
    for k in ("prev_centres", "curr_centres", "track_centres"):
        out[k] = [torch.from_numpy(np.ascontiguousarray(c[k], dtype=np.float32)) for c in crops]
    return out


__all__ = ["UNTRACKED", "medoid", "medoids", "FrameLabels", "frame_labels", "mask_sizes", "normalize", "parents_of",
           "PairBatches", "collate"]
