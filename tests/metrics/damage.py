"""Deliberately damaged copies of a ground truth, built in memory (numpy masks + lineage).

Every function takes ``(masks, lineage)`` — masks a writable (T, H, W) array, lineage a DataFrame —
and returns a new, CTC-valid pair with one kind of error the metrics must see.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from celltrace.tracking import Tracking, make_lineage

Pair = tuple[np.ndarray, pd.DataFrame]


def _rows(lin: pd.DataFrame) -> dict[int, list[int]]:
    return {int(r.label): [int(r.begin), int(r.end), int(r.parent)] for r in lin.itertuples()}


def _lin(rows: dict[int, list[int]]) -> pd.DataFrame:
    return make_lineage([(k, *v) for k, v in rows.items()])


def _children(rows: dict[int, list[int]], p: int) -> list[int]:
    return sorted(k for k, v in rows.items() if v[2] == p)


def _long_tracks(rows: dict[int, list[int]], n: int, min_len: int = 8) -> list[int]:
    """Up to ``n`` tracks with length ≥ min_len, spread over the label range."""
    cand = sorted(k for k, v in rows.items() if v[1] - v[0] + 1 >= min_len)
    if not cand:
        return []
    idx = np.linspace(0, len(cand) - 1, min(n, len(cand))).round().astype(int)
    return sorted({cand[i] for i in idx})


def delete_cells(masks: np.ndarray, lin: pd.DataFrame, n: int = 3) -> Pair:
    """Remove ``n`` whole tracks (their children lose their parent)."""
    m, rows = masks.copy(), _rows(lin)
    for lab in _long_tracks(rows, n):
        b, e, _ = rows.pop(lab)
        sl = m[b:e + 1]
        sl[sl == lab] = 0
        for c in _children(rows, lab):
            rows[c][2] = 0
    return m, _lin(rows)


def split_cell(masks: np.ndarray, lin: pd.DataFrame) -> Pair:
    """Cut one cell in two labels (left / right of its centroid) over a range of frames."""
    m, rows = masks.copy(), _rows(lin)
    lab = _long_tracks(rows, 1, min_len=10)[0]
    b, e, _ = rows[lab]
    t0, t1 = b + 2, min(e, b + 6)
    new = max(rows) + 1
    for t in range(t0, t1 + 1):
        yy, xx = np.nonzero(m[t] == lab)
        cut = np.median(xx)
        right = xx > cut
        m[t][yy[right], xx[right]] = new
    rows[new] = [t0, t1, 0]
    return m, _lin(rows)


def merge_cells(masks: np.ndarray, lin: pd.DataFrame) -> Pair:
    """Give cell B the label of cell A over a few frames (one region covering two references);
    B's track pauses there and resumes under a new label whose parent is B (a gap)."""
    m, rows = masks.copy(), _rows(lin)
    best = None
    for a in sorted(rows):
        for bb in sorted(rows):
            if a >= bb:
                continue
            lo = max(rows[a][0], rows[bb][0]) + 1
            hi = min(rows[a][1], rows[bb][1]) - 1
            if hi - lo >= 4:
                best = (a, bb, lo, lo + 3)
                break
        if best:
            break
    a, bb, t0, t1 = best
    new = max(rows) + 1
    b_begin, b_end, b_par = rows[bb]
    for t in range(t0, t1 + 1):
        m[t][m[t] == bb] = a
    for t in range(t1 + 1, b_end + 1):
        m[t][m[t] == bb] = new
    for c in _children(rows, bb):
        rows[c][2] = new
    rows[bb] = [b_begin, t0 - 1, b_par]
    rows[new] = [t1 + 1, b_end, bb]
    return m, _lin(rows)


def break_links(masks: np.ndarray, lin: pd.DataFrame, n: int = 3) -> Pair:
    """Cut ``n`` tracks in the middle: the second half is a new track without parent."""
    m, rows = masks.copy(), _rows(lin)
    new = max(rows) + 1
    for lab in _long_tracks(rows, n):
        b, e, p = rows[lab]
        t = (b + e + 1) // 2
        for tt in range(t, e + 1):
            m[tt][m[tt] == lab] = new
        for c in _children(rows, lab):
            rows[c][2] = new
        rows[lab] = [b, t - 1, p]
        rows[new] = [t, e, 0]
        new += 1
    return m, _lin(rows)


