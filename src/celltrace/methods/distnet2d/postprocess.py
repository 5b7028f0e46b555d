"""DistNet2D's segmentation from its maps (paper §2.1, §3.6).

1. **Contours**: foreground ``F = {EDM > edm_threshold}``; seeds are the regional maxima of the EDM
   of height ≥ ``edm_h`` (h-maxima), every component of ``F`` gets one; watershed on ``−EDM`` in ``F``.
2. **Centres**: ``G = exp(−GDCM² / 2σ²) / (√(2π)·σ)`` inside ``F`` (0 outside), ``σ`` =
   ``sigma_fraction`` of the typical cell thickness (twice the median of the regions' EDM maxima),
   limited to ``sigma_range``; centres are the watershed basins of the Laplacian of Gaussian
   ``∇²_σ G`` (its regional minima where ``G`` exceeds 10 % of its peak, grown in
   ``∇²_σ G < 0``); a centre's *amplitude* is the
   maximum of ``G`` in it. Centres whose area is outside ``centre_size_range`` × the median centre
   area, or of eccentricity above ``max_eccentricity``, are dropped.
3. **Merging**: a region without a centre of its own merges into the touching region it shares the
   longest border with; two touching regions with centres merge when the ratio of their centre
   amplitudes (smaller / larger) is below ``centre_ratio``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops
from skimage.morphology import h_maxima
from skimage.segmentation import watershed

from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.segmentation.watershed import relabel_sequential


@dataclass
class Centres:
    """Centre regions (``labels``, 0 = none), their amplitudes (``amplitude[k−1]`` of centre ``k``)
    and peak positions ``(y, x)``."""

    labels: np.ndarray
    amplitude: np.ndarray
    peaks: np.ndarray


def edm_watershed(edm: np.ndarray, threshold: float = 0.5, h: float = 1.0) -> np.ndarray:
    """Step 1: label image (int32) of the watershed on ``−EDM`` inside ``EDM > threshold``, seeded by
    the h-maxima (every foreground component without one is its own seed)."""
    fg = edm > threshold
    if not fg.any():
        return np.zeros(edm.shape, np.int32)
    e = np.where(fg, edm, threshold).astype(np.float64)
    comp, m = ndi.label(fg)
    if h > 0:  # h-maxima per component's box: the reconstruction's cost follows the foreground
        peaks = np.zeros(fg.shape, bool)
        for k, sl in enumerate(ndi.find_objects(comp), start=1):
            inside = comp[sl] == k
            peaks[sl] |= (h_maxima(np.where(inside, e[sl], threshold), h) > 0) & inside
    else:
        peaks = ndi.maximum_filter(e, 3) == e
    seeds, n = ndi.label(peaks & fg)
    seeded = np.unique(comp[seeds > 0])
    lonely = np.setdiff1d(np.arange(1, m + 1), seeded)
    if lonely.size:
        add = np.isin(comp, lonely)
        seeds[add] = comp[add] + n
    return watershed(-e, seeds, mask=fg).astype(np.int32)


def centre_sigma(edm: np.ndarray, labels: np.ndarray, fraction: float = 0.25,
                 limits: tuple[float, float] = (1.0, 3.0)) -> float:
    """``σ`` of the centre detection: ``fraction`` × the typical thickness (2 × median of the regions'
    EDM maxima), clipped to ``limits``."""
    ids = np.unique(labels[labels > 0])
    if not ids.size:
        return float(limits[0])
    thickness = 2.0 * float(np.median(ndi.maximum(edm, labels, ids)))
    return float(np.clip(fraction * thickness, *limits))


def find_centres(gdcm: np.ndarray, foreground: np.ndarray, sigma: float,
                 size_range: tuple[float, float] = (0.5, 2.0), max_eccentricity: float = 0.9) -> Centres:
    """Step 2 of the module docstring."""
    g = np.where(foreground, np.exp(-np.square(gdcm, dtype=np.float64) / (2 * sigma ** 2)), 0.0)
    g /= np.sqrt(2 * np.pi) * sigma
    log = ndi.gaussian_laplace(g, sigma)
    inside = (log < 0) & foreground
    # a centre is where the GDCM comes near 0: G above 10 % of its peak 1/(√(2π)σ) (GDCM ≲ 2.1σ)
    minima = (ndi.minimum_filter(log, 3) == log) & inside & (g > 0.1 / (np.sqrt(2 * np.pi) * sigma))
    seeds, n = ndi.label(minima)
    if n == 0:
        return Centres(np.zeros(gdcm.shape, np.int32), np.zeros(0), np.zeros((0, 2)))
    lab = watershed(log, seeds, mask=inside).astype(np.int32)
    props = regionprops(lab, intensity_image=g)
    areas = np.array([p.area for p in props], float)
    expected = float(np.median(areas))
    keep = [p for p in props if size_range[0] * expected <= p.area <= size_range[1] * expected
            and p.eccentricity <= max_eccentricity]
    out = np.zeros(lab.shape, np.int32)
    amp, peaks = [], []
    for k, p in enumerate(keep, start=1):
        ys, xs = p.coords[:, 0], p.coords[:, 1]
        out[ys, xs] = k
        vals = g[ys, xs]
        i = int(np.argmax(vals))
        amp.append(float(vals[i]))
        peaks.append((int(ys[i]), int(xs[i])))
    return Centres(out, np.array(amp), np.array(peaks, dtype=np.int64).reshape(-1, 2))


def touching_pairs(labels: np.ndarray) -> dict[tuple[int, int], int]:
    """``(a, b)`` with ``a < b`` → number of 4-neighbour pixel pairs where region ``a`` touches ``b``."""
    out: dict[tuple[int, int], int] = {}
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
        m = (a != b) & (a > 0) & (b > 0)
        if not m.any():
            continue
        lo, hi = np.minimum(a[m], b[m]), np.maximum(a[m], b[m])
        pairs, counts = np.unique(np.stack([lo, hi]).astype(np.int64), axis=1, return_counts=True)
        for (p, q), c in zip(pairs.T.tolist(), counts.tolist()):
            out[(p, q)] = out.get((p, q), 0) + c
    return out


def merge_regions(labels: np.ndarray, centres: Centres, ratio: float = 0.5, max_rounds: int = 50) -> np.ndarray:
    """Step 3 of the module docstring: merged label image (a merged group takes its smallest label).
    Two touching regions with centres merge when their amplitude ratio is below ``ratio``; then,
    round after round, every group without a centre merges into the touching group it shares the
    longest border with, until no centre-less group touches another."""
    n = int(labels.max())
    if n == 0:
        return labels
    amp = np.zeros(n + 1)
    has = np.zeros(n + 1, bool)
    for k, (y, x) in enumerate(centres.peaks):
        r = labels[y, x]
        if r > 0:
            has[r] = True
            amp[r] = max(amp[r], centres.amplitude[k])
    lut = np.arange(n + 1)
    for (a, b), _ in touching_pairs(labels).items():
        if has[a] and has[b]:
            lo, hi = sorted((amp[a], amp[b]))
            if hi > 0 and lo / hi < ratio:
                ra, rb = lut[a], lut[b]
                lut[lut == max(ra, rb)] = min(ra, rb)
    merged = lut[labels]
    for _ in range(max_rounds):
        group_has = np.zeros(n + 1, bool)
        np.logical_or.at(group_has, lut, has)
        best: dict[int, tuple[int, int]] = {}
        for (a, b), c in touching_pairs(merged).items():
            for u, v in ((a, b), (b, a)):
                if not group_has[u] and c > best.get(u, (0, 0))[0]:
                    best[u] = (c, v)
        if not best:
            break
        for u, (_, v) in sorted(best.items()):
            ru, rv = lut[u], lut[v]  # u may have been relabelled earlier in this round
            if ru != rv:
                lut[lut == max(ru, rv)] = min(ru, rv)
        merged = lut[labels]
    return merged.astype(labels.dtype)


def segment_maps(edm: np.ndarray, gdcm: np.ndarray, config: DistNet2DConfig | None = None) -> np.ndarray:
    """Label image (uint32, 1..n) of one frame from its predicted EDM and GDCM (steps 1–3)."""
    c = config or DistNet2DConfig()
    labels = edm_watershed(edm, c.edm_threshold, c.edm_h)
    if labels.max() > 0:
        sigma = centre_sigma(edm, labels, c.sigma_fraction, tuple(c.sigma_range))
        centres = find_centres(gdcm, labels > 0, sigma, tuple(c.centre_size_range), c.max_eccentricity)
        labels = merge_regions(labels, centres, c.centre_ratio)
    return relabel_sequential(labels, min_size=c.min_size, dtype=np.uint32)


__all__ = ["Centres", "edm_watershed", "centre_sigma", "find_centres", "touching_pairs", "merge_regions",
           "segment_maps"]
