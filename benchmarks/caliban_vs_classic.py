"""Caliban (given segmentation weights) vs classic on the held-out tail frames of each 02 sequence.

    python benchmarks/caliban_vs_classic.py WEIGHTS.pt
"""
import sys

import time, numpy as np
from celltrace import Tracking, open_movie, evaluate, Movie
from celltrace.methods.base import load_tracker
from pathlib import Path

WEIGHTS = sys.argv[1]
root = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc") + "/"
for d, a, b in [("Fluo-N2DH-SIM+", 120, 150), ("Fluo-N2DH-GOWT1", 74, 92), ("Fluo-C2DL-MSC", 39, 48)]:
    gt = Tracking.from_ctc(root + d + "/02_GT")
    lin = gt.lineage[(gt.lineage.end >= a) & (gt.lineage.begin < b)].copy()
    lin["begin"] = lin["begin"].clip(lower=a) - a; lin["end"] = lin["end"].clip(upper=b - 1) - a
    lin.loc[~lin["parent"].isin(lin["label"]) | (lin["begin"] == 0), "parent"] = 0
    gtw = Tracking(np.asarray(gt.masks[a:b]), lin).validate()
    mv = open_movie(root + d + "/02"); movie = Movie(frames=np.stack([mv[t] for t in range(a, b)]))
    for m, kw in [("classic", {}), ("caliban", {"weights": WEIGHTS})]:
        t0 = time.perf_counter(); tr = load_tracker(m, **kw).track(movie, progress=False).validate(); dt = (time.perf_counter() - t0) / (b - a)
        s = evaluate(tr, gtw, metrics=["ctc", "bio"])
        print(d, f"frames {a}-{b-1}", m, {k: round(s[k], 3) if s[k] is not None else None for k in ["TRA", "DET", "LNK", "BC(2)"]}, f"{dt:.2f} s/frame", flush=True)
