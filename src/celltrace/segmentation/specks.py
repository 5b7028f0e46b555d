"""Drop the specks of a frame: objects far smaller than the frame's typical cell.

The size limit ``min_size_factor pi r^2`` assumes round cells, ``r`` being the inscribed-disk
radius (:mod:`celltrace.segmentation.cell_size`). An elongated cell (Fluo-C2DL-MSC: an inscribed
radius of 25–53 px, about 10 000 px² of area) covers several ``pi r^2``, so that limit lets
through debris a thirtieth to a tenth of a cell. The frame's typical object area is measured
instead as the area-weighted median ``A`` of its objects' areas (the area of the object that holds
the median object pixel: many specks do not pull it down), and an object smaller than
``fraction · A`` is dropped, unless it lies on the image border (the edge of the field may cut a
cell to any size).
"""

from __future__ import annotations

import math

import numpy as np

from celltrace.segmentation.cell_size import weighted_median
from celltrace.segmentation.watershed import relabel_sequential


def typical_area(labels: np.ndarray) -> float:
    """Area-weighted median of the object areas of a label image (0 when it has no object)."""
    counts = np.bincount(np.asarray(labels).ravel().astype(np.intp, copy=False))[1:]
    counts = counts[counts > 0]
    return weighted_median(counts, counts) if counts.size else 0.0


def drop_specks(labels: np.ndarray, fraction: float, keep_border: bool = True,
                dtype: np.dtype | type = np.uint32) -> np.ndarray:
    """``labels`` without the objects smaller than ``fraction`` × :func:`typical_area`, renumbered
    1..n in label order (:func:`~celltrace.segmentation.watershed.relabel_sequential`); with
    ``keep_border``, objects on the image border stay (the edge of the field may cut a cell to any
    size). ``labels`` is not modified."""
    min_size = math.ceil(fraction * typical_area(labels))  # integer areas: ≥ ceil(x) ⇔ ≥ x
    return relabel_sequential(labels, min_size=min_size, dtype=dtype, border_min_size=0 if keep_border else None)


__all__ = ["typical_area", "drop_specks"]
