"""Cells that the segmentation merges for a frame or two, split again along their tracks.

Two touching cells can be one object for a few frames. The linker continues one of them through
the merge, and gap closing joins the other across it: a link from her last object before the
merge to her first after. She was there all along, inside the merged object, and in the CTC
measures each frame of the gap costs her missing links while the merged object matches two cells.

:func:`split_merged` cuts such a host object. For each frame ``u`` of a gap of track ``A``:

* the host ``H`` is the object of ``u`` under more than half of ``A``'s object of ``u - 1``, and
  it continues another object ``B`` of ``u - 1`` (a frame-to-frame link ``B -> H``);
* the seeds are ``A(u-1) ∩ H`` and ``B(u-1) ∩ H`` (pixels in both left out), and every pixel of
  ``H`` goes to the seed it reaches first inside ``H`` (a watershed of the mask from the seeds:
  the geodesic nearest seed);
* ``A``'s part becomes a new object of ``u``, linked from ``A(u-1)``; ``H`` keeps ``B``'s part.

Each part must keep at least ``min_part`` of the object of ``u - 1`` it grew from, else that gap
is left as it is. The gap link is replaced by frame-to-frame links through the new objects. On
classic's results for all of the 02 sequences, every gap link of MSC (3) and half of SIM+'s (12 of
24) crossed such a merge; none of GOWT1's 30 did.
"""

from __future__ import annotations

from functools import partial

import numpy as np
from skimage.segmentation import watershed

from celltrace.frames import Frames, as_frames, changed_frames


def split_merged(links: np.ndarray, segmentation: Frames, labels_per_frame: list[np.ndarray],
                 min_part: float = 0.2) -> tuple[np.ndarray, dict[int, np.ndarray], list[np.ndarray]]:
    """``links`` with each gap link that crosses a merge (module docstring) replaced by links
    through new objects cut out of the hosts, the edited frames ``{u: labels}`` (whole frames,
    to put in place of ``segmentation``'s: :func:`edited_segmentation`) and the labels per frame
    with the new objects. Gaps that cannot be cut in every frame are left as they are."""
    links = np.array(links, dtype=np.int64).reshape(-1, 4)
    labels = list(labels_per_frame)
    edits: dict[int, np.ndarray] = {}
    if len(links) == 0:
        return links, edits, labels
    seg = as_frames(segmentation)

    def frame(u: int) -> np.ndarray:
        return edits[u] if u in edits else np.asarray(seg[u])

    pred: dict[tuple[int, int], tuple[int, int]] = {}
    for t0, l0, t1, l1 in links.tolist():
        if t1 == t0 + 1:
            pred[(t1, l1)] = (t0, l0)
    keep = np.ones(len(links), dtype=bool)
    added: list[tuple[int, int, int, int]] = []
    for i in np.flatnonzero(links[:, 2] - links[:, 0] >= 2).tolist():
        te, a, ts, a_next = (int(v) for v in links[i])
        trial: dict[int, np.ndarray] = {}
        chain = [(te, a)]
        prev = frame(te) == a
        for u in range(te + 1, ts):
            before = trial[u - 1] if u - 1 in trial else frame(u - 1)
            cut = _cut_host(frame(u), prev, before, u, pred, min_part)
            if cut is None:
                break
            trial[u], new = cut
            chain.append((u, new))
            prev = trial[u] == new
        else:
            keep[i] = False
            chain.append((ts, a_next))
            added += [(t0, l0, t1, l1) for (t0, l0), (t1, l1) in zip(chain, chain[1:])]
            for u, new in chain[1:-1]:
                edits[u] = trial[u]
                labels[u] = np.append(np.asarray(labels[u]), new)
    out = links[keep]
    if added:
        out = np.vstack([out, np.array(added, dtype=np.int64)])
    return out, edits, labels


def _cut_host(now: np.ndarray, prev_a: np.ndarray, before: np.ndarray, u: int,
              pred: dict[tuple[int, int], tuple[int, int]], min_part: float) -> tuple[np.ndarray, int] | None:
    """Frame ``u`` (``now``) with ``A``'s part cut out of the host under ``prev_a`` (``A``'s object
    of ``u - 1``; ``before`` the frame ``u - 1``) as a new label, and that label; ``None`` when
    there is no host continuing another object or a part would be too small."""
    under = now[prev_a]
    under = under[under > 0]
    if under.size == 0:
        return None
    host = int(np.bincount(under).argmax())
    if np.count_nonzero(under == host) * 2 <= prev_a.sum() or (u, host) not in pred:
        return None
    prev_b = before == pred[(u, host)][1]
    inside = now == host
    markers = np.zeros(now.shape, np.int32)
    markers[prev_a & inside & ~prev_b] = 1
    markers[prev_b & inside & ~prev_a] = 2
    if not (markers == 1).any() or not (markers == 2).any():
        return None
    parts = watershed(np.zeros(now.shape, np.uint8), markers, mask=inside)
    part_a, part_b = parts == 1, parts == 2
    if part_a.sum() < min_part * prev_a.sum() or part_b.sum() < min_part * prev_b.sum():
        return None
    new = int(now.max()) + 1
    if np.issubdtype(now.dtype, np.integer) and new > np.iinfo(now.dtype).max:
        return None
    out = now.copy()
    out[part_a] = new
    return out, new


def edited_segmentation(segmentation: Frames, edits: dict[int, np.ndarray]) -> Frames:
    """``segmentation`` with the frames in ``edits`` replaced (lazily for lazy frames)."""
    return changed_frames(segmentation, {t: partial(_replaced, by=frame) for t, frame in edits.items()})


def _replaced(_: np.ndarray, by: np.ndarray) -> np.ndarray:
    return by


__all__ = ["split_merged", "edited_segmentation"]
