"""Frame-to-frame linking as a linear assignment problem with shadow objects (Jaqaman et al. 2008,
"Robust single-particle tracking in live-cell time-lapse sequences", Nature Methods 5:695).

For ``n`` objects in frame ``t`` and ``m`` in frame ``t+1`` the LAP is posed on the
``(n+m) x (m+n)`` block matrix::

              m objects of t+1      n death shadows
    n    [  C  (link costs)    |  D = diag(d_i)     ]
    m    [  B = diag(b_j)      |  L  (C^T pattern)  ]

``C_ij`` is the cost of linking object i of t to object j of t+1 (absent = forbidden, so the
matrix is sparse), ``d_i`` the cost of i having no successor (death / track end), ``b_j`` the
cost of j having no predecessor (birth / track start). The lower-right block ``L`` holds an entry
(cost 0) wherever ``C^T`` has one, so that every choice of links completes to a perfect matching.
A perfect matching of minimum weight therefore minimises

    sum_{links (i,j)} C_ij + sum_{unlinked i} d_i + sum_{unlinked j} b_j,

i.e. a link is taken only when it is cheaper than ending one track and starting another
(``C_ij < d_i + b_j``, in competition with the other links).

Subtracting the constant ``sum_i d_i + sum_j b_j`` turns this into a maximum-weight matching on
the *reduced* costs ``R_ij = C_ij - d_i - b_j`` (only links with ``R_ij < 0`` can help)::

    min over matchings M of  sum_{(i,j) in M} R_ij

which decomposes over the connected components of the candidate graph. Each component is solved
exactly with :func:`scipy.optimize.linear_sum_assignment` (a shortest-augmenting-path solver that
always terminates, also on ties and negative costs) on its dense ``r x c`` reduced-cost matrix,
non-candidates at 0 (taking one is the same as linking nothing). scipy's sparse
``min_weight_full_bipartite_matching`` is not used: it never returned on a real frame pair
(``regressions/lap_hang_psc.npz``: near-equal costs around ``-log p``) and ignores Ctrl-C.

The link cost is pluggable: any callable ``cost(t, objs_t, objs_t1) -> (rows, cols, costs)`` (or a
sparse ``n x m`` matrix) works; :class:`EuclideanCost` is the default and :class:`GatedCost`
turns a pairwise score (e.g. ``-log p_same`` of a network) into one, gated by a KD-tree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import linear_sum_assignment
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from tqdm.auto import tqdm

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]
CostResult = Union[Candidates, sparse.spmatrix, sparse.sparray]
CostFunction = Callable[[int, pd.DataFrame, pd.DataFrame], CostResult]
"""``cost(t, objs_t, objs_t1) -> (rows, cols, costs)``: row indices into ``objs_t``, column indices
into ``objs_t1`` (positions in the tables, not labels) and finite costs of the allowed links;
or an ``n x m`` scipy sparse matrix whose stored entries are the allowed links."""

POSITION_COLUMNS = ("y", "x")


def positions(objs: pd.DataFrame) -> np.ndarray:
    """``(n, 2)`` float array of the ``y, x`` columns of an object table."""
    return objs[list(POSITION_COLUMNS)].to_numpy(dtype=np.float64).reshape(-1, 2)


def candidate_pairs(pos0: np.ndarray, pos1: np.ndarray, max_distance: float) -> Candidates:
    """All pairs ``(i, j)`` with ``|pos0_i - pos1_j| <= max_distance`` and their distances, found
    with two KD-trees (cost ~ number of pairs, never a dense n x m matrix)."""
    if len(pos0) == 0 or len(pos1) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), np.zeros(0)
    t0, t1 = cKDTree(pos0), cKDTree(pos1)
    pairs = t0.sparse_distance_matrix(t1, max_distance, output_type="ndarray")
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"].astype(np.float64)


@dataclass
class EuclideanCost:
    """``C_ij = |x_i - x_j|^power`` for ``|x_i - x_j| <= max_distance``, else forbidden.

    ``power=2`` (default) is the Brownian-motion cost of Jaqaman et al.; ``power=1`` the plain
    distance. ``max_cost`` is the cost at the gate.
    """

    max_distance: float = 20.0
    power: float = 2.0

    @property
    def max_cost(self) -> float:
        return float(self.max_distance) ** self.power

    def __call__(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame) -> Candidates:
        r, c, d = candidate_pairs(positions(objs_t), positions(objs_t1), self.max_distance)
        return r, c, d ** self.power if self.power != 1 else d


class PairScore(Protocol):
    def __call__(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame,
                 rows: np.ndarray, cols: np.ndarray) -> np.ndarray: ...


@dataclass
class GatedCost:
    """A link cost from a pairwise scorer on KD-tree gated candidates:
    ``C_ij = score(t, objs_t, objs_t1, i, j)`` for ``|x_i - x_j| <= max_distance``.

    ``score`` gets arrays of candidate row/column indices and returns one cost per pair (non-finite
    = forbidden). A learned association probability ``p_same`` plugs in as
    ``score = -log(p_same + eps)``; ``max_cost`` (optional) is the largest cost the scorer returns.
    """

    score: PairScore
    max_distance: float = 20.0
    max_cost: float | None = None

    def __call__(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame) -> Candidates:
        r, c, _ = candidate_pairs(positions(objs_t), positions(objs_t1), self.max_distance)
        if r.size == 0:
            return r, c, np.zeros(0)
        return r, c, np.asarray(self.score(t, objs_t, objs_t1, r, c), dtype=np.float64)


def as_candidates(result: CostResult, n: int, m: int) -> Candidates:
    """Normalise a cost function's result to finite ``(rows, cols, costs)`` arrays, checking bounds."""
    if sparse.issparse(result):
        coo = sparse.coo_matrix(result)
        if coo.shape != (n, m):
            raise ValueError(f"cost matrix of shape {coo.shape}, expected {(n, m)}")
        rows, cols, costs = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64)
    else:
        rows, cols, costs = (np.asarray(a) for a in result)
        rows = rows.astype(np.int64, copy=False).ravel()
        cols = cols.astype(np.int64, copy=False).ravel()
        costs = costs.astype(np.float64, copy=False).ravel()
        if not (rows.size == cols.size == costs.size):
            raise ValueError("cost function returned rows, cols and costs of different lengths")
    if rows.size and (rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m):
        raise ValueError("cost function returned indices outside the object tables")
    ok = np.isfinite(costs)
    return rows[ok], cols[ok], costs[ok]


