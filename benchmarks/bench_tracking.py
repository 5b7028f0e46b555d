"""Speed and memory of the trackers on a real movie, and of the LAP linker alone.

    python benchmarks/bench_tracking.py [--methods classic caliban embedtrack:tta=false] [--frames N] [--skip-movie]
                                        [--threads N] [--device cpu|cuda]

Prints one table: seconds per frame (segmentation incl. reading and measuring, linking incl.
divisions and gap closing, building the tracks, total) and peak resident memory, for each method
on Fluo-N2DH-GOWT1/02 (1024², 92 frames; each method in its own process, so peaks don't add up),
and for linking alone on random-walk point sets of 1,000 and 10,000 cells per frame.
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


def bench_movie(dataset: str, n_frames: int | None, method: str = "classic", device: str = "cpu",
                params: dict | None = None) -> dict[str, float]:
    import celltrace
    from celltrace.movie import Movie

    movie = celltrace.open_movie(SHARED / dataset / "02")
    if n_frames:
        movie = Movie(frames=movie.frames[:n_frames], name=movie.name)
    T = len(movie)
    kw = {**({"device": device} if method != "classic" else {}), **(params or {})}
    t0 = time.perf_counter()
    result = celltrace.load_tracker(method, **kw).track(movie, progress=False)
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    for t in range(T):  # the masks are relabelled lazily or eagerly; touch them all
        np.asarray(result.masks[t])
    total = time.perf_counter() - t0
    tm = result.meta["timing"]
    seg = tm["segmentation_s"] + tm.get("features_s", 0.0)
    tracks = tm.get("tracks_s", tm["total_s"] - seg - tm["linking_s"])
    label = method + "".join(f" {k}={v}" for k, v in (params or {}).items())
    return {"case": f"{label} ({device}) on {dataset}/02 {movie.shape[1]}x{movie.shape[2]}", "frames": T,
            "seg_s": seg / T, "link_s": tm["linking_s"] / T, "tracks_s": tracks / T, "total_s": total / T,
            "objects": result.meta.get("n_objects", int(len(result.lineage))), "links": result.meta.get("n_links", -1),
            "peak_mb": peak_rss_mb()}


def bench_movie_subprocess(method: str, n_frames: int | None, threads: int, device: str,
                           params: dict | None = None) -> dict:
    """:func:`bench_movie` in a fresh process (its own peak memory)."""
    import json
    import subprocess

    code = ("import json, sys, torch; sys.path.insert(0, %r); torch.set_num_threads(%d); import bench_tracking as b; "
            "print('ROW' + json.dumps(b.bench_movie('Fluo-N2DH-GOWT1', %r, %r, %r, json.loads(%r))))"
            % (str(Path(__file__).parent), threads, n_frames, method, device, json.dumps(params or {})))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(next(line[3:] for line in out.splitlines() if line.startswith("ROW")))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None, help="only the first N frames of the movie")
    ap.add_argument("--skip-movie", action="store_true")
    ap.add_argument("--link-frames", type=int, default=10)
    ap.add_argument("--methods", nargs="+", default=["classic", "caliban"],
                    help="method names, each optionally with parameters: embedtrack:tta=false")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the target machine has 2 cores)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    rows = []
    if not args.skip_movie:
        from celltrace.cli import _parse_params

        for spec in args.methods:
            method, *kv = spec.split(":")
            rows.append(bench_movie_subprocess(method, args.frames, args.threads, args.device, _parse_params(kv)))
    for n in (1_000, 10_000):
        rows.append(bench_linking(n, args.link_frames))
    df = pd.DataFrame(rows)
    print(f"python {sys.version.split()[0]}, cpus visible: {len(__import__('os').sched_getaffinity(0))}")
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(df.to_string(index=False))
    print("seg_s includes reading and measuring; link_s includes divisions and gap closing; peak_mb is the "
          "peak RSS of each movie's own process, and of this process so far for the linking rows.")


if __name__ == "__main__":
    main()
