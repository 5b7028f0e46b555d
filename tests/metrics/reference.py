"""Run the reference implementations (py-ctcmetrics, traccuracy) on in-memory trackings.

Test-time only: the references are never imported by ``src/``. Both read CTC folders, so the
trackings are written to temporary folders first (the GT with a link to the real SEG folder).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import numpy as np

from celltrace.io.ctc import write_ctc
from celltrace.tracking import Tracking


def write_pair(pred: Tracking, gt: Tracking, root: Path, seg_dir: Path | None) -> tuple[Path, Path]:
    res = root / "01_RES"
    gtd = root / "01_GT"
    write_ctc(pred, res, kind="res")
    write_ctc(gt, gtd, kind="gt")
    if seg_dir is not None:
        (gtd / "SEG").symlink_to(seg_dir)
    return res, gtd


CTC_METRICS = ["Valid", "CHOTA", "BC", "CT", "CCA", "TF", "SEG", "TRA", "DET", "MOTA", "IDF1", "MTML", "LNK"]


def py_ctcmetrics(res: Path, gt: Path, with_seg: bool = True) -> dict:
    from ctc_metrics.scripts.evaluate import evaluate_sequence

    metrics = [m for m in CTC_METRICS if with_seg or m != "SEG"]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return evaluate_sequence(str(res), str(gt), metrics=list(metrics), threads=1)


def traccuracy_scores(res: Path, gt: Path, iou_threshold: float = 0.5, frame_buffer: int = 2) -> dict:
    """CTC matcher: TRA/DET/LNK/AOGM counts, CHOTA, CCA; IoU one-to-one matcher: divisions."""
    from traccuracy import run_metrics
    from traccuracy.loaders import load_ctc_data
    from traccuracy.matchers import CTCMatcher, IOUMatcher
    from traccuracy.metrics import CellCycleAccuracy, CHOTAMetric, CTCMetrics, DivisionMetrics

    logging.getLogger("traccuracy").setLevel(logging.ERROR)
    out: dict = {}
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        g = load_ctc_data(str(gt / "TRA"), run_checks=False)
        p = load_ctc_data(str(res), run_checks=False)
        results, _ = run_metrics(g, p, CTCMatcher(), [CTCMetrics(), CHOTAMetric(), CellCycleAccuracy()])
        for r in results:
            out.update(r["results"])
        g = load_ctc_data(str(gt / "TRA"), run_checks=False)
        p = load_ctc_data(str(res), run_checks=False)
        results, _ = run_metrics(g, p, IOUMatcher(iou_threshold=iou_threshold, one_to_one=True),
                                 [DivisionMetrics(max_frame_buffer=frame_buffer)])
        for r in results:
            out["divisions"] = r["results"]
    return out


def close(a, b, tol: float = 1e-6) -> bool:
    if a is None or b is None or (isinstance(b, float) and np.isnan(b)):
        return (a is None or (isinstance(a, float) and np.isnan(a))) and \
            (b is None or (isinstance(b, float) and np.isnan(b)))
    return abs(float(a) - float(b)) <= tol
