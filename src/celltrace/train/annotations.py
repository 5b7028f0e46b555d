"""Ground truth that annotates only some cells: which TRA markers a SEG frame leaves out, and the
neighbourhood around them that a loss must ignore (never teach an unannotated cell as background).

Every live cell has a TRA marker; a SEG frame may segment only some of them (GOWT1 frame 22: 1 of
24). A marker with less than ``covered_fraction`` of its pixels on SEG labels is an unannotated
cell; markers cover about half a cell (GOWT1, MSC), so the cell's edge lies within ``factor · r_m
+ margin`` of the marker (``r_m = sqrt(marker area / π)``).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def unannotated_markers(seg: np.ndarray, markers: np.ndarray, covered_fraction: float = 0.5) -> np.ndarray:
    """Labels of the TRA markers with less than ``covered_fraction`` of their pixels on SEG labels
    (cells the SEG frame does not annotate)."""
    mk = np.asarray(markers)
    present = np.unique(mk)
    present = present[present > 0]
    if present.size == 0:
        return present
    idx = np.searchsorted(present, mk.ravel())
    idx = np.where(mk.ravel() > 0, idx + 1, 0)
    total = np.bincount(idx, minlength=present.size + 1)[1:]
    on = np.bincount(idx, weights=(np.asarray(seg).ravel() > 0), minlength=present.size + 1)[1:]
    return present[on < covered_fraction * total]


def marker_neighbourhood(markers: np.ndarray, which: np.ndarray | None = None, factor: float = 1.0,
                         margin: float = 3.0) -> np.ndarray:
    """Boolean map of the pixels within ``factor · r_m + margin`` of marker ``m`` (``r_m =
    sqrt(|m|/π)``), for every marker (or those in ``which``)."""
    mk = np.asarray(markers)
    out = np.zeros(mk.shape, dtype=bool)
    ids = np.unique(mk)
    ids = ids[ids > 0]
    boxes = ndi.find_objects(mk) if ids.size else []
    if which is not None:
        ids = np.intersect1d(ids, which)
    H, W = mk.shape
    for k in ids:
        sl = boxes[int(k) - 1]
        m = mk[sl] == k
        reach = factor * np.sqrt(m.sum() / np.pi) + margin
        pad = int(np.ceil(reach)) + 1
        y0, y1 = max(sl[0].start - pad, 0), min(sl[0].stop + pad, H)
        x0, x1 = max(sl[1].start - pad, 0), min(sl[1].stop + pad, W)
        d = ndi.distance_transform_edt(mk[y0:y1, x0:x1] != k)
        out[y0:y1, x0:x1] |= d <= reach
    return out


__all__ = ["unannotated_markers", "marker_neighbourhood"]
