"""Gap closing: join a track that ends to one that starts up to ``max_gap`` frames later.

Track ends are objects without a successor (before the last frame), track starts objects without
a predecessor (after the first frame). For an end ``e`` (frame ``t_e``) and a start ``s`` (frame
``t_s``) with ``2 <= t_s - t_e <= max_gap + 1`` (``1 <=`` with ``jumps``: an object that moved
farther than the frame-to-frame gate but within this one, as a daughter pushed away from her sister
right after a division) and ``|x_e - x_s| <= max_distance`` the default
cost is the Brownian one, ``|x_e - x_s|^2 / (t_s - t_e)``; the choice is a second shadow-object
LAP (:func:`~celltrace.linking.lap.solve_lap`) with end/start costs ``alternative``. A chosen pair
becomes a link ``(t_e, label_e, t_s, label_s)``: the start continues the end's track (in CTC terms,
after a gap, under a new label whose parent is the ended one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from celltrace.linking.lap import alternative_cost, solve_lap

GapCost = Callable[[pd.DataFrame, pd.DataFrame, np.ndarray, np.ndarray], np.ndarray]
"""``gap_cost(ends, starts, rows, cols) -> costs``: tables with columns ``t, label, y, x, ...``."""


def brownian_gap_cost(ends: pd.DataFrame, starts: pd.DataFrame, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``|x_e - x_s|^2 / (t_s - t_e)``."""
    de = ends[["y", "x"]].to_numpy(np.float64)[rows] - starts[["y", "x"]].to_numpy(np.float64)[cols]
    dt = starts["t"].to_numpy(np.float64)[cols] - ends["t"].to_numpy(np.float64)[rows]
    return (de ** 2).sum(1) / dt


@dataclass
class GapCloser:
    """Gap closing (see module docstring). ``alternative`` ``None`` = 1.05 x the largest candidate cost;
    ``jumps``: also join an end to a start in the very next frame."""

    max_gap: int = 2
    max_distance: float = 30.0
    cost: GapCost = brownian_gap_cost
    alternative: float | None = None
    jumps: bool = False

    @property
    def min_interval(self) -> int:
        """The smallest ``t_s - t_e`` of a candidate: 1 with :attr:`jumps`, else 2."""
        return 1 if self.jumps else 2

    def __call__(self, objects: Sequence[pd.DataFrame], links: np.ndarray) -> np.ndarray:
        """Extra links ``(t_e, label_e, t_s, label_s)`` given the per-frame tables and current links."""
        T = len(objects)
        frames = [obj for obj in objects if len(obj)]
        if len(frames) < 2:
            return np.zeros((0, 4), dtype=np.int64)
        table = pd.concat(frames, ignore_index=True)  # one table, no per-frame copies (long movies)
        table["t"] = np.repeat(np.arange(T, dtype=np.int64), [len(obj) for obj in objects])
        t_all = table["t"].to_numpy(np.int64)
        lab_all = table["label"].to_numpy(np.int64)
        # an object is a track end if it has no outgoing link, a track start if no incoming one
        base = int(max(lab_all.max(), links[:, [1, 3]].max() if len(links) else 0)) + 1
        key = t_all * base + lab_all
        out_keys = links[:, 0] * base + links[:, 1] if len(links) else np.zeros(0, np.int64)
        in_keys = links[:, 2] * base + links[:, 3] if len(links) else np.zeros(0, np.int64)
        ends = table[(t_all < T - 1) & ~np.isin(key, out_keys)].reset_index(drop=True)
        starts = table[(t_all > 0) & ~np.isin(key, in_keys)].reset_index(drop=True)
        if len(ends) == 0 or len(starts) == 0:
            return np.zeros((0, 4), dtype=np.int64)
        rows, cols, costs = self.candidates(ends, starts)
        if rows.size == 0:
            return np.zeros((0, 4), dtype=np.int64)
        alt = self.alternative if self.alternative is not None else alternative_cost(costs)
        r, c = solve_lap(len(ends), len(starts), rows, cols, costs, alt, alt)
        te, ts = ends["t"].to_numpy(np.int64), starts["t"].to_numpy(np.int64)
        el, sl = ends["label"].to_numpy(np.int64), starts["label"].to_numpy(np.int64)
        return np.stack([te[r], el[r], ts[c], sl[c]], axis=1).astype(np.int64)

    def candidates(self, ends: pd.DataFrame, starts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The allowed end → start pairs ``(rows, cols, costs)`` (table positions; finite costs):
        ``min_interval <= t_s - t_e <= max_gap + 1`` and ``|x_e - x_s| <= max_distance``. Tables have columns
        ``t, y, x`` (+ whatever :attr:`cost` uses)."""
        e = np.zeros(0, dtype=np.int64)
        if len(ends) == 0 or len(starts) == 0:
            return e, e.copy(), np.zeros(0)
        te, ts = ends["t"].to_numpy(np.int64), starts["t"].to_numpy(np.int64)
        pairs = cKDTree(ends[["y", "x"]].to_numpy(np.float64)).sparse_distance_matrix(
            cKDTree(starts[["y", "x"]].to_numpy(np.float64)), self.max_distance, output_type="ndarray")
        rows, cols = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        dt = ts[cols] - te[rows]
        ok = (dt >= self.min_interval) & (dt <= self.max_gap + 1)
        rows, cols = rows[ok], cols[ok]
        if rows.size == 0:
            return e, e.copy(), np.zeros(0)
        costs = np.asarray(self.cost(ends, starts, rows, cols), dtype=np.float64)
        finite = np.isfinite(costs)
        return rows[finite], cols[finite], costs[finite]
