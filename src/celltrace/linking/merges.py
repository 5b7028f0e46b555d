"""Cells that the segmentation merges for a frame or two, split again along their tracks.

Two touching cells can be one object for a few frames. The linker continues one of them through
the merge, and gap closing joins the other across it: a link from her last object before the
merge to her first after. She was there all along, inside the merged object, and in the CTC
measures each frame of the gap costs her missing links while the merged object matches two cells.

:func:`split_merged` cuts such a host object. For each frame ``u`` of a gap of track ``A``:

* the host ``H`` is the object of ``u`` under more than half of ``A``'s object of ``u - 1``, and
  it continues another object ``B`` of ``u - 1`` (a frame-to-frame link ``B -> H``);
* the seeds are ``A(u-1) ∩ H`` and ``B(u-1) ∩ H`` (pixels in both left out), and every pixel of
  ``H`` goes to the seed it reaches first inside ``H`` (a watershed of the mask from the seeds:
  the geodesic nearest seed);
* ``A``'s part becomes a new object of ``u``, linked from ``A(u-1)``; ``H`` keeps ``B``'s part.

Each part must keep at least ``min_part`` of the object of ``u - 1`` it grew from, else that gap
is left as it is. The gap link is replaced by frame-to-frame links through the new objects. On
classic's results for all of the 02 sequences, every gap link of MSC (3) and half of SIM+'s (12 of
24) crossed such a merge; none of GOWT1's 30 did.

A merge longer than a gap, or one that ends where the merged object parts again, is linked as a
division instead: the cell inside the host ends her track at the merge, and when the two part,
the part that is she is a birth next to the host, which the division detector takes for a
daughter. :func:`reemerged_cells` gives such a "daughter" back to the track that ended inside the
mother's track: a gap link from that track's end, which :func:`split_merged` can then cut through.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import numpy as np
import pandas as pd
from skimage.segmentation import watershed

from celltrace.frames import Frames, as_frames, changed_frames


def holder(frame: np.ndarray, mask: np.ndarray) -> int:
    """The label of ``frame`` under more than half of ``mask``'s pixels, or 0 when there is none
    (of several labels under it, the one with most pixels; ties to the lower label)."""
    under = frame[mask]
    under = under[under > 0]
    if under.size == 0:
        return 0
    counts = np.bincount(under)
    top = int(counts.argmax())
    return top if counts[top] * 2 > np.count_nonzero(mask) else 0


def split_merged(links: np.ndarray, segmentation: Frames, labels_per_frame: list[np.ndarray],
                 min_part: float = 0.2) -> tuple[np.ndarray, dict[int, np.ndarray], list[np.ndarray]]:
    """``links`` with each gap link that crosses a merge (module docstring) replaced by links
    through new objects cut out of the hosts, the edited frames ``{u: labels}`` (whole frames,
    to put in place of ``segmentation``'s: :func:`edited_segmentation`) and the labels per frame
    with the new objects. Gaps that cannot be cut in every frame are left as they are."""
    links = np.array(links, dtype=np.int64).reshape(-1, 4)
    labels = list(labels_per_frame)
    edits: dict[int, np.ndarray] = {}
    if len(links) == 0:
        return links, edits, labels
    seg = as_frames(segmentation)

    def frame(u: int) -> np.ndarray:
        return edits[u] if u in edits else np.asarray(seg[u])

    pred: dict[tuple[int, int], tuple[int, int]] = {}
    for t0, l0, t1, l1 in links.tolist():
        if t1 == t0 + 1:
            pred[(t1, l1)] = (t0, l0)
    keep = np.ones(len(links), dtype=bool)
    added: list[tuple[int, int, int, int]] = []
    for i in np.flatnonzero(links[:, 2] - links[:, 0] >= 2).tolist():
        te, a, ts, a_next = (int(v) for v in links[i])
        trial: dict[int, np.ndarray] = {}
        chain = [(te, a)]
        prev = frame(te) == a
        for u in range(te + 1, ts):
            before = trial[u - 1] if u - 1 in trial else frame(u - 1)
            cut = _cut_host(frame(u), prev, before, u, pred, min_part)
            if cut is None:
                break
            trial[u], new = cut
            chain.append((u, new))
            prev = trial[u] == new
        else:
            keep[i] = False
            chain.append((ts, a_next))
            added += [(t0, l0, t1, l1) for (t0, l0), (t1, l1) in zip(chain, chain[1:])]
            for u, new in chain[1:-1]:
                edits[u] = trial[u]
                labels[u] = np.append(np.asarray(labels[u]), new)
    out = links[keep]
    if added:
        out = np.vstack([out, np.array(added, dtype=np.int64)])
    return out, edits, labels


def reemerged_cells(links: np.ndarray, segmentation: Frames, objects: Sequence[pd.DataFrame],
                    max_frames: int, min_area_ratio: float = 0.5, min_track_frames: int = 2) -> np.ndarray:
    """``links`` with each division that is a merged cell parting from her host again made a gap link.

    A division ``m(t) -> a, b(t+1)`` is a re-emergence when, walking back along the mother's track
    (one predecessor each, no other division) at most ``max_frames`` frames, an object ``h(u)`` of
    it absorbed a track end ``E(u-1)``: more than half of ``E``'s pixels lie under ``h``, ``E``'s
    track is at least ``min_track_frames`` objects long, ``E`` is at least ``min_area_ratio`` of
    ``P``, the mother track's object before ``h`` (of ``u-1``, or earlier across a gap link), and
    ``h`` is at least ``P`` plus half of ``E`` in area (two cells' pixels, not a fragment swallowed). The latest such ``E`` takes the
    daughter the 2×2 assignment of squared centroid distances (``E``, ``P`` → ``a``, ``b``) gives
    her: the link ``m -> x`` becomes ``E(u-1) -> x(t+1)``. ``objects[t]`` is frame ``t``'s table
    ``label, y, x, area`` (:func:`~celltrace.linking.features.object_features`). Returns a new
    array; ``max_frames <= 0``: unchanged."""
    links = np.array(links, dtype=np.int64).reshape(-1, 4)
    if max_frames <= 0 or len(links) == 0:
        return links
    seg = as_frames(segmentation)
    succ: dict[tuple[int, int], list[int]] = {}
    pred: dict[tuple[int, int], tuple[int, int]] = {}
    for i, (t0, l0, t1, l1) in enumerate(links.tolist()):
        succ.setdefault((t0, l0), []).append(i)
        pred[(t1, l1)] = (t0, l0)
    n_frames = len(seg)
    area = [dict(zip(o["label"].tolist(), o["area"].tolist())) for o in objects]
    centre = [dict(zip(o["label"].tolist(), o[["y", "x"]].to_numpy(np.float64))) for o in objects]

    def track_length(node: tuple[int, int], limit: int) -> int:
        n = 1
        while n < limit and node in pred and len(succ.get(pred[node], [])) == 1:
            node, n = pred[node], n + 1
        return n

    # track ends (before the last frame) and the object of the next frame holding most of each
    ends_by_frame: dict[int, list[int]] = {}
    for t, labs in enumerate(area):
        if t < n_frames - 1:
            ends = [lab for lab in labs if (t, lab) not in succ]
            if ends:
                ends_by_frame[t] = ends
    absorbed: dict[tuple[int, int], list[tuple[int, int]]] = {}  # host (u, h) -> ends (u-1, E)
    for t, ends in ends_by_frame.items():
        now, nxt = np.asarray(seg[t]), np.asarray(seg[t + 1])
        for lab in ends:
            host = holder(nxt, now == lab)
            if host:
                absorbed.setdefault((t + 1, host), []).append((t, lab))

    keep = np.ones(len(links), dtype=bool)
    added: list[tuple[int, int, int, int]] = []
    used: set[tuple[int, int]] = set()
    for mother in sorted(k for k, out in succ.items() if len(out) == 2):
        rows = succ[mother]
        kids = [(int(links[i, 2]), int(links[i, 3])) for i in rows]
        if any(tk != mother[0] + 1 for tk, _ in kids):
            continue
        node, found = mother, None
        while found is None and mother[0] - node[0] < max_frames:
            for end in sorted(absorbed.get(node, []), reverse=True):
                p = pred.get(node)
                if end in used or p is None:
                    continue
                a_e, a_p, a_h = area[end[0]][end[1]], area[p[0]][p[1]], area[node[0]][node[1]]
                if a_e >= min_area_ratio * a_p and a_h >= a_p + 0.5 * a_e and \
                        track_length(end, min_track_frames) >= min_track_frames:
                    found = (end, p)
                    break
            if node not in pred or len(succ.get(pred[node], [])) != 1:
                break
            node = pred[node]
        if found is None:
            continue
        end, p = found
        (te, le), (tp, lp), ((ta, la), (tb, lb)) = end, p, kids
        c_e, c_p, c_a, c_b = centre[te][le], centre[tp][lp], centre[ta][la], centre[tb][lb]
        e_takes_b = ((c_p - c_a) ** 2).sum() + ((c_e - c_b) ** 2).sum() <= \
            ((c_p - c_b) ** 2).sum() + ((c_e - c_a) ** 2).sum()
        i = rows[1] if e_takes_b else rows[0]
        keep[i] = False
        kid = (int(links[i, 2]), int(links[i, 3]))
        added.append((*end, *kid))
        used.add(end)
        succ[mother] = [r for r in rows if r != i]
        succ[end], pred[kid] = [-1], end  # -1: a link not in ``links`` (only counted)
    out = links[keep]
    if added:
        out = np.vstack([out, np.array(added, dtype=np.int64)])
    return out


def _cut_host(now: np.ndarray, prev_a: np.ndarray, before: np.ndarray, u: int,
              pred: dict[tuple[int, int], tuple[int, int]], min_part: float) -> tuple[np.ndarray, int] | None:
    """Frame ``u`` (``now``) with ``A``'s part cut out of the host under ``prev_a`` (``A``'s object
    of ``u - 1``; ``before`` the frame ``u - 1``) as a new label, and that label; ``None`` when
    there is no host continuing another object or a part would be too small."""
    host = holder(now, prev_a)
    if host == 0 or (u, host) not in pred:
        return None
    prev_b = before == pred[(u, host)][1]
    inside = now == host
    markers = np.zeros(now.shape, np.int32)
    markers[prev_a & inside & ~prev_b] = 1
    markers[prev_b & inside & ~prev_a] = 2
    if not (markers == 1).any() or not (markers == 2).any():
        return None
    parts = watershed(np.zeros(now.shape, np.uint8), markers, mask=inside)
    part_a, part_b = parts == 1, parts == 2
    if part_a.sum() < min_part * prev_a.sum() or part_b.sum() < min_part * prev_b.sum():
        return None
    new = int(now.max()) + 1
    if np.issubdtype(now.dtype, np.integer) and new > np.iinfo(now.dtype).max:
        return None
    out = now.copy()
    out[part_a] = new
    return out, new


def edited_segmentation(segmentation: Frames, edits: dict[int, np.ndarray]) -> Frames:
    """``segmentation`` with the frames in ``edits`` replaced (lazily for lazy frames)."""
    return changed_frames(segmentation, {t: partial(_replaced, by=frame) for t, frame in edits.items()})


def _replaced(_: np.ndarray, by: np.ndarray) -> np.ndarray:
    return by


__all__ = ["edited_segmentation", "holder", "reemerged_cells", "split_merged"]
