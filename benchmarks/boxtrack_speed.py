"""Seconds per frame of BoxTrack on GOWT1 02 (full 1024² frames), prompted by the first GT frame.

    python benchmarks/boxtrack_speed.py [--frames 10] [--threads 2] [--device cpu]

Prints the total and the split (segmenter network, default detector, tracking bookkeeping).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import torch  # noqa: E402

from boxtrack_mot import SHARED, truth_boxes  # noqa: E402
from celltrace.methods.base import load_tracker  # noqa: E402
from celltrace.movie import Movie  # noqa: E402
from celltrace.protocol import load_sequence  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dataset", default="Fluo-N2DH-GOWT1")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    frames, gt, seg = load_sequence(SHARED / a.dataset / "02", SHARED / a.dataset / "02_GT", slice(0, a.frames))
    boxes = truth_boxes(gt, seg)
    tracker = load_tracker("boxtrack", boxes=boxes, device=a.device)
    t0 = time.perf_counter()
    result = tracker.track(Movie(frames=frames), progress=False)
    total = time.perf_counter() - t0
    timing = result.meta["timing"]
    n = len(frames)
    print(f"{a.dataset} 02, {n} frames of {frames.shape[1]}×{frames.shape[2]}, {len(boxes)} boxes, device {a.device}, "
          f"torch threads {a.threads}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"total {total / n:.2f} s/frame: segmenter {timing['segmenter_s'] / n:.2f}, detector "
          f"{timing['detector_s'] / n:.2f}, tracking {timing['tracking_s'] / n:.2f} (s/frame); {result.n_tracks} tracks")


if __name__ == "__main__":
    main()
