"""Ground truth → EmbedTrack's training targets: instance masks, their medoid centres, the
centre at ``t−1`` each cell at ``t`` moves from, ignore masks, and the sampler of augmented
training pairs of consecutive frames.

**Instances of a frame** (labels are TRA track ids, so identities carry across frames):

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
from dataclasses import dataclass, replace

import numpy as np
import torch
from scipy import ndimage as ndi

from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.train.augment import apply_transform, draw_transform, transform_points
from celltrace.train.data import CTCSequence, FrameRef, FrameSample

UNTRACKED = 1_000_000
"""Instance ids from here on are SEG objects without a TRA marker (no identity over time)."""


# ---------------------------------------------------------------------- centres
def medoid(ys: np.ndarray, xs: np.ndarray, candidates: int = 64, max_points: int = 2048) -> tuple[int, int]:
    """Medoid ``argmin_q Σ_p |p − q|`` of the pixels ``(ys, xs)``: searched among the ``candidates``
    pixels nearest the centroid (it lies among them for all but very contorted shapes), with the sum
    over at most ``max_points`` evenly spaced pixels."""
    y = np.asarray(ys, np.float64)
    x = np.asarray(xs, np.float64)
    if y.size == 0:
        raise ValueError("medoid of no pixels")
    near = np.argsort((y - y.mean()) ** 2 + (x - x.mean()) ** 2, kind="stable")[:candidates]
    step = max(1, y.size // max_points)
    ry, rx = y[::step], x[::step]
    cost = np.sqrt((y[near, None] - ry[None]) ** 2 + (x[near, None] - rx[None]) ** 2).sum(1)
    i = near[int(np.argmin(cost))]
    return int(y[i]), int(x[i])


def medoids(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Label → medoid pixel ``(y, x)`` of every positive label."""
    lab = np.asarray(labels)
    out: dict[int, tuple[int, int]] = {}
    ids = np.unique(lab)
    ids = ids[ids > 0]
    if not ids.size:
        return out
    # find_objects wants small consecutive values: work on the rank of each label
    rank = np.searchsorted(ids, lab) + 1
    rank[lab <= 0] = 0
    for i, sl in enumerate(ndi.find_objects(rank)):
        if sl is None:
            continue
        ys, xs = np.nonzero(rank[sl] == i + 1)
        y, x = medoid(ys + sl[0].start, xs + sl[1].start)
        out[int(ids[i])] = (y, x)
    return out


# ---------------------------------------------------------------------- instances of a frame
@dataclass
class FrameLabels:
    """Instances of one frame: ``labels`` (int32 track ids, 0 background), ``ignore`` (bool),
    ``centres`` (id → medoid), ``kind`` ('seg', 'markers' or 'weak')."""

    labels: np.ndarray
    ignore: np.ndarray
    centres: dict[int, tuple[int, int]]
    kind: str


def _majority_marker(seg: np.ndarray, markers: np.ndarray) -> dict[int, int]:
    """SEG label → the marker label it overlaps most (only objects that overlap one)."""
    both = (seg > 0) & (markers > 0)
    if not both.any():
        return {}
    pairs, counts = np.unique(np.stack([seg[both], markers[both]]).astype(np.int64), axis=1, return_counts=True)
    out: dict[int, int] = {}
    best: dict[int, int] = {}
    for (s, m), c in zip(pairs.T.tolist(), counts.tolist()):
        if c > best.get(s, 0):
            best[s], out[s] = c, m
    return out


def frame_labels(sample: FrameSample, config: EmbedTrackConfig | None = None) -> FrameLabels:
    """Instances, ignore mask and centres of one frame by rules 1–3 of the module docstring."""
    from celltrace.train.annotations import marker_neighbourhood, unannotated_markers

    c = config or EmbedTrackConfig()
    markers = np.asarray(sample.markers).astype(np.int64)
    if sample.seg is not None:
        seg = np.asarray(sample.seg).astype(np.int64)
        to_track = _majority_marker(seg, markers)
        seg_ids = np.unique(seg[seg > 0])
        used: set[int] = set()
        lut = np.zeros(int(seg.max()) + 1, dtype=np.int64)
        for s in seg_ids.tolist():
            m = to_track.get(s)
            if m is None or m in used:
                lut[s] = UNTRACKED + s
            else:
                lut[s] = m
                used.add(m)
        labels = lut[seg]
        missing = np.setdiff1d(unannotated_markers(seg, markers, c.covered_fraction), np.fromiter(used, np.int64))
        if missing.size:
            add = np.isin(markers, missing) & (labels == 0)
            labels[add] = markers[add]
            ignore = marker_neighbourhood(markers, missing, c.ignore_factor, c.ignore_margin) & (labels == 0)
        else:
            ignore = np.zeros(labels.shape, dtype=bool)
        kind = "seg"
    elif sample.markers_are_masks:
        labels, ignore, kind = markers, np.zeros(markers.shape, dtype=bool), "markers"
    else:
        labels = markers
        ignore = marker_neighbourhood(markers, None, c.ignore_factor, c.ignore_margin) & (markers == 0)
        kind = "weak"
    labels = labels.astype(np.int32)
    return FrameLabels(labels, ignore, medoids(labels), kind)


def mask_sizes(sample: FrameSample, config: EmbedTrackConfig | None = None) -> np.ndarray:
    """Pixel counts of the full cell masks of a frame (SEG objects, or markers that are masks); empty
    for frames that have neither (marker sizes would be about half a cell)."""
    lab = sample.seg if sample.seg is not None else (sample.markers if sample.markers_are_masks else None)
    if lab is None:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(np.asarray(lab).ravel().astype(np.int64))
    return counts[1:][counts[1:] > 0]


# ---------------------------------------------------------------------- image preprocessing
def normalize(image: np.ndarray, percentiles: Sequence[float] = (1.0, 99.0)) -> np.ndarray:
    """``(I − p_lo) / (p_hi − p_lo)`` with the image's own percentiles (float32, not clipped, as the
    paper's min–max normalisation to the 1 % and 99 % percentiles)."""
    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, percentiles)
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.float32)
    return (img - lo) / np.float32(hi - lo)


# ---------------------------------------------------------------------- pair sampler
def parents_of(sequence: CTCSequence) -> dict[int, int]:
    """Track id → parent id (0 none) from the sequence's ``TRA/man_track.txt`` (empty if absent)."""
    from celltrace.io.ctc import read_lineage

    path = sequence.gt_dir / "TRA" / "man_track.txt"
    if not path.is_file():
        return {}
    lin = read_lineage(path)
    return dict(zip(lin["label"].astype(int).tolist(), lin["parent"].astype(int).tolist()))


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
