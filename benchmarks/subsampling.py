"""Robustness to temporal subsampling: every method on every 1st, 2nd, 3rd, 6th frame.

    python benchmarks/subsampling.py [--methods classic distnet2d caliban embedtrack] [--steps 1 2 3 6]
                                     [--datasets ...] [--frames N] [--out DIR]

Each case is the protocol's spatial hold-out (right 40 % of each 02 field): models trained on the
left 60 % (distnet2d's shipped weights) never saw it; shipped weights trained on all of 02
(embedtrack's, caliban's) did: their rows are marked ``seen``. ``--add`` merges a run into an
earlier one. For a step ``s`` the movie keeps frames ``0, s, 2s, …`` and the ground
truth is subsampled alike (:func:`subsample_tracking`); scores: CTC TRA/DET/LNK and the DistNet2D
error rates of :mod:`celltrace.metrics.lineage` (segmentation errors as % of GT cells, link
errors as % of GT links, incomplete lineages as % of lineages). Writes ``results.json`` and
``results.md`` to ``--out`` (default ``benchmarks/results/subsampling``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from celltrace.methods.base import load_tracker
from celltrace.metrics import evaluate
from celltrace.movie import Movie
from celltrace.protocol import DATASETS, spatial_cases
from celltrace.tracking import Tracking, make_lineage
from celltrace_bench.machine import short_commit
from celltrace_bench.weights import shipped_saw_holdout

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
KEYS = ("TRA", "DET", "LNK", "LIN_seg_%", "LIN_links_%", "LIN_incomplete_%")


def subsample_tracking(gt: Tracking, step: int) -> Tracking:
    """Keep frames ``0, step, 2·step, …`` of ``gt``: a track keeps its label over the kept frames it
    spans; a track with no kept frame is dropped and its children take its parent (so a division
    between two kept frames stays a division of the last kept ancestor)."""
    masks = np.stack([np.asarray(gt.masks[t]) for t in range(0, gt.n_frames, step)])
    lin = gt.lineage
    parent = dict(zip(lin["label"].tolist(), lin["parent"].tolist()))
    rows, kept = {}, set()
    for lab, b, e in zip(lin["label"].tolist(), lin["begin"].tolist(), lin["end"].tolist()):
        b2, e2 = -(-b // step), e // step
        if b2 <= e2:
            rows[lab] = (b2, e2)
            kept.add(lab)

    def kept_parent(lab: int) -> int:
        p = parent.get(lab, 0)
        while p and p not in kept:
            p = parent.get(p, 0)
        return p

    out = make_lineage([(lab, b, e, kept_parent(lab)) for lab, (b, e) in rows.items()])
    return Tracking(masks=masks, lineage=out)


def lineage_rates(scores: dict) -> dict:
    """The three DistNet2D error rates: segmentation (FN + FP + over + under, % of GT cells), links
    (FN + FP, % of GT links) and incomplete lineages (%)."""
    seg = sum(scores.get(k) or 0 for k in ("LIN_FN_%", "LIN_FP_%", "LIN_over_%", "LIN_under_%"))
    links = sum(scores.get(k) or 0 for k in ("LIN_FN_links_%", "LIN_FP_links_%"))
    return {"LIN_seg_%": seg, "LIN_links_%": links, "LIN_incomplete_%": scores.get("LIN_incomplete_%")}


def run(method: str, frames: np.ndarray) -> Tracking:
    params = {}
    if method.endswith("-nopost"):
        method, params = method[: -len("-nopost")], {"postprocess": False}
    return load_tracker(method, **params).track(Movie(frames=frames), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["classic", "distnet2d", "caliban", "embedtrack"])
    ap.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3, 6])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--frames", type=int, help="only the first N frames of each sequence")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "subsampling"))
    ap.add_argument("--add", action="store_true",
                    help="add these rows to --out's results.json (same case, step and method replaced)")
    a = ap.parse_args()
    cases = spatial_cases(SHARED / "ctc", a.datasets, slice(0, a.frames) if a.frames else None)
    rows = []
    seen = {m: shipped_saw_holdout(m.removesuffix("-nopost")) for m in a.methods}
    for case in cases:
        for step in a.steps:
            frames = case.frames[::step]
            gt = subsample_tracking(case.gt, step)
            for m in a.methods:
                t0 = time.perf_counter()
                res = run(m, frames).validate()
                dt = (time.perf_counter() - t0) / len(frames)
                s = evaluate(res, gt, metrics=["ctc", "lineage"])
                row = {"case": case.name, "step": step, "method": m, "seen": seen[m],
                       **{k: s.get(k) for k in ("TRA", "DET", "LNK")}, **lineage_rates(s),
                       "frames": len(frames), "s_per_frame": dt}
                rows.append(row)
                print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                      flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = short_commit()
    head = (f"commit {commit}, {time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, {torch.get_num_threads()} "
            f"torch threads, frames {a.frames or 'all'}, steps {a.steps}, methods {' '.join(a.methods)}")
    if a.add and (out / "results.json").exists():
        old = json.loads((out / "results.json").read_text())
        new_keys = {(r["case"], r["step"], r["method"]) for r in rows}
        kept = [r for r in old["rows"] if (r["case"], r["step"], r["method"]) not in new_keys]
        order = {c.name: i for i, c in enumerate(cases)}
        rows = sorted(kept + rows, key=lambda r: (order.get(r["case"], len(order)), r["step"]))
        head = old["header"] + "; " + head
    lines = [head, "", "| case | step | method | " + " | ".join(KEYS) + " |", "|" + "---|" * (3 + len(KEYS))]
    for r in rows:
        vals = ["–" if r[k] is None else f"{r[k]:.3f}" if k in ("TRA", "DET", "LNK") else f"{r[k]:.1f}" for k in KEYS]
        lines.append(f"| {r['case']} | {r['step']} | {r['method']}{' (seen)' if r['seen'] else ''} | "
                     + " | ".join(vals) + " |")
    (out / "results.json").write_text(json.dumps({"header": head, "rows": rows}, indent=1))
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
