"""Tracking step (paper §3.4): instance masks at ``t`` are linked to masks at ``t−1`` by their pixels'
tracking offsets.

Every pixel ``i`` of mask ``m`` at ``t`` is shifted to ``e^T_i = p_i + o^T_i`` (rounded to a pixel,
clipped to the frame) and votes for the mask of ``t−1`` it lands in; ``m``'s candidate is the mask
with the most votes (none when no shifted pixel lands on a mask). A mask at ``t−1`` with exactly one
candidate continues into it (same track), with exactly two it divides into them; with more than
two, those masks at ``t`` start new tracks, as do masks without a candidate.
"""

from __future__ import annotations

import numpy as np


def vote_targets(prev_labels: np.ndarray, curr_labels: np.ndarray, track_offsets: np.ndarray,
                 scale: float) -> dict[int, int]:
    """Mask at ``t`` → the mask at ``t−1`` most of its shifted pixels land in (absent: none)."""
    prev = np.asarray(prev_labels)
    curr = np.asarray(curr_labels)
    h, w = curr.shape
    sel = curr > 0
    if not sel.any():
        return {}
    ys, xs = np.nonzero(sel)
    ty = np.clip(np.rint(ys + track_offsets[0][sel] * scale), 0, h - 1).astype(np.int64)
    tx = np.clip(np.rint(xs + track_offsets[1][sel] * scale), 0, w - 1).astype(np.int64)
    src = curr[sel].astype(np.int64)
    dst = prev[ty, tx].astype(np.int64)
    hit = dst > 0
    if not hit.any():
        return {}
    pairs, counts = np.unique(np.stack([src[hit], dst[hit]]), axis=1, return_counts=True)
    out: dict[int, int] = {}
    best: dict[int, int] = {}
    for (a, b), n in zip(pairs.T.tolist(), counts.tolist()):
        if n > best.get(a, 0):
            best[a], out[a] = n, b
    return out


def link_frames(prev_labels: np.ndarray, curr_labels: np.ndarray, track_offsets: np.ndarray, scale: float,
                t: int) -> list[tuple[int, int, int, int]]:
    """Links ``(t−1, label_prev, t, label_curr)`` by the rules of the module docstring (for
    :meth:`celltrace.Tracking.from_links`: one link continues a track, two make a division)."""
    votes = vote_targets(prev_labels, curr_labels, track_offsets, scale)
    by_prev: dict[int, list[int]] = {}
    for c, p in votes.items():
        by_prev.setdefault(p, []).append(c)
    links = []
    for p, cs in sorted(by_prev.items()):
        if len(cs) <= 2:
            links += [(t - 1, p, t, c) for c in sorted(cs)]
    return links


__all__ = ["vote_targets", "link_frames"]
