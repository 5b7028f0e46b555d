"""Links between per-frame objects → CTC tracks (track segments + parents) → a Tracking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from celltrace.frames import Frames, LazyFrames, as_frames


def frame_labels(segmentation: Frames) -> list[np.ndarray]:
    """Sorted positive labels present in each frame."""
    out = []
    for t in range(len(segmentation)):
        u = np.unique(np.asarray(segmentation[t]))
        out.append(u[u > 0])
    return out


def tracks_from_links(cls: Any, segmentation: Frames, links: Iterable[tuple[int, int, int, int]] | np.ndarray,
                      labels_per_frame: list[np.ndarray] | None = None) -> Any:
    """See :meth:`celltrace.Tracking.from_links`."""
    from celltrace.tracking import label_dtype, make_lineage

    segmentation = as_frames(segmentation)
    T = len(segmentation)
    if labels_per_frame is None:
        labels_per_frame = frame_labels(segmentation)
    arr = np.asarray(list(links) if not isinstance(links, np.ndarray) else links, dtype=np.int64).reshape(-1, 4)
    nodes = [(t, int(lab)) for t in range(T) for lab in labels_per_frame[t]]
    node_set = set(nodes)
    pred: dict[tuple[int, int], tuple[int, int]] = {}
    succ: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for t0, l0, t1, l1 in arr.tolist():
        a, b = (t0, l0), (t1, l1)
        if t1 <= t0:
            raise ValueError(f"link {a} -> {b} does not go forward in time")
        if a not in node_set or b not in node_set:
            raise ValueError(f"link {a} -> {b} names an object absent from the segmentation")
        if b in pred:  # CTC tracks cannot merge: keep the first incoming link
            continue
        pred[b] = a
        succ.setdefault(a, []).append(b)

    def continues(a: tuple[int, int]) -> tuple[int, int] | None:
        s = succ.get(a, [])
        if len(s) == 1 and s[0][0] == a[0] + 1:
            return s[0]
        return None

    track_of: dict[tuple[int, int], int] = {}
    rows = []
    next_label = 1
    for node in nodes:  # nodes are in time order, so a track's start is met before its body
        if node in track_of:
            continue
        p = pred.get(node)
        parent = 0
        if p is not None:
            parent = track_of[p]
        label = next_label
        next_label += 1
        cur = node
        track_of[cur] = label
        while (nxt := continues(cur)) is not None:
            cur = nxt
            track_of[cur] = label
        rows.append((label, node[0], cur[0], parent))
    lineage = make_lineage(rows)
    dtype = label_dtype(next_label)
    luts = []
    for t in range(T):
        labs = labels_per_frame[t]
        keys = np.asarray(labs, dtype=np.int64)
        vals = np.array([track_of[(t, int(lab))] for lab in labs], dtype=np.int64)
        luts.append((keys, vals))

    def relabel(t: int, frame: np.ndarray) -> np.ndarray:
        keys, vals = luts[t]
        out = np.zeros(frame.shape, dtype=dtype)
        if keys.size:
            idx = np.searchsorted(keys, frame)
            idx = np.clip(idx, 0, keys.size - 1)
            hit = (keys[idx] == frame) & (frame > 0)
            out[hit] = vals[idx[hit]]
        return out

    if isinstance(segmentation, LazyFrames):
        masks: Frames = segmentation.map(relabel, dtype=dtype)
    else:
        masks = np.empty(segmentation.shape, dtype=dtype)
        for t in range(T):
            masks[t] = relabel(t, np.asarray(segmentation[t]))
    return cls(masks=masks, lineage=lineage)
