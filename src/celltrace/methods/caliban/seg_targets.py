"""Ground truth → training targets of Caliban's segmentation model (§3.4.2–3.4.3), the loss, and
the sampler of augmented training crops.

Targets of a label image ``L`` (cells ``S_k``, area ``A_k``):

* foreground/background ``y = [L > 0]``;
* inner distance ``u(p) = 1 / (1 + α_k β r(p))`` for ``p ∈ S_k``, 0 outside cells, with
  ``α_k = 1/sqrt(A_k)``, ``r(p) = |p − c_k|`` and ``c_k`` the pixel of ``S_k`` nearest its centroid
  (so ``u = 1`` exactly at one pixel per cell, inside the cell even for non-convex shapes);
* outer distance ``v(p) = d(p) / r`` with ``d(p) = min { |p − q| : L(q) ≠ L(p) }`` the Euclidean
  distance transform of the labels (touching cells are separated, pixels outside the image do not
  count as background) and ``r = sqrt(median_k A_k / π)`` the frame's typical cell radius
  (``outer_normalize='frame'``; ``'cell'``: ``d / max_{S_k} d``; ``'none'``: ``d``). One factor for
  the whole frame keeps the order of ``d`` across cells, which the watershed needs at contacts.

Loss on a batch (``V`` pixels whose class is known, ``D`` pixels whose distances are known)::

    loss = 0.01 · CE_w + MSE_D(inner) + MSE_D(outer)
    CE_w = (1/|V|) Σ_{p∈V} w_{y_p} (−log softmax(z_p)_{y_p}),   w_c = |V| / (2 |V_c|)

(class-balanced weights, each class contributes half).

**What is known where (the ignore rules).** Every live cell has a TRA marker, but a SEG frame may
annotate only some cells (GOWT1 frame 22: 1 of 24), and TRA markers are segmentations only in
simulated data. So per frame:

1. *SEG frame*: ``L = SEG``. A marker with less than ``covered_fraction`` of its pixels on SEG
   labels marks an **unannotated cell**; the pixels within ``ignore_factor · r_m + ignore_margin``
   of such a marker (``r_m = sqrt(marker area/π)``), except annotated SEG pixels, are ignored by
   all three terms (``V = D = ¬ignore``) — they are never taught as background.
2. *frame without SEG whose markers are masks* (SIM+): ``L = TRA``, nothing ignored.
3. *other frames without SEG* (``weak_frames='markers'``): only the foreground/background term is
   taught — marker pixels as foreground, pixels beyond the ignore distance of every marker as
   background (no cell reaches there), the rest ignored; ``D = ∅``. With ``weak_frames='ignore'``
   such frames are not used.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from celltrace.frames import spread
from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.train.annotations import marker_neighbourhood, unannotated_markers
from celltrace.shifts import Photometric, random_photometric
from celltrace.train.augment import apply_transform_torch, augment, draw_transform
from celltrace.train.data import CTCSequence, FrameRef, FrameSample


# ---------------------------------------------------------------------- preprocessing (§3.4.3)
def preprocess(image: np.ndarray, percentiles: tuple[float, float] = (1.0, 99.8), kernel_fraction: float = 0.125,
               clip_limit: float = 0.01) -> np.ndarray:
    """``CLAHE((I − p_lo)/(p_hi − p_lo) clipped to [0, 1])`` with a CLAHE kernel of
    ``kernel_fraction`` × the image size (paper: 1/8); float32 in [0, 1]."""
    from skimage.exposure import equalize_adapthist

    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, percentiles)
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.float32)
    img = np.clip((img - lo) / (hi - lo), 0.0, 1.0)
    if kernel_fraction <= 0:
        return img
    kernel = tuple(max(8, int(round(s * kernel_fraction))) for s in img.shape)
    return equalize_adapthist(img, kernel_size=kernel, clip_limit=clip_limit).astype(np.float32)


# ---------------------------------------------------------------------- label transforms (§3.4.2)
def _objects(labels: np.ndarray) -> tuple[np.ndarray, list]:
    lab = np.asarray(labels)
    ids = np.unique(lab)
    ids = ids[ids > 0]
    return ids, ndi.find_objects(lab) if ids.size else []


def cell_centres(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Label → its pixel nearest to its centroid (``c_k`` of the module docstring)."""
    lab = np.asarray(labels)
    out: dict[int, tuple[int, int]] = {}
    ids, boxes = _objects(lab)
    for k in ids:
        sl = boxes[int(k) - 1]
        ys, xs = np.nonzero(lab[sl] == k)
        cy, cx = ys.mean(), xs.mean()
        i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
        out[int(k)] = (int(ys[i] + sl[0].start), int(xs[i] + sl[1].start))
    return out


