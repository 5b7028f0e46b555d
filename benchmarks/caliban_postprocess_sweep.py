"""Choose Caliban's post-processing (peak radius, peak threshold) on the held-out frames of 02.

    python benchmarks/caliban_postprocess_sweep.py [--weights SEG.pt]

The maps of every validation frame (the tail 20 % of each 02 sequence) are predicted once; each
setting then post-processes them and is scored per frame against the TRA markers with the CTC DET
rule (:func:`det_cost`; ``1 − cost/(10·markers)`` is the frame's DET), and SEG on the SEG frames. Prints a table per dataset and the setting with the lowest mean cost over datasets.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace

import numpy as np

from celltrace.metrics.matching import overlap_table
from celltrace.methods.caliban.seg_infer import estimate_radius, postprocess, predict_maps, scale_for
from celltrace.metrics.ctc import seg_jaccards
from celltrace.methods.caliban.segmentation_model import load_model
from celltrace.methods.caliban.tracker import DEFAULT_SEG_WEIGHTS
from celltrace.train.data import open_sequence, split_frames

from validation import DATASETS, ROOT


def det_cost(markers: np.ndarray, labels: np.ndarray) -> tuple[float, int]:
    """``(10·FN + FP + 5·NS, markers)`` of one frame under the CTC rule: object ``S`` matches marker
    ``R`` when ``|R ∩ S| > |R|/2``; FN = unmatched markers, FP = objects matching no marker,
    NS = objects matching several markers (each extra one a split to make)."""
    f = overlap_table(markers, labels)
    gi, pj = f.ctc_pairs()
    n = f.gt_labels.size
    fn = n - np.unique(gi).size
    fp = f.pred_labels.size - np.unique(pj).size
    ns = int(np.clip(np.bincount(pj, minlength=f.pred_labels.size) - 1, 0, None).sum())
    return 10.0 * fn + fp + 5.0 * ns, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(DEFAULT_SEG_WEIGHTS))
    ap.add_argument("--peak-radius", type=float, nargs="+", default=[6.0, 10.0, 14.0, 20.0])
    ap.add_argument("--peak-threshold", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    ap.add_argument("--frames", type=int, default=8, help="validation frames per dataset (spread)")
    a = ap.parse_args()
    model = load_model(a.weights)
    base = model.config
    grid = list(itertools.product(a.peak_radius, a.peak_threshold))
    table = {}
    for d in DATASETS:
        seq = open_sequence(ROOT / d / "02")
        _, val = split_frames(seq.frames)
        r = estimate_radius([seq.image(t) for t in val[:: max(1, len(val) // 3)][:3]], base)
        pick = sorted(set(val[i] for i in np.linspace(0, len(val) - 1, min(a.frames, len(val))).round().astype(int))
                      | {t for t in val if t in seq.seg_files})
        maps = {t: predict_maps(model, seq.image(t), base, scale=scale_for(r, base)) for t in pick}
        for pr, pt in grid:
            c = replace(base, peak_radius=pr, peak_threshold=pt)
            cost = n = 0.0
            js = []
            for t, m in maps.items():
                lab = postprocess(m["inner"], m["outer"], c, radius=r, fg=m["fg"])
                k, nn = det_cost(seq.markers(t), lab)
                cost, n = cost + k, n + nn
                if t in seq.seg_files:
                    js += list(seg_jaccards(seq.seg(t), lab))
            table[(d, pr, pt)] = (cost / max(10.0 * n, 1.0), float(np.mean(js)) if js else float("nan"))
            print(f"{d:18s} peak_radius {pr:5.1f} threshold {pt:.2f}: DET cost {table[(d, pr, pt)][0]:.4f} "
                  f"SEG {table[(d, pr, pt)][1]:.3f}", flush=True)
    mean = {(pr, pt): np.mean([table[(d, pr, pt)][0] for d in DATASETS]) for pr, pt in grid}
    best = min(mean, key=mean.get)
    print(f"best over datasets: peak_radius {best[0]}, peak_threshold {best[1]} (mean DET cost {mean[best]:.4f}; "
          f"defaults {base.peak_radius}, {base.peak_threshold}: {mean.get((base.peak_radius, base.peak_threshold))})")


if __name__ == "__main__":
    main()
