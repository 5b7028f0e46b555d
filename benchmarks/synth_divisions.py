"""How far apart sisters are after a division: annotated CTC divisions against synthetic ones.

    python benchmarks/synth_divisions.py [GT_FOLDER ...] [--synthetic] [--frames 6]

For every division with two daughters, and each frame ``k = 0, 1, …`` after the daughters'
first, the distance between the daughters' mask centroids over the sum of their equivalent
radii ``√(area / π)``: 1 means two discs touching, below 1 a pressed pair (the mask boundary
between them is long), above 1 a gap. Printed per ``k``: how many pairs, median and quartiles.
With ``--synthetic``, the same for the protocol's three synthetic movies (``celltrace.protocol``)
and the demo movie; this is how ``SynthConfig.division_gap`` and ``division_push`` were chosen.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from celltrace.tracking import Tracking


def sister_ratios(tracking: Tracking, frames: int) -> dict[int, list[float]]:
    """``{k: [distance / (r_1 + r_2) of each pair both present at first frame + k]}``."""
    lin = tracking.lineage
    out: dict[int, list[float]] = {k: [] for k in range(frames)}
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def props(t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if t not in cache:
            m = np.asarray(tracking.masks[t])
            labels = np.unique(m[m > 0])
            area = ndi.sum_labels(np.ones_like(m, dtype=float), m, labels)
            c = np.array(ndi.center_of_mass(np.ones_like(m), m, labels)).reshape(-1, 2)
            cache[t] = (labels, area, c)
        return cache[t]

    for _, g in lin[lin["parent"] > 0].groupby("parent"):
        if len(g) != 2:
            continue
        a, b = g["label"].to_numpy()
        start = int(g["begin"].max())
        for k in range(frames):
            t = start + k
            if t >= len(tracking.masks):
                break
            labels, area, c = props(t)
            ia, ib = np.searchsorted(labels, [a, b])
            if ia >= labels.size or ib >= labels.size or labels[ia] != a or labels[ib] != b:
                break
            r = np.sqrt(area[[ia, ib]] / np.pi)
            out[k].append(float(np.linalg.norm(c[ia] - c[ib]) / r.sum()))
    return out


def table(name: str, ratios: dict[int, list[float]]) -> str:
    lines = [f"{name}", "   k  pairs  median  quartiles"]
    for k, v in ratios.items():
        if v:
            q1, med, q3 = np.quantile(v, [0.25, 0.5, 0.75])
            lines.append(f"  {k:2d}  {len(v):5d}  {med:6.2f}  {q1:.2f}–{q3:.2f}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gt", nargs="*", type=Path, help="CTC ground-truth folders (…/02_GT)")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--frames", type=int, default=6)
    a = ap.parse_args()
    from celltrace.io.ctc import read_ctc

    for folder in a.gt:
        print(table(str(folder), sister_ratios(read_ctc(folder), a.frames)))
    if a.synthetic:
        from celltrace.protocol import synth_cases
        from celltrace.synth import synthetic_movie

        for case in synth_cases():
            print(table(case.name, sister_ratios(case.gt, a.frames)))
        _, gt = synthetic_movie(n_frames=40, shape=(256, 256), n_cells=25, seed=0)  # celltrace demo's movie
        print(table("demo movie (celltrace demo)", sister_ratios(gt, a.frames)))


if __name__ == "__main__":
    main()
