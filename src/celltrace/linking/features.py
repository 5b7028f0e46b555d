"""Per-frame object tables, the linker's input: one row per labelled object."""

from __future__ import annotations

import numpy as np
import pandas as pd

OBJECT_COLUMNS = ["label", "y", "x", "area"]


def object_features(labels: np.ndarray, image: np.ndarray | None = None) -> pd.DataFrame:
    """Table ``label, y, x, area`` (+ ``mean_intensity`` with ``image``) of the positive labels of a
    2D label image: centroid ``(y, x) = (1/|S|) sum_{p in S} p`` and area ``|S|`` of each label ``S``.

    Uses bincount over label values (no sorting), so it is linear in the number of pixels.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"expected a 2D label image, got shape {lab.shape}")
    if lab.size == 0 or lab.max() <= 0:
        cols = {c: pd.Series(dtype=np.int64 if c in ("label", "area") else np.float64) for c in OBJECT_COLUMNS}
        if image is not None:
            cols["mean_intensity"] = pd.Series(dtype=np.float64)
        return pd.DataFrame(cols)
    flat = lab.ravel()
    if flat.dtype.kind == "i" and flat.min() < 0:
        flat = np.where(flat < 0, 0, flat)
    top = int(flat.max())
    if top > 4 * flat.size:  # sparse huge label values: compress them first
        present, flat = np.unique(flat, return_inverse=True)
        values = present
    else:
        values = None
    flat = flat.astype(np.intp, copy=False)
    n = int(flat.max()) + 1
    area = np.bincount(flat, minlength=n)
    H, W = lab.shape
    rows = np.bincount(flat, weights=np.repeat(np.arange(H, dtype=np.float64), W), minlength=n)
    cols = np.bincount(flat, weights=np.tile(np.arange(W, dtype=np.float64), H), minlength=n)
    ids = np.flatnonzero(area)
    ids = ids[ids > 0] if values is None else ids[values[ids] > 0]
    out = pd.DataFrame({
        "label": (ids if values is None else values[ids]).astype(np.int64),
        "y": rows[ids] / area[ids],
        "x": cols[ids] / area[ids],
        "area": area[ids].astype(np.int64),
    })
    if image is not None:
        s = np.bincount(flat, weights=np.asarray(image, dtype=np.float64).ravel(), minlength=n)
        out["mean_intensity"] = s[ids] / area[ids]
    return out


def typical_displacement(objects: list, percentile: float = 90.0) -> float:
    """A robust scale of frame-to-frame motion: the ``percentile`` of the distances from each object
    at t+1 to its nearest object at t, pooled over all consecutive frame pairs (0 if undefined).

    For sparse, fast cells this is about their displacement; for dense, slow cells it is bounded by
    the spacing, so a gate derived from it never shrinks below what the density allows.
    """
    from scipy.spatial import cKDTree

    dists = []
    for a, b in zip(objects[:-1], objects[1:]):
        if len(a) and len(b):
            d, _ = cKDTree(a[["y", "x"]].to_numpy(np.float64)).query(b[["y", "x"]].to_numpy(np.float64))
            dists.append(d)
    if not dists:
        return 0.0
    return float(np.percentile(np.concatenate(dists), percentile))
