"""DistNet2D's linking of frame ``t−1`` to frame ``t`` and its segmentation correction (paper
§2.2–2.3, Figure S4), on the maps of the pair ``(t−1, t)``.

Each cell takes the multiplicity class with the highest *median* probability over its pixels and
the median of the displacement map over its pixels; its centre is its medoid.

1. **Forward**: a cell ``i`` of ``t−1`` of class "one next cell" is linked to the cell of ``t``
   under ``c_i + d_fwd(i)``.
2. **Backward**: a cell ``j`` of ``t`` left without a link, of class "one (or more) previous
   cell(s)", is linked to the cell of ``t−1`` under ``c_j − d_bwd(j)``.
3. **Merge links** (several cells of ``t−1`` → one of ``t``) are confirmed by a backward class
   "more than one previous cell" (a fusion: CTC tracks cannot merge, so only one link is kept and
   the event is a suspect); otherwise they are over/under-segmentation: fragments that all touch
   are merged at ``t−1``, else the cell of ``t`` is split by a watershed on its EDM seeded at the
   fragments' shifted centres, and each part linked to its fragment.
   **Split links** (one cell of ``t−1`` → several of ``t``) are confirmed by a forward class "more
   than one next cell" (a division); otherwise fragments that all touch are merged at ``t``, else
   the cell of ``t−1`` is split by a watershed on its EDM seeded at the fragments' back-shifted
   centres.
4. **Suspects** (for curation): events the correction could not resolve, fusions, and cells whose
   links contradict their multiplicity (class "one previous cell" but no link found, class "one
   next cell" but no link, a confirmed division with one daughter).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from skimage.segmentation import watershed

from celltrace.methods.distnet2d.postprocess import touching_pairs
from celltrace.segmentation.medoids import medoids

MULTIPLICITY_NAMES = ("none", "one", "several")


@dataclass
class CellSummary:
    """Per cell of a frame: medoid centre, median displacement, multiplicity class and its median probability."""

    centre: dict[int, np.ndarray]
    displacement: dict[int, np.ndarray]
    cls: dict[int, int]
    prob: dict[int, np.ndarray]


def summarize(labels: np.ndarray, displacement: np.ndarray, probabilities: np.ndarray) -> CellSummary:
    """:class:`CellSummary` of ``labels`` from ``displacement`` ``(2, H, W)`` and multiplicity
    ``probabilities`` ``(3, H, W)``."""
    ids = np.unique(labels[labels > 0])
    cen = {int(k): np.asarray(v, float) for k, v in medoids(labels).items()}
    if not ids.size:
        return CellSummary(cen, {}, {}, {})
    dy = ndi.median(displacement[0], labels, ids)
    dx = ndi.median(displacement[1], labels, ids)
    med = np.stack([np.atleast_1d(ndi.median(probabilities[k], labels, ids)) for k in range(3)], axis=1)
    disp = {int(k): np.array([a, b], float) for k, a, b in zip(ids, np.atleast_1d(dy), np.atleast_1d(dx))}
    cls = {int(k): int(np.argmax(m)) for k, m in zip(ids, med)}
    prob = {int(k): m for k, m in zip(ids, med)}
    return CellSummary(cen, disp, cls, prob)


def _label_at(labels: np.ndarray, point: np.ndarray) -> int:
    y, x = int(round(point[0])), int(round(point[1]))
    if 0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]:
        return int(labels[y, x])
    return 0


def _connected(ids: list[int], contacts: dict[tuple[int, int], int]) -> bool:
    """Whether the cells ``ids`` form one connected group in the touching graph."""
    ids = sorted(set(ids))
    seen, todo = {ids[0]}, [ids[0]]
    while todo:
        a = todo.pop()
        for b in ids:
            if b not in seen and (min(a, b), max(a, b)) in contacts:
                seen.add(b)
                todo.append(b)
    return len(seen) == len(ids)


def split_cell(labels: np.ndarray, cell: int, edm: np.ndarray, seeds: list[np.ndarray], new_ids: list[int],
               min_size: int = 1) -> bool:
    """Split ``cell`` of ``labels`` in place by a watershed on ``−edm`` inside it, seeded at ``seeds``
    (each moved to the nearest pixel of the cell); part ``k`` takes ``new_ids[k]`` (``new_ids[0]``
    may be ``cell`` itself). False (nothing changed) when a part would be smaller than ``min_size``."""
    mask = labels == cell
    ys, xs = np.nonzero(mask)
    if ys.size < len(seeds) * max(1, min_size):
        return False
    markers = np.zeros(labels.shape, np.int32)
    used = set()
    for k, s in enumerate(seeds, start=1):
        nearest = int(np.argmin((ys - s[0]) ** 2 + (xs - s[1]) ** 2))
        if nearest in used:
            return False
        used.add(nearest)
        markers[ys[nearest], xs[nearest]] = k
    sl = ndi.find_objects(mask.astype(np.int32))[0]
    parts = watershed(-edm[sl], markers[sl], mask=mask[sl])
    sizes = np.bincount(parts.ravel(), minlength=len(seeds) + 1)[1:]
    if (sizes < max(1, min_size)).any():
        return False
    view = labels[sl]
    for k, new in enumerate(new_ids, start=1):
        view[parts == k] = new
    return True


@dataclass
class PairResult:
    """What linking ``t−1 → t`` did: ``links`` ``(label at t−1, label at t)``; ``prev_relabel``
    (old → new labels of ``t−1`` after merges there); ``suspects`` (dicts with ``frame``, ``kind``,
    ``score`` and ``cells``: ``(frame, y, x)`` points of the cells involved); ``corrections``."""

    links: list[tuple[int, int]]
    prev_relabel: dict[int, int] = field(default_factory=dict)
    suspects: list[dict] = field(default_factory=list)
    corrections: list[dict] = field(default_factory=list)


def link_pair(prev: np.ndarray, curr: np.ndarray, maps: dict[str, np.ndarray], t: int,
              prev_edm: np.ndarray | None = None, curr_edm: np.ndarray | None = None, correct: bool = True,
              min_size: int = 1) -> PairResult:
    """Link ``prev`` (labels of ``t−1``) to ``curr`` (labels of ``t``) with the pair maps
    ``disp_fwd``, ``mult_fwd`` (at ``t−1``), ``disp_bwd``, ``mult_bwd`` (at ``t``; probabilities);
    with ``correct`` (and the EDMs for splitting) fix contradicting merge/split links, changing
    ``prev`` and ``curr`` in place. See the module docstring."""
    fw = summarize(prev, maps["disp_fwd"], maps["mult_fwd"])
    bw = summarize(curr, maps["disp_bwd"], maps["mult_bwd"])
    res = PairResult([])
    incoming: dict[int, list[int]] = {}
    for i, c in sorted(fw.cls.items()):
        if c == 1:
            j = _label_at(curr, fw.centre[i] + fw.displacement[i])
            if j:
                incoming.setdefault(j, []).append(i)
    for j, c in sorted(bw.cls.items()):
        if j not in incoming and c >= 1:
            i = _label_at(prev, bw.centre[j] - bw.displacement[j])
            if i:
                incoming.setdefault(j, []).append(i)

    def point(frame: int, centre: np.ndarray) -> tuple[int, float, float]:
        return (frame, float(centre[0]), float(centre[1]))

    def suspect(kind: str, score: float, cells: list[tuple[int, float, float]]) -> None:
        res.suspects.append({"frame": t, "kind": kind, "score": float(score), "cells": cells})

    # --- merge links: several cells of t−1 → one cell of t
    next_curr = int(curr.max()) + 1
    next_prev = int(prev.max()) + 1
    for j in sorted(incoming):
        srcs = incoming[j]
        if len(srcs) < 2:
            continue
        p_several = float(bw.prob[j][2])
        if bw.cls[j] == 2:
            suspect("fusion", p_several, [point(t, bw.centre[j])] + [point(t - 1, fw.centre[i]) for i in srcs])
            incoming[j] = srcs[:1]
            continue
        if not correct:
            suspect("merge", 1.0 - p_several, [point(t, bw.centre[j])] + [point(t - 1, fw.centre[i]) for i in srcs])
            continue
        if _connected(srcs, touching_pairs(prev)):
            keep = min(srcs)
            for i in srcs:
                if i != keep:
                    prev[prev == i] = keep
                    res.prev_relabel[i] = keep
            incoming[j] = [keep]
            res.corrections.append({"frame": t - 1, "kind": "merged fragments", "labels": srcs})
            continue
        seeds = [fw.centre[i] + fw.displacement[i] for i in srcs]
        ids = [j] + list(range(next_curr, next_curr + len(srcs) - 1))
        if curr_edm is not None and split_cell(curr, j, curr_edm, seeds, ids, min_size):
            next_curr += len(srcs) - 1
            for i, new in zip(srcs, ids):
                incoming[new] = [i]
            res.corrections.append({"frame": t, "kind": "split under-segmented cell", "labels": ids})
        else:
            suspect("merge", 1.0 - p_several, [point(t, bw.centre[j])] + [point(t - 1, fw.centre[i]) for i in srcs])
    # relabelled cells of t−1: their links follow
    for j in incoming:
        incoming[j] = sorted({res.prev_relabel.get(i, i) for i in incoming[j]})
    outgoing: dict[int, list[int]] = {}
    for j, srcs in incoming.items():
        for i in srcs:
            outgoing.setdefault(i, []).append(j)

    # --- split links: one cell of t−1 → several of t
    for i in sorted(outgoing):
        dsts = sorted(outgoing[i])
        if len(dsts) < 2:
            continue
        centre_i = fw.centre.get(i, np.array([np.nan, np.nan]))
        if fw.cls.get(i) == 2:
            if len(dsts) > 2:
                suspect("division into more than two", float(fw.prob[i][2]),
                        [point(t - 1, centre_i)] + [point(t, _centre(curr, d, bw)) for d in dsts])
            continue
        p_several = float(fw.prob[i][2]) if i in fw.prob else 0.0
        if not correct:
            suspect("division contradicts multiplicity", 1.0 - p_several,
                    [point(t - 1, centre_i)] + [point(t, _centre(curr, d, bw)) for d in dsts])
            continue
        if _connected(dsts, touching_pairs(curr)):
            keep = min(dsts)
            for d in dsts:
                if d != keep:
                    curr[curr == d] = keep
                    incoming.pop(d, None)
            outgoing[i] = [keep]
            res.corrections.append({"frame": t, "kind": "merged fragments", "labels": dsts})
            continue
        seeds = [_centre(curr, d, bw) - bw.displacement.get(d, np.zeros(2)) for d in dsts]
        ids = [i] + list(range(next_prev, next_prev + len(dsts) - 1))
        if prev_edm is not None and split_cell(prev, i, prev_edm, seeds, ids, min_size):
            next_prev += len(dsts) - 1
            for d, new in zip(dsts, ids):
                incoming[d] = [new]
            res.corrections.append({"frame": t - 1, "kind": "split under-segmented cell", "labels": ids})
        else:
            suspect("division contradicts multiplicity", 1.0 - p_several,
                    [point(t - 1, centre_i)] + [point(t, _centre(curr, d, bw)) for d in dsts])

    in_prev = set(np.unique(prev).tolist())
    in_curr = set(np.unique(curr).tolist())
    res.links = sorted((i, j) for j, srcs in incoming.items() for i in srcs[:1]
                       if i in in_prev and j in in_curr and i > 0 and j > 0)
    # --- contradictions left: class "one" without a link
    linked_prev = {i for i, _ in res.links}
    linked_curr = {j for _, j in res.links}
    for j, c in bw.cls.items():
        if c == 1 and j not in linked_curr and j in in_curr:
            suspect("no previous cell", float(bw.prob[j][1]), [point(t, bw.centre[j])])
    for i, c in fw.cls.items():
        if c == 1 and i not in linked_prev and i in in_prev:
            suspect("no next cell", float(fw.prob[i][1]), [point(t - 1, fw.centre[i])])
        if c == 2 and sum(1 for a, _ in res.links if a == i) == 1:
            suspect("division with one daughter", float(fw.prob[i][2]), [point(t - 1, fw.centre[i])])
    return res


def _centre(labels: np.ndarray, cell: int, summary: CellSummary) -> np.ndarray:
    if cell in summary.centre:
        return summary.centre[cell]
    ys, xs = np.nonzero(labels == cell)
    return np.array([ys.mean(), xs.mean()]) if ys.size else np.array([np.nan, np.nan])


__all__ = ["CellSummary", "summarize", "split_cell", "PairResult", "link_pair", "MULTIPLICITY_NAMES"]
