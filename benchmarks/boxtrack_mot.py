"""BoxTrack's MOT numbers on the three 02 sequences, prompted by one box per cell of the first GT frame.

    python benchmarks/boxtrack_mot.py [--parts mot downsample ablation] [--region holdout full]
                                      [--datasets ...] [--frames N] [--out DIR]

* ``mot``: MOTA, IDF1, IDS, MT, ML (and TRA) per sequence — on the spatial hold-out (``x ≥ 0.6·W``,
  never seen by the shipped weights) and, with ``--region full``, on the whole field (whose left
  60 % the weights trained on);
* ``downsample``: every k-th frame (k = 1, 2, 4, 8; the paper's Fig. 3) on the hold-outs;
* ``ablation``: the score weights (affinity, motion, objectness alone, and combined) and the memory
  policy (score-based vs FIFO), inference-time settings, on the hold-outs.

Boxes from the first GT frame: a cell's box is its SEG object's box when the first frame has SEG,
else its TRA marker's box scaled about its centre by the dataset's median SEG/marker box-side
ratio, measured at the first frame with SEG (GOWT1 02 has no SEG at frame 0 and its markers are
smaller than the nuclei). Writes ``results.json`` and ``results.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from celltrace import evaluate  # noqa: E402
from celltrace.io.boxes import COLUMNS  # noqa: E402
from celltrace.methods.base import load_tracker  # noqa: E402
from celltrace.movie import Movie  # noqa: E402
from celltrace.protocol import SPATIAL_SPLIT, _crop_x, load_sequence  # noqa: E402
from celltrace.shifts import restrict_lineage  # noqa: E402
from celltrace.tracking import Tracking  # noqa: E402
from celltrace_bench.machine import short_commit  # noqa: E402

SHARED = Path(os.environ.get("CELLTRACE_SHARED", REPO.parent / "shared")) / "data" / "ctc"
DATASETS = ["Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+", "Fluo-C2DL-MSC"]
KEYS = ["MOTA", "IDF1", "IDS", "MT", "ML", "TRA"]
ABLATIONS = {
    "score a+m+o (default .25/.25/.5)": {},
    "affinity only": {"lambda_a": 1.0, "lambda_m": 0.0, "lambda_o": 0.0},
    "motion only": {"lambda_a": 0.0, "lambda_m": 1.0, "lambda_o": 0.0},
    "objectness only": {"lambda_a": 0.0, "lambda_m": 0.0, "lambda_o": 1.0},
    "equal 1/3": {"lambda_a": 1.0, "lambda_m": 1.0, "lambda_o": 1.0},
    "memory FIFO": {"memory_policy": "fifo"},
}


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def _marker_seg_boxes(markers: np.ndarray, seg: np.ndarray) -> dict[int, tuple[tuple, tuple]]:
    """Marker label → (marker box, box of the SEG object under most of the marker)."""
    out = {}
    for m in np.unique(markers[markers > 0]):
        under = seg[markers == m]
        under = under[under > 0]
        if under.size:
            s = np.bincount(under).argmax()
            out[int(m)] = (_box(markers == m), _box(seg == s))
    return out


def truth_boxes(gt: Tracking, seg: dict[int, np.ndarray], frame: int = 0) -> pd.DataFrame:
    """One box per cell of GT frame ``frame`` (module docstring); ``id`` = the TRA label."""
    markers = np.asarray(gt.masks[frame])
    rows = []
    if frame in seg:
        pairs = _marker_seg_boxes(markers, seg[frame])
        ratio = 1.0
    else:
        pairs = {}
        t_s = min(seg) if seg else None
        sides = []
        if t_s is not None:
            for mbox, sbox in _marker_seg_boxes(np.asarray(gt.masks[t_s]), seg[t_s]).values():
                sides.append(max(sbox[2] - sbox[0], sbox[3] - sbox[1]) / max(mbox[2] - mbox[0], mbox[3] - mbox[1]))
        ratio = float(np.median(sides)) if sides else 1.0
    H, W = markers.shape
    for m in np.unique(markers[markers > 0]):
        if int(m) in pairs:
            x0, y0, x1, y1 = pairs[int(m)][1]
        else:
            x0, y0, x1, y1 = _box(markers == m)
            cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, ratio * (x1 - x0) / 2, ratio * (y1 - y0) / 2
            x0, y0, x1, y1 = max(0.0, cx - hw), max(0.0, cy - hh), min(float(W), cx + hw), min(float(H), cy + hh)
        rows.append((frame, x0, y0, x1, y1, int(m)))
    return pd.DataFrame(rows, columns=COLUMNS)


def subsample(frames: np.ndarray, gt: Tracking, seg: dict[int, np.ndarray], k: int
              ) -> tuple[np.ndarray, Tracking, dict[int, np.ndarray]]:
    """Every ``k``-th frame, the truth restricted to them (tracks keep their labels and parents)."""
    idx = list(range(0, len(frames), k))
    masks = np.stack([np.asarray(gt.masks[t]) for t in idx])
    return frames[idx], restrict_lineage(masks, gt.lineage), {i: seg[t] for i, t in enumerate(idx) if t in seg}


def run(frames: np.ndarray, gt: Tracking, seg: dict[int, np.ndarray], **params) -> dict:
    boxes = truth_boxes(gt, seg)
    t0 = time.perf_counter()
    result = load_tracker("boxtrack", boxes=boxes, **params).track(Movie(frames=frames), progress=False)
    dt = (time.perf_counter() - t0) / len(frames)
    scores = evaluate(result.validate(), gt)
    return {**{k: scores.get(k) for k in KEYS}, "s_per_frame": dt, "frames": len(frames), "boxes": len(boxes),
            "tracks": result.n_tracks, "divisions": len(result.divisions())}


def fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown(rows: list[dict]) -> str:
    lines = []
    for part in dict.fromkeys(r["part"] for r in rows):
        lines += [f"## {part}", "", "| dataset | region | setting | " + " | ".join(KEYS) + " | s/frame | frames | tracks |",
                  "|---|---|---|" + "---|" * (len(KEYS) + 3)]
        for r in rows:
            if r["part"] == part:
                lines.append(f"| {r['dataset']} | {r['region']} | {r['setting']} | " + " | ".join(fmt(r[k]) for k in KEYS)
                             + f" | {r['s_per_frame']:.2f} | {r['frames']} | {r['tracks']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+", default=["mot", "downsample", "ablation"],
                    choices=["mot", "downsample", "ablation"])
    ap.add_argument("--region", nargs="+", default=["holdout"], choices=["holdout", "full"])
    ap.add_argument("--datasets", nargs="+", default=DATASETS)
    ap.add_argument("--frames", type=int, help="only the first N frames of each sequence")
    ap.add_argument("--steps", nargs="+", type=int, default=[1, 2, 4, 8], help="downsampling factors k")
    ap.add_argument("--settings", nargs="+", choices=list(ABLATIONS), help="only these ablation settings")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "boxtrack"))
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def save() -> None:
        commit = short_commit()
        header = (f"# BoxTrack MOT benchmark\n\ncommit {commit}, torch threads {os.environ.get('OMP_NUM_THREADS', '?')}, "
                  f"frames {a.frames or 'all'}; boxes from the first GT frame; hold-out = x ≥ {SPATIAL_SPLIT}·W")
        (out / "results.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
        (out / "results.md").write_text(header + "\n\n" + markdown(rows))

    for ds in a.datasets:
        frames, gt, seg = load_sequence(SHARED / ds / "02", SHARED / ds / "02_GT",
                                        slice(0, a.frames) if a.frames else None)
        views = {}
        if "holdout" in a.region or {"downsample", "ablation"} & set(a.parts):
            views["holdout"] = _crop_x(frames, gt, seg, SPATIAL_SPLIT, 1.0)
        if "full" in a.region:
            views["full"] = (frames, gt, seg)
        jobs = []
        if "mot" in a.parts:
            jobs += [("mot", region, "boxes from GT frame 0", 1, {}) for region in a.region]
        if "downsample" in a.parts:
            jobs += [("downsample", "holdout", f"every k-th frame, k = {k}", k, {}) for k in a.steps if k > 1]
        if "ablation" in a.parts:
            jobs += [("ablation", "holdout", name, 1, params) for name, params in ABLATIONS.items()
                     if a.settings is None or name in a.settings]
        for part, region, setting, k, params in jobs:
            f, g, s = views[region]
            if k > 1:
                f, g, s = subsample(f, g, s, k)
            row = {"part": part, "dataset": ds, "region": region, "setting": setting, **run(f, g, s, **params)}
            rows.append(row)
            print(" | ".join(f"{key}={fmt(v)}" for key, v in row.items()), flush=True)
            save()
    save()


if __name__ == "__main__":
    main()
