"""Box prompts drawn in napari: a shapes layer's rectangles → BoxTrack's box table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from celltrace.io.boxes import COLUMNS, check_boxes


def shapes_to_boxes(shapes: Sequence[np.ndarray]) -> pd.DataFrame:
    """One box per shape: the bounding box of its vertices, ``(row, col)`` or, drawn on a (T, H, W)
    movie, ``(frame, row, col)`` (frame rounded). napari puts pixel ``i``'s centre at ``i``, our boxes
    use pixel edges (centre at ``i + ½``): ``x0 = ⌊c_min + ½⌋``, ``x1 = ⌈c_max + ½⌉`` (same for y)."""
    rows = []
    for vertices in shapes:
        v = np.asarray(vertices, dtype=np.float64)
        frame = int(round(float(v[:, 0].mean()))) if v.shape[1] >= 3 else 0
        yx = v[:, -2:]
        y0, x0 = np.floor(yx.min(axis=0) + 0.5)
        y1, x1 = np.ceil(yx.max(axis=0) + 0.5)
        rows.append((frame, x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), np.nan))
    return check_boxes(pd.DataFrame(rows, columns=COLUMNS), "shapes layer")


__all__ = ["shapes_to_boxes"]
