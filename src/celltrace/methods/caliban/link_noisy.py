"""Training targets for the learned linker on *predicted* masks: the ground truth's tracks carried
over to a segmentation's objects, so that the linker learns the errors it will meet.

Trained on ground-truth masks only, Caliban's linker met clean objects in training and a
segmentation's merges, fragments and misses in use (on SIM+ 01 it called 65 divisions where there
are 28). :func:`predicted_tracking` turns a segmentation of a ground-truth sequence into a
tracking with the same meaning as the ground truth, which :mod:`.link_targets` then reads as it
reads the ground truth:

* an object that covers more than half of a ground-truth marker (the CTC TRA matching; of several,
  the one it overlaps most) takes that marker's track label;
* an object that matches no marker (a fragment, debris, the second part of a split cell) takes
  the label of the unmatched object of the frame before that holds more than half of its pixels
  (a false object that persists is one track), else a new label;
* a track whose cell was missed for some frames (a miss, or the second cell of a merged object)
  goes on after the gap under a new label whose parent is the part before it (as the CTC
  writes a gap), and a daughter's parent is the last part of her mother's track.

So a fragment next to a cell is a ``DIFFERENT`` pair, not a daughter; a merged object continues
the cell it covers most; and divisions are only where the ground truth has them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from celltrace.linking.merges import holder
from celltrace.metrics.matching import overlap_table
from celltrace.shifts import restrict_lineage
from celltrace.tracking import Tracking


def marker_matches(pred: np.ndarray, markers: np.ndarray) -> dict[int, int]:
    """``{object: marker}`` of one frame: each marker to the object covering more than half of it
    (:meth:`~celltrace.metrics.matching.FrameOverlap.ctc_pairs`), and an object covering several
    to the one it overlaps most (ties: the lower marker label)."""
    table = overlap_table(markers, pred)
    gi, pj = table.ctc_pairs()
    best: dict[int, tuple[int, int]] = {}
    for g, j, n in zip(gi.tolist(), pj.tolist(), table.inter[gi + 1, pj + 1].tolist()):
        obj = int(table.pred_labels[j])
        if n > best.get(obj, (0, 0))[1]:
            best[obj] = (int(table.gt_labels[g]), n)
    return {obj: mk for obj, (mk, _) in best.items()}


def predicted_tracking(pred_masks: Sequence[np.ndarray] | np.ndarray, truth: Tracking) -> Tracking:
    """The tracking of ``truth`` carried over to the objects of ``pred_masks`` (per-frame label
    images of the same frames; module docstring): masks are ``pred_masks`` relabelled, lineage
    ``L B E P`` with gaps written as new labels."""
    T = len(pred_masks)
    if T != len(truth.masks):
        raise ValueError(f"predicted masks have {T} frames, the ground truth {len(truth.masks)}")
    next_id = int(max([0, *truth.lineage["label"].tolist()])) + 1  # false tracks: labels after the truth's
    masks = np.zeros((T, *np.asarray(pred_masks[0]).shape), np.uint32)  # track ids, split at gaps below
    prev_false: dict[int, int] = {}  # object of the frame before -> its false track
    prev_frame: np.ndarray | None = None
    for t in range(T):
        pred = np.asarray(pred_masks[t])
        ids = marker_matches(pred, np.asarray(truth.masks[t]))
        false_now: dict[int, int] = {}
        for obj in (int(v) for v in np.unique(pred) if v):
            if obj in ids:
                continue
            tid = None
            if prev_frame is not None and prev_false:
                tid = prev_false.pop(holder(prev_frame, pred == obj), None)
            if tid is None:
                tid, next_id = next_id, next_id + 1
            ids[obj] = false_now[obj] = tid
        if ids:
            lut = np.zeros(int(pred.max()) + 1, np.uint32)
            lut[list(ids)] = list(ids.values())
            masks[t] = lut[pred]
        prev_false, prev_frame = false_now, pred
    return restrict_lineage(masks, truth.lineage)  # gaps become new labels, parents their last part


__all__ = ["marker_matches", "predicted_tracking"]
