"""Point-based evaluation for point trackers (CAP): a predicted point matches the GT marker it falls in.

A point tracking is a Tracking whose ``points`` table has columns ``frame, label, y, x`` (``label``
the track). :func:`points_to_tracking` renders each point as a one-pixel marker, so the lineage,
validation and graph are those of any Tracking; :func:`evaluate_points` then scores it with the
point rule (``S`` inside ``R``; of several points inside one marker the first counts, the others are
FP), from which TRA/DET/LNK, the biological measures, identities and divisions follow unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from celltrace.metrics.matching import Evaluation
from celltrace.tracking import Tracking, label_dtype


def points_to_tracking(points: pd.DataFrame, lineage: pd.DataFrame, shape: tuple[int, int, int]) -> Tracking:
    """Render points (frame, label, y, x) as one-pixel markers in (T, H, W) masks."""
    T, H, W = shape
    masks = np.zeros(shape, dtype=label_dtype(int(lineage["label"].max()) if len(lineage) else 1))
    t = points["frame"].to_numpy(int)
    y = np.clip(np.round(points["y"].to_numpy(float)).astype(int), 0, H - 1)
    x = np.clip(np.round(points["x"].to_numpy(float)).astype(int), 0, W - 1)
    masks[t, y, x] = points["label"].to_numpy()
    return Tracking(masks=masks, lineage=lineage, points=points.copy())


def evaluate_points(pred: Tracking, gt: Tracking, metrics: list[str] | None = None, **options: Any) -> dict:
    """Score a point tracking against GT markers with the point matching rule (see module docstring)."""
    from celltrace.metrics import _families, evaluate_matched

    if pred.points is not None and len(pred.points):
        pred = points_to_tracking(pred.points, pred.lineage, gt.shape)
    fams = [f for f in _families(metrics) if f not in ("segmentation",)]
    options.setdefault("division_matching", "ctc")   # IoU is meaningless for points
    ev = Evaluation(pred, gt, seg=None, validate=options.pop("validate", True), rule="points")
    return evaluate_matched(ev, fams, **options)
