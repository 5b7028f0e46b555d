"""What each optional stage of classic's segmentation costs per frame.

    python benchmarks/classic_segmentation_speed.py [--frames 6] [--repeats 3] [--out DIR]

For each CTC 02 sequence in ``../shared/data/ctc``: ``ClassicTracker.segment`` on ``--frames``
frames spread over the movie (background flattening included, the cell radius estimated once
beforehand), with today's defaults and with one stage switched off at a time — slope merging
(``merge_ratio=0``), rim growth (``grow_factor=0``), its residual test (``grow_residual_k=0``) and the
faint-object pass (``faint_noise_k=0``); then the step on each frame once the movie is linked
(``ClassicTracker.finish_frame``: dim nuclei grown into their faint rims, its own background
flattening included, as offline: live tracking finishes the frame it has just segmented and
reuses that frame's flattened image, about 30 ms less on GOWT1). Median seconds per frame over ``--repeats`` passes (each pass segments every
frame once, after one warm-up frame), one thread. Writes ``results.md`` (and prints it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from celltrace.frames import spread  # noqa: E402
from celltrace.methods.classic import ClassicTracker  # noqa: E402
from celltrace.movie import open_movie  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ctc"
VARIANTS = {"defaults": {}, "no slope merging": {"merge_ratio": 0.0}, "no rim growth": {"grow_factor": 0.0},
            "no residual rim test": {"grow_residual_k": 0.0}, "no faint objects": {"faint_noise_k": 0.0}}


def seconds_per_frame(step, frames: list, repeats: int) -> float:
    """Median over ``repeats`` passes of the mean time of ``step(frame)`` on one of ``frames``."""
    step(frames[0])  # warm-up: imports, caches
    passes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for f in frames:
            step(f)
        passes.append((time.perf_counter() - t0) / len(frames))
    return statistics.median(passes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "classic-segmentation-speed"))
    a = ap.parse_args()
    lines = [f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, load "
             f"{os.getloadavg()[0]:.2f}, {a.frames} frames x {a.repeats} passes, one thread", "",
             "| sequence | size | r (px) | " + " | ".join(f"{v} s/frame" for v in VARIANTS) + " | finish_frame s/frame |",
             "|---|---|---|" + "---|" * (len(VARIANTS) + 1)]
    for seq in sorted(DATA.glob("*/02")):
        movie = open_movie(seq)
        frames = [movie[int(t)] for t in spread(len(movie), a.frames)]
        radius = ClassicTracker().estimate_radius(movie)
        cells = [f"{seconds_per_frame(lambda f, t=ClassicTracker(**p): t.segment(f, radius), frames, a.repeats):.3f}"
                 for p in VARIANTS.values()]
        tracker = ClassicTracker()
        segmented = {id(f): tracker.segment(f, radius) for f in frames}
        cells.append(f"{seconds_per_frame(lambda f: tracker.finish_frame(segmented[id(f)], f, radius), frames, a.repeats):.3f}")
        h, w = frames[0].shape
        lines.append(f"| {seq.parent.name} | {h}×{w} | {radius:.1f} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
