"""Masks for formats that store no masks: each cell drawn as a marker (a disk or a box).

CSV, GEFF, TrackMate XML and MOT files hold one position (and a radius or a box) per cell per
frame. Reading them back gives a :class:`~celltrace.tracking.Tracking` whose masks are these markers,
drawn lazily one frame at a time, so the lineage and the CTC rules hold as for any result.

Drawing rule for one frame: markers are painted largest first (a small marker inside a large one
stays visible), then every cell's *anchor* pixel — its rounded centre, or the nearest pixel not
taken by an earlier cell's anchor — is set to its label. So every cell listed in a frame has at
least one pixel there, whatever the overlaps: a label is present exactly in the frames it is listed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from celltrace.frames import LazyFrames
from celltrace.tracking import label_dtype

MARKER_COLUMNS = ["frame", "label", "y", "x"]
"""Required columns of a marker table; optional ``radius`` (disks) or ``box_h, box_w`` with
``box_top, box_left`` (boxes; rows ``box_top .. box_top+box_h-1``)."""


def _anchor(y: float, x: float, shape: tuple[int, int], taken: set[tuple[int, int]]) -> tuple[int, int]:
    """The rounded ``(y, x)`` clipped to the frame, or the nearest free pixel (by growing squares)."""
    H, W = shape
    cy = min(max(int(np.floor(y + 0.5)), 0), H - 1)
    cx = min(max(int(np.floor(x + 0.5)), 0), W - 1)
    if (cy, cx) not in taken:
        return cy, cx
    for r in range(1, max(H, W)):
        best = None
        for yy in range(max(cy - r, 0), min(cy + r, H - 1) + 1):
            for xx in range(max(cx - r, 0), min(cx + r, W - 1) + 1):
                if max(abs(yy - cy), abs(xx - cx)) == r and (yy, xx) not in taken:
                    d = (yy - y) ** 2 + (xx - x) ** 2
                    if best is None or d < best[0]:
                        best = (d, yy, xx)
        if best is not None:
            return best[1], best[2]
    raise ValueError(f"more cells than pixels in a {H}×{W} frame")


def draw_markers(rows: pd.DataFrame, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    """One frame: the markers of ``rows`` (see :data:`MARKER_COLUMNS`) drawn as described above."""
    H, W = shape
    out = np.zeros(shape, dtype=dtype)
    if len(rows) == 0:
        return out
    labels = rows["label"].to_numpy(np.int64)
    ys = rows["y"].to_numpy(np.float64)
    xs = rows["x"].to_numpy(np.float64)
    if "box_h" in rows:
        top = np.floor(rows["box_top"].to_numpy(np.float64) + 0.5).astype(np.int64)
        left = np.floor(rows["box_left"].to_numpy(np.float64) + 0.5).astype(np.int64)
        h = np.maximum(np.floor(rows["box_h"].to_numpy(np.float64) + 0.5).astype(np.int64), 1)
        w = np.maximum(np.floor(rows["box_w"].to_numpy(np.float64) + 0.5).astype(np.int64), 1)
        for i in np.argsort(-(h * w), kind="stable"):
            out[max(top[i], 0):max(top[i] + h[i], 0), max(left[i], 0):max(left[i] + w[i], 0)] = labels[i]
    elif "radius" in rows:
        radius = np.nan_to_num(rows["radius"].to_numpy(np.float64), nan=0.0).clip(0, max(H, W))
        for i in np.argsort(-radius, kind="stable"):
            r = radius[i]
            y0, y1 = max(int(np.ceil(ys[i] - r)), 0), min(int(np.floor(ys[i] + r)), H - 1)
            x0, x1 = max(int(np.ceil(xs[i] - r)), 0), min(int(np.floor(xs[i] + r)), W - 1)
            if y1 < y0 or x1 < x0:
                continue
            yy, xx = np.ogrid[y0:y1 + 1, x0:x1 + 1]
            disk = (yy - ys[i]) ** 2 + (xx - xs[i]) ** 2 <= r * r
            out[y0:y1 + 1, x0:x1 + 1][disk] = labels[i]
    taken: set[tuple[int, int]] = set()
    for i in range(len(labels)):
        a = _anchor(ys[i], xs[i], shape, taken)
        taken.add(a)
        out[a] = labels[i]
    return out


def marker_masks(table: pd.DataFrame, shape: tuple[int, int, int]) -> LazyFrames:
    """Lazy (T, H, W) masks drawing the markers of ``table`` frame by frame (:func:`draw_markers`)."""
    T, H, W = shape
    max_label = int(table["label"].max()) if len(table) else 1
    dtype = label_dtype(max_label)
    frames = table["frame"].to_numpy(np.int64)
    order = np.argsort(frames, kind="stable")
    bounds = np.searchsorted(frames[order], np.arange(T + 1))
    sorted_table = table.iloc[order].reset_index(drop=True)

    def load(t: int) -> np.ndarray:
        return draw_markers(sorted_table.iloc[bounds[t]:bounds[t + 1]], (H, W), dtype)

    return LazyFrames(T, (H, W), dtype, load)


def frame_shape_of(table: pd.DataFrame) -> tuple[int, int]:
    """The smallest frame (H, W) holding every marker of ``table`` (positions, disks and boxes)."""
    if len(table) == 0:
        return (1, 1)
    ys = table["y"].to_numpy(np.float64)
    xs = table["x"].to_numpy(np.float64)
    hi_y, hi_x = ys, xs
    if "radius" in table:
        r = np.nan_to_num(table["radius"].to_numpy(np.float64))
        hi_y, hi_x = ys + r, xs + r
    if "box_h" in table:
        hi_y = table["box_top"].to_numpy(np.float64) + table["box_h"].to_numpy(np.float64) - 1
        hi_x = table["box_left"].to_numpy(np.float64) + table["box_w"].to_numpy(np.float64) - 1
    return (max(int(np.floor(np.max(hi_y) + 0.5)) + 1, 1), max(int(np.floor(np.max(hi_x) + 0.5)) + 1, 1))


__all__ = ["draw_markers", "marker_masks", "frame_shape_of", "MARKER_COLUMNS"]
