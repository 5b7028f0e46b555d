"""CAP's inference: frames to network input, and RAW (rolling-as-window) inference (§3.3, Alg. 1)."""

from __future__ import annotations

import numpy as np

from celltrace.nn.scaling import resample


def prepare_frame(image: np.ndarray, scale: float, percentiles: tuple[float, float] = (1.0, 99.8)) -> np.ndarray:
    """A frame as the network sees it: resampled by ``scale`` (:func:`celltrace.nn.scaling.resample`)
    and min–max normalised between its ``percentiles`` (float32; 0 background, ~1 bright cells)."""
    img = resample(np.asarray(image, dtype=np.float32), scale) if scale != 1.0 else np.asarray(image, np.float32)
    lo, hi = np.percentile(img, percentiles)
    return ((img - lo) / max(float(hi - lo), 1e-6)).astype(np.float32)
