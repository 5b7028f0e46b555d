"""The methods side by side on the frames of each 02 sequence held out from training.

Superseded for choosing anything: frames of one sequence share cells, brightness and density,
so this split flattered caliban (ranked first everywhere, it lost to classic on two of three unseen
01 sequences). Models, parameters and the default are chosen on benchmarks/generalization.py.

    python benchmarks/validation.py [--methods classic caliban embedtrack] [--param METHOD:NAME=VALUE ...]
                                    [--datasets ...] [--no-gt-masks] [--out DIR]

Held-out frames = the tail split the trainers use (:func:`celltrace.train.split_frames`, last 20 %).
For each dataset every method runs on those frames only (GT windowed with tracks clipped, parents
outside dropped): end to end, and (unless ``--no-gt-masks``) linking the GT masks (linking-only
mode). Scores: TRA, DET, SEG (on the SEG frames in the window), LNK, BC(2), division F1 and MBC
(±1 frame), and seconds per frame. Writes ``results.json`` and ``results.md`` to ``--out``
(default ``benchmarks/results/validation``). Learned methods use the package's weights unless
``--param caliban:weights=…`` etc. say otherwise.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from celltrace import Movie, evaluate, open_movie
from celltrace.io.ctc import read_ctc
from celltrace.io.tiff import read_frame
from celltrace.methods.base import load_tracker
from celltrace.methods.caliban.link_targets import window_tracking
from celltrace.train.data import open_sequence, split_frames
from celltrace_bench.machine import short_commit

ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ctc"
DATASETS = ["Fluo-N2DH-SIM+", "Fluo-N2DH-GOWT1", "Fluo-C2DL-MSC"]
KEYS = ["TRA", "DET", "SEG", "LNK", "BC(2)", "DIV_F1", "MBC"]


def run(dataset: str, methods: list[str], params: dict[str, dict], gt_masks: bool = True,
        root: Path = ROOT) -> list[dict]:
    seq = open_sequence(root / dataset / "02")
    _, val = split_frames(seq.frames)
    a, b = val[0], val[-1] + 1
    gt = window_tracking(read_ctc(root / dataset / "02_GT"), a, b).validate()
    seg = {t - a: read_frame(seq.seg_files[t]) for t in range(a, b) if t in seq.seg_files}
    mv = open_movie(root / dataset / "02")
    movie = Movie(frames=np.stack([mv[t] for t in range(a, b)]))
    runs = [(m, None) for m in methods] + ([(m, gt.masks) for m in methods] if gt_masks else [])
    rows = []
    for method, masks in runs:
        t0 = time.perf_counter()
        tr = load_tracker(method, **params.get(method, {})).track(
            movie, masks=None if masks is None else np.asarray(masks), progress=False).validate()
        dt = (time.perf_counter() - t0) / (b - a)
        s = evaluate(tr, gt, metrics=["ctc", "bio", "divisions"], seg=seg)
        rows.append({"dataset": dataset, "frames": [a, b - 1], "method": method,
                     "params": params.get(method, {}),
                     "mode": "segment + link" if masks is None else "link GT masks",
                     **{k: s.get(k) for k in KEYS}, "s_per_frame": dt, "linker": tr.meta.get("linker"),
                     "n_gt_divisions": len(gt.divisions())})
        print(rows[-1], flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["| dataset | held-out frames | mode | method | " + " | ".join(KEYS) + " | s/frame |",
             "|---|---|---|---|" + "---|" * len(KEYS) + "---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['frames'][0]}–{r['frames'][1]} ({r['n_gt_divisions']} div.) | "
                     f"{r['mode']} | {r['method']} | " + " | ".join(fmt(r[k]) for k in KEYS) +
                     f" | {r['s_per_frame']:.2f} |")
    return "\n".join(lines)


def parse_params(items: list[str]) -> dict[str, dict]:
    """``METHOD:NAME=VALUE`` items → ``{method: {name: value}}`` (values parsed like the CLI's)."""
    from celltrace.cli import _parse_params

    out: dict[str, dict] = {}
    for item in items:
        method, _, rest = item.partition(":")
        out.setdefault(method, {}).update(_parse_params([rest]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["classic", "caliban"])
    ap.add_argument("--param", action="append", default=[], metavar="METHOD:NAME=VALUE")
    ap.add_argument("--datasets", nargs="+", default=DATASETS)
    ap.add_argument("--no-gt-masks", action="store_true", help="skip the linking-only runs on GT masks")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "validation"))
    a = ap.parse_args()
    params = parse_params(a.param)
    rows = [r for d in a.datasets for r in run(d, a.methods, params, not a.no_gt_masks)]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = short_commit()
    head = (f"commit {commit}, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
            f"{torch.get_num_threads()} torch threads, params {params or 'defaults (package weights)'}")
    (out / "results.json").write_text(json.dumps({"header": head, "rows": rows}, indent=1))
    (out / "results.md").write_text(f"{head}\n\n{markdown(rows)}\n")
    print(markdown(rows))


if __name__ == "__main__":
    main()
