"""Peak memory of ``celltrace track`` on long synthetic movies: does it grow with movie length?

    python benchmarks/long_movie_memory.py [--runs 2000:full 10000:full 10000:linking] [--size 512]
                                           [--cells 100] [--methods classic] [--work DIR] [--out FILE.md]

For each run ``N:MODE``, a synthetic movie (``celltrace.synth``, N frames of SIZE², ~CELLS nuclei
per frame, no bleaching) and its ground-truth masks are written frame by frame to
``WORK/synth-N-…/`` and ``…-masks/`` as CTC sequence folders (``t0000.tif``…; never held in memory;
reused when present), then tracked end to end in a fresh process by
``celltrace track WORK/synth-N-… --out WORK/res-METHOD-N-MODE``: opening, segmentation (MODE
``full``) or the ground-truth masks as the segmentation (MODE ``linking``: ``--masks``, the same
pipeline without the per-frame segmentation cost), linking, validation and writing of the RES
masks, ``cells.csv`` and ``run.json``. The peak resident memory of that process is its
``ru_maxrss`` from ``wait4`` (the kernel's high-water mark of the process alone). Prints a
Markdown table (and writes it to ``--out``); the goal is < 1 GB at 10,000 frames. Run it niced,
in the background: a full 10,000-frame run takes 15-20 min of one core (hours on a shared one).
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
    """Write the synthetic movie and its ground-truth masks (``FOLDER-masks``) as CTC sequence
    folders, a frame at a time (runs in a child)."""
    from celltrace.io.ctc import write_ctc_sequence
    from celltrace.synth import synthetic_movie

    movie, gt = synthetic_movie(n_frames=n_frames, shape=(size, size), n_cells=cells, seed=seed, bleach_rate=0.0)
    write_ctc_sequence(gt.masks, folder.with_name(folder.name + "-masks"))
    write_ctc_sequence(movie.frames, folder)


def run_measured(cmd: list[str], log: Path) -> tuple[int, float, float]:
    """Run ``cmd`` (output to ``log``); return (exit status, peak RSS in MiB, seconds)."""
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024.0, time.perf_counter() - t0


def write_table(rows: list[tuple], args: argparse.Namespace, argv: list[str] | None) -> str:
    """The Markdown table of the runs so far, written to ``args.out`` (after every run)."""
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", nargs="+", default=["2000:full", "10000:full", "10000:linking"],
                   help="N:MODE, MODE full (segment and link) or linking (--masks: the ground truth)")
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
    for run in args.runs:
        n, mode = int(run.split(":")[0]), run.split(":")[1]
        movie = args.work / f"synth-{n}-{args.size}-{args.cells}"
        if not movie.exists():
            code, mib, sec = run_measured([py, __file__, "--size", str(args.size), "--cells", str(args.cells),
                                           "--make-movie", str(n), str(movie)], args.work / f"make-{n}.log")
            print(f"synthetic movie {n} frames: exit {code}, peak {mib:.0f} MiB, {sec:.0f} s", flush=True)
            if code:
                return code
        for method in methods:
            res = args.work / f"res-{method}-{n}-{mode}"
            cmd = [py, "-m", "celltrace.cli", "track", str(movie), "--method", method, "--out", str(res),
                   "--overwrite", "--quiet"]
            if mode == "linking":
                cmd += ["--masks", str(movie.with_name(movie.name + "-masks"))]
            code, mib, sec = run_measured(cmd, args.work / f"track-{method}-{n}-{mode}.log")
            record = json.loads((res / "run.json").read_text()) if code == 0 else {}
            cells = sum(1 for _ in open(res / "cells.csv")) - 1 if code == 0 else None
            rows.append((n, f"{method} ({mode})", code, mib, sec, record.get("n_tracks"), record.get("n_divisions"),
                         cells, (record.get("timings") or {}).get("write_s")))
            print(f"{n} frames, {method} ({mode}): exit {code}, peak {mib:.0f} MiB, {sec:.0f} s", flush=True)
            text = write_table(rows, args, argv)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
