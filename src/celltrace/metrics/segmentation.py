"""Segmentation error classes as Caliban defines them (Schwartz et al. 2023, deepcell ObjectMetrics).

Per frame (SEG ground truth where available, else the TRA markers), with ``J`` the IoU matrix of
the n GT and m predicted objects:

1. Linear assignment on the (n+m)×(n+m) cost matrix ``[[1 − J, 0.4·I_n], [0.4·I_m, (1 − J)ᵀ]]``
   (leaving an object unassigned costs 0.4): assigned pairs with J > 0 are **TP**.
2. The unassigned objects and their overlaps (J > 0) form a bipartite graph; each connected
   component is a **FN** (1 GT, 0 pred), **FP** (0 GT, 1 pred), **split** (1 GT, ≥2 pred),
   **merge** (≥2 GT, 1 pred) or **catastrophe** (≥2 GT, ≥2 pred). A lone GT with one leftover
   overlapping prediction is counted as FN + FP.

    recall = TP / n_GT,  precision = TP / n_pred,  F1 = 2·p·r / (p + r)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from celltrace.metrics.matching import Evaluation, FrameOverlap

UNASSIGNED_COST = 0.4


def frame_classes(f: FrameOverlap, gt_keep: np.ndarray | None = None) -> dict[str, int]:
    """Caliban classes of one frame (``gt_keep``: restrict to these GT objects)."""
    iou = f.iou()
    n, m = iou.shape
    out = dict(TP=0, FP=0, FN=0, merge=0, split=0, catastrophe=0, n_gt=n, n_pred=m)
    if n == 0 or m == 0:
        out["FN"], out["FP"] = n, m
        return out
    big = 1e6
    C = np.full((n + m, n + m), big)
    C[:n, :m] = np.where(iou > 0, 1 - iou, big)
    C[np.arange(n), m + np.arange(n)] = UNASSIGNED_COST
    C[n + np.arange(m), np.arange(m)] = UNASSIGNED_COST
    C[n:, m:] = np.where(iou.T > 0, 1 - iou.T, big)
    rows, cols = linear_sum_assignment(C)
    tp = (rows < n) & (cols < m) & (C[rows, cols] < big)
    g_used = np.zeros(n, bool)
    p_used = np.zeros(m, bool)
    g_used[rows[tp]] = True
    p_used[cols[tp]] = True
    out["TP"] = int(tp.sum())
    gl, pl = np.flatnonzero(~g_used), np.flatnonzero(~p_used)
    sub = iou[np.ix_(gl, pl)] > 0
    a, b = np.nonzero(sub)
    k = gl.size + pl.size
    graph = coo_matrix((np.ones(a.size), (a, gl.size + b)), shape=(k, k))
    nc, comp = connected_components(graph, directed=False)
    for c in range(nc):
        ng = int((comp[:gl.size] == c).sum())
        npred = int((comp[gl.size:] == c).sum())
        if ng == 1 and npred == 0:
            out["FN"] += 1
        elif ng == 0 and npred == 1:
            out["FP"] += 1
        elif ng == 1 and npred == 1:
            out["FN"] += 1
            out["FP"] += 1
        elif ng == 1:
            out["split"] += 1
        elif npred == 1:
            out["merge"] += 1
        else:
            out["catastrophe"] += 1
    return out


def segmentation_classes(ev: Evaluation) -> dict[str, float | int | None]:
    """Caliban TP/FP/FN/merge/split/catastrophe summed over frames, recall, precision, F1."""
    frames = list(ev.seg.values()) if ev.seg else ev.frames
    tot = dict(TP=0, FP=0, FN=0, merge=0, split=0, catastrophe=0, n_gt=0, n_pred=0)
    for f in frames:
        for key, v in frame_classes(f).items():
            tot[key] += v
    r = tot["TP"] / tot["n_gt"] if tot["n_gt"] else None
    p = tot["TP"] / tot["n_pred"] if tot["n_pred"] else None
    f1 = 2 * r * p / (r + p) if r is not None and p is not None and r + p > 0 else None
    out: dict[str, float | int | None] = {f"SEGCLS_{k}": v for k, v in tot.items()}
    out.update(SEGCLS_recall=r, SEGCLS_precision=p, SEGCLS_F1=f1, SEGCLS_on_SEG_GT=int(bool(ev.seg)))
    return out