def inner_distance(labels: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """``u(p) = 1 / (1 + β r(p) / sqrt(A_k))`` inside cell k (float32; 0 on background)."""
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, dtype=np.float32)
    ids, boxes = _objects(lab)
    centres = cell_centres(lab)
    for k in ids:
        sl = boxes[int(k) - 1]
        m = lab[sl] == k
        ys, xs = np.nonzero(m)
        cy, cx = centres[int(k)]
        r = np.hypot(ys + sl[0].start - cy, xs + sl[1].start - cx)
        alpha = 1.0 / np.sqrt(m.sum())
        view = out[sl]
        view[ys, xs] = 1.0 / (1.0 + alpha * beta * r)
    return out


def outer_distance(labels: np.ndarray, normalize: str | bool = "frame") -> np.ndarray:
    """Euclidean distance transform of the labels ``d(p) = min{|p − q| : L(q) ≠ L(p)}`` (float32),
    scaled by ``normalize``: ``frame`` → ``d / sqrt(median area / π)``, ``cell`` (or True) → ``d /
    max_cell d``, ``none`` (or False) → ``d``. Computed on each cell's bounding box padded by one
    pixel (the nearest other-label pixel of any cell pixel lies in it)."""
    mode = {True: "cell", False: "none"}.get(normalize, normalize) if isinstance(normalize, bool) else normalize
    if mode not in ("frame", "cell", "none"):
        raise ValueError(f"outer normalisation must be 'frame', 'cell' or 'none', not {normalize!r}")
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, dtype=np.float32)
    ids, boxes = _objects(lab)
    H, W = lab.shape
    areas = []
    for k in ids:
        sl = boxes[int(k) - 1]
        y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, H)
        x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, W)
        m = lab[y0:y1, x0:x1] == k
        d = ndi.distance_transform_edt(m).astype(np.float32)
        if mode == "cell" and d.max() > 0:
            d /= d.max()
        areas.append(m.sum())
        view = out[y0:y1, x0:x1]
        view[m] = d[m]
    if mode == "frame" and areas:
        out /= np.float32(max(np.sqrt(np.median(areas) / np.pi), 1.0))
    return out


@dataclass
class SegTargets:
    """Training maps of one frame (all of the frame's shape)."""

    image: np.ndarray       # float32 preprocessed image
    fgbg: np.ndarray        # uint8 class (1 = cell)
    inner: np.ndarray       # float32 inner distance
    outer: np.ndarray       # float32 outer distance
    ce_mask: np.ndarray     # uint8: class known (V)
    dist_mask: np.ndarray   # uint8: distances known (D)
    kind: str               # 'seg', 'markers' or 'weak'

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in ("image", "fgbg", "inner", "outer", "ce_mask", "dist_mask")}

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays().values())


