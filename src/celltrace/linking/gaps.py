"""Gap closing: join a track that ends to one that starts up to ``max_gap`` frames later.

Track ends are objects without a successor (before the last frame), track starts objects without
a predecessor (after the first frame). For an end ``e`` (frame ``t_e``) and a start ``s`` (frame
``t_s``) with ``2 <= t_s - t_e <= max_gap + 1`` and ``|x_e - x_s| <= max_distance`` the default
cost is the Brownian one, ``|x_e - x_s|^2 / (t_s - t_e)``; the choice is a second shadow-object
LAP (:func:`~celltrace.linking.lap.solve_lap`) with end/start costs ``alternative``. A chosen pair
becomes a link ``(t_e, label_e, t_s, label_s)``: in CTC terms the start continues the end's
track under a new label whose parent is the ended one.
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
    """Gap closing (see module docstring). ``alternative`` ``None`` = 1.05 x the largest candidate cost."""

    max_gap: int = 2
    max_distance: float = 30.0
    cost: GapCost = brownian_gap_cost
    alternative: float | None = None

    def __call__(self, objects: Sequence[pd.DataFrame], links: np.ndarray) -> np.ndarray:
        """Extra links ``(t_e, label_e, t_s, label_s)`` given the per-frame tables and current links."""
        T = len(objects)
        has_out = {(int(a), int(b)) for a, b in links[:, :2]} if len(links) else set()
        has_in = {(int(a), int(b)) for a, b in links[:, 2:]} if len(links) else set()
        end_parts, start_parts = [], []
        for t, obj in enumerate(objects):
            if len(obj) == 0:
                continue
            labs = obj["label"].to_numpy(np.int64)
            base = obj[["label", "y", "x"] + [c for c in obj.columns if c not in ("label", "y", "x", "t")]].copy()
            base.insert(0, "t", t)
            if t < T - 1:
                mask = np.array([(t, int(lab)) not in has_out for lab in labs], dtype=bool)
                end_parts.append(base[mask])
            if t > 0:
                mask = np.array([(t, int(lab)) not in has_in for lab in labs], dtype=bool)
                start_parts.append(base[mask])
        if not end_parts or not start_parts:
            return np.zeros((0, 4), dtype=np.int64)
        ends = pd.concat(end_parts, ignore_index=True)
        starts = pd.concat(start_parts, ignore_index=True)
        if len(ends) == 0 or len(starts) == 0:
            return np.zeros((0, 4), dtype=np.int64)
        te, ts = ends["t"].to_numpy(np.int64), starts["t"].to_numpy(np.int64)
        pairs = cKDTree(ends[["y", "x"]].to_numpy(np.float64)).sparse_distance_matrix(
            cKDTree(starts[["y", "x"]].to_numpy(np.float64)), self.max_distance, output_type="ndarray")
        rows, cols = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
        dt = ts[cols] - te[rows]
        ok = (dt >= 2) & (dt <= self.max_gap + 1)
        rows, cols = rows[ok], cols[ok]
        if rows.size == 0:
            return np.zeros((0, 4), dtype=np.int64)
        costs = np.asarray(self.cost(ends, starts, rows, cols), dtype=np.float64)
        alt = self.alternative if self.alternative is not None else alternative_cost(costs[np.isfinite(costs)])
        r, c = solve_lap(len(ends), len(starts), rows, cols, costs, alt, alt)
        el, sl = ends["label"].to_numpy(np.int64), starts["label"].to_numpy(np.int64)
        return np.stack([te[r], el[r], ts[c], sl[c]], axis=1).astype(np.int64)
