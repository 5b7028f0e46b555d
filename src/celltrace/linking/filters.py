"""Filters on finished trackings that keep the lineage valid (the CTC rules of
:meth:`celltrace.Tracking.validate`)."""

from __future__ import annotations

import numpy as np

from celltrace.frames import LazyFrames
from celltrace.tracking import Tracking


def drop_short_tracks(tracking: Tracking, min_length: int) -> Tracking:
    """``tracking`` without the tracks (labels, i.e. CTC track segments) present in fewer than
    ``min_length`` frames (``end - begin + 1 < min_length``); their pixels become background.

    The lineage stays valid: a kept track whose parent is removed is attached to its nearest kept
    ancestor (a short fragment between a cell and its continuation becomes a longer gap, a short
    fragment at the start of a daughter keeps the division's mother) when that ancestor then has
    at most two children, all children of one removed track together; otherwise they start new
    lineages (parent 0). Removed tracks are handled in order of their children's first frame.
    Lazy masks stay lazy. ``meta['dropped_tracks']`` counts the removed
    tracks. ``min_length <= 1`` returns ``tracking`` unchanged.
    """
    if min_length <= 1:
        return tracking
    lin = tracking.lineage
    length = lin["end"] - lin["begin"] + 1
    removed = set(lin.loc[length < min_length, "label"].astype(int))
    if not removed:
        return Tracking(masks=tracking.masks, lineage=lin, points=tracking.points,
                        meta={**tracking.meta, "dropped_tracks": 0, "min_track_length": int(min_length)})
    parent_of = dict(zip(lin["label"].astype(int), lin["parent"].astype(int)))
    kept = lin.loc[~lin["label"].isin(removed)].sort_values(["begin", "label"], kind="stable").copy()
    n_children: dict[int, int] = {}
    for p in kept["parent"].astype(int):
        if p and p not in removed:
            n_children[p] = n_children.get(p, 0) + 1
    groups: dict[int, list[int]] = {}  # removed parent -> its kept children (in order of first frame)
    for label, parent in zip(kept["label"].astype(int), kept["parent"].astype(int)):
        if parent in removed:
            groups.setdefault(parent, []).append(label)
    new_parent = dict(zip(kept["label"].astype(int), kept["parent"].astype(int)))
    for parent, orphans in groups.items():
        ancestor = parent
        while ancestor in removed:
            ancestor = parent_of.get(ancestor, 0)
        if ancestor and n_children.get(ancestor, 0) + len(orphans) <= 2:  # siblings stay together
            n_children[ancestor] = n_children.get(ancestor, 0) + len(orphans)
        else:
            ancestor = 0
        for label in orphans:
            new_parent[label] = ancestor
    kept["parent"] = kept["label"].astype(int).map(new_parent).to_numpy(np.int64)

    gone = lin.loc[lin["label"].isin(removed), ["label", "begin", "end"]].to_numpy(np.int64)

    def clear(t: int, frame: np.ndarray) -> np.ndarray:
        here = gone[(gone[:, 1] <= t) & (gone[:, 2] >= t), 0]
        if not here.size:
            return frame
        out = np.array(frame, copy=True)
        out[np.isin(out, here)] = 0
        return out

    masks = tracking.masks
    if isinstance(masks, LazyFrames):
        new_masks = masks.map(clear)
    else:
        new_masks = np.stack([clear(t, np.asarray(masks[t])) for t in range(len(masks))]) if len(masks) else masks
    points = tracking.points
    if points is not None and "label" in points.columns:
        points = points.loc[~points["label"].isin(removed)].reset_index(drop=True)
    meta = {**tracking.meta, "dropped_tracks": len(removed), "min_track_length": int(min_length)}
    return Tracking(masks=new_masks, lineage=kept, points=points, meta=meta)


__all__ = ["drop_short_tracks"]
