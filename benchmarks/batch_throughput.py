"""Throughput of ``celltrace batch`` with 1 and 2 local workers, and its overhead per movie
against calling ``celltrace track`` once per movie in a shell loop.

    python benchmarks/batch_throughput.py [--movies 8] [--frames 40] [--size 256] [--cells 25]
                                          [--method classic] [--work DIR] [--out FILE.md]

The movies are synthetic (``celltrace.synth``, seeds 0..N-1, multi-page TIFFs in ``WORK/movies``;
reused when present). Each mode runs as its own command in a fresh process, timed from start to
exit (wall seconds, so cluster start-up and process start-up are included):

* ``loop``: ``celltrace track MOVIE --out …`` for each movie in turn;
* ``batch, 1 worker`` / ``batch, 2 workers``: ``celltrace batch WORK/movies --workers K``.

``work s`` is the tracking and writing time the results' ``run.json`` record (summed over the
movies); ``overhead s/movie`` is ``(wall − work / workers) / movies``: what a movie costs beyond
its own tracking (process or cluster start, scheduling, imports). ``frames/s`` counts all frames
of all movies over the wall time. All modes must give identical results (``res_track.txt``
compared). The machine is shared: the load average before and after each mode is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "celltrace.cli"]


def make_movies(folder: Path, n: int, frames: int, size: int, cells: int) -> list[Path]:
    from celltrace.io.tiff import write_movie_tiff
    from celltrace.synth import synthetic_movie

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed in range(n):
        path = folder / f"movie{seed:02d}.tif"
        if not path.exists():
            movie, _ = synthetic_movie(n_frames=frames, shape=(size, size), n_cells=cells, seed=seed)
            write_movie_tiff(movie.frames, path)
        paths.append(path)
    return paths


def timed(cmds: list[list[str]]) -> float:
    t0 = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def work_seconds(results: list[Path]) -> float:
    total = 0.0
    for res in results:
        timings = json.loads((res / "run.json").read_text())["timings"]
        total += timings["track_s"] + timings["write_s"]
    return total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--movies", type=int, default=8)
    p.add_argument("--frames", type=int, default=40)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--cells", type=int, default=25)
    p.add_argument("--method", default="classic")
    p.add_argument("--work", type=Path, default=Path("/tmp/celltrace_batch_throughput"))
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "batch-throughput" / "results.md")
    args = p.parse_args(argv)

    movies = make_movies(args.work / "movies", args.movies, args.frames, args.size, args.cells)
    total_frames = args.movies * args.frames
    rows, lineages = [], {}
    modes = [("loop (celltrace track per movie)", 1, "loop"), ("batch, 1 worker", 1, "b1"), ("batch, 2 workers", 2, "b2")]
    for label, workers, name in modes:
        out = args.work / name
        shutil.rmtree(out, ignore_errors=True)
        load0 = os.getloadavg()[0]
        if name == "loop":
            results = [out / m.stem for m in movies]
            wall = timed([[*CLI, "track", str(m), "--method", args.method, "--out", str(r), "-q"]
                          for m, r in zip(movies, results)])
        else:
            results = [out / m.stem for m in movies]
            wall = timed([[*CLI, "batch", str(args.work / "movies"), "--method", args.method, "--out", str(out),
                           "--workers", str(workers), "-q"]])
        work = work_seconds(results)
        lineages[name] = [(r / "res_track.txt").read_text() for r in results]
        rows.append((label, wall, total_frames / wall, work, (wall - work / workers) / args.movies, load0,
                     os.getloadavg()[0]))
        print(f"{label}: {wall:.1f} s", flush=True)
    identical = all(v == lineages["loop"] for v in lineages.values())
    b1 = next(r for r in rows if r[0] == "batch, 1 worker")
    b2 = next(r for r in rows if r[0] == "batch, 2 workers")
    lines = [f"# celltrace batch throughput ({datetime.now(timezone.utc).isoformat(timespec='seconds')})", "",
             f"- machine: {os.cpu_count()} cores, python {platform.python_version()}; method {args.method}; "
             f"{args.movies} synthetic movies of {args.frames} frames, {args.size}², ~{args.cells} cells",
             f"- command: `python benchmarks/batch_throughput.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "", "| mode | wall s | frames/s | work s (run.json) | overhead s/movie | load before | load after |",
             "|---|---|---|---|---|---|---|"]
    for label, wall, fps, work, over, l0, l1 in rows:
        lines.append(f"| {label} | {wall:.1f} | {fps:.1f} | {work:.1f} | {over:.2f} | {l0:.1f} | {l1:.1f} |")
    lines += ["", f"- 2 workers vs 1: {b1[1] / b2[1]:.2f}× the throughput",
              f"- identical results in all modes: {'yes' if identical else 'NO'}"]
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
