"""Causal (online) linking: the standard LAP linker fed one frame at a time, no look-ahead.

:class:`OnlineLinker` takes the object table of each new frame and returns the CTC track label
of each of its objects at once; the lineage grows with it. It makes the decisions of
:func:`~celltrace.linking.standard.link_objects` in time order:

* **frame-to-frame LAP and divisions** (:meth:`LAPLinker.link_pair`, the division detector) need
  only frames ``n-1`` and ``n``: decided when frame ``n`` arrives, delay 0. A frame's track
  labels, and so its mask, never change afterwards (labels are numbered in the order of
  :meth:`celltrace.Tracking.from_links`: first frame, then new tracks by object order).
* **gap closing** joins a track end at ``t_e`` to a track start at ``t_s`` with
  ``2 <= t_s - t_e <= max_gap + 1`` (``1 <=`` with ``close_jumps``: online, the start of a jump
  continues the end's track under a new label, its parent): all candidates of an end are known once frame
  ``t_e + max_gap + 1`` has arrived, so an end is decided — final — :attr:`delay` ``= max_gap + 1``
  frames after it. Each frame the gap LAP (:func:`~celltrace.linking.lap.solve_lap`) is solved over
  the undecided ends and the unclaimed starts; its choices for ends whose window has passed are
  committed, the others are shown provisionally (a start's ``parent``) and may still change.
  A gap link changes only the ``parent`` of the start's track, never a mask.

Where the offline linker uses the whole movie, the online one uses the frames so far: the
motion gate's typical displacement is pooled over the frame pairs seen
(:func:`~celltrace.linking.features.typical_displacement` of frames ``0..n``), the gap closer's
birth/death cost is 1.05 × the largest gap candidate cost seen, and an end is decided with the
competitors in its window rather than over the whole movie. Otherwise the links are those of the
offline linker on the same objects.

* **divisions taken back** (``division_min_branch_frames`` ``K``, as
  :func:`~celltrace.linking.divisions.prune_short_daughters` offline): a division at frame ``t_d``
  is decided once frame ``t_d + K - 1 + delay`` has arrived (by then every gap link that could keep
  a daughter's branch alive up to ``t_d + K - 1`` is committed). If the shorter branch (a
  daughter's track and its descendants) has died before ``t_d + K - 1``, that daughter's
  ``parent`` becomes 0 (a birth). The other daughter keeps the mother as her only parent: offline
  she would continue the mother's label, online her label was already written, so she continues
  the mother's track under a new label — the same links between objects, only the track
  numbering differs. Divisions still undecided when the movie ends are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from celltrace.linking.features import nearest_displacements, pooled_percentile
from celltrace.linking.lap import alternative_cost, solve_lap
from celltrace.linking.standard import LAPLinkingConfig, build_linker
from celltrace.tracking import make_lineage

GAP_COLUMNS = ["track", "t", "y", "x"]
"""Columns of the tables of pending track ends and unclaimed track starts."""
OBJECT_STATE_COLUMNS = ["track", "y", "x", "area"]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.int64 if c in ("track", "t", "area") else np.float64) for c in columns})


@dataclass
class OnlineLinker:
    """Links frames as they come (see the module docstring). ``radius``: the cell radius that
    scales the lengths of ``config``; call :meth:`add` with each frame's object table
    (``label, y, x, area`` as :func:`~celltrace.linking.features.object_features` makes)."""

    config: LAPLinkingConfig
    radius: float
    n_frames: int = 0
    next_label: int = 1
    tracks: dict[int, list[int]] = field(default_factory=dict)
    """Track label → ``[begin, end, committed parent]``."""
    last: pd.DataFrame = field(default_factory=lambda: _empty(OBJECT_STATE_COLUMNS))
    """The latest frame's objects with their track labels (the next frame is linked to them)."""
    ends: pd.DataFrame = field(default_factory=lambda: _empty(GAP_COLUMNS))
    starts: pd.DataFrame = field(default_factory=lambda: _empty(GAP_COLUMNS))
    provisional: dict[int, int] = field(default_factory=dict)
    """Start track → end track of the gap links not final yet."""
    displacements: list[np.ndarray] = field(default_factory=list)
    gap_cost_max: float = 0.0
    pending: list[tuple[int, int, int, int]] = field(default_factory=list)
    """Divisions not decided yet: ``(t_d, mother track, daughter track, daughter track)``."""
    children: dict[int, list[int]] = field(default_factory=dict)
    """Track → its tracks with that committed parent (daughters, gap-linked starts)."""

    @property
    def delay(self) -> int:
        """Frames after which a decision is final: ``max_gap + 1`` with gap closing, else 0."""
        return self.config.max_gap + 1 if self.config.max_gap > 0 else 0

    @property
    def division_delay(self) -> int:
        """Frames after a division's daughters appear until it is decided: ``K - 1 + delay`` with
        ``K = division_min_branch_frames > 1``, else 0 (every division is kept at once)."""
        k = int(self.config.division_min_branch_frames)
        return k - 1 + self.delay if k > 1 and self.config.divisions else 0

    @property
    def lineage_delay(self) -> int:
        """Frames after which a frame's lineage rows are final: the larger of :attr:`delay` and
        :attr:`division_delay`."""
        return max(self.delay, self.division_delay)

    @property
    def motion(self) -> float:
        """Typical displacement of the frames so far (0 when the motion gate is off)."""
        return pooled_percentile(self.displacements) if self.config.motion_gate_factor > 0 else 0.0

    # ------------------------------------------------------------------ one frame
    def add(self, objects: pd.DataFrame) -> np.ndarray:
        """Link frame ``n = n_frames`` (its object table) to the previous one; return the track
        label of each of its objects (table order)."""
        n = self.n_frames
        objects = objects.reset_index(drop=True)
        m = len(objects)
        pred = np.full(m, -1, dtype=np.int64)       # row of the previous frame linked to each object
        n_succ = np.zeros(len(self.last), dtype=np.int64)
        if n > 0:
            prev = self.last
            if self.config.motion_gate_factor > 0:
                self.displacements.append(nearest_displacements(prev, objects))
            linker = build_linker(self.config, self.radius, self.motion)
            fl = linker.link_pair(n - 1, prev, objects)
            rows, cols = fl.rows, fl.cols
            if linker.divisions is not None:
                mothers, daughters = linker.divisions(n - 1, prev, objects, rows, cols)
                rows, cols = np.concatenate([rows, mothers]), np.concatenate([cols, daughters])
            pred[cols] = rows
            np.add.at(n_succ, rows, 1)
        prev_tracks = self.last["track"].to_numpy(np.int64)
        labels = np.zeros(m, dtype=np.int64)
        for j in range(m):
            i = pred[j]
            if i >= 0 and n_succ[i] == 1:  # the only successor: the track continues
                labels[j] = prev_tracks[i]
                self.tracks[int(labels[j])][1] = n
            else:  # a new track: a daughter (parent = the mother's track) or a birth
                labels[j] = self.next_label
                self.tracks[self.next_label] = [n, n, int(prev_tracks[i]) if i >= 0 else 0]
                if i >= 0:
                    self.children.setdefault(int(prev_tracks[i]), []).append(self.next_label)
                self.next_label += 1
        if self.division_delay > 0:
            for i in np.flatnonzero(n_succ == 2).tolist():
                a, b = labels[pred == i].tolist()
                self.pending.append((n, int(prev_tracks[i]), int(a), int(b)))
        if n > 0 and self.config.max_gap > 0:
            prev = self.last
            ended = n_succ == 0
            new_ends = pd.DataFrame({"track": prev_tracks[ended], "t": n - 1,
                                     "y": prev["y"].to_numpy(np.float64)[ended],
                                     "x": prev["x"].to_numpy(np.float64)[ended]})
            born = pred < 0
            new_starts = pd.DataFrame({"track": labels[born], "t": n, "y": objects["y"].to_numpy(np.float64)[born],
                                       "x": objects["x"].to_numpy(np.float64)[born]})
            self.ends = pd.concat([self.ends, new_ends], ignore_index=True)[GAP_COLUMNS]
            self.starts = pd.concat([self.starts, new_starts], ignore_index=True)[GAP_COLUMNS]
            self._close_gaps(n)
        if self.pending:
            self._decide_divisions(n)
        self.last = pd.DataFrame({"track": labels, "y": objects["y"].to_numpy(np.float64),
                                  "x": objects["x"].to_numpy(np.float64),
                                  "area": objects["area"].to_numpy(np.int64) if "area" in objects else 1})
        self.n_frames = n + 1
        return labels

    def _close_gaps(self, n: int) -> None:
        """Solve the gap LAP over the pending ends and free starts after frame ``n``; commit the
        choices for ends at ``t_e <= n - delay`` and forget what can no longer be linked."""
        c = self.config
        closer = build_linker(c, self.radius).gap_closing
        rows, cols, costs = closer.candidates(self.ends, self.starts)
        if costs.size:
            self.gap_cost_max = max(self.gap_cost_max, float(costs.max()))
        alt = closer.alternative if closer.alternative is not None else \
            alternative_cost(np.array([self.gap_cost_max]) if self.gap_cost_max > 0 else np.zeros(0))
        r, k = solve_lap(len(self.ends), len(self.starts), rows, cols, costs, alt, alt)
        te = self.ends["t"].to_numpy(np.int64)
        end_tracks = self.ends["track"].to_numpy(np.int64)
        start_tracks = self.starts["track"].to_numpy(np.int64)
        due = te <= n - self.delay
        self.provisional = {}
        claimed = np.zeros(len(self.starts), dtype=bool)
        for i, j in zip(r.tolist(), k.tolist()):
            if due[i]:
                self.tracks[int(start_tracks[j])][2] = int(end_tracks[i])
                self.children.setdefault(int(end_tracks[i]), []).append(int(start_tracks[j]))
                claimed[j] = True
            else:
                self.provisional[int(start_tracks[j])] = int(end_tracks[i])
        self.ends = self.ends[~due].reset_index(drop=True)
        # a start at t_s can be claimed only by an end at t_e <= t_s - min_interval, and every end
        # still to decide (pending or to come) is at t_e > n - delay
        reachable = self.starts["t"].to_numpy(np.int64) - closer.min_interval > n - self.delay
        self.starts = self.starts[~claimed & reachable].reset_index(drop=True)

    def _reach(self, track: int, enough: int, later: dict[int, list[int]]) -> int:
        """Last frame of ``track`` or of any of its descendants (committed parents, and ``later``:
        end track → the starts provisionally linked to it); stops early once ``enough`` is reached."""
        best, todo = -1, [track]
        while todo and best < enough:
            x = todo.pop()
            best = max(best, self.tracks[x][1])
            todo += self.children.get(x, []) + later.get(x, [])
        return best

    def _decide_divisions(self, n: int) -> None:
        """Decide the divisions whose daughters appeared at ``t_d <= n - division_delay`` (module
        docstring): the shorter branch's daughter becomes a birth when it died before
        ``t_d + K - 1``."""
        k = int(self.config.division_min_branch_frames)
        later: dict[int, list[int]] = {}
        for start, end in self.provisional.items():
            later.setdefault(end, []).append(start)
        keep = []
        for t_d, mother, a, b in self.pending:
            if t_d > n - self.division_delay:
                keep.append((t_d, mother, a, b))
                continue
            need = t_d + k - 1
            branches = sorted((self._reach(d, need, later), d) for d in (a, b))  # the shorter branch first
            last, short = branches[0]
            if last < need:
                self.tracks[short][2] = 0
                self.children[mother].remove(short)
        self.pending = keep

    # ------------------------------------------------------------------ the result so far
    def lineage(self) -> pd.DataFrame:
        """The lineage table of the frames so far: committed parents, and the provisional gap links."""
        rows = [(lab, b, e, self.provisional.get(lab, p)) for lab, (b, e, p) in self.tracks.items()]
        return make_lineage(rows)

    @property
    def final_frames(self) -> int:
        """Frames ``0..final_frames-1`` are final: their masks and lineage rows no longer change
        (their tracks may still grow at the end)."""
        return max(0, self.n_frames - self.lineage_delay)

    # ------------------------------------------------------------------ saving and resuming
    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything needed to continue: JSON-able scalars and numpy arrays (see :meth:`from_state`)."""
        scalars = {"n_frames": self.n_frames, "next_label": self.next_label, "radius": self.radius,
                   "gap_cost_max": self.gap_cost_max}
        lineage = np.array([(lab, b, e, p) for lab, (b, e, p) in self.tracks.items()], dtype=np.int64).reshape(-1, 4)
        counts = np.array([d.size for d in self.displacements], dtype=np.int64)
        pooled = np.concatenate(self.displacements) if self.displacements else np.zeros(0)
        arrays = {"tracks": lineage, "displacements": pooled, "displacement_counts": counts,
                  "pending_divisions": np.array(self.pending, dtype=np.int64).reshape(-1, 4),
                  **{f"last_{k}": self.last[k].to_numpy() for k in OBJECT_STATE_COLUMNS},
                  **{f"ends_{k}": self.ends[k].to_numpy() for k in GAP_COLUMNS},
                  **{f"starts_{k}": self.starts[k].to_numpy() for k in GAP_COLUMNS}}
        return scalars, arrays

    @classmethod
    def from_state(cls, config: LAPLinkingConfig, scalars: dict[str, Any], arrays: dict[str, np.ndarray]) -> "OnlineLinker":
        """The linker :meth:`state` saved (with the same ``config``); the next :meth:`add`
        continues exactly where it stopped."""
        linker = cls(config=config, radius=float(scalars["radius"]), n_frames=int(scalars["n_frames"]),
                     next_label=int(scalars["next_label"]), gap_cost_max=float(scalars["gap_cost_max"]))
        linker.tracks = {int(a): [int(b), int(e), int(p)] for a, b, e, p in arrays["tracks"]}
        for label, (_, _, parent) in linker.tracks.items():
            if parent > 0:
                linker.children.setdefault(parent, []).append(label)
        linker.pending = [tuple(int(v) for v in row) for row in arrays.get("pending_divisions", np.zeros((0, 4)))]
        bounds = np.cumsum(arrays["displacement_counts"])[:-1]
        linker.displacements = list(np.split(arrays["displacements"].astype(np.float64), bounds)) \
            if arrays["displacement_counts"].size else []
        linker.last = pd.DataFrame({k: arrays[f"last_{k}"] for k in OBJECT_STATE_COLUMNS})
        linker.ends = pd.DataFrame({k: arrays[f"ends_{k}"] for k in GAP_COLUMNS})
        linker.starts = pd.DataFrame({k: arrays[f"starts_{k}"] for k in GAP_COLUMNS})
        if config.max_gap > 0 and len(linker.ends):  # the provisional links shown when it stopped
            linker._close_gaps(linker.n_frames - 1)
        return linker


__all__ = ["OnlineLinker"]
