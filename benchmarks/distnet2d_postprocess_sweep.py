"""Choose DistNet2D's post-processing thresholds on TRAINING data (the left 60 % of the 02 fields,
the part the spatial model trained on), never on the protocol's hold-out.

    python benchmarks/distnet2d_postprocess_sweep.py [--weights PATH] [--frames 6]
                                                     [--edm-threshold 0.5 0.25 0] [--edm-h 1 0.5]

The network maps of each frame are computed once; the post-processing (segmentation, linking,
correction) runs for every combination and is scored by TRA against the ground truth of the same
region. Prints one line per combination and the best one.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np

from celltrace.methods.distnet2d.infer import EncodedFrames, NormalizedFrames, predict_maps
from celltrace.methods.distnet2d.model import load_model, window_offsets
from celltrace.methods.distnet2d.tracker import DEFAULT_WEIGHTS, track_maps
from celltrace.metrics import evaluate
from celltrace.protocol import DATASETS, spatial_cases

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--edm-threshold", nargs="+", type=float, default=[0.5, 0.25, 0.0])
    ap.add_argument("--edm-h", nargs="+", type=float, default=[1.0, 0.5])
    a = ap.parse_args()
    model = load_model(a.weights)
    c = model.config
    cases = spatial_cases(SHARED / "ctc", a.datasets, slice(0, a.frames), width=(0.0, 0.6))
    span = max(window_offsets(c.frames, c.gap)) - min(window_offsets(c.frames, c.gap)) + 2
    maps = []
    for case in cases:
        frames = NormalizedFrames(case.frames, c.percentiles, keep=span)
        enc = EncodedFrames(model, frames, "cpu", keep=span)
        maps.append([predict_maps(model, frames, t, len(case.frames), c, encoded=enc) for t in range(len(case.frames))])
    best = None
    for thr, h in itertools.product(a.edm_threshold, a.edm_h):
        cfg = replace(c, edm_threshold=thr, edm_h=h)
        tra = []
        for case, m in zip(cases, maps):
            res = track_maps(lambda t, m=m: m[t], len(case.frames), case.frames.shape[1:], cfg)
            tra.append(evaluate(res, case.gt, metrics=["ctc"])["TRA"])
        print(f"edm_threshold={thr:g} edm_h={h:g}: TRA " + ", ".join(f"{case.name} {v:.3f}" for case, v in zip(cases, tra))
              + f"; mean {np.mean(tra):.3f}", flush=True)
        if best is None or np.mean(tra) > best[0]:
            best = (float(np.mean(tra)), thr, h)
    print(f"best: edm_threshold={best[1]:g} edm_h={best[2]:g} (mean TRA {best[0]:.3f} on the training region)")


if __name__ == "__main__":
    main()