def solve_lap(n: int, m: int, rows: np.ndarray, cols: np.ndarray, costs: np.ndarray,
              death_cost: float | np.ndarray, birth_cost: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve the shadow-object LAP of the module docstring; return the chosen links as
    ``(rows, cols)`` index arrays, sorted by row. ``death_cost`` / ``birth_cost`` are finite
    scalars or per-object arrays; candidates with non-finite costs are forbidden links, and a
    repeated candidate ``(i, j)`` counts with its lowest cost.

    Candidates with ``C_ij >= d_i + b_j`` can never be chosen and are dropped first; the rest is
    split into connected components, each solved exactly (see the module docstring).
    """
    d = np.broadcast_to(np.asarray(death_cost, dtype=np.float64), (n,))
    b = np.broadcast_to(np.asarray(birth_cost, dtype=np.float64), (m,))
    if not (np.isfinite(d).all() and np.isfinite(b).all()):
        raise ValueError("death and birth costs must be finite")
    rows, cols, costs = (np.asarray(a).ravel() for a in (rows, cols, costs))
    rows, cols, costs = rows.astype(np.int64), cols.astype(np.int64), costs.astype(np.float64)
    if rows.size and (rows.min() < 0 or rows.max() >= n or cols.min() < 0 or cols.max() >= m):
        raise ValueError("candidate indices outside the object tables")
    finite = np.isfinite(costs)
    rows, cols, costs = rows[finite], cols[finite], costs[finite]
    reduced = costs - d[rows] - b[cols]
    keep = reduced < 0
    rows, cols, reduced = rows[keep], cols[keep], reduced[keep]
    if rows.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy()
    # compact indices of the objects that have a candidate
    ur, rows_c = np.unique(rows, return_inverse=True)
    uc, cols_c = np.unique(cols, return_inverse=True)
    nr, nc = ur.size, uc.size
    graph = sparse.coo_matrix((np.ones(rows_c.size), (rows_c, nr + cols_c)), shape=(nr + nc, nr + nc))
    n_comp, comp = connected_components(graph, directed=False)
    edge_comp = comp[rows_c]
    order = np.argsort(edge_comp, kind="stable")
    bounds = np.searchsorted(edge_comp[order], np.arange(n_comp + 1))
    out_r: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    for k in range(n_comp):
        sel = order[bounds[k]:bounds[k + 1]]
        if sel.size == 0:
            continue
        r_k, c_k, w_k = rows_c[sel], cols_c[sel], reduced[sel]
        if sel.size == 1:  # one candidate with R < 0: always taken
            out_r.append(r_k)
            out_c.append(c_k)
            continue
        lr, r_loc = np.unique(r_k, return_inverse=True)
        lc, c_loc = np.unique(c_k, return_inverse=True)
        dense = np.zeros((lr.size, lc.size))
        np.minimum.at(dense, (r_loc, c_loc), w_k)
        ri, ci = linear_sum_assignment(dense)
        linked = dense[ri, ci] < 0
        out_r.append(lr[ri[linked]])
        out_c.append(lc[ci[linked]])
    r_all = ur[np.concatenate(out_r)]
    c_all = uc[np.concatenate(out_c)]
    o = np.argsort(r_all, kind="stable")
    return r_all[o], c_all[o]


def alternative_cost(costs: np.ndarray, factor: float = 1.05, percentile: float | None = None,
                     fallback: float = 1.0) -> float:
    """Birth/death cost from the link costs of a frame pair, as Jaqaman et al.: ``factor`` times the
    maximum candidate cost (or the ``percentile``-th percentile of the costs); ``fallback`` when
    there are no candidates."""
    if costs.size == 0:
        return float(fallback)
    v = float(np.max(costs) if percentile is None else np.percentile(costs, percentile))
    return float(factor * v) if v > 0 else float(fallback)


@dataclass
class FrameLinks:
    """Result of linking one frame pair: chosen link (row, col) indices and their costs."""

    rows: np.ndarray
    cols: np.ndarray
    costs: np.ndarray


@dataclass
class LAPLinker:
    """Links object tables frame by frame with :func:`solve_lap`, then (optionally) adds divisions
    and closes gaps. All steps are pluggable.

    Parameters
    ----------
    cost:
        link cost ``cost(t, objs_t, objs_t1) -> (rows, cols, costs)`` or sparse matrix
        (default :class:`EuclideanCost`).
    birth_cost, death_cost:
        fixed ``b`` and ``d``; ``None`` = per frame pair, both equal to ``alternative_cost(candidate
        costs, alternative_factor, alternative_percentile)`` (Jaqaman's rule: 1.05 x the largest
        candidate cost, so that every gated link is individually cheaper than a death + a birth
        and the gate decides what is linkable; a percentile makes the linker stricter).
    divisions:
        a :class:`~celltrace.linking.divisions.DivisionDetector` (or ``None``: no divisions).
    gap_closing:
        a :class:`~celltrace.linking.gaps.GapCloser` (or ``None``: no gap closing).
    """

    cost: CostFunction = field(default_factory=EuclideanCost)
    birth_cost: float | None = None
    death_cost: float | None = None
    alternative_factor: float = 1.05
    alternative_percentile: float | None = None
    divisions: Any = None
    gap_closing: Any = None

    def link_pair(self, t: int, objs_t: pd.DataFrame, objs_t1: pd.DataFrame) -> FrameLinks:
        """The LAP between frames ``t`` and ``t+1``: chosen links as table positions."""
        n, m = len(objs_t), len(objs_t1)
        rows, cols, costs = as_candidates(self.cost(t, objs_t, objs_t1), n, m)
        fallback = float(getattr(self.cost, "max_cost", None) or 1.0)
        alt = None
        if self.birth_cost is None or self.death_cost is None:
            alt = alternative_cost(costs, self.alternative_factor, self.alternative_percentile, fallback)
        d = self.death_cost if self.death_cost is not None else alt
        b = self.birth_cost if self.birth_cost is not None else alt
        r, c = solve_lap(n, m, rows, cols, costs, d, b)
        if r.size:
            order = np.lexsort((cols, rows))
            key = rows[order] * max(m, 1) + cols[order]
            pos = np.searchsorted(key, r * max(m, 1) + c)
            link_costs = costs[order][pos]
        else:
            link_costs = np.zeros(0)
        return FrameLinks(r, c, link_costs)

    def link(self, objects: Sequence[pd.DataFrame], progress: bool = False) -> np.ndarray:
        """Link a sequence of per-frame object tables (columns ``label, y, x`` at least, plus
        whatever the cost functions use). Returns an int64 array of rows ``(t0, label0, t1, label1)``
        for :meth:`celltrace.Tracking.from_links`."""
        T = len(objects)
        labels = [obj["label"].to_numpy(dtype=np.int64) for obj in objects]
        out: list[np.ndarray] = []
        for t in tqdm(range(T - 1), desc="linking", unit="frame", disable=not progress):
            fl = self.link_pair(t, objects[t], objects[t + 1])
            if self.divisions is not None:
                mothers, daughters = self.divisions(t, objects[t], objects[t + 1], fl.rows, fl.cols)
                if len(mothers):
                    fl.rows = np.concatenate([fl.rows, mothers])
                    fl.cols = np.concatenate([fl.cols, daughters])
            out.append(np.stack([np.full(fl.rows.size, t), labels[t][fl.rows],
                                 np.full(fl.rows.size, t + 1), labels[t + 1][fl.cols]], axis=1))
        links = np.concatenate(out).astype(np.int64) if out else np.zeros((0, 4), dtype=np.int64)
        if self.gap_closing is not None and T > 2:
            extra = self.gap_closing(objects, links)
            if len(extra):
                links = np.concatenate([links, extra]).astype(np.int64)
        prune = getattr(self.divisions, "prune", None)
        if prune is not None:
            links = prune(links, T)
        return links


def link(objects: Sequence[pd.DataFrame], max_distance: float = 20.0, **kwargs: Any) -> np.ndarray:
    """Shortcut: :class:`LAPLinker` with :class:`EuclideanCost` (``max_distance``) and ``kwargs``."""
    return LAPLinker(cost=EuclideanCost(max_distance), **kwargs).link(objects)
