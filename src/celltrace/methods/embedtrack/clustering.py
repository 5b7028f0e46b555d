"""Pixel clustering (paper §3.3): segmentation offsets, bandwidths and seediness → instance labels.

With normalised positions ``p = (y, x) / scale`` and predictions ``O^S`` (offsets), ``S`` (bandwidths),
``D`` (seediness):

1. ``S^smooth`` = ``S`` averaged over 3×3 (per axis);
2. foreground ``F = {i : D_i > seed_threshold}``; shifted positions ``e_i = p_i + o_i`` for ``i ∈ F``;
3. votes: each ``e_i`` rounded to its pixel ``round(e_i · scale)``; a pixel ``j ∈ F`` is a candidate
   centre when more than ``min_votes`` shifted pixels fall in the 3×3 neighbourhood of its own
   shifted pixel; candidates are processed by decreasing ``D_j``;
4. candidate ``j``: ``s_j = exp(w_s · S^smooth_j)``, ``d_{j,i} = exp(−(e_jy − e_iy)²/s_jy − (e_jx − e_ix)²/s_jx)``,
   cluster ``B_j = {i ∈ F : d_{j,i} > score_threshold}``; candidates in ``B_j`` leave the list;
5. reassignment: each pixel keeps its best score so far; the new instance takes the pixels of
   ``B_j`` whose score improves, ``N = {i ∈ B_j : d_{j,i} > best_i}``, if ``|N| ≥ min_size`` and
   fewer than half of ``N`` already belong to another instance; otherwise nothing changes.

Instances that end smaller than ``min_size`` after reassignment are dropped; labels are 1..K.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from celltrace.methods.embedtrack.config import EmbedTrackConfig


def shifted_positions(offsets: np.ndarray, scale: float, mask: np.ndarray | None = None) -> np.ndarray:
    """``(n, 2)`` shifted positions ``e_i = p_i + o_i`` (normalised) of the pixels in ``mask`` (all
    pixels without), in row-major order; ``offsets`` is ``(2, H, W)``."""
    _, h, w = offsets.shape
    yy, xx = np.mgrid[0:h, 0:w]
    sel = np.ones((h, w), bool) if mask is None else np.asarray(mask, bool)
    return np.stack([yy[sel] / scale + offsets[0][sel], xx[sel] / scale + offsets[1][sel]], 1)


def cluster(offsets: np.ndarray, sigma: np.ndarray, seed: np.ndarray, config: EmbedTrackConfig | None = None,
            scale: float | None = None, dtype: np.dtype | type = np.int32) -> np.ndarray:
    """Label image from ``offsets`` (2, H, W), ``sigma`` (2, H, W), ``seed`` (H, W) by steps 1–5 of the
    module docstring; ``scale`` defaults to ``config.position_scale``."""
    c = config or EmbedTrackConfig()
    scale = float(scale if scale is not None else c.position_scale)
    offsets = np.asarray(offsets, dtype=np.float64)
    seed = np.asarray(seed, dtype=np.float64)
    h, w = seed.shape
    smooth = np.stack([ndi.uniform_filter(np.asarray(s, np.float64), 3, mode="nearest") for s in sigma])
    fg = seed > c.seed_threshold
    out = np.zeros((h, w), dtype=dtype)
    n = int(fg.sum())
    if n == 0:
        return out
    emb = shifted_positions(offsets, scale, fg)                       # (n, 2) normalised
    pix = np.rint(emb * scale).astype(np.int64)
    pix[:, 0] = np.clip(pix[:, 0], 0, h - 1)
    pix[:, 1] = np.clip(pix[:, 1], 0, w - 1)
    votes = np.bincount(pix[:, 0] * w + pix[:, 1], minlength=h * w).reshape(h, w)
    votes3 = ndi.uniform_filter(votes.astype(np.float64), 3, mode="constant") * 9.0
    score_seed = seed[fg]
    s = np.exp(c.w_s * smooth[:, fg].T)                                # (n, 2)
    cand = np.flatnonzero(votes3[pix[:, 0], pix[:, 1]] > c.min_votes + 0.5)
    cand = cand[np.argsort(-score_seed[cand], kind="stable")]
    open_ = np.zeros(n, bool)
    open_[cand] = True
    best = np.zeros(n)
    owner = np.zeros(n, dtype=np.int64)
    by_y = np.argsort(emb[:, 0], kind="stable")   # slabs |e_iy − e_jy| ≤ r come out as index ranges
    ey_sorted = emb[by_y, 0]
    thr = np.log(1.0 / c.score_threshold)  # d > t  ⇔  Σ Δ²/s < ln(1/t)
    k = 0
    for j in cand:
        if not open_[j]:
            continue
        open_[j] = False
        ry, rx = np.sqrt(thr * s[j])
        lo = int(np.searchsorted(ey_sorted, emb[j, 0] - ry, side="left"))
        hi = int(np.searchsorted(ey_sorted, emb[j, 0] + ry, side="right"))
        near = by_y[lo:hi]
        near = near[np.abs(emb[near, 1] - emb[j, 1]) <= rx]
        if near.size == 0:
            continue
        diff = emb[near] - emb[j]
        d = np.exp(-(diff[:, 0] ** 2) / s[j, 0] - (diff[:, 1] ** 2) / s[j, 1])
        inside = d > c.score_threshold
        members, dm = near[inside], d[inside]
        open_[members] = False
        gain = dm > best[members]
        new, dn = members[gain], dm[gain]
        if new.size < c.min_size or new.size == 0:
            continue
        if np.count_nonzero(owner[new]) >= 0.5 * new.size:
            continue
        k += 1
        owner[new] = k
        best[new] = dn
    if k == 0:
        return out
    sizes = np.bincount(owner, minlength=k + 1)
    keep = np.zeros(k + 1, dtype=np.int64)
    kept = np.flatnonzero(sizes[1:] >= c.min_size) + 1
    keep[kept] = np.arange(1, kept.size + 1)
    out[fg] = keep[owner].astype(dtype)
    return out


__all__ = ["shifted_positions", "cluster"]
