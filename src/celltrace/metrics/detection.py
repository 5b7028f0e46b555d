"""SEG and detection scores against segmentation-only truth (SEG masks, no lineage).

For a ground truth of ``SEG/man_segNNN.tif`` files only (e.g. a CTC silver truth ``NN_ST``), per
annotated frame, with R the reference objects and S the computed ones:

* SEG — the CTC measure: ``J(R) = |R ∩ S| / |R ∪ S|`` for the S with ``|R ∩ S| > 0.5·|R|``
  (else 0), averaged over all reference objects of all SEG frames.
* detection — R and S match when ``IoU(R, S) > 0.5`` (one-to-one by construction: no two
  objects can both overlap another by more than half of their union).

      TP = matched pairs,  FP = |S| − TP,  FN = |R| − TP
      precision = TP / (TP + FP),  recall = TP / (TP + FN),  F1 = 2·TP / (2·TP + FP + FN)

Frames without a SEG file are not scored. A SEG frame that annotates only some cells makes
the computed objects over the others count as FP: precision assumes complete annotations.
"""

from __future__ import annotations

import numpy as np

from celltrace.frames import Frames
from celltrace.metrics.matching import overlap_table


def detection_scores(tp: int, fp: int, fn: int) -> dict[str, float | int | None]:
    """DET_precision, DET_recall, DET_F1 (None where undefined) and the counts."""
    return {"DET_precision": tp / (tp + fp) if tp + fp else None,
            "DET_recall": tp / (tp + fn) if tp + fn else None,
            "DET_F1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "DET_TP": tp, "DET_FP": fp, "DET_FN": fn}


def seg_detection(masks: Frames, seg: dict[int, np.ndarray]) -> dict[str, float | int | None]:
    """SEG (+ SEG_iou_sum, SEG_objects, SEG_frames) and the detection scores of ``masks`` (T, H, W)
    against the SEG label images ``seg`` (frame → image; frames present in ``masks``)."""
    iou_sum, n_ref, tp, fp, fn = 0.0, 0, 0, 0, 0
    for t in sorted(seg):
        f = overlap_table(np.asarray(seg[t]), np.asarray(masks[t]))
        iou_sum += float(f.seg_jaccards().sum())
        n_ref += f.gt_labels.size
        matched = int((f.iou() > 0.5).sum())
        tp += matched
        fp += f.pred_labels.size - matched
        fn += f.gt_labels.size - matched
    out: dict[str, float | int | None] = {"SEG": iou_sum / n_ref if n_ref else None, "SEG_iou_sum": iou_sum,
                                          "SEG_objects": n_ref, "SEG_frames": len(seg)}
    out.update(detection_scores(tp, fp, fn))
    return out
