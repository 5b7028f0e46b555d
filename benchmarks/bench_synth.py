"""Speed and memory of celltrace.synth at benchmark sizes (default: 2048² × 1000 frames × 10,000 cells).

Prints simulation seconds, peak traced memory (tracemalloc), the points table's size, the cell count
per frame, and the seconds to render a few masks and frames.

    python benchmarks/bench_synth.py [--frames 1000] [--size 2048] [--cells 10000] [--render 3]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from celltrace.synth import SynthConfig, render, simulate_cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--render", type=int, default=3, help="frames to render and time")
    args = ap.parse_args()

    cfg = SynthConfig(n_frames=args.frames, shape=(args.size, args.size), n_cells=args.cells, seed=args.seed)
    tracemalloc.start()
    start = time.perf_counter()
    sim = simulate_cells(cfg)
    sim_s = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    counts = sim.points.groupby("frame").size()
    lin = sim.lineage
    print(f"config            {args.size}² × {args.frames} frames × {args.cells} cells, seed {args.seed}")
    print(f"simulate          {sim_s:8.2f} s   ({1e3 * sim_s / args.frames:.1f} ms/frame)")
    print(f"peak traced mem   {peak / 2**20:8.1f} MiB")
    print(f"points table      {len(sim.points):,} rows, {sim.points.memory_usage(index=False).sum() / 2**20:.1f} MiB")
    print(f"cells per frame   min {counts.min()}, mean {counts.mean():.1f}, max {counts.max()}")
    print(f"tracks            {len(lin):,} ({int((lin['parent'] > 0).sum()):,} daughters)")

    movie, gt = render(sim)
    rng = np.random.default_rng(0)
    for t in sorted(rng.choice(args.frames, size=min(args.render, args.frames), replace=False)):
        t0 = time.perf_counter()
        gt.masks[int(t)]
        t1 = time.perf_counter()
        movie[int(t)]
        t2 = time.perf_counter()
        cold_movie, _ = render(sim)  # a fresh renderer: an image without the mask's cached pixel owners
        cold_movie[int(t)]
        t3 = time.perf_counter()
        print(f"render frame {t:4d}  mask {t1 - t0:5.2f} s, image after mask {t2 - t1:5.2f} s, image cold {t3 - t2:5.2f} s")
    print(f"max RSS           {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:8.1f} MiB")


if __name__ == "__main__":
    main()
