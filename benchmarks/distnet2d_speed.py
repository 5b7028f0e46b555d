"""DistNet2D speed and memory on GOWT1 02 full frames (1024 × 1024).

    python benchmarks/distnet2d_speed.py [--frames 10] [--threads 2] [--device cpu] [--weights PATH]

Times ``celltrace.track(..., method="distnet2d")`` on the first ``--frames`` frames (network,
segmentation and linking separately, from ``meta["timing"]``) and reports seconds per frame and the
process's peak resident memory (``ru_maxrss``). The paper quotes 0.27–0.51 s/frame on a GPU; our
CPU target is ≤ 1 s/frame at 1024². Machines here are shared: quote the load with the numbers.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch

import celltrace
from celltrace.movie import Movie, open_movie

REPO = Path(__file__).resolve().parents[1]
GOWT1 = REPO.parent / "shared" / "data" / "ctc" / "Fluo-N2DH-GOWT1" / "02"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--movie", default=str(GOWT1))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    mv = open_movie(a.movie)
    frames = np.stack([np.asarray(mv[t]) for t in range(min(a.frames, len(mv)))])
    params = {"weights": a.weights} if a.weights else {}
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = celltrace.track(Movie(frames=frames), method="distnet2d", device=a.device, progress=False, **params)
    dt = time.perf_counter() - t0
    timing = res.meta.get("timing", {})
    n = len(frames)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"distnet2d on {n} frames of {frames.shape[1]}×{frames.shape[2]} ({Path(a.movie).parent.name}), "
          f"{a.threads} threads, device {a.device}, load average {load:.1f} at start")
    print(f"total {dt / n:.2f} s/frame (network {timing.get('network_s', 0) / n:.2f}, segmentation "
          f"{timing.get('segmentation_s', 0) / n:.2f}, linking {timing.get('linking_s', 0) / n:.2f}); "
          f"peak RSS {peak:.0f} MiB; {res.n_tracks} tracks")


if __name__ == "__main__":
    main()
