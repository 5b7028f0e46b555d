"""How much the `dim` family depends on which cells are dimmed.

    python benchmarks/dim_draws.py [--datasets ...] [--levels 0.5 0.3] [--random 8] [--frames 30]
                                   [--method classic] [--param k=v ...]

For each dataset's spatial hold-out (the first ``--frames`` frames, as the protocol's `dim`
family) and each contrast level: the protocol's :data:`celltrace.shifts.DIM_DRAWS` draws of
which half of the cells are dimmed (``Shift("dim", level, seed=draw)``, each cell in half of
them), then ``--random`` halves drawn at random (``dim_cells(..., seed=s)``: the permutation's
first half, as the protocol's single draw was before). Per draw: TRA and the CTC error counts,
and each annotated nucleus that no object matches (covers > half of it) in 3 frames or more:
in how many frames, its median intensity above the background (the median outside every
annotated cell) in the method's flattened image (classic) or the raw one, and the best single
object's share of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import celltrace  # noqa: E402
from celltrace.methods.base import load_tracker  # noqa: E402
from celltrace.metrics import evaluate  # noqa: E402
from celltrace.protocol import DATASETS, shift_cases, spatial_cases  # noqa: E402
from celltrace.shifts import DIM_DRAWS, Shift, dim_cells  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "ctc"


def misses(result: celltrace.Tracking, gt: celltrace.Tracking, frames: np.ndarray, flatten) -> dict[int, list]:
    """``{gt label: [(frame, best object's share, median excess over the background), ...]}``
    for the frames in which no object covers more than half of the annotated nucleus."""
    out: dict[int, list] = {}
    for t in range(len(frames)):
        g = np.asarray(gt.masks[t]).astype(np.int64)
        r = np.asarray(result.masks[t]).astype(np.int64)
        image = flatten(frames[t])
        background = float(np.median(image[g == 0]))
        for lab in np.unique(g[g > 0]):
            sel = g == lab
            cover = np.bincount(r[sel])
            best = int(cover[1:].max()) if cover.size > 1 else 0
            if 2 * best <= sel.sum():
                out.setdefault(int(lab), []).append((t, best / sel.sum(), float(np.median(image[sel])) - background))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--levels", nargs="+", type=float, default=[0.5, 0.3])
    ap.add_argument("--random", type=int, default=8, help="random halves after the protocol's draws")
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--method", default="classic")
    ap.add_argument("--param", action="append", default=[], help="k=v, a parameter of the method")
    a = ap.parse_args()
    params = dict(kv.split("=", 1) for kv in a.param)
    for ds in a.datasets:
        (base,) = spatial_cases(DATA, [ds], slice(0, a.frames))
        masks = np.asarray(base.gt.masks)
        for level in a.levels:
            draws = [(f"protocol draw {d}", shift_cases([base], [Shift("dim", level, seed=d)])[0].frames)
                     for d in range(DIM_DRAWS)]
            draws += [(f"random half {s}", dim_cells(base.frames, masks, level, seed=s)) for s in range(a.random)]
            scores: dict[str, list[float]] = {"protocol": [], "random": []}
            for name, frames in draws:
                tracker = load_tracker(a.method, **params)
                flatten = getattr(tracker, "flattened", lambda image: np.asarray(image, np.float32))
                result = tracker.track(frames, progress=False)
                s = evaluate(result, base.gt, metrics=["ctc"])
                scores[name.split()[0]].append(s["TRA"])
                counts = ", ".join(f"{k[5:]} {s[k]}" for k in ("AOGM_FN", "AOGM_FP", "AOGM_NS", "AOGM_EA"))
                lost = misses(result, base.gt, frames, flatten)
                worst = sorted(lost.items(), key=lambda kv: -len(kv[1]))[:3]
                detail = "; ".join(f"nucleus {lab}: {len(v)} frames, {np.median([x[2] for x in v]):.1f} above background, "
                                   f"best object {np.median([x[1] for x in v]):.2f} of it" for lab, v in worst if len(v) >= 3)
                print(f"{ds} dim {level:g} {name}: TRA {s['TRA']:.3f} ({counts})" + (f"  [{detail}]" if detail else ""),
                      flush=True)
            line = f"{ds} dim {level:g}: TRA mean / min over the protocol's {DIM_DRAWS} draws " \
                   f"{np.mean(scores['protocol']):.3f} / {np.min(scores['protocol']):.3f}"
            if scores["random"]:
                line += f", over {a.random} random halves {np.mean(scores['random']):.3f} / {np.min(scores['random']):.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
