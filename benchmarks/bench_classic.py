"""Speed and memory of the classic tracker, and of the LAP linker alone.

    python benchmarks/bench_classic.py [--frames N] [--skip-movie]

Prints one table: seconds per frame (segmentation incl. reading and measuring, linking incl.
divisions and gap closing, building the tracks, total) and peak resident memory of the process,
for ``classic`` on Fluo-N2DH-GOWT1/02 (1024², 92 frames) and for linking alone on random-walk
point sets of 1,000 and 10,000 cells per frame.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "ctc"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_walk_tables(n_cells: int, n_frames: int, seed: int = 0, spacing: float = 20.0,
                       step: float = 1.5, p_div: float = 0.01) -> list[pd.DataFrame]:
    """Random-walk points at mean spacing ``spacing`` with Gaussian steps and a few divisions."""
    rng = np.random.default_rng(seed)
    side = spacing * np.sqrt(n_cells)
    pos = rng.uniform(0, side, (n_cells, 2))
    area = np.full(n_cells, 200.0)
    tables = []
    for _ in range(n_frames):
        tables.append(pd.DataFrame({"label": np.arange(1, len(pos) + 1), "y": pos[:, 0], "x": pos[:, 1],
                                    "area": area.round().astype(np.int64)}))
        pos = pos + rng.normal(0, step, pos.shape)
        div = rng.uniform(size=len(pos)) < p_div
        if div.any():
            off = rng.normal(0, 4.0, (int(div.sum()), 2))
            pos = np.concatenate([pos, pos[div] + off])
            pos[np.flatnonzero(div)] -= off
            area[div] /= 2
            area = np.concatenate([area, area[div]])
        keep = rng.uniform(size=len(pos)) >= p_div  # deaths keep the count about constant
        pos, area = pos[keep], area[keep]
    return tables


def bench_linking(n_cells: int, n_frames: int) -> dict[str, float]:
    from celltrace.linking import DivisionDetector, EuclideanCost, GapCloser, LAPLinker

    tables = random_walk_tables(n_cells, n_frames)
    linker = LAPLinker(cost=EuclideanCost(8.0), divisions=DivisionDetector(max_distance=12.0, max_cost=2.0),
                       gap_closing=GapCloser(max_gap=2, max_distance=12.0))
    t0 = time.perf_counter()
    links = linker.link(tables)
    dt = time.perf_counter() - t0
    return {"case": f"linking only, {n_cells:,} cells/frame", "frames": n_frames, "seg_s": float("nan"),
            "link_s": dt / (n_frames - 1), "tracks_s": float("nan"), "total_s": dt / (n_frames - 1),
            "objects": sum(len(t) for t in tables), "links": len(links), "peak_mb": peak_rss_mb()}


def bench_movie(dataset: str, n_frames: int | None) -> dict[str, float]:
    import celltrace
    from celltrace.movie import Movie

    movie = celltrace.open_movie(SHARED / dataset / "02")
    if n_frames:
        movie = Movie(frames=movie.frames[:n_frames], name=movie.name)
    T = len(movie)
    t0 = time.perf_counter()
    result = celltrace.load_tracker("classic").track(movie, progress=False)
    for t in range(T):  # the masks are relabelled lazily or eagerly; touch them all
        np.asarray(result.masks[t])
    total = time.perf_counter() - t0
    tm = result.meta["timing"]
    return {"case": f"classic on {dataset}/02 {movie.shape[1]}x{movie.shape[2]}", "frames": T,
            "seg_s": (tm["segmentation_s"] + tm["features_s"]) / T, "link_s": tm["linking_s"] / T,
            "tracks_s": tm["tracks_s"] / T, "total_s": total / T, "objects": result.meta["n_objects"],
            "links": result.meta["n_links"], "peak_mb": peak_rss_mb()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of the movie")
    ap.add_argument("--skip-movie", action="store_true")
    ap.add_argument("--link-frames", type=int, default=10)
    args = ap.parse_args(argv)
    rows = []
    if not args.skip_movie:
        rows.append(bench_movie("Fluo-N2DH-GOWT1", args.frames))
    for n in (1_000, 10_000):
        rows.append(bench_linking(n, args.link_frames))
    df = pd.DataFrame(rows)
    print(f"python {sys.version.split()[0]}, cpus visible: {len(__import__('os').sched_getaffinity(0))}")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))
    print("seg_s includes reading and measuring; link_s includes divisions and gap closing; "
          "peak_mb is the process's peak RSS so far (cumulative down the table).")


if __name__ == "__main__":
    main()