def label_targets(labels: np.ndarray, config: CalibanSegConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fgbg, inner, outer)`` of a label image."""
    lab = np.asarray(labels)
    return ((lab > 0).astype(np.uint8), inner_distance(lab, config.beta),
            outer_distance(lab, config.outer_normalize))


def make_targets(sample: FrameSample, config: CalibanSegConfig | None = None,
                 image: np.ndarray | None = None) -> SegTargets | None:
    """Targets and masks of one frame by the ignore rules of the module docstring (``None`` for a
    weak frame when ``weak_frames='ignore'``). ``image``: an already preprocessed image."""
    c = config or CalibanSegConfig()
    img = image if image is not None else preprocess(sample.image, c.percentiles, c.clahe_kernel_fraction, c.clahe_clip)
    markers = np.asarray(sample.markers)
    if sample.seg is not None or sample.markers_are_masks:
        labels = np.asarray(sample.seg if sample.seg is not None else markers)
        fg, inner, outer = label_targets(labels, c)
        if sample.seg is not None:
            missing = unannotated_markers(labels, markers, c.covered_fraction)
            ignore = marker_neighbourhood(markers, missing, c.ignore_factor, c.ignore_margin) & (labels == 0)
        else:
            ignore = np.zeros(labels.shape, dtype=bool)
        known = (~ignore).astype(np.uint8)
        return SegTargets(img, fg, inner, outer, known, known.copy(), "seg" if sample.seg is not None else "markers")
    if c.weak_frames == "ignore":
        return None
    if c.weak_frames != "markers":
        raise ValueError(f"weak_frames must be 'markers' or 'ignore', not {c.weak_frames!r}")
    fg = (markers > 0).astype(np.uint8)
    near = marker_neighbourhood(markers, None, c.ignore_factor, c.ignore_margin)
    known = ((markers > 0) | ~near).astype(np.uint8)
    zeros = np.zeros(markers.shape, dtype=np.float32)
    return SegTargets(img, fg, zeros, zeros.copy(), known, np.zeros(markers.shape, dtype=np.uint8), "weak")


# ---------------------------------------------------------------------- loss
def seg_loss(outputs: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
             ce_weight: float = 0.01) -> tuple[torch.Tensor, dict[str, float]]:
    """``ce_weight · CE_w + MSE_D(inner) + MSE_D(outer)`` (module docstring); returns the loss and
    its terms."""
    logits = outputs["fgbg"]
    y = batch["fgbg"].long()
    vmask = batch["ce_mask"].to(logits.dtype)
    ce = F.cross_entropy(logits, y, reduction="none")
    n_valid = vmask.sum()
    n_fg = (vmask * (y == 1)).sum()
    n_bg = n_valid - n_fg
    w_fg = n_valid / (2 * n_fg.clamp(min=1))
    w_bg = n_valid / (2 * n_bg.clamp(min=1))
    w = torch.where(y == 1, w_fg, w_bg) * vmask
    ce_w = (w * ce).sum() / n_valid.clamp(min=1)
    dmask = batch["dist_mask"].to(logits.dtype)
    nd = dmask.sum().clamp(min=1)
    mse_in = (((outputs["inner"][:, 0] - batch["inner"]) ** 2) * dmask).sum() / nd
    mse_out = (((outputs["outer"][:, 0] - batch["outer"]) ** 2) * dmask).sum() / nd
    loss = ce_weight * ce_w + mse_in + mse_out
    return loss, {"ce": float(ce_w.detach()), "inner": float(mse_in.detach()), "outer": float(mse_out.detach())}


# ---------------------------------------------------------------------- crops
CONTINUOUS = ("image", "inner", "outer")
"""Maps of :class:`SegTargets` resampled bilinearly in crops; the others (classes, masks) by nearest neighbour."""

_WARMING: "SegBatches | None" = None  # the sampler whose targets a forked pool computes (see SegBatches.warm)


def _warm_targets(ref: FrameRef) -> tuple[SegTargets | None, np.ndarray]:
    assert _WARMING is not None
    return _WARMING._compute(ref)


class SegBatches:
    """``batches(step)`` → a batch of ``batch`` augmented crops of training frames (a callable for
    :func:`celltrace.train.fit`): step ``k`` always gives the same batch (generator seeded with
    ``(seed, k)``). Frames are drawn uniformly; with probability ``p_centre`` a crop is centred on
    a random known cell (so frames with few annotated cells still give useful crops). Targets of a
    frame are computed once and cached (least recently used out beyond ``config.cache_mb``).
    With an accelerator ``device`` the cached frames also live there and crops and photometric
    shifts are made there (:func:`~celltrace.train.augment.apply_transform_torch`, the same
    transforms drawn from the same generator), so the CPU does not limit the training speed."""

    def __init__(self, sequences: Sequence[CTCSequence], refs: Sequence[FrameRef], config: CalibanSegConfig,
                 seed: int = 0, p_centre: float = 0.7, device: str | None = None):
        self.device = None if device is None else torch.device(device)
        self._on_device: dict[tuple[int, int], torch.Tensor] = {}
        self.sequences = list(sequences)
        self.config = config
        self.seed = int(seed)
        self.p_centre = p_centre
        self.cache: OrderedDict[tuple[int, int], tuple[SegTargets | None, np.ndarray]] = OrderedDict()
        self._seq_radius: dict[int, float] = {}
        self.refs = [r for r in refs if self._usable(r)]
        if not self.refs:
            raise ValueError("no usable training frames (SEG frames, mask-like markers or weak frames)")

    def _usable(self, ref: FrameRef) -> bool:
        seq = self.sequences[ref.seq]
        return ref.t in seq.seg_files or seq.markers_are_masks or self.config.weak_frames != "ignore"

    def targets(self, ref: FrameRef) -> tuple[SegTargets | None, np.ndarray]:
        key = (ref.seq, ref.t)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        value = self._compute(ref)
        self._store(key, value)
        return value

    def warm(self, processes: int = 1) -> None:
        """Compute the targets of every training frame now (``processes`` > 1: in a process pool),
        e.g. before worker processes fork, so they share one cache instead of each building its own.
        Frames beyond ``config.cache_mb`` are evicted as usual."""
        todo = [r for r in self.refs if (r.seq, r.t) not in self.cache]
        for r in {r.seq for r in todo}:
            self.sequence_radius(r)
        if processes > 1 and len(todo) > 1:
            import multiprocessing as mp

            global _WARMING
            _WARMING = self  # forked workers find the sampler here: it is not pickled with every task
            try:
                with mp.get_context("fork").Pool(processes) as pool:
                    for ref, value in zip(todo, pool.imap(_warm_targets, todo, chunksize=1)):
                        self._store((ref.seq, ref.t), value)
            finally:
                _WARMING = None
        else:
            for ref in todo:
                self.targets(ref)

    def _compute(self, ref: FrameRef) -> tuple[SegTargets | None, np.ndarray]:
        tg = make_targets(self.sequences[ref.seq].sample(ref.t), self.config)
        if tg is not None:  # store compactly
            tg.image, tg.inner, tg.outer = (a.astype(np.float16) for a in (tg.image, tg.inner, tg.outer))
            pts = np.argwhere((tg.fgbg > 0) & (tg.ce_mask > 0))
            pts = pts[:: max(1, len(pts) // 2000)]
        else:
            pts = np.zeros((0, 2), dtype=np.int64)
        return tg, pts

    def _store(self, key: tuple[int, int], value: tuple[SegTargets | None, np.ndarray]) -> None:
        self.cache[key] = value
        while len(self.cache) > 1 and sum(t.nbytes for t, _ in self.cache.values() if t is not None) > \
                self.config.cache_mb * 2**20:
            self.cache.popitem(last=False)

    def sequence_radius(self, seq: int) -> float:
        """The sequence's cell radius ``r̂`` as the tracker estimates a movie's (threshold estimate on
        ``radius_frames`` raw frames spread over it: no labels)."""
        if seq not in self._seq_radius:
            from celltrace.methods.caliban.seg_infer import estimate_radius

            frames = self.sequences[seq].frames
            idx = spread(len(frames), self.config.radius_frames)
            self._seq_radius[seq] = estimate_radius([self.sequences[seq].image(frames[i]) for i in idx], self.config)
        return self._seq_radius[seq]

    def scale_range(self, ref: FrameRef) -> tuple[float, float]:
        """``config.scale_range`` times ``target_radius / r̂`` of the frame's sequence, the scale the
        tracker will use on a movie like it."""
        c = self.config
        k = c.target_radius / self.sequence_radius(ref.seq) if c.target_radius else 1.0
        return c.scale_range[0] * k, c.scale_range[1] * k

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, int(step)))
        c = self.config
        crops = []
        while len(crops) < c.batch:
            ref = self.refs[int(rng.integers(len(self.refs)))]
            tg, pts = self.targets(ref)
            if tg is None:
                continue
            centre = tuple(pts[int(rng.integers(len(pts)))]) if len(pts) and rng.random() < self.p_centre else None
            if self.device is not None:
                crops.append(self._device_crop(ref, tg, centre, rng))
                continue
            crop = augment(tg.arrays(), rng, c.crop, scale_range=self.scale_range(ref), centre=centre,
                           orders={k: 1 for k in CONTINUOUS})
            if c.photometric > 0:
                crop["image"] = random_photometric(crop["image"], rng, c.photometric)
            crops.append(crop)
        if self.device is not None:
            return {k: torch.stack([cr[k] for cr in crops]) for k in crops[0]}
        return collate(crops)

    def _device_crop(self, ref: FrameRef, tg: SegTargets, centre: tuple[int, int] | None,
                     rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """One crop made on ``self.device``, as ``augment`` + ``random_photometric`` + ``collate`` would."""
        arrays = tg.arrays()
        key = (ref.seq, ref.t)
        if key not in self._on_device:
            self._on_device[key] = torch.stack([torch.from_numpy(np.asarray(a, dtype=np.float16)) for a in
                                                arrays.values()]).to(self.device)
        tr = draw_transform(tg.image.shape, self.config.crop, rng, self.scale_range(ref), True, True, centre)
        nearest = [k not in CONTINUOUS for k in arrays]
        out = apply_transform_torch(self._on_device[key], tr, nearest)
        crop = {k: out[i] for i, k in enumerate(arrays)}
        if self.config.photometric > 0:
            crop["image"] = Photometric.draw(rng, self.config.photometric).apply_torch(crop["image"])
        crop["image"] = crop["image"][None]
        for k in ("fgbg", "ce_mask", "dist_mask"):
            crop[k] = crop[k].round().to(torch.uint8)
        return crop


def collate(crops: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack crops into tensors: ``image`` (N, 1, H, W) float32, the targets (N, H, W)."""
    out = {}
    for k in crops[0]:
        a = np.stack([np.asarray(c[k]) for c in crops])
        t = torch.from_numpy(a.astype(np.float32) if a.dtype == np.float16 else a)
        out[k] = t.unsqueeze(1) if k == "image" else t
    return out


__all__ = ["preprocess", "cell_centres", "inner_distance", "outer_distance", "SegTargets", "label_targets", "make_targets", "seg_loss", "SegBatches", "collate"]
