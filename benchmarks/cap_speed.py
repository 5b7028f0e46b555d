"""Speed of the whole `celltrace track --method cap` (detector, RAW inference, rendering, writing) on a
CTC sequence, and its TRA beside the point-based TRA of :mod:`celltrace.metrics.points`.

    python benchmarks/cap_speed.py [--seq ../shared/data/ctc/Fluo-N2DH-GOWT1/02] [--threads 2]
                                   [--device cpu] [--weights W] [--param NAME=VALUE ...]

The command runs as a subprocess with ``OMP_NUM_THREADS`` = ``--threads``; the wall time includes
start-up and the detector (the default method's segmentation at network scale, run on every frame
to find new cells). Prints s/frame and the tracker's own timing split (run.json). Note: the shipped
weights trained on the left 60 % of the 02 sequences, so the scores on a whole 02 are not a
hold-out (the generalization protocol gives those).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", default=str(REPO.parent / "shared" / "data" / "ctc" / "Fluo-N2DH-GOWT1" / "02"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", help="weights file (default: the shipped ones)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="passed to the tracker")
    ap.add_argument("--no-score", action="store_true", help="only time it")
    a = ap.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads), "MKL_NUM_THREADS": str(a.threads),
           "PYTHONPATH": str(REPO / "src")}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "R"
        cmd = [sys.executable, "-m", "celltrace.cli", "track", a.seq, "--method", "cap", "--out", str(out), "--quiet",
               "--device", a.device] + (["--param", f"weights={a.weights}"] if a.weights else [])
        cmd += [x for p in a.param for x in ("--param", p)]
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True)
        wall = time.perf_counter() - t0
        run = json.loads((out / "run.json").read_text())
        n = int(run.get("n_frames") or len(list(out.glob("mask*.tif"))))
        print(f"sequence {a.seq}: {n} frames, {a.threads} threads, device {a.device}, params {a.param}")
        print(f"wall {wall:.1f} s = {wall / n:.3f} s/frame (whole command, start-up included)")
        timing = run.get("timings") or run.get("timing") or {}
        print("tracker timing:", {k: round(v, 2) for k, v in timing.items() if isinstance(v, (int, float))})
        if a.no_score:
            return
        import pandas as pd

        from celltrace.io.ctc import read_ctc
        from celltrace.metrics import evaluate
        from celltrace.metrics.points import evaluate_points

        res = read_ctc(out)
        gt = read_ctc(Path(a.seq).parent / f"{Path(a.seq).name}_GT")
        marker = evaluate(res, gt, metrics=["ctc"])
        res.points = pd.read_csv(out / "points.csv")
        point = evaluate_points(res, gt, metrics=["ctc"])
        print(f"TRA (markers) {marker['TRA']:.3f}  DET {marker['DET']:.3f}  LNK {marker['LNK']:.3f}")
        print(f"TRA (points)  {point['TRA']:.3f}  DET {point['DET']:.3f}  LNK {point['LNK']:.3f}")
        print(f"tracks {res.n_tracks}, divisions {len(res.divisions())} (GT: {gt.n_tracks}, {len(gt.divisions())})")


if __name__ == "__main__":
    main()
