"""Per-frame object tables, links between them, and the small conversions every linker shares.

An *object table* is a DataFrame with one row per object per frame: ``frame``, ``label`` (local to
that frame, as in a label image), ``y``, ``x`` (centroid, pixels) and, from masks, ``area``.
A *link array* is an (N, 4) int64 array of ``(t0, label0, t1, label1)`` with ``t1 > t0`` — the input
of :meth:`celltrace.Tracking.from_links`, so any linker's output is turned into a Tracking and scored
by the same :func:`celltrace.evaluate`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

OBJECT_COLUMNS = ["frame", "label", "y", "x", "area"]


def objects_from_masks(masks) -> pd.DataFrame:
    """Object table of a (T, H, W) label stack (centroids by bincount, one frame in memory at a time)."""
    from celltrace.tracking import frame_measurements

    parts = []
    for t in range(len(masks)):
        m = frame_measurements(np.asarray(masks[t]), None, t)
        parts.append(pd.DataFrame({"frame": m["frame"].to_numpy(np.int64), "label": m["label"].to_numpy(np.int64),
                                   "y": m["centroid_y"].to_numpy(np.float64), "x": m["centroid_x"].to_numpy(np.float64),
                                   "area": m["area"].to_numpy(np.int64)}))
    return pd.concat(parts, ignore_index=True)


def objects_from_points(points: pd.DataFrame) -> pd.DataFrame:
    """Object table of a synthetic point table (``celltrace.synth`` ``points``)."""
    return pd.DataFrame({"frame": points["frame"].to_numpy(np.int64), "label": points["label"].to_numpy(np.int64),
                         "y": points["y"].to_numpy(np.float64), "x": points["x"].to_numpy(np.float64),
                         "area": np.round(np.pi * points["semi_major"].to_numpy(np.float64)
                                          * points["semi_minor"].to_numpy(np.float64)).astype(np.int64)})


def frames_of(objects: pd.DataFrame, n_frames: int) -> list[pd.DataFrame]:
    """Split an object table by frame (``n_frames`` entries, empty frames included)."""
    f = objects["frame"].to_numpy()
    order = np.argsort(f, kind="stable")
    objects = objects.iloc[order].reset_index(drop=True)
    bounds = np.searchsorted(objects["frame"].to_numpy(), np.arange(n_frames + 1))
    return [objects.iloc[bounds[t]:bounds[t + 1]].reset_index(drop=True) for t in range(n_frames)]


def gt_links(points: pd.DataFrame, lineage: pd.DataFrame) -> np.ndarray:
    """True links of a synthetic simulation: same label in consecutive frames, and mother → daughters."""
    f = points["frame"].to_numpy(np.int64)
    lab = points["label"].to_numpy(np.int64)
    order = np.lexsort((f, lab))
    f, lab = f[order], lab[order]
    same = (lab[1:] == lab[:-1]) & (f[1:] == f[:-1] + 1)
    cont = np.column_stack([f[:-1][same], lab[:-1][same], f[1:][same], lab[1:][same]])
    kids = lineage[lineage["parent"] > 0]
    end = dict(zip(lineage["label"].to_numpy(), lineage["end"].to_numpy()))
    div = np.array([(end[p], p, b, c) for c, b, p in zip(kids["label"], kids["begin"], kids["parent"])],
                   dtype=np.int64).reshape(-1, 4)
    return np.concatenate([cont, div]).astype(np.int64)


def link_scores(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of predicted links against true ones (exact (t0, l0, t1, l1) matches)."""
    def keys(a: np.ndarray) -> set:
        return set(map(tuple, np.asarray(a, dtype=np.int64).reshape(-1, 4).tolist()))
    p, t = keys(pred), keys(true)
    tp = len(p & t)
    prec = tp / len(p) if p else 0.0
    rec = tp / len(t) if t else 0.0
    return {"link_precision": prec, "link_recall": rec,
            "link_F1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


def truncate_tracking(tracking, n_frames: int):
    """The first ``n_frames`` frames of a Tracking (lineage clipped; tracks born later dropped)."""
    from celltrace.tracking import Tracking

    if n_frames >= tracking.n_frames:
        return tracking
    lin = tracking.lineage
    lin = lin[lin["begin"] < n_frames].copy()
    lin["end"] = np.minimum(lin["end"].to_numpy(), n_frames - 1)
    return Tracking(masks=tracking.masks[:n_frames], lineage=lin, meta=dict(tracking.meta))


def displacement_stats(objects_with_track_ids: pd.DataFrame) -> dict[str, float]:
    """Frame-to-frame centroid displacement of objects whose labels are track ids (GT markers)."""
    o = objects_with_track_ids.sort_values(["label", "frame"])
    lab, f = o["label"].to_numpy(), o["frame"].to_numpy()
    same = (lab[1:] == lab[:-1]) & (f[1:] == f[:-1] + 1)
    d = np.hypot(np.diff(o["y"].to_numpy())[same], np.diff(o["x"].to_numpy())[same])
    r = np.sqrt(o["area"].to_numpy() / np.pi)
    return {"median": float(np.median(d)), "p95": float(np.percentile(d, 95)), "p99": float(np.percentile(d, 99)),
            "max": float(d.max()), "median_radius": float(np.median(r))}
