"""Division detection after the frame-to-frame LAP.

After the LAP between frames ``t`` and ``t+1``, an object ``a`` of ``t+1`` without a predecessor
(a "birth") may be the second daughter of a mother ``m`` of frame ``t``:

* **mother continues**: ``m`` is linked to ``b`` in ``t+1`` (its first daughter, the "sibling")
  and ``a`` lies within ``max_distance`` of ``m``;
* **mother ends**: ``m`` has no successor and two births ``a, b`` lie within ``max_distance``.

Each candidate triple ``(m, a, b)`` gets a cost from a pluggable scorer
``division_cost(t, objs_t, objs_t1, mothers, daughters, siblings) -> costs`` (lower is better,
non-finite = impossible); a learned parent–child score plugs in as ``-log p_division``. Triples
with cost ``<= max_cost`` are accepted greedily in increasing cost order, each mother dividing at
most once and each object being a daughter at most once.

Once the whole movie is linked (gaps closed), :func:`prune_short_daughters` takes back divisions
whose daughter branch dies within a few frames: a real daughter lives on, a fragment of an
over-segmented cell or a flickering detection does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from celltrace.linking.lap import positions

DivisionCost = Callable[[int, pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass
class GeometricDivisionCost:
    """Mother–daughter geometry cost of a division ``m -> (a, b)``:

    ``cost = (|x_m - (x_a + x_b)/2| / s)^2 + w_area ln((A_a + A_b) / A_m)^2 + w_sym ln(A_a / A_b)^2
    + w_shrink max(0, ln(max(A_a, A_b) / (f A_m)))^2``

    — the mother sits between her daughters (``s`` = ``scale``, in pixels), the daughters together
    are about as large as the mother, about as large as each other, and neither is larger than
    the fraction ``f`` = ``max_daughter_fraction`` of the mother: a cell that keeps its size
    did not divide, whatever was born beside it. The area terms are left out when the tables have
    no ``area`` column; ``w_shrink = 0`` leaves out the last.
    """

    scale: float = 10.0
    w_area: float = 1.0
    w_sym: float = 1.0
    w_shrink: float = 0.0
    max_daughter_fraction: float = 0.7

    def __call__(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame, mothers: np.ndarray,
                 daughters: np.ndarray, siblings: np.ndarray) -> np.ndarray:
        p0, p1 = positions(objs_t), positions(objs_t1)
        mid = 0.5 * (p1[daughters] + p1[siblings])
        cost = (np.sqrt(((p0[mothers] - mid) ** 2).sum(1)) / self.scale) ** 2
        if "area" in objs_t.columns and "area" in objs_t1.columns:
            a0 = np.maximum(objs_t["area"].to_numpy(np.float64), 1.0)
            a1 = np.maximum(objs_t1["area"].to_numpy(np.float64), 1.0)
            aa, ab, am = a1[daughters], a1[siblings], a0[mothers]
            cost = cost + self.w_area * np.log((aa + ab) / am) ** 2 + self.w_sym * np.log(aa / ab) ** 2
            if self.w_shrink > 0:
                grown = np.log(np.maximum(aa, ab) / (self.max_daughter_fraction * am))
                cost = cost + self.w_shrink * np.maximum(grown, 0.0) ** 2
        return cost


@dataclass
class DivisionDetector:
    """Adds division links after each frame-pair LAP (see module docstring).

    ``max_distance``: largest mother–daughter centroid distance of a candidate (pixels);
    ``max_cost``: largest accepted division cost; ``cost``: the scorer (default geometric);
    ``ended_cost``: the scorer of the "mother ends" candidates (both daughters births), ``None`` =
    ``cost``; ``min_branch_frames``: :meth:`prune` takes back divisions with a daughter branch
    shorter than this (0 = keep every division).
    """

    max_distance: float = 30.0
    max_cost: float = 1.0
    cost: DivisionCost = field(default_factory=GeometricDivisionCost)
    min_branch_frames: int = 0
    ended_cost: DivisionCost | None = None

    def prune(self, links: np.ndarray, n_frames: int) -> np.ndarray:
        """``links`` of the whole movie without the divisions :func:`prune_short_daughters` rejects."""
        return prune_short_daughters(links, n_frames, self.min_branch_frames)

    def candidates(self, objs_t: pd.DataFrame, objs_t1: pd.DataFrame, rows: np.ndarray,
                   cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate triples ``(mothers, daughters, siblings)`` as table positions."""
        n, m = len(objs_t), len(objs_t1)
        e = np.zeros(0, dtype=np.int64)
        if n == 0 or m == 0:
            return e, e, e
        succ = np.full(n, -1, dtype=np.int64)
        succ[rows] = cols
        has_pred = np.zeros(m, dtype=bool)
        has_pred[cols] = True
        births = np.flatnonzero(~has_pred)
        if births.size == 0:
            return e, e, e
        p0, p1 = positions(objs_t), positions(objs_t1)
        tree0 = cKDTree(p0)
        near = tree0.query_ball_point(p1[births], r=self.max_distance)
        mo, da, si = [], [], []
        ended_near: dict[int, list[int]] = {}
        for a, ms in zip(births, near):
            for mth in ms:
                if succ[mth] >= 0:
                    mo.append(mth), da.append(a), si.append(succ[mth])
                else:
                    ended_near.setdefault(mth, []).append(a)
        for mth, kids in ended_near.items():
            for i in range(len(kids)):
                for j in range(i + 1, len(kids)):
                    mo.append(mth), da.append(kids[i]), si.append(kids[j])
        if not mo:
            return e, e, e
        return np.array(mo, np.int64), np.array(da, np.int64), np.array(si, np.int64)

    def __call__(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame, rows: np.ndarray,
                 cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extra ``(mother, daughter)`` links (table positions) to add to the frame-pair links."""
        mo, da, si = self.candidates(objs_t, objs_t1, rows, cols)
        e = np.zeros(0, dtype=np.int64)
        if mo.size == 0:
            return e, e
        cost = np.asarray(self.cost(t, objs_t, objs_t1, mo, da, si), dtype=np.float64)
        ended = ~np.isin(mo, rows)  # the mother has no successor: both daughters are births
        if self.ended_cost is not None and ended.any():
            cost[ended] = np.asarray(self.ended_cost(t, objs_t, objs_t1, mo[ended], da[ended], si[ended]),
                                     dtype=np.float64)
        ok = np.isfinite(cost) & (cost <= self.max_cost)
        used_m: set[int] = set()
        used_d: set[int] = set(int(c) for c in cols)  # already have a mother
        out_m, out_d = [], []
        for k in np.flatnonzero(ok)[np.argsort(cost[ok], kind="stable")]:
            mth, a, b = int(mo[k]), int(da[k]), int(si[k])
            if mth in used_m or a in used_d:
                continue
            if not ended[k]:  # mother continues into b: only a is new
                out_m.append(mth), out_d.append(a)
                used_d.add(a)
            else:  # mother ended: both births become daughters
                if b in used_d:
                    continue
                out_m += [mth, mth]
                out_d += [a, b]
                used_d.update((a, b))
            used_m.add(mth)
        return np.array(out_m, np.int64), np.array(out_d, np.int64)


def branch_end(links: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Last frame reached from each linked object by following ``links`` (rows ``(t0, label0, t1,
    label1)``, ``t1 > t0``) forward through continuations, gaps and divisions: ``(keys, last,
    base)``, ``keys`` the sorted object keys ``t · base + label`` and ``last`` their last frames.
    One vectorised step per source frame, latest first, so memory stays a few arrays of the links'
    length (a 10,000-frame movie has ~600,000 links)."""
    links = np.asarray(links, dtype=np.int64).reshape(-1, 4)
    base = int(max(links[:, 1].max(), links[:, 3].max())) + 1 if len(links) else 1
    src = links[:, 0] * base + links[:, 1]
    dst = links[:, 2] * base + links[:, 3]
    keys = np.unique(np.concatenate([src, dst]))
    last = keys // base  # an object alone reaches its own frame
    si, di = np.searchsorted(keys, src), np.searchsorted(keys, dst)
    order = np.argsort(-links[:, 0], kind="stable")
    t0 = links[order, 0]
    bounds = np.flatnonzero(np.diff(t0)) + 1
    for rows in np.split(order, bounds):  # successors (later frames) are final before their sources
        np.maximum.at(last, si[rows], last[di[rows]])
    return keys, last, base


def prune_short_daughters(links: np.ndarray, n_frames: int, min_frames: int) -> np.ndarray:
    """Remove the link to a daughter whose branch (the daughter and everything linked after it)
    spans fewer than ``min_frames`` frames and ends before the movie's last frame ``n_frames - 1``.

    Of a mother with two successors at most one link is removed, the shorter branch's (the other
    daughter then continues the mother). A branch cut short by the end of the movie is kept: its
    cell may live on. ``min_frames <= 1`` returns ``links`` unchanged.
    """
    links = np.asarray(links, dtype=np.int64).reshape(-1, 4)
    if min_frames <= 1 or len(links) == 0:
        return links
    keys, last, base = branch_end(links)
    src = links[:, 0] * base + links[:, 1]
    _, inverse, counts = np.unique(src, return_inverse=True, return_counts=True)
    rows = np.flatnonzero(counts[inverse] == 2)
    if rows.size == 0:
        return links
    end = last[np.searchsorted(keys, links[rows, 2] * base + links[rows, 3])]
    span = end - links[rows, 2] + 1
    # per mother, the shorter branch first (ties: the earlier end, then the row)
    order = np.lexsort((rows, end, span, inverse[rows]))
    rows, end, span, mother = rows[order], end[order], span[order], inverse[rows][order]
    first = np.r_[True, mother[1:] != mother[:-1]]
    cut = first & (span < min_frames) & (end < n_frames - 1)
    keep = np.ones(len(links), dtype=bool)
    keep[rows[cut]] = False
    return links[keep]
