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
    """See :meth:`celltrace.Tracking.from_links`.

    Works on flat arrays over all objects of all frames (node ``n`` = object ``labels[t][i]``, in
    time order), so the memory is a few integers per object, whatever the movie's length.
    """
    from celltrace.tracking import label_dtype, make_lineage

    segmentation = as_frames(segmentation)
    T = len(segmentation)
    if labels_per_frame is None:
        labels_per_frame = frame_labels(segmentation)
    arr = np.asarray(list(links) if not isinstance(links, np.ndarray) else links, dtype=np.int64).reshape(-1, 4)
    # nodes: every object, frame by frame, each frame's labels sorted (the relabelling looks them up)
    keys = [np.sort(np.asarray(labels_per_frame[t], dtype=np.int64)) for t in range(T)]
    counts = np.array([k.size for k in keys], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    all_keys = np.concatenate(keys) if T else np.zeros(0, np.int64)
    frame_of = np.repeat(np.arange(T, dtype=np.int64), counts)
    del keys

    # object (t, label) <-> node: one sorted key t·2³² + label per node (labels are < 2³², MAX_LABEL)
    node_keys = frame_of * 2**32 + all_keys

    def node(t: np.ndarray, label: np.ndarray) -> np.ndarray:
        """Node index of each object ``(t, label)``; -1 where there is no such object."""
        ok = (t >= 0) & (t < T) & (label >= 0) & (label < 2**32)
        wanted = np.where(ok, t, 0) * 2**32 + np.where(ok, label, 0)
        i = np.clip(np.searchsorted(node_keys, wanted), 0, max(node_keys.size - 1, 0))
        hit = ok & (node_keys[i] == wanted) if node_keys.size else np.zeros(t.shape, bool)
        return np.where(hit, i, -1)

    src, dst = node(arr[:, 0], arr[:, 1]), node(arr[:, 2], arr[:, 3])
    bad = (arr[:, 2] <= arr[:, 0]) | (src < 0) | (dst < 0)
    if bad.any():
        t0, l0, t1, l1 = (int(v) for v in arr[np.flatnonzero(bad)[0]])
        a, b = (t0, l0), (t1, l1)
        if t1 <= t0:
            raise ValueError(f"link {a} -> {b} does not go forward in time")
        raise ValueError(f"link {a} -> {b} names an object absent from the segmentation")
    # CTC tracks cannot merge: an object keeps the first of its incoming links
    _, first = np.unique(dst, return_index=True)
    first.sort()
    src, dst = src[first], dst[first]
    n = all_keys.size
    pred = np.full(n, -1, dtype=np.int64)
    pred[dst] = src
    n_succ = np.bincount(src, minlength=n)
    # an object continues its predecessor's track if it is that one's only successor, one frame later
    has_pred = pred >= 0
    continues = np.zeros(n, dtype=bool)
    continues[has_pred] = (n_succ[pred[has_pred]] == 1) & (frame_of[has_pred] == frame_of[pred[has_pred]] + 1)
    starts = np.flatnonzero(~continues)
    track = np.zeros(n, dtype=np.int64)
    track[starts] = np.arange(1, starts.size + 1)  # labels 1.. in order of the tracks' first objects
    for t in range(1, T):  # a continuing object takes the label of its predecessor (an earlier frame)
        here = np.arange(offsets[t], offsets[t + 1])
        cont = here[continues[here]]
        track[cont] = track[pred[cont]]
    end = np.zeros(starts.size + 1, dtype=np.int64)
    np.maximum.at(end, track, frame_of)
    parent = np.where(pred[starts] >= 0, track[np.maximum(pred[starts], 0)], 0)
    lineage = make_lineage(np.stack([track[starts], frame_of[starts], end[track[starts]], parent], axis=1))
    dtype = label_dtype(starts.size + 1)

    def relabel(t: int, frame: np.ndarray) -> np.ndarray:
        k, vals = all_keys[offsets[t]:offsets[t + 1]], track[offsets[t]:offsets[t + 1]]
        out = np.zeros(frame.shape, dtype=dtype)
        if k.size:
            idx = np.clip(np.searchsorted(k, frame), 0, k.size - 1)
            hit = (k[idx] == frame) & (frame > 0)
            out[hit] = vals[idx[hit]]
        return out

    if isinstance(segmentation, LazyFrames):
        masks: Frames = segmentation.map(relabel, dtype=dtype)
    else:
        masks = np.empty(segmentation.shape, dtype=dtype)
        for t in range(T):
            masks[t] = relabel(t, np.asarray(segmentation[t]))
    return cls(masks=masks, lineage=lineage)
