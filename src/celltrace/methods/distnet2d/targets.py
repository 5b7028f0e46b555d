"""Ground truth → DistNet2D's training targets (paper §2.1–2.2, §3.2), the loss, and the sampler of
augmented training windows.

**Maps of a frame** (instances by the shared rules of
:func:`celltrace.train.instances.frame_labels`: SEG objects with TRA identities, markers
of the cells a SEG frame leaves out, markers alone on frames without SEG):

* ``EDM_i = min(d(i, B), d(i, F \\ C_j))`` for ``i ∈ C_j`` (Euclidean distance from the pixel to the
  nearest pixel not in its cell), ``−1`` on background ``B``;
* ``GDCM_i = d_g(i, c_j)``: geodesic distance inside ``C_j`` to its medoid centre ``c_j`` (fast
  marching, ``scikit-fmm``), 0 on background.

Only *fully annotated* cells (SEG objects, or markers that are masks) have EDM/GDCM targets; a
marker-only cell is never background: its pixels and the neighbourhood around it are left out of
the EDM loss (``train.annotations``).

**Pair targets** for window frames ``a`` (earlier, movie frame ``t_a``) and ``b`` (``t_b``): the
*previous cell* of cell ``j`` of ``t_b`` is its own track at ``t_a``, or its nearest ancestor
alive at ``t_a`` (a division between the two frames). Backward, at the pixels of ``j``: the
displacement ``c_j − c_prev(j)`` (in crop pixels, centres mapped through each frame's own crop
transform, so drift and zoom are included) and the multiplicity class 0 (no previous cell) or 1;
forward, at the pixels of cell ``i`` of ``t_a``: the number of cells of ``t_b`` whose previous cell
is ``i`` as class 0, 1 or 2 (= more than one), and ``mean(c_next) − c_i``. Objects without a track
identity get no tracking target.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import skfmm
import torch
from scipy import ndimage as ndi

from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.methods.distnet2d.model import centre_index, window_offsets, window_pairs
from celltrace.nn.scaling import network_scale
from celltrace.segmentation.medoids import medoids
from celltrace.train.augment import Transform, apply_transform, draw_transform, transform_points
from celltrace.train.data import CTCSequence, FrameRef, FrameSample, estimated_radius
from celltrace.train.instances import UNTRACKED, frame_labels, parents_of


# ---------------------------------------------------------------------- maps of a frame
def edm_map(labels: np.ndarray) -> np.ndarray:
    """``EDM`` of a label image (module docstring): per cell the Euclidean distance transform of its
    own mask (so a neighbouring cell counts as outside), ``−1`` on background. float32."""
    lab = np.asarray(labels)
    out = np.full(lab.shape, -1.0, dtype=np.float32)
    ids = np.unique(lab[lab > 0])
    if not ids.size:
        return out
    rank = np.where(lab > 0, np.searchsorted(ids, lab) + 1, 0)
    H, W = lab.shape
    for k, sl in enumerate(ndi.find_objects(rank)):
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, H)
        x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, W)
        m = rank[y0:y1, x0:x1] == k + 1
        # pad so that the field's edge counts as outside the cell
        d = ndi.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
        out[y0:y1, x0:x1][m] = d[m]
    return out


def gdcm_map(labels: np.ndarray, centres: dict[int, tuple[int, int]]) -> np.ndarray:
    """``GDCM`` of a label image: geodesic distance inside each cell to its centre ``centres[id]``
    (first-order-exact fast marching, ``skfmm.distance`` on the cell's mask; 0 at the centre,
    integers along straight paths), 0 on background and for cells without a centre. float32."""
    lab = np.asarray(labels)
    out = np.zeros(lab.shape, dtype=np.float32)
    ids = np.array(sorted(k for k in centres if k > 0), dtype=np.int64)
    if not ids.size:
        return out
    rank = np.where(np.isin(lab, ids), np.searchsorted(ids, lab) + 1, 0)
    for k, sl in enumerate(ndi.find_objects(rank)):
        if sl is None:
            continue
        m = rank[sl] == k + 1
        cy, cx = centres[int(ids[k])]
        ly, lx = cy - sl[0].start, cx - sl[1].start
        if not (0 <= ly < m.shape[0] and 0 <= lx < m.shape[1] and m[ly, lx]):
            continue  # a centre outside its cell: no target
        phi = np.ones(m.shape)
        phi[ly, lx] = 0.0
        d = np.zeros(m.shape) if m.sum() == 1 else np.ma.filled(skfmm.distance(np.ma.MaskedArray(phi, ~m)), 0.0)
        out[sl][m] = d[m]
    return out


@dataclass
class FrameTargets:
    """Everything a frame contributes to training: ``image`` (raw float32), ``labels`` (track ids),
    ``full`` (pixels of fully annotated cells), ``ignore`` (unknown pixels near marker-only cells),
    ``centres`` (id → medoid), ``edm``, ``gdcm``."""

    image: np.ndarray
    labels: np.ndarray
    full: np.ndarray
    ignore: np.ndarray
    centres: dict[int, tuple[int, int]]
    edm: np.ndarray
    gdcm: np.ndarray

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.image, self.labels, self.full, self.ignore, self.edm, self.gdcm))


def frame_targets(sample: FrameSample, config: DistNet2DConfig | None = None) -> FrameTargets:
    """EDM, GDCM (on fully annotated cells) and the instances of one frame (module docstring)."""
    c = config or DistNet2DConfig()
    fl = frame_labels(sample, c)
    labels = fl.labels
    if fl.kind == "seg":
        full = np.asarray(sample.seg) > 0
    elif fl.kind == "markers":
        full = labels > 0
    else:
        full = np.zeros(labels.shape, dtype=bool)
    full_labels = np.where(full, labels, 0)
    edm = edm_map(full_labels)
    full_ids = set(np.unique(full_labels[full_labels > 0]).tolist())
    gdcm = gdcm_map(full_labels, {k: v for k, v in fl.centres.items() if k in full_ids})
    ignore = fl.ignore | ((labels > 0) & ~full)
    return FrameTargets(np.asarray(sample.image, dtype=np.float32), labels, full, ignore, fl.centres, edm, gdcm)


# ---------------------------------------------------------------------- links between two frames
def previous_cell(cell: int, alive: set[int] | dict[int, object], parents: dict[int, int], limit: int = 1000) -> int:
    """The cell of an earlier frame that ``cell`` continues: itself if alive there, else its nearest
    ancestor alive there (0 when none, or for objects without a track identity)."""
    k = cell
    for _ in range(limit):
        if k <= 0 or k >= UNTRACKED:
            return 0
        if k in alive:
            return k
        k = parents.get(k, 0)
    return 0


def pair_links(prev: FrameTargets, curr: FrameTargets, parents: dict[int, int]) -> dict[int, int]:
    """Cell of ``curr`` → its previous cell in ``prev`` (0 for none), for every tracked cell of ``curr``."""
    return {j: previous_cell(j, prev.centres, parents) for j in curr.centres if j < UNTRACKED}


# ---------------------------------------------------------------------- augmentation
def random_normalize(image: np.ndarray, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """``(I − P_lo) / (P_hi − P_lo)`` with the image's own percentiles ``lo``, ``hi``."""
    p0, p1 = np.percentile(image, (lo, hi))
    if p1 <= p0:
        return np.zeros(image.shape, dtype=np.float32)
    return ((image - p0) / (p1 - p0)).astype(np.float32)


