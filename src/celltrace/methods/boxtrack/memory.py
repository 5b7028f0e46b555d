"""A track's memory bank (paper §3.2): a fixed number of entries, each kept with the score it had
when it was inserted.

* ``policy="score"`` (BoxTrack): a new entry goes in while there is room; when the bank is full the
  stored entry with the **lowest score recorded at its insertion** is evicted and replaced by the
  new one (the paper; the tracker only offers entries scoring at least ``memory_threshold``).
* ``policy="fifo"`` (SAM2): a full bank drops its oldest entry.

Entries hold what the segmenter's memory attention needs (``tokens``: the encoded frame + mask +
object token) and the frame they came from (for their age).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

POLICIES = ("score", "fifo")


@dataclass
class MemoryEntry:
    """One stored frame of a track: ``tokens`` (any payload), its ``frame`` and its insertion ``score``."""

    tokens: Any
    frame: int
    score: float


class MemoryBank:
    """At most ``size`` entries, evicted by ``policy`` (module docstring)."""

    def __init__(self, size: int = 7, policy: str = "score"):
        if size < 1:
            raise ValueError(f"memory size must be >= 1, not {size}")
        if policy not in POLICIES:
            raise ValueError(f"memory policy must be one of {POLICIES}, not {policy!r}")
        self.size = size
        self.policy = policy
        self.entries: list[MemoryEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, tokens: Any, frame: int, score: float) -> MemoryEntry | None:
        """Insert an entry; returns the entry it evicted, else ``None``."""
        entry = MemoryEntry(tokens, int(frame), float(score))
        if len(self.entries) < self.size:
            self.entries.append(entry)
            return None
        if self.policy == "fifo":
            oldest = min(range(len(self.entries)), key=lambda i: self.entries[i].frame)
            evicted = self.entries.pop(oldest)
            self.entries.append(entry)
            return evicted
        lowest = min(range(len(self.entries)), key=lambda i: (self.entries[i].score, self.entries[i].frame))
        evicted = self.entries.pop(lowest)
        self.entries.append(entry)
        return evicted

    def ages(self, frame: int) -> list[int]:
        """Frames between each entry and ``frame``."""
        return [int(frame) - e.frame for e in self.entries]


__all__ = ["MemoryBank", "MemoryEntry", "POLICIES"]
