"""Per-image intensity normalisation of a network's input."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def normalize(image: np.ndarray, percentiles: Sequence[float] = (1.0, 99.0)) -> np.ndarray:
    """``(I − p_lo) / (p_hi − p_lo)`` with the image's own percentiles (float32, not clipped, as the
    paper's min–max normalisation to the 1 % and 99 % percentiles)."""
    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, percentiles)
    if hi <= lo:
        return np.zeros(img.shape, dtype=np.float32)
    return (img - lo) / np.float32(hi - lo)


__all__ = ["normalize"]
