"""Medoid centres of labelled objects: ``argmin_{q ∈ P} Σ_{p ∈ P} |p − q|`` over an object's
pixels ``P``, a centre that always lies inside the object (unlike the centroid of a bent cell).
Used by the training targets of EmbedTrack and DistNet2D and by DistNet2D's linking."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def medoid(ys: np.ndarray, xs: np.ndarray, candidates: int = 64, max_points: int = 2048) -> tuple[int, int]:
    """Medoid ``argmin_q Σ_p |p − q|`` of the pixels ``(ys, xs)``: searched among the ``candidates``
    pixels nearest the centroid (it lies among them for all but very contorted shapes), with the sum
    over at most ``max_points`` evenly spaced pixels."""
    y = np.asarray(ys, np.float64)
    x = np.asarray(xs, np.float64)
    if y.size == 0:
        raise ValueError("medoid of no pixels")
    near = np.argsort((y - y.mean()) ** 2 + (x - x.mean()) ** 2, kind="stable")[:candidates]
    step = max(1, y.size // max_points)
    ry, rx = y[::step], x[::step]
    cost = np.sqrt((y[near, None] - ry[None]) ** 2 + (x[near, None] - rx[None]) ** 2).sum(1)
    i = near[int(np.argmin(cost))]
    return int(y[i]), int(x[i])


def medoids(labels: np.ndarray) -> dict[int, tuple[int, int]]:
    """Label → medoid pixel ``(y, x)`` of every positive label."""
    lab = np.asarray(labels)
    out: dict[int, tuple[int, int]] = {}
    ids = np.unique(lab)
    ids = ids[ids > 0]
    if not ids.size:
        return out
    # find_objects wants small consecutive values: work on the rank of each label
    rank = np.searchsorted(ids, lab) + 1
    rank[lab <= 0] = 0
    for i, sl in enumerate(ndi.find_objects(rank)):
        if sl is None:
            continue
        ys, xs = np.nonzero(rank[sl] == i + 1)
        y, x = medoid(ys + sl[0].start, xs + sl[1].start)
        out[int(ids[i])] = (y, x)
    return out


__all__ = ["medoid", "medoids"]