def histogram_deformation(images: list[np.ndarray], rng: np.random.Generator, knots: int = 5,
                          amount: float = 0.5) -> list[np.ndarray]:
    """One random monotone piecewise-linear intensity curve on ``[0, 1]`` (knot heights jittered by
    up to ``amount`` of their spacing, kept increasing), applied to every image; values outside
    ``[0, 1]`` shift with the curve's ends."""
    x = np.linspace(0.0, 1.0, knots + 2)
    y = x + rng.uniform(-amount, amount, x.size) / (knots + 1)
    y[0], y[-1] = 0.0, 1.0
    y = np.maximum.accumulate(np.clip(y, 0.0, 1.0))
    out = []
    for im in images:
        inside = np.interp(np.clip(im, 0.0, 1.0), x, y)
        out.append((inside + (im - np.clip(im, 0.0, 1.0))).astype(np.float32))
    return out


def _paint(lab: np.ndarray, values: dict[int, tuple[np.ndarray | None, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Maps ``(2, H, W)`` of each cell's displacement (NaN = none) and ``(H, W)`` of its class (−1 = none)."""
    disp = np.full((2,) + lab.shape, np.nan, np.float32)
    mult = np.full(lab.shape, -1, np.int64)
    ids = np.unique(lab[lab > 0])
    if not values or not ids.size:
        return disp, mult
    lut_d = np.full((int(ids.size) + 1, 2), np.nan, np.float32)
    lut_m = np.full(int(ids.size) + 1, -1, np.int64)
    for n, i in enumerate(ids.tolist(), start=1):
        if i in values:
            d, m = values[i]
            lut_m[n] = m
            if d is not None:
                lut_d[n] = d
    rank = np.where(lab > 0, np.searchsorted(ids, lab) + 1, 0)
    return np.moveaxis(lut_d[rank], -1, 0), lut_m[rank]


def pair_maps(lab_a: np.ndarray, lab_b: np.ndarray, centres_a: dict[int, np.ndarray], centres_b: dict[int, np.ndarray],
              links: dict[int, int]) -> dict[str, np.ndarray]:
    """Tracking targets of a pair (module docstring) on label images ``lab_a`` (earlier) and ``lab_b``
    with centres in their pixel coordinates and ``links`` (cell of ``b`` → previous cell in ``a``, 0
    none): ``disp_bwd`` ``(2, H, W)`` and ``mult_bwd`` ``(H, W)`` at ``b``'s cells, ``disp_fwd`` and
    ``mult_fwd`` at ``a``'s tracked cells (NaN / −1 where there is no target)."""
    nxt: dict[int, list[int]] = {}
    for j, i in links.items():
        if i:
            nxt.setdefault(i, []).append(j)
    bwd = {j: (np.asarray(centres_b[j]) - np.asarray(centres_a[i]) if i else None, 1 if i else 0)
           for j, i in links.items()}
    fwd = {}
    for i in centres_a:
        if i >= UNTRACKED:
            continue
        js = nxt.get(i, [])
        d = np.mean([centres_b[j] for j in js], axis=0) - np.asarray(centres_a[i]) if js else None
        fwd[i] = (d, min(len(js), 2))
    disp_bwd, mult_bwd = _paint(lab_b, bwd)
    disp_fwd, mult_fwd = _paint(lab_a, fwd)
    return {"disp_bwd": disp_bwd, "mult_bwd": mult_bwd, "disp_fwd": disp_fwd, "mult_fwd": mult_fwd}


def ideal_maps(prev: np.ndarray, curr: np.ndarray, parents: dict[int, int]) -> dict[str, np.ndarray]:
    """The maps a perfect network would predict for frame ``curr`` and the pair ``(prev, curr)`` of
    ground-truth label images whose labels are track ids (``parents``: id → parent id): ``edm``,
    ``gdcm``, displacements (0 where undefined) and one-hot multiplicity probabilities — the
    input of :func:`~celltrace.methods.distnet2d.tracker.track_maps` for testing the post-processing."""
    ca, cb = medoids(prev), medoids(curr)
    links = {j: previous_cell(j, ca, parents) for j in cb}
    pm = pair_maps(prev, curr, {k: np.array(v, float) for k, v in ca.items()},
                   {k: np.array(v, float) for k, v in cb.items()}, links)
    out = {"edm": edm_map(curr), "gdcm": gdcm_map(curr, cb)}
    for d in ("bwd", "fwd"):
        out[f"disp_{d}"] = np.nan_to_num(pm[f"disp_{d}"])
        cls = pm[f"mult_{d}"]
        out[f"mult_{d}"] = np.stack([(cls == k) for k in range(3)]).astype(np.float32)
    return out


# ---------------------------------------------------------------------- the window sampler
class WindowBatches:
    """``batches(step)`` → ``config.batch`` augmented training windows (a callable for
    :func:`celltrace.train.fit`; step ``k`` always gives the same batch).

    Per batch a temporal subsampling step ``s`` is drawn in ``config.subsample``; per window a
    central frame ``t`` of the training frames, the window :func:`window_offsets` (indices clamped
    to the sequence's training frames: an edge frame repeats), one crop with ±10 % zoom, 90°
    rotation and flips (centred on a random cell with probability 0.7), shifted per frame by up to
    ``max_drift`` pixels (stage drift). Photometric: per-image normalisation with random
    percentiles, blur, noise, histogram deformation. Frame targets are cached (LRU, ``cache_mb``).
    """

    def __init__(self, sequences: Sequence[CTCSequence], refs: Sequence[FrameRef], config: DistNet2DConfig,
                 seed: int = 0, augment: bool = True):
        self.sequences = list(sequences)
        self.config = config
        self.seed = int(seed)
        self.augment = augment
        self.frames: dict[int, list[int]] = {}
        for r in refs:
            self.frames.setdefault(r.seq, []).append(r.t)
        self.refs = [(r.seq, r.t) for r in refs]
        if not self.refs:
            raise ValueError("no training frames")
        self.parents = [parents_of(s) for s in self.sequences]
        self.scales = [1.0 if config.cell_radius is None else network_scale(config.cell_radius, estimated_radius(s))
                       for s in self.sequences]
        """Network pixels per source pixel of each sequence (``config.cell_radius`` / its radius)."""
        self.cache: OrderedDict[tuple[int, int], FrameTargets] = OrderedDict()
        self.pairs = window_pairs(config.frames)

    def frame(self, seq: int, t: int) -> FrameTargets:
        key = (seq, t)
        if key in self.cache:
            self.cache.move_to_end(key)
            return self.cache[key]
        item = frame_targets(self.sequences[seq].sample(t), self.config)
        self.cache[key] = item
        while len(self.cache) > self.config.frames and \
                sum(v.nbytes for v in self.cache.values()) > self.config.cache_mb * 2**20:
            self.cache.popitem(last=False)
        return item

    def window_frames(self, seq: int, t: int, step: int) -> list[int]:
        """Movie frames of the window centred on ``t``, clamped to the training frames of ``seq``."""
        ts = self.frames[seq]
        lo, hi = min(ts), max(ts)
        return [int(np.clip(t + o, lo, hi)) for o in window_offsets(self.config.frames, self.config.gap, step)]

    def window(self, seq: int, t: int, step: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One augmented window: images, EDM/GDCM targets and weights per frame, tracking targets per pair."""
        c = self.config
        times = self.window_frames(seq, t, step)
        fts = [self.frame(seq, u) for u in times]
        centre_ft = fts[centre_index(c.frames)]
        centre = None
        if centre_ft.centres and rng.random() < 0.7:
            ids = sorted(centre_ft.centres)
            centre = centre_ft.centres[ids[int(rng.integers(len(ids)))]]
        zoom = tuple(c.scale_range) if self.augment else (1.0, 1.0)
        scale = (zoom[0] * self.scales[seq], zoom[1] * self.scales[seq])
        base = draw_transform(centre_ft.image.shape, c.crop, rng, scale, rotate=self.augment, flip=self.augment,
                              centre=centre)
        trs: list[Transform] = []
        for _ in times:
            if self.augment and c.max_drift > 0:
                dy, dx = rng.uniform(-c.max_drift, c.max_drift, 2) / base.scale
                if base.scale == 1.0:
                    dy, dx = round(dy), round(dx)
                trs.append(replace(base, y0=base.y0 + dy, x0=base.x0 + dx))
            else:
                trs.append(base)
        out: dict[str, np.ndarray] = {}
        images, labels, edm, edm_w, gdcm, gdcm_w = [], [], [], [], [], []
        for ft, tr in zip(fts, trs):
            valid = apply_transform(np.ones(ft.labels.shape, dtype=bool), tr, 0)
            images.append(apply_transform(ft.image, tr, 1))
            lab = apply_transform(ft.labels, tr, 0)
            full = apply_transform(ft.full, tr, 0)
            ign = apply_transform(ft.ignore, tr, 0)
            labels.append(lab)
            edm.append(apply_transform(ft.edm, tr, 1) * np.float32(tr.scale))
            gdcm.append(apply_transform(ft.gdcm, tr, 1) * np.float32(tr.scale))
            edm_w.append(valid & ~ign & (full | (lab == 0)))
            gdcm_w.append(valid & full)
        out["image"] = np.stack(self._photometric(images, rng))
        out["edm"], out["edm_weight"] = np.stack(edm), np.stack(edm_w)
        out["gdcm"], out["gdcm_weight"] = np.stack(gdcm), np.stack(gdcm_w)
        maps = {k: [] for k in ("disp_bwd", "mult_bwd", "disp_fwd", "mult_fwd")}
        parents = self.parents[seq]
        for a, b in self.pairs:
            fa, fb = fts[a], fts[b]
            pa = {i: transform_points(np.array([p], float), trs[a])[0] for i, p in fa.centres.items()}
            pb = {j: transform_points(np.array([p], float), trs[b])[0] for j, p in fb.centres.items()}
            for k, v in pair_maps(labels[a], labels[b], pa, pb, pair_links(fa, fb, parents)).items():
                maps[k].append(v)
        out.update({k: np.stack(v) for k, v in maps.items()})
        return out

    def _photometric(self, images: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
        c = self.config
        if not self.augment:
            return [random_normalize(im, rng, *c.percentiles) for im in images]
        lo, hi = rng.uniform(*c.percentiles_low), rng.uniform(*c.percentiles_high)
        out = [random_normalize(im, rng, lo, hi) for im in images]
        if rng.random() < c.p_histogram:
            out = histogram_deformation(out, rng)
        if rng.random() < c.p_blur:
            sigma = float(rng.uniform(1.0, 2.0))
            out = [ndi.gaussian_filter(im, sigma).astype(np.float32) for im in out]
        if rng.random() < c.p_noise:
            level = float(rng.uniform(0.0, 0.1))
            out = [(im + rng.normal(0.0, level, im.shape)).astype(np.float32) for im in out]
        return out

    def __call__(self, step: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, int(step)))
        lo, hi = self.config.subsample
        s = int(rng.integers(lo, hi + 1)) if self.augment else 1
        picks = [self.refs[int(rng.integers(len(self.refs)))] for _ in range(self.config.batch)]
        return collate([self.window(seq, t, s, rng) for seq, t in picks])


def collate(windows: Sequence[dict[str, np.ndarray]]) -> dict[str, torch.Tensor]:
    """Stack windows along a new batch axis (displacements keep NaN where there is no target)."""
    return {k: torch.from_numpy(np.ascontiguousarray(np.stack([w[k] for w in windows]))) for k in windows[0]}


# ---------------------------------------------------------------------- loss
def pseudo_huber(residual: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """``δ²(√(1 + (r/δ)²) − 1)`` elementwise."""
    return delta ** 2 * (torch.sqrt(1 + (residual / delta) ** 2) - 1)


def _masked_mean(values: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    w = weight.to(values.dtype)
    return (values * w).sum() / w.sum().clamp(min=1.0)


def balanced_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Categorical cross-entropy over pixels with ``target ≥ 0`` (``logits`` ``(…, C, H, W)``),
    each class weighted by the inverse of its frequency among those pixels (balanced classes)."""
    C = logits.shape[-3]
    lg = logits.movedim(-3, -1).reshape(-1, C)
    tg = target.reshape(-1)
    keep = tg >= 0
    if not bool(keep.any()):
        return logits.sum() * 0.0
    lg, tg = lg[keep], tg[keep]
    counts = torch.bincount(tg, minlength=C).to(lg.dtype)
    weights = torch.where(counts > 0, 1.0 / counts.clamp(min=1.0), torch.zeros_like(counts))
    ce = torch.nn.functional.cross_entropy(lg, tg, reduction="none")
    w = weights[tg]
    return (ce * w).sum() / w.sum()


def distnet2d_loss(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                   config: DistNet2DConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """``w_edm·L_EDM + w_gdcm·L_GDCM + w_displacement·L_disp + w_multiplicity·L_mult`` (§3.2):
    Pseudo-Huber means over the EDM weight (annotated pixels, background included; with
    ``balance_edm`` the mean of the cell and background averages), inside fully
    annotated cells for GDCM and inside tracked cells for the displacements (both directions);
    balanced cross-entropy for the multiplicity (both directions). Returns the loss and its parts."""
    dlt = config.huber_delta
    edm_err = pseudo_huber(out["edm"] - batch["edm"], dlt)
    if config.balance_edm:
        cells = batch["edm"] > 0
        l_edm = 0.5 * (_masked_mean(edm_err, batch["edm_weight"] & cells) + _masked_mean(edm_err, batch["edm_weight"] & ~cells))
    else:
        l_edm = _masked_mean(edm_err, batch["edm_weight"])
    l_gdcm = _masked_mean(pseudo_huber(out["gdcm"] - batch["gdcm"], dlt), batch["gdcm_weight"])
    l_disp = out["edm"].sum() * 0.0
    for d in ("bwd", "fwd"):
        target = batch[f"disp_{d}"]
        have = torch.isfinite(target[:, :, 0])
        r = out[f"disp_{d}"] - torch.nan_to_num(target)
        l_disp = l_disp + 0.5 * _masked_mean(pseudo_huber(r, dlt).sum(2), have)
    l_mult = 0.5 * (balanced_cross_entropy(out["mult_bwd"], batch["mult_bwd"])
                    + balanced_cross_entropy(out["mult_fwd"], batch["mult_fwd"]))
    loss = (config.w_edm * l_edm + config.w_gdcm * l_gdcm + config.w_displacement * l_disp
            + config.w_multiplicity * l_mult)
    return loss, {"edm": float(l_edm.detach()), "gdcm": float(l_gdcm.detach()), "displacement": float(l_disp.detach()),
                  "multiplicity": float(l_mult.detach())}


__all__ = ["edm_map", "gdcm_map", "FrameTargets", "frame_targets", "previous_cell", "pair_links", "WindowBatches",
           "collate", "pair_maps", "ideal_maps", "pseudo_huber", "balanced_cross_entropy", "distnet2d_loss", "random_normalize",
           "histogram_deformation"]
