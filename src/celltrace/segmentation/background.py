"""Uneven illumination removed before a global threshold: a background estimate that follows
slow changes of brightness across the field (vignetting, a gradient of the light source) but not
the cells.

``B = G_{w/2} * min_{w×w}(G_1 * I)`` — the lower envelope of the (lightly smoothed) image over
windows of ``w`` pixels, smoothed — and the flattened image is ``I − B`` (≥ 0 in the background,
cells keep their height above it). ``w`` must exceed a cell's diameter, so that every window holds
some background; :func:`background_window` takes a fixed fraction of the field's longer side.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from celltrace.segmentation.threshold import as_float


def background_window(shape: tuple[int, ...], fraction: float) -> int:
    """``w = fraction · max(H, W)`` pixels (at least 3)."""
    return max(3, int(round(fraction * max(shape[-2:]))))


def block_reduce(a: np.ndarray, k: int, reduce) -> np.ndarray:
    """``reduce`` (``np.min``, ``np.mean``, …) of ``a`` over ``k × k`` blocks, ``a`` edge-padded to a
    multiple of ``k``: a ``k`` times coarser grid whose block ``(i, j)`` is centred on pixel
    ``((i + 0.5) k − 0.5, (j + 0.5) k − 0.5)``."""
    if k == 1:
        return a
    H, W = a.shape
    a = np.pad(a, ((0, (-H) % k), (0, (-W) % k)), mode="edge")
    return reduce(a.reshape(a.shape[0] // k, k, a.shape[1] // k, k), axis=(1, 3))


def estimate_background(image: np.ndarray, window: int) -> np.ndarray:
    """``B`` of the module docstring, float32, the image's shape. Computed on a grid ``k = w // 8``
    times coarser (minimum over ``k × k`` blocks first), then interpolated back: the background
    varies on scales of ``w``, and the full-resolution filters would cost ~0.5 s a 1024² frame."""
    img = ndi.gaussian_filter(np.asarray(image, dtype=np.float32), 1.0)
    H, W = img.shape
    k = max(1, int(window) // 8)
    blocks = block_reduce(img, k, np.min)
    w = max(1, int(round(window / k)))
    low = ndi.gaussian_filter(ndi.minimum_filter(blocks, size=w, mode="nearest"), w / 2.0, mode="nearest")
    # block centres sit at (i + 0.5) k - 0.5 in pixels: map the coarse grid back onto every pixel
    ys = (np.arange(H) + 0.5) / k - 0.5
    xs = (np.arange(W) + 0.5) / k - 0.5
    return (linear_weights(ys, low.shape[0]) @ low.astype(np.float32) @ linear_weights(xs, low.shape[1]).T
            ).astype(np.float32)


def linear_weights(coords: np.ndarray, n: int) -> np.ndarray:
    """``A`` (``len(coords) × n``, float32) with ``(A v)[i]`` = ``v`` linearly interpolated at
    ``coords[i]``, clamped to ``[0, n − 1]`` (``map_coordinates(order=1, mode="nearest")`` along one
    axis). Bilinear up-sampling is then ``A_y · V · A_xᵀ``: two small matrix products instead of a
    per-pixel interpolation (0.03 s → 0.004 s a 1024² frame)."""
    c = np.clip(np.asarray(coords, dtype=np.float64), 0, n - 1)
    i0 = np.minimum(np.floor(c).astype(np.int64), max(n - 2, 0))
    f = c - i0
    A = np.zeros((len(c), n), np.float32)
    rows = np.arange(len(c))
    A[rows, i0] = 1 - f
    if n > 1:
        A[rows, i0 + 1] += f
    return A


def flatten_background(image: np.ndarray, fraction: float) -> np.ndarray:
    """``I − B`` with ``w = background_window(shape, fraction)``; ``fraction ≤ 0``: ``I`` unchanged
    (as float32). NaN / inf pixels take the image's finite range first
    (:func:`~celltrace.segmentation.threshold.as_float`): one NaN would otherwise spread through
    the filters and empty the whole frame."""
    img = as_float(image)
    if fraction <= 0:
        return img
    return img - estimate_background(img, background_window(img.shape, fraction))


__all__ = ["background_window", "block_reduce", "estimate_background", "flatten_background", "linear_weights"]
