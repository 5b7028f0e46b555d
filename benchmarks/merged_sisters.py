"""Daughters a result keeps as one object: how long, and whether an intensity seam could part them.

    python benchmarks/merged_sisters.py RES_FOLDER SEQUENCE_FOLDER GT_FOLDER [--frames 5]

For each annotated division of ``GT_FOLDER`` (a mother with two daughters starting at ``s``):

* **lag**: the first frame ``t - s`` at which the result's objects under the two daughters differ
  (each daughter's object = the result label covering most of her), ``never`` if they stay one;
* **seam dips** in the first ``--frames`` frames after ``s`` where the result keeps the two one
  object: along the segment between the daughters' centroids, with the image flattened as classic
  flattens it and smoothed over ``f · r`` (``f`` = 0.1 and 0.3, ``r`` the result's cell radius
  from its ``run.json``), ``dip = 1 − min(middle 60 %) / min(peak near each end)`` above the
  background (the median outside the result's objects);
* **control**: the same dip along the long axis (0.9 of its length) of single GT cells larger
  than half a cell, every 7th frame: what the texture of one nucleus does to the same test.

A seam test can part merged daughters only where their dips stand above the control's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops

from celltrace.io.ctc import read_ctc
from celltrace.methods.classic import ClassicTracker
from celltrace.movie import open_movie
from celltrace.segmentation.threshold import smooth

FACTORS = (0.1, 0.3)


def dip(image: np.ndarray, a: np.ndarray, b: np.ndarray, background: float) -> float:
    """``1 − saddle / lower peak`` of ``image − background`` along the segment ``a → b``."""
    s = np.linspace(0.0, 1.0, 41)
    profile = ndi.map_coordinates(image, (a[None] + s[:, None] * (b - a)[None]).T, order=1) - background
    peak = min(profile[s <= 0.3].max(), profile[s >= 0.7].max())
    return float(1.0 - profile[(s > 0.2) & (s < 0.8)].min() / max(peak, 1e-6))


def majority(labels: np.ndarray, where: np.ndarray) -> int:
    return int(np.bincount(labels[where].ravel()).argmax()) if where.any() else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("res", type=Path)
    ap.add_argument("sequence", type=Path)
    ap.add_argument("gt", type=Path)
    ap.add_argument("--frames", type=int, default=5)
    a = ap.parse_args()
    res, gt, movie = read_ctc(a.res), read_ctc(a.gt), open_movie(a.sequence)
    r = float(json.loads((a.res / "run.json").read_text())["derived"]["cell_radius"])
    flatten = ClassicTracker().flattened
    smoothed: dict[tuple[int, float], np.ndarray] = {}

    def image(t: int, f: float) -> np.ndarray:
        if (t, f) not in smoothed:
            smoothed[(t, f)] = smooth(flatten(movie[t]), f * r)
        return smoothed[(t, f)]

    lin = gt.lineage
    merged: dict[float, list[float]] = {f: [] for f in FACTORS}
    print(f"cell radius {r:.1f} px\nmother  daughters' first frame  lag (frames until apart)  daughters' life")
    for m in sorted(set(lin.loc[lin["parent"] > 0, "parent"])):
        kids = lin[lin["parent"] == m]
        if len(kids) != 2:
            continue
        s, end = int(kids["begin"].min()), int(kids["end"].min())
        d1, d2 = (int(k) for k in kids["label"])
        lag = None
        for t in range(s, min(end, len(movie) - 1) + 1):
            g, labels = np.asarray(gt.masks[t]), np.asarray(res.masks[t])
            k1, k2 = g == d1, g == d2
            if not (k1.any() and k2.any()):
                continue
            o1, o2 = majority(labels, k1), majority(labels, k2)
            if o1 != o2 and o1 and o2:
                lag = t - s
                break
            if o1 == o2 and o1 and t < s + a.frames:
                c1, c2 = np.argwhere(k1).mean(0), np.argwhere(k2).mean(0)
                for f in FACTORS:
                    im = image(t, f)
                    merged[f].append(dip(im, c1, c2, float(np.median(im[labels == 0]))))
        print(f"{m:6d}  {s:4d}  {'never' if lag is None else lag:>6}  {end - s + 1:4d}")
    control: dict[float, list[float]] = {f: [] for f in FACTORS}
    for t in range(0, len(movie), 7):
        g, labels = np.asarray(gt.masks[t]), np.asarray(res.masks[t])
        for p in regionprops(g):
            if p.area < 0.5 * np.pi * r * r:
                continue
            c = np.asarray(p.centroid)
            v = np.array([np.cos(p.orientation), np.sin(p.orientation)]) * 0.45 * p.axis_major_length
            for f in FACTORS:
                im = image(t, f)
                control[f].append(dip(im, c - v, c + v, float(np.median(im[labels == 0]))))
    for f in FACTORS:
        q = np.percentile(control[f], [50, 90]) if control[f] else [np.nan, np.nan]
        mg = np.asarray(merged[f])
        print(f"smoothing {f:g} r: merged daughters (n={mg.size}) dip min / median / max "
              f"{mg.min() if mg.size else np.nan:.3f} / {np.median(mg) if mg.size else np.nan:.3f} / "
              f"{mg.max() if mg.size else np.nan:.3f}; single cells (n={len(control[f])}) median {q[0]:.3f}, "
              f"90th percentile {q[1]:.3f}")


if __name__ == "__main__":
    main()
