"""Divisions as the CTC annotates them: reported when the daughters have separated, not when the
chromatin splits, and not for a piece cut off a nucleus.

A threshold segmentation sees a dividing nucleus as two objects as soon as its chromatin splits
(anaphase). The Cell Tracking Challenge's truth keeps the mother one cell until cytokinesis:
Fluo-N2DH-SIM+ 02 annotates her, in her last two frames, as one object holding both pieces (the
pieces' convex hull covers 0.67–0.98 of her), and her daughters from the frame after. Reported at
the split, the division is early, and the mother's last frames are each a miss and two false
objects.

:func:`join_daughters` moves each division whose two daughters both live on ``frames`` frames
later: in each of those frames the two daughters are one object — their union plus the
background pixels of its convex hull (:func:`merge_pairs`) — that continues the mother, and
divides into the daughters' successors. ``accept(t, a, b)`` may refuse a pair: classic joins only
pieces whose union is far from convex (:func:`~celltrace.segmentation.pieces.union_hull_ratio` at
least ``division_join_min_hull``), as chromatin pieces with a gap between them are, not two round
daughters pressed together. Only links and the listed frames change; no object of another cell
loses a pixel.

:func:`take_back_remerged` undoes the opposite error, a division that is a cell cut in two: a
bright chromatin clump split off a nucleus for some frames is linked as a daughter, and when the
cut heals her branch ends inside her "sister". A daughter whose branch ends (before the movie's
last frame, without dividing) while her sister lives on may have been a piece of her;
``remerged(piece, sister)`` decides. Classic asks that most of her last object lies under her
sister's object of the next frame (the cut healed) and that she stayed small beside her sister (a
daughter grows to her sister's size, a clump does not). Then the division is taken back and each
of her objects is joined to her sister's of the same frame (:func:`merge_pairs`). On classic's
result for all of SIM+ 02, 10 of the 21 divisions that match no annotated division end inside
the sister, and none of the 33 that do; but daughters pressed together, whose segmentation
merges them again (the synthetic movies), do too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
from skimage.morphology import convex_hull_image

from celltrace.frames import Frames, changed_frames

Joins = dict[int, list[tuple[int, int]]]
"""Frame → pairs ``(a, b)`` of its (per-frame) labels: ``b``'s pixels become ``a``'s."""


def _successors(links: np.ndarray) -> dict[tuple[int, int], list[int]]:
    """``(t0, label0)`` → the rows of ``links`` leaving that object."""
    rows: dict[tuple[int, int], list[int]] = {}
    for i, (t0, l0, _, _) in enumerate(links.tolist()):
        rows.setdefault((t0, l0), []).append(i)
    return rows


def _branch(links: np.ndarray, rows: dict[tuple[int, int], list[int]], start: tuple[int, int]
            ) -> tuple[list[tuple[int, int]], list[int], bool]:
    """The objects of the branch from ``start`` while each has one successor (gap links included),
    the rows of the links between them, and whether it ends (no successor) rather than divides."""
    nodes, inner, node = [start], [], start
    while len(rows.get(node, [])) == 1:
        i = rows[node][0]
        inner.append(i)
        node = (int(links[i, 2]), int(links[i, 3]))
        nodes.append(node)
    return nodes, inner, not rows.get(node)


def join_daughters(links: np.ndarray, frames: int = 1,
                   accept: Callable[[int, int, int], bool] | None = None) -> tuple[np.ndarray, Joins]:
    """``links`` (rows ``(t0, label0, t1, label1)``) with each division ``m(t) -> a(t+1), b(t+1)``
    whose daughters each have one successor link (and that ``accept(t+1, a, b)`` accepts, when
    given) made ``frames`` frames later: ``m -> a``, and ``a`` takes ``b``'s successor link (``b``
    is joined to ``a`` in frame ``t+1``), repeated while the daughters' successors again start in
    the next frame and live on. Returns the new links and the joins to apply to the segmentation
    (:func:`joined_segmentation`). ``frames <= 0``: unchanged."""
    links = np.array(links, dtype=np.int64).reshape(-1, 4)  # a copy: the caller's links stay as they are
    joins: Joins = {}
    if frames <= 0 or len(links) == 0:
        return links, joins
    rows = _successors(links)
    keep = np.ones(len(links), dtype=bool)
    for mother in sorted(k for k, out in rows.items() if len(out) == 2):  # the divisions as linked
        for _ in range(frames):
            out = rows.get(mother, [])
            if len(out) != 2:
                break
            (ta, a), (tb, b) = (tuple(links[i, 2:]) for i in out)
            na, nb = rows.get((ta, a), []), rows.get((tb, b), [])
            if not (ta == tb == mother[0] + 1 and len(na) == 1 and len(nb) == 1):
                break
            if accept is not None and not accept(int(ta), int(a), int(b)):
                break
            keep[out[1]] = False  # m -> b goes; a takes b's successor
            links[nb[0], :2] = (ta, a)
            rows[(ta, a)] = na + nb
            rows[mother] = [out[0]]
            rows.pop((tb, b))
            joins.setdefault(int(ta), []).append((int(a), int(b)))
            mother = (ta, a)
    return links[keep], joins


def take_back_remerged(links: np.ndarray, n_frames: int,
                       remerged: Callable[[list[tuple[int, int]], dict[int, int]], bool]) -> tuple[np.ndarray, Joins]:
    """``links`` without the divisions whose shorter daughter branch was a piece of her sister
    (module docstring): a division ``m -> a, b`` is taken back when the branch from ``a`` (one
    successor after another) ends, without dividing, in a frame ``t_e < n_frames - 1``, the branch
    from ``b`` has an object in every frame of ``a``'s and in ``t_e + 1``, and ``remerged(piece,
    sister)`` accepts (``a`` the daughter whose branch ends first; ``piece`` her branch's objects
    ``[(t, label), …]``, ``sister`` frame → the label of ``b``'s branch). The link ``m -> a`` and
    the links inside ``a``'s branch go; the joins put each of ``a``'s objects into ``b``'s of the
    same frame (:func:`joined_segmentation`)."""
    links = np.array(links, dtype=np.int64).reshape(-1, 4)
    joins: Joins = {}
    if len(links) == 0:
        return links, joins
    rows = _successors(links)
    keep = np.ones(len(links), dtype=bool)
    for mother in sorted(k for k, out in rows.items() if len(out) == 2):
        branches = []
        for i in rows[mother]:
            nodes, inner, ends = _branch(links, rows, (int(links[i, 2]), int(links[i, 3])))
            branches.append((nodes[-1][0], i, nodes, inner, ends))
        (t_end, first, piece, inner, ends), (_, _, sister, _, _) = sorted(branches, key=lambda b: b[0])
        if not ends or t_end >= n_frames - 1:
            continue
        sister_at = dict(sister)  # frame -> the sister branch's label (one object a frame)
        if not all(t in sister_at for t, _ in piece) or t_end + 1 not in sister_at:
            continue
        if not remerged(piece, sister_at):
            continue
        keep[[first, *inner]] = False
        for t, lab in piece:
            joins.setdefault(t, []).append((sister_at[t], lab))
    return links[keep], joins


def merge_pairs(frame: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """``frame`` with each pair ``(a, b)`` one object ``a``: ``a ∪ b`` plus the background pixels
    of their convex hull (a copy)."""
    out = np.array(frame, copy=True)
    for a, b in pairs:
        u = (out == a) | (out == b)
        if not u.any():
            continue
        ys, xs = np.nonzero(u)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        hull = convex_hull_image(u[box]) if u[box].sum() > 2 else u[box]
        sub = out[box]
        sub[u[box] | (hull & (sub == 0))] = a
    return out


def joined_segmentation(segmentation: Frames, joins: Joins) -> Frames:
    """``segmentation`` with the ``joins`` applied to their frames (lazily for lazy frames)."""
    return changed_frames(segmentation, {t: partial(merge_pairs, pairs=pairs) for t, pairs in joins.items()})


def joined_labels(labels_per_frame: list[np.ndarray], joins: Joins) -> list[np.ndarray]:
    """Each frame's object labels without those joined to another."""
    out = list(labels_per_frame)
    for t, pairs in joins.items():
        gone = np.array([b for _, b in pairs], dtype=np.int64)
        out[t] = np.asarray(out[t])[~np.isin(out[t], gone)]
    return out


__all__ = ["join_daughters", "joined_labels", "joined_segmentation", "merge_pairs", "take_back_remerged"]
