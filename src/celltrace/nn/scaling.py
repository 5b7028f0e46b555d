"""Resampling a frame to the scale a network was trained at, and its output maps back.

A network trained on cells of radius ``ρ`` pixels sees a frame whose cells have radius ``r`` at
scale ``s = ρ / r``: output pixel ``i`` of the resampled frame samples the source at ``i / s``
(bilinear, edge values repeated), the same convention as the training crops of
:mod:`celltrace.train.augment`. Maps predicted on the resampled frame go back by sampling them
at ``j · s``, so pixel ``j`` of the frame reads the map at the position it was sent to.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi


MAX_UPSAMPLING = 2.0
"""The most a movie is enlarged for a network: a radius estimate below ``cell_radius / 2`` means
the estimator found almost no cells (a few-pixel "radius" from noise), not cells that small."""


def network_scale(cell_radius: float, radius: float, max_scale: float = MAX_UPSAMPLING) -> float:
    """``s = cell_radius / radius`` (network pixels per frame pixel for cells of ``radius`` to look
    like the network's ``cell_radius``), at most ``max_scale``: an almost empty movie whose radius
    estimate collapses would otherwise be enlarged many times (SIM+ 02's emptiest crop: radius
    2.2 px, ×4.5, 8.6 s a frame)."""
    return float(min(float(cell_radius) / max(float(radius), 1e-6), max_scale))


def scaled_shape(shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """``(ceil(H·s), ceil(W·s))``: the smallest frame holding every resampled source pixel."""
    return max(1, math.ceil(shape[0] * scale)), max(1, math.ceil(shape[1] * scale))


def resample(array: np.ndarray, scale: float, shape: tuple[int, int] | None = None, order: int = 1) -> np.ndarray:
    """``out[i, j] = array(i / scale, j / scale)`` (``order`` 1 bilinear, 0 nearest; outside the
    source the edge value), of ``shape`` (default :func:`scaled_shape`). ``scale == 1`` with the
    same shape returns the array unchanged."""
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"expected a 2D array, got shape {a.shape}")
    shape = tuple(shape) if shape is not None else scaled_shape(a.shape, scale)
    if scale == 1.0 and shape == a.shape:
        return a
    src = a if a.dtype in (np.float32, np.float64) or order == 0 else a.astype(np.float32)
    inv = 1.0 / float(scale)
    return ndi.affine_transform(src, [inv, inv], output_shape=shape, order=order, mode="nearest", prefilter=False)


def to_frame(maps: dict[str, np.ndarray], scale: float, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Maps predicted on a frame resampled by ``scale`` brought back to the frame's ``shape``."""
    return {k: resample(v, 1.0 / scale, shape) for k, v in maps.items()}


__all__ = ["scaled_shape", "resample", "to_frame"]
