"""Temporal window samplers for training on clips of a movie.

Adaptive event-guided (AEG) sampling (CAP, Song et al., §3.1): a division is the *event*
``(a, b)`` — ``a`` the mother's last frame, ``b`` the daughters' first frame (``b = a + 1`` unless
the ground truth has a gap). A window of ``length`` frames ``[s, s + length)`` holds the whole
event when ``s ≤ a`` and ``b < s + length``. With probability

    P_AEG = min(1, N_div · T_div / T)

(``N_div`` events in a ``T``-frame sequence, ``T_div`` the duration of a complete division, by
default the mean ``b − a + 1`` of the events) the window is anchored at an event drawn uniformly
and ``s`` is uniform over the starts that hold it whole; otherwise ``s`` is uniform over
``[0, T − length]``. Rare divisions thus appear whole in a fixed share of the windows, not in
``≈ N_div · length / T`` of them only by chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DivisionEvent:
    """A division: the mother ``parent`` ends at frame ``a``, its daughters begin at frame ``b``."""

    parent: int
    a: int
    b: int


def division_events(lineage: pd.DataFrame) -> list[DivisionEvent]:
    """The divisions of a CTC lineage (label, begin, end, parent): every parent with ≥ 2 children,
    ``a`` = its end, ``b`` = the first begin of its children; sorted by ``b``."""
    if len(lineage) == 0:
        return []
    ends = dict(zip(lineage["label"].astype(int), lineage["end"].astype(int)))
    kids = lineage[lineage["parent"] > 0].groupby("parent")["begin"]
    out = [DivisionEvent(int(p), ends[int(p)], int(b.min())) for p, b in kids if len(b) >= 2 and int(p) in ends]
    return sorted(out, key=lambda e: (e.b, e.parent))


@dataclass(frozen=True)
class Window:
    """A sampled window ``[start, start + length)``; ``event`` is the division it was anchored at
    (``None`` for a uniform draw)."""

    start: int
    length: int
    event: DivisionEvent | None = None

    def holds(self, event: DivisionEvent) -> bool:
        """Whether the whole ``event`` lies inside the window."""
        return self.start <= event.a and event.b < self.start + self.length


class AEGSampler:
    """Window starts for a ``n_frames`` sequence with division ``events`` (module docstring).

    ``t_div``: duration of a complete division in frames (default: mean ``b − a + 1``);
    ``enabled=False`` samples uniformly (the ablation without AEG).
    """

    def __init__(self, n_frames: int, length: int, events: list[DivisionEvent], t_div: float | None = None,
                 enabled: bool = True):
        if length < 1 or n_frames < 1:
            raise ValueError(f"need n_frames >= 1 and length >= 1, got {n_frames}, {length}")
        self.n_frames = int(n_frames)
        self.length = min(int(length), self.n_frames)
        # only events that fit in a window at all
        self.events = [e for e in events if 0 <= e.a < e.b < self.n_frames and e.b - e.a < self.length]
        durations = [e.b - e.a + 1 for e in self.events]
        self.t_div = float(t_div) if t_div is not None else (float(np.mean(durations)) if durations else 0.0)
        self.enabled = enabled

    @property
    def p_aeg(self) -> float:
        """``min(1, N_div · T_div / T)``; 0 without events or when disabled."""
        if not self.enabled or not self.events:
            return 0.0
        return float(min(1.0, len(self.events) * self.t_div / self.n_frames))

    def starts_holding(self, event: DivisionEvent) -> tuple[int, int]:
        """The inclusive range of starts whose window holds ``event`` whole."""
        lo = max(0, event.b - self.length + 1)
        hi = min(event.a, self.n_frames - self.length)
        return lo, hi

    def sample(self, rng: np.random.Generator) -> Window:
        """One window: anchored at a random event with probability :attr:`p_aeg`, else uniform."""
        if rng.random() < self.p_aeg:
            event = self.events[int(rng.integers(len(self.events)))]
            lo, hi = self.starts_holding(event)
            return Window(int(rng.integers(lo, hi + 1)), self.length, event)
        return Window(int(rng.integers(0, self.n_frames - self.length + 1)), self.length, None)


__all__ = ["DivisionEvent", "division_events", "Window", "AEGSampler"]
