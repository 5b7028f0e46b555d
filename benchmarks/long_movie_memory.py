"""Peak memory of ``celltrace track`` on long synthetic movies: does it grow with movie length?

    python benchmarks/long_movie_memory.py [--frames 2000 10000] [--size 512] [--cells 100]
                                           [--methods classic] [--work DIR] [--out FILE.md]

For each length N, a synthetic movie (``celltrace.synth``, N frames of SIZE², ~CELLS nuclei per
frame, no bleaching) is written frame by frame to ``WORK/synth-N/`` as a CTC sequence folder
(``t0000.tif``…; never held in memory; reused when present), then tracked end to end by
``celltrace track WORK/synth-N --out WORK/res-METHOD-N`` in a fresh process: opening, segmentation,
linking, validation and writing of the RES masks, ``cells.csv`` and ``run.json``. The peak resident
memory of that process is its ``ru_maxrss`` from ``wait4`` (the kernel's high-water mark of the
process alone). Prints a Markdown table (and writes it to ``--out``); the goal is < 1 GB at
10,000 frames. Run it niced, in the background: 10,000 frames take about an hour on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_movie(n_frames: int, size: int, cells: int, folder: Path, seed: int = 0) -> None:
    """Write the synthetic movie as a CTC sequence folder, a frame at a time (runs in a child)."""
    from celltrace.io.ctc import write_ctc_sequence
    from celltrace.synth import synthetic_movie

    movie, _ = synthetic_movie(n_frames=n_frames, shape=(size, size), n_cells=cells, seed=seed, bleach_rate=0.0)
    write_ctc_sequence(movie.frames, folder)


def run_measured(cmd: list[str], log: Path) -> tuple[int, float, float]:
    """Run ``cmd`` (output to ``log``); return (exit status, peak RSS in MiB, seconds)."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024.0, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, nargs="+", default=[2000, 10000])
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--cells", type=int, default=100)
    p.add_argument("--methods", nargs="+", default=None, help="default: the default method (and classic)")
    p.add_argument("--work", type=Path, default=Path("/tmp/celltrace_long_movie"))
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "long-movie" / "results.md")
    p.add_argument("--make-movie", nargs=2, metavar=("N", "FOLDER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.make_movie:
        make_movie(int(args.make_movie[0]), args.size, args.cells, Path(args.make_movie[1]))
        return 0

    from celltrace.methods.base import DEFAULT_METHOD

    methods = args.methods or list(dict.fromkeys([DEFAULT_METHOD, "classic"]))
    args.work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    rows = []
    for n in args.frames:
        movie = args.work / f"synth-{n}-{args.size}-{args.cells}"
        if not movie.exists():
            code, mib, sec = run_measured([py, __file__, "--size", str(args.size), "--cells", str(args.cells),
                                           "--make-movie", str(n), str(movie)], args.work / f"make-{n}.log")
            print(f"synthetic movie {n} frames: exit {code}, peak {mib:.0f} MiB, {sec:.0f} s", flush=True)
            if code:
                return code
        for method in methods:
            res = args.work / f"res-{method}-{n}"
            cmd = [py, "-m", "celltrace.cli", "track", str(movie), "--method", method, "--out", str(res),
                   "--overwrite", "--quiet"]
            code, mib, sec = run_measured(cmd, args.work / f"track-{method}-{n}.log")
            record = json.loads((res / "run.json").read_text()) if code == 0 else {}
            cells = sum(1 for _ in open(res / "cells.csv")) - 1 if code == 0 else None
            rows.append((n, method, code, mib, sec, record.get("n_tracks"), record.get("n_divisions"), cells,
                         (record.get("timings") or {}).get("write_s")))
            print(f"{n} frames, {method}: exit {code}, peak {mib:.0f} MiB, {sec:.0f} s", flush=True)
    lines = [f"# celltrace track: peak memory vs movie length ({datetime.now(timezone.utc).isoformat(timespec='seconds')})",
             "", f"- machine: {os.cpu_count()} cores, python {platform.python_version()}; "
                 f"synthetic {args.size}², ~{args.cells} cells/frame, no bleaching",
             f"- command: `python benchmarks/long_movie_memory.py {' '.join(argv or sys.argv[1:])}`", "",
             "| frames | method | exit | peak RSS MiB | seconds | s/frame | tracks | divisions | cells.csv rows | write s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n, method, code, mib, sec, tracks, divs, cells, write_s in rows:
        lines.append(f"| {n} | {method} | {code} | {mib:.0f} | {sec:.0f} | {sec / n:.3f} | {tracks} | {divs} | "
                     f"{cells} | {write_s} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
