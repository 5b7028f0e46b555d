"""Tracking from a cell table (one row per cell per frame), the common end of the readers of formats
without masks (CSV, GEFF, TrackMate XML, MOT).

A track label must be present in every frame from its first to its last (the CTC rule). A label
missing in some frames in between (an occlusion in a MOT file, a gap in a TrackMate track) is split
into segments: the first keeps the label, each later one gets a new label (above every label in
the table) whose parent is the segment before it — the CTC way of writing a gap. The original
label's children become children of its last segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.markers import frame_shape_of, marker_masks
from celltrace.tracking import Tracking, make_lineage


def split_gaps(table: pd.DataFrame, parents: dict[int, int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(table, lineage)``: ``table`` relabelled so every label spans contiguous frames, and the
    lineage (label, begin, end, parent) of those labels (see the module docstring)."""
    table = table.sort_values(["label", "frame"], kind="stable").reset_index(drop=True)
    labels = table["label"].to_numpy(np.int64)
    frames = table["frame"].to_numpy(np.int64)
    next_label = int(max(labels.max(initial=0), max(parents, default=0))) + 1
    new_labels = labels.copy()
    rows: list[tuple[int, int, int, int]] = []
    last_segment: dict[int, int] = {}
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], labels.size]
    for s, e in zip(starts, ends):
        lab = int(labels[s])
        f = frames[s:e]
        breaks = np.flatnonzero(np.diff(f) > 1) + 1
        seg_starts = np.r_[0, breaks]
        seg_ends = np.r_[breaks, f.size]
        prev = 0
        for k, (a, b) in enumerate(zip(seg_starts, seg_ends)):
            seg_label = lab if k == 0 else next_label
            if k:
                next_label += 1
                new_labels[s + a:s + b] = seg_label
            rows.append((seg_label, int(f[a]), int(f[b - 1]), prev if k else -int(parents.get(lab, 0))))
            prev = seg_label
        last_segment[lab] = prev
    # parents from the table (stored negated above) point to the last segment of their label
    lineage = make_lineage([(lab, b, e, p if p >= 0 else last_segment.get(-p, 0)) for lab, b, e, p in rows])
    out = table.copy()
    out["label"] = new_labels
    return out, lineage


def tracking_from_cells(table: pd.DataFrame, parents: dict[int, int], source: str | Path,
                        shape: tuple[int, int, int] | None = None, meta: dict[str, Any] | None = None) -> Tracking:
    """A Tracking whose masks are the cells of ``table`` drawn as markers (:mod:`celltrace.io.markers`).

    ``table``: columns frame (0-based), label, y, x and optionally radius or a box; ``parents``:
    label → parent label (missing or 0: none; a parent not in the table is dropped). ``shape``
    (T, H, W) defaults to the last frame + 1 and the smallest frame holding every marker.
    ``points`` of the result is the table (frame, label, y, x, then its other columns) after
    :func:`split_gaps`.
    """
    if len(table) and (table["frame"] < 0).any():
        raise InputError(source, f"negative frame {int(table['frame'].min())}")
    dup = table.duplicated(["frame", "label"])
    if dup.any():
        r = table[dup].iloc[0]
        raise InputError(source, f"track {int(r['label'])} has two cells in frame {int(r['frame'])}")
    table, lineage = split_gaps(table, parents)
    if shape is None:
        T = int(table["frame"].max()) + 1 if len(table) else 1
        shape = (T, *frame_shape_of(table))
    elif len(table) and int(table["frame"].max()) >= shape[0]:
        raise InputError(source, f"frame {int(table['frame'].max())} is beyond the movie's {shape[0]} frames")
    masks = marker_masks(table, shape)
    first = ["frame", "label", "y", "x"]
    points = table[first + [c for c in table.columns if c not in first]]
    points = points.sort_values(["frame", "label"]).reset_index(drop=True)
    return Tracking(masks=masks, lineage=lineage, points=points,
                    meta={"source": str(source), **(meta or {})})


__all__ = ["split_gaps", "tracking_from_cells"]