def swap_identities(masks: np.ndarray, lin: pd.DataFrame) -> Pair:
    """Swap the labels of two cells from a frame on (their futures are exchanged)."""
    m, rows = masks.copy(), _rows(lin)
    for a in sorted(rows):
        for bb in sorted(rows):
            if a < bb:
                lo = max(rows[a][0], rows[bb][0])
                hi = min(rows[a][1], rows[bb][1])
                if hi - lo >= 6:
                    t = lo + (hi - lo) // 2
                    for tt in range(t, max(rows[a][1], rows[bb][1]) + 1):
                        fa, fb = m[tt] == a, m[tt] == bb
                        m[tt][fa] = bb
                        m[tt][fb] = a
                    ca, cb = _children(rows, a), _children(rows, bb)
                    for c in ca:
                        rows[c][2] = bb
                    for c in cb:
                        rows[c][2] = a
                    rows[a][1], rows[bb][1] = rows[bb][1], rows[a][1]
                    return m, _lin(rows)
    raise AssertionError("no two overlapping tracks")


def _division(rows: dict[int, list[int]], k: int = 0) -> tuple[int, int, int]:
    divs = []
    for p in sorted(rows):
        kids = [c for c in _children(rows, p) if rows[c][0] == rows[p][1] + 1]
        if len(kids) == 2 and all(rows[c][1] - rows[c][0] >= 3 for c in kids):
            divs.append((p, *kids))
    return divs[min(k, len(divs) - 1)]


def remove_division(masks: np.ndarray, lin: pd.DataFrame) -> Pair:
    """Undo one division: the first daughter continues the mother; the second starts an orphan track."""
    m, rows = masks.copy(), _rows(lin)
    p, d1, d2 = _division(rows)
    b1, e1, _ = rows.pop(d1)
    for t in range(b1, e1 + 1):
        m[t][m[t] == d1] = p
    for c in _children(rows, d1):
        rows[c][2] = p
    rows[p][1] = e1
    rows[d2][2] = 0
    return m, _lin(rows)


def shift_division(masks: np.ndarray, lin: pd.DataFrame, k: int = 1) -> Pair:
    """Detect one division ``k`` frames late: the mother keeps daughter 1's pixels for k frames and
    daughter 2 is missed in them."""
    m, rows = masks.copy(), _rows(lin)
    p, d1, d2 = _division(rows)
    t = rows[p][1] + 1
    for tt in range(t, t + k):
        m[tt][m[tt] == d1] = p
        m[tt][m[tt] == d2] = 0
    rows[p][1] = t + k - 1
    rows[d1][0] = t + k
    rows[d2][0] = t + k
    return m, _lin(rows)


def add_false_divisions(masks: np.ndarray, lin: pd.DataFrame, n: int = 2) -> Pair:
    """Split ``n`` non-dividing cells into two daughters (left / right halves) from a frame on."""
    m, rows = masks.copy(), _rows(lin)
    new = max(rows) + 1
    for lab in _long_tracks({k: v for k, v in rows.items() if not _children(rows, k)}, n, min_len=12):
        b, e, p = rows[lab]
        t = b + 6
        for tt in range(t, e + 1):
            yy, xx = np.nonzero(m[tt] == lab)
            right = xx > np.median(xx)
            m[tt][yy, xx] = new
            m[tt][yy[right], xx[right]] = new + 1
        rows[lab] = [b, t - 1, p]
        rows[new] = [t, e, lab]
        rows[new + 1] = [t, e, lab]
        new += 2
    return m, _lin(rows)


def add_spurious_cell(masks: np.ndarray, lin: pd.DataFrame) -> Pair:
    """A 12-pixel-radius disc in a background corner for 10 frames (a false track)."""
    m, rows = masks.copy(), _rows(lin)
    T, H, W = m.shape
    new = max(rows) + 1
    yy, xx = np.mgrid[:H, :W]
    for cy, cx in [(20, 20), (20, W - 21), (H - 21, 20), (H - 21, W - 21)]:
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 144
        if not m[:, disc].any():
            break
    t0, t1 = T // 3, min(T - 1, T // 3 + 9)
    for t in range(t0, t1 + 1):
        m[t][disc] = new
    rows[new] = [t0, t1, 0]
    return m, _lin(rows)


DAMAGES = {
    "identity": lambda m, l: (m, l),
    "cells_deleted": delete_cells,
    "cell_split": split_cell,
    "cells_merged": merge_cells,
    "links_broken": break_links,
    "identities_swapped": swap_identities,
    "division_removed": remove_division,
    "division_shifted_1": lambda m, l: shift_division(m, l, 1),
    "division_shifted_2": lambda m, l: shift_division(m, l, 2),
    "false_divisions": add_false_divisions,
    "spurious_cell": add_spurious_cell,
}


def damaged(name: str, masks: np.ndarray, lin: pd.DataFrame) -> Tracking:
    m, l = DAMAGES[name](masks, lin)
    return Tracking(masks=m, lineage=l).validate()
