"""How the work per frame of live tracking (`celltrace watch`) grows over a long session.

    python benchmarks/live_long_session.py [--frames 600] [--size 256] [--cells 60] [--json FILE]

A synthetic movie (:func:`celltrace.synth.synthetic_movie`, ``--size``² pixels, about ``--cells``
nuclei) is written to a folder with its sentinel, and a :class:`celltrace.live.Watcher` (classic,
cell radius 8 px given) takes every frame at once, publishing a complete CTC RES folder after each.
Prints the mean seconds of work per frame (``FrameUpdate.process_s``: segment, link, publish) in
tenths of the session: work that grows with the frames so far shows as a rising column.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from celltrace.io.tiff import write_frame  # noqa: E402
from celltrace.live import Watcher  # noqa: E402
from celltrace.synth import synthetic_movie  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--cells", type=int, default=60)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    movie, _ = synthetic_movie(n_frames=a.frames, shape=(a.size, a.size), n_cells=a.cells, seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "acquisition"
        src.mkdir()
        for t in range(a.frames):
            write_frame(src / f"t{t:04d}.tif", np.asarray(movie.frames[t]))
        (src / "STOP").touch()
        updates = []
        watcher = Watcher(src, Path(tmp) / "RES", params={"cell_radius": 8.0}, poll_s=0.01, on_update=updates.append)
        t0 = time.perf_counter()
        summary = watcher.run()
        wall = time.perf_counter() - t0
    work = np.array([u.process_s for u in updates])
    cells = np.array([u.n_cells for u in updates])
    step = max(1, a.frames // 10)
    rows = [{"frames": f"{i}-{min(i + step, a.frames) - 1}", "s_per_frame": float(work[i:i + step].mean()),
             "cells_per_frame": float(cells[i:i + step].mean())} for i in range(0, a.frames, step)]
    print(f"{a.frames} frames of {a.size}², {summary.reason}, {wall:.1f} s in all")
    print("| frames | work s/frame | cells/frame |\n|---|---|---|")
    for r in rows:
        print(f"| {r['frames']} | {r['s_per_frame']:.3f} | {r['cells_per_frame']:.0f} |")
    if a.json:
        a.json.write_text(json.dumps({"frames": a.frames, "size": a.size, "wall_s": wall, "tenths": rows}, indent=1))


if __name__ == "__main__":
    main()
