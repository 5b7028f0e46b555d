"""Foreground from intensity: Gaussian smoothing and an automatic global threshold.

Works for any numeric dtype (uint8, uint16, float): images are converted to float32 and the
threshold is computed on a histogram of the smoothed image, so the scale of the values does
not matter.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

THRESHOLD_METHODS = ("otsu", "li", "triangle", "mean")


def as_float(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 with NaN/inf replaced by finite values (the image's own range)."""
    img = np.asarray(image)
    if img.ndim != 2:
        raise ValueError(f"expected a 2D image, got shape {img.shape}")
    out = img.astype(np.float32, copy=False)
    if np.issubdtype(img.dtype, np.floating) and not np.isfinite(out).all():
        finite = out[np.isfinite(out)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        out = np.nan_to_num(out, nan=lo, posinf=hi, neginf=lo)
    return out


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing ``G_sigma * I`` in float32 (``sigma <= 0`` returns the float image)."""
    img = as_float(image)
    if sigma <= 0:
        return img
    return ndi.gaussian_filter(img, sigma, mode="nearest", truncate=3.0)


def masked_mean(image: np.ndarray, free: np.ndarray, sigma: float, min_weight: float = 0.2
                ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised convolution ``G_sigma * (I · Q) / G_sigma * Q`` over the pixels ``Q = free``:
    the local mean of the free pixels only (a bright object outside ``Q`` does not leak into its
    surroundings), and where it is defined, ``G_sigma * Q > min_weight`` (float32, bool)."""
    q = np.asarray(free, bool)
    num = smooth(np.where(q, as_float(image), 0), sigma)
    den = smooth(q.astype(np.float32), sigma)
    return num / np.maximum(den, 1e-6), den > min_weight


def robust_level(values: np.ndarray, max_values: int | None = None) -> tuple[float, float]:
    """``(median, 1.4826 MAD)`` of ``values``: the level and the noise standard deviation of a
    background that the objects among ``values`` (a minority) do not shift. With ``max_values``,
    of every ``k``-th value only, ``k = max(1, n // max_values)``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if max_values is not None:
        v = v[:: max(1, v.size // max_values)]
    med = float(np.median(v))
    return med, 1.4826 * float(np.median(np.abs(v - med)))


def threshold_value(image: np.ndarray, method: str = "otsu") -> float:
    """A global threshold of ``image`` (already smoothed).

    * ``otsu``: maximises the between-class variance ``w0 w1 (mu0 - mu1)^2`` of the histogram;
    * ``li``: minimum cross-entropy (Li & Lee 1993), better for dim objects on a dark background;
    * ``triangle``: the triangle method (Zack 1977), for a small foreground fraction;
    * ``mean``: the mean intensity.
    A constant image gets a threshold above its value (no foreground).
    """
    from skimage import filters

    img = np.asarray(image, dtype=np.float32)
    lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return hi + 1.0
    # thresholds on a subsample of large images: the histogram barely changes, the cost does
    sample = img[::2, ::2] if img.size > 2**20 else img
    if method == "otsu":
        return float(filters.threshold_otsu(sample, nbins=256))
    if method == "li":
        return threshold_li(sample, initial=float(filters.threshold_otsu(sample, nbins=256)))
    if method == "triangle":
        return float(filters.threshold_triangle(sample, nbins=256))
    if method == "mean":
        return float(sample.mean())
    raise ValueError(f"unknown threshold method {method!r}; choose one of {THRESHOLD_METHODS}")


def threshold_li(image: np.ndarray, nbins: int = 1024, max_iter: int = 200, initial: float | None = None) -> float:
    """Li's minimum cross-entropy threshold by its fixed-point iteration on a histogram:
    ``t <- (mu_b(t) - mu_f(t)) / (ln mu_b(t) - ln mu_f(t))`` with ``mu_b, mu_f`` the mean
    intensities below/above ``t`` (values shifted to be positive), started at ``initial`` (default:
    the mean; :func:`threshold_value` starts it at Otsu's threshold, which keeps it out of the local
    minimum inside the background noise that a mean start can fall into on sparse frames) and
    stopped when ``t`` moves less than half a bin (or after ``max_iter`` steps; never loops forever)."""
    img = np.asarray(image, dtype=np.float64).ravel()
    lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return hi + 1.0
    counts, edges = np.histogram(img, bins=nbins, range=(lo, hi))
    width = edges[1] - edges[0]
    centers = 0.5 * (edges[:-1] + edges[1:]) - lo + width  # positive
    cw = np.cumsum(counts * centers)
    cn = np.cumsum(counts)
    t = float((cw[-1] / cn[-1])) if initial is None else float(initial) - lo + width
    for _ in range(max_iter):
        k = int(np.clip(np.searchsorted(centers, t, side="right") - 1, 0, nbins - 2))
        nb, nf = cn[k], cn[-1] - cn[k]
        if nb == 0 or nf == 0:
            break
        mb, mf = cw[k] / nb, (cw[-1] - cw[k]) / nf
        t_new = (mb - mf) / (np.log(mb) - np.log(mf))
        if abs(t_new - t) < 0.5 * width:
            t = t_new
            break
        t = t_new
    return float(t + lo - width)


def foreground_mask(image: np.ndarray, sigma: float = 1.0, method: str = "otsu", min_size: int = 0,
                    fill_holes: bool = True, threshold_factor: float = 1.0, log: bool = False,
                    noise_k: float = 2.0, border_min_size: int | None = None) -> np.ndarray:
    """Boolean foreground ``G_sigma * I > factor * thr`` without components under ``min_size`` pixels.

    With ``log`` the threshold is computed on ``log(1 + G_sigma * I - min)``, which spreads dim
    cells away from the background when brightness varies a lot between cells.

    The threshold is never below ``median + noise_k * 1.4826 MAD`` of the (transformed) image: cells
    are a minority of the pixels, so this is the background level plus ``noise_k`` noise standard
    deviations, and a histogram threshold that falls inside the noise (it happens on frames with
    few cells) cannot turn the background into foreground.
    ``thr`` comes from :func:`threshold_value`; ``threshold_factor`` scales it relative to the
    image's minimum (``lo + factor (thr - lo)``) so that < 1 takes dimmer cells in. Holes (dark
    nucleoli) are filled when ``fill_holes``.
    """
    g = smooth(image, sigma)
    if log:
        g = np.log1p(g - g.min())
    thr = threshold_value(g, method)
    if noise_k > 0:
        med, noise = robust_level(g[::2, ::2] if g.size > 2**18 else g)
        thr = max(thr, med + noise_k * noise)
    lo = float(g.min())
    fg = g > lo + threshold_factor * (thr - lo)
    return clean_mask(fg, min_size=min_size, fill_holes=fill_holes, border_min_size=border_min_size)


def touches_border(labels: np.ndarray) -> np.ndarray:
    """Boolean lookup ``b[label]``: which labels of ``labels`` (non-negative ints) have a pixel on
    the image border (label 0 included when the background does)."""
    lab = np.asarray(labels)
    out = np.zeros(int(lab.max()) + 1 if lab.size else 1, dtype=bool)
    out[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]]).astype(np.int64)] = True
    return out


def clean_mask(mask: np.ndarray, min_size: int = 0, fill_holes: bool = True,
               border_min_size: int | None = None) -> np.ndarray:
    """Fill holes of a boolean mask (background components not touching the image border) and
    remove its components smaller than ``min_size`` pixels (``border_min_size`` for those that
    touch the image border: a cell cut by the edge of the field shows only a part of itself;
    default ``min_size``)."""
    fg = np.asarray(mask, dtype=bool)
    if fill_holes and fg.any():
        bg, nb = ndi.label(~fg)
        if nb > 1:
            border = np.unique(np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]]))
            hole = np.ones(nb + 1, dtype=bool)
            hole[border] = False
            hole[0] = False
            fg = fg | hole[bg]
    if min_size > 1:
        comp, n = ndi.label(fg)
        if n:
            sizes = np.bincount(comp.ravel())
            keep = sizes >= min_size
            if border_min_size is not None:
                edge = touches_border(comp)
                keep[edge] = sizes[edge] >= border_min_size
            keep[0] = False
            fg = keep[comp]
    return fg
