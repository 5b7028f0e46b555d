"""Speed of a full evaluation: GOWT1 02 (92 frames, 1024²) against a tracker's result.

    python benchmarks/bench_metrics.py [--res RES_DIR] [--threads 2] [--skip-reference]

Without ``--res`` the result is the classic tracker's output if ``celltrace.methods.classic`` is
available, else a GT copy damaged in several ways (cells deleted, links broken, a merge, a spurious
cell, false divisions) written as a RES folder. Prints ours (all families, from the CTC folders,
validation included) next to py-ctcmetrics' ``evaluate_sequence`` (ctc_evaluate) on the same input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GT = ROOT.parent / "shared" / "data" / "ctc" / "Fluo-N2DH-GOWT1" / "02_GT"


def make_result(out: Path) -> str:
    from celltrace.tracking import Tracking

    try:
        from celltrace.methods.base import load_tracker
        from celltrace.movie import open_movie

        movie = open_movie(GT.parent / "02")
        load_tracker("classic").track(movie).to_ctc(out)
        return "classic tracker"
    except Exception as exc:  # the classic tracker may not have landed yet
        sys.path.insert(0, str(ROOT / "tests"))
        from metrics.damage import add_false_divisions, add_spurious_cell, break_links, delete_cells, merge_cells

        gt = Tracking.from_ctc(GT)
        m, lin = np.asarray(gt.masks), gt.lineage
        for fn in (delete_cells, break_links, merge_cells, add_spurious_cell, add_false_divisions):
            m, lin = fn(m, lin)
        Tracking(masks=m, lineage=lin).validate().to_ctc(out)
        return f"damaged GT (classic tracker unavailable: {type(exc).__name__})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=Path)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-reference", action="store_true")
    args = ap.parse_args()
    from celltrace.metrics import evaluate_folders, format_results

    with tempfile.TemporaryDirectory() as d:
        res = args.res
        what = str(res)
        if res is None:
            res = Path(d) / "02_RES"
            what = make_result(res)
        t0 = time.perf_counter()
        ours = evaluate_folders(res, GT, metrics=["all"], threads=args.threads)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        core = evaluate_folders(res, GT, threads=args.threads)
        t_core = time.perf_counter() - t0
        print(f"input: GOWT1 02 (92 × 1024²) vs {what}")
        print(format_results(core))
        rows = [("celltrace evaluate, all families", t_ours), ("celltrace evaluate, default families", t_core)]
        if not args.skip_reference:
            from ctc_metrics.scripts.evaluate import evaluate_sequence

            t0 = time.perf_counter()
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                ref = evaluate_sequence(str(res), str(GT), threads=args.threads)
            rows.append((f"py-ctcmetrics evaluate_sequence (ctc_evaluate), threads={args.threads}",
                         time.perf_counter() - t0))
            s = ours["pooled"]
            print(f"TRA ours {s['TRA']:.6f} / py-ctcmetrics {ref['TRA']:.6f}; "
                  f"SEG {s['SEG']:.6f} / {ref['SEG']:.6f}; CHOTA {s['CHOTA']:.6f} / {ref['CHOTA']:.6f}")
        print()
        for name, t in rows:
            print(f"{name:60s} {t:7.2f} s")


if __name__ == "__main__":
    main()
