"""Scores of a tracking result against a ground truth, all from one matching step.

    import celltrace
    scores = celltrace.evaluate("02_RES", "02_GT")               # dict: TRA, DET, SEG, LNK, CT, …
    scores = celltrace.evaluate(result, gt, metrics=["ctc", "divisions"], division_tolerance=2)

Families (``metrics=`` takes family names or field names such as ``"TRA"`` / ``"IDF1"``):

* ``ctc`` — TRA, DET, LNK, AOGM and its counts, SEG, OP_CSB, OP_CTB (:mod:`.ctc`)
* ``bio`` — CT, TF, BC(i), CCA, BIO(i), OP_CLB(i) (:mod:`.biological`)
* ``mot`` — CHOTA, MOTA, IDS, IDF1, MT, ML (:mod:`.mot`)
* ``divisions`` — Caliban division TP/FP/FN/WC, precision, recall, F1, MBC (:mod:`.divisions`)
* ``lineage`` — DistNet2D error rates (:mod:`.lineage`)
* ``segmentation`` — Caliban object classes (:mod:`.segmentation`)
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import InputError, TrackingError, UsageError
from celltrace.metrics.matching import Evaluation, FrameOverlap, overlap_table
from celltrace.tracking import Tracking

Number = float | int | None

FAMILIES = ["ctc", "bio", "mot", "divisions", "lineage", "segmentation"]
DEFAULT_FAMILIES = ["ctc", "bio", "mot", "divisions"]
_FIELD_TO_FAMILY = {
    **{k: "ctc" for k in ["TRA", "DET", "LNK", "SEG", "AOGM", "OP_CSB", "OP_CTB"]},
    **{k: "bio" for k in ["CT", "TF", "BC", "CCA", "BIO", "OP_CLB"]},
    **{k: "mot" for k in ["CHOTA", "MOTA", "IDF1", "IDS", "MT", "ML", "MTML", "HOTA"]},
    **{k: "divisions" for k in ["MBC", "DIV", "DIVISIONS"]},
}


def _families(metrics: list[str] | str | None) -> list[str]:
    if metrics is None:
        return list(DEFAULT_FAMILIES)
    if isinstance(metrics, str):
        metrics = [m for m in re.split(r"[,\s]+", metrics) if m]
    out: list[str] = []
    for m in metrics:
        key = m.strip()
        fam = key.lower() if key.lower() in FAMILIES or key.lower() == "all" else \
            _FIELD_TO_FAMILY.get(re.sub(r"\(.*\)$", "", key).upper())
        if fam == "all":
            return list(FAMILIES)
        if fam is None:
            raise UsageError(f"unknown metric {m!r}; the metric families are {', '.join(FAMILIES)} "
                             f"(or 'all', or a field name such as TRA, SEG, CT, IDF1, MBC)")
        if fam not in out:
            out.append(fam)
    if "bio" in out and "ctc" not in out:
        out.insert(0, "ctc")  # OP_CLB needs LNK; it is cheap
    return out


def _as_tracking(x: Tracking | str | Path) -> Tracking:
    if isinstance(x, Tracking):
        return x
    return Tracking.from_ctc(x)


def _seg_for(gt: Tracking | str | Path, tracking: Tracking, frames: range) -> dict[int, np.ndarray]:
    """The SEG frames of the GT folder ``gt`` within ``frames``, checked against ``tracking``'s
    frames (shape, count), renumbered from the window's start."""
    from celltrace.io.ctc import locate_ctc, read_seg

    src = Path(gt) if not isinstance(gt, Tracking) else (Path(gt.meta["source"]) if gt.meta.get("source") else None)
    if src is None:
        return {}
    try:
        kind, mask_dir, _ = locate_ctc(src)
    except InputError:
        return {}
    root = src if (src / "SEG").is_dir() else mask_dir.parent
    seg = read_seg(root, frame_shape=tracking.shape[1:], n_frames=tracking.n_frames, frames=frames)
    return {t - frames.start: s for t, s in seg.items()}


def parse_frames(frames: str | slice | tuple[int | None, int | None] | None) -> slice | None:
    """``"A:B"`` (either end may be left out or negative, as in a Python slice), a slice or
    ``(A, B)`` → ``slice(A, B)``; None stays None. Anything else raises :class:`UsageError`."""
    if frames is None or isinstance(frames, slice):
        if isinstance(frames, slice) and frames.step not in (None, 1):
            raise UsageError(f"frames {frames}: a step is not supported")
        return frames
    if isinstance(frames, tuple) and len(frames) == 2:
        return slice(*frames)
    text = str(frames).strip()
    m = re.fullmatch(r"\s*(-?\d+)?\s*:\s*(-?\d+)?\s*", text)
    if not m:
        raise UsageError(f"frames {text!r}: expected A:B (frames A..B-1, as in a Python slice, e.g. 0:50, 10:, :-5)")
    return slice(*(int(g) if g is not None else None for g in m.groups()))


def frame_range(frames: slice | None, n_frames: int, where: str | Path | None = None) -> range:
    """The frames ``frames`` selects of a movie of ``n_frames`` (all without it): a non-empty range
    within the movie, else :class:`InputError` naming ``where``."""
    if frames is None:
        return range(n_frames)
    start, stop = frames.start, frames.stop

    def resolve(i: int | None, default: int) -> int:
        return default if i is None else (i + n_frames if i < 0 else i)

    a, b = resolve(start, 0), resolve(stop, n_frames)
    text = f"{'' if start is None else start}:{'' if stop is None else stop}"
    if not 0 <= a < b <= n_frames:
        raise InputError(where, f"frames {text} select frames {a}..{b - 1}, not a non-empty part of its "
                                f"{n_frames} frames (0..{n_frames - 1})")
    return range(a, b)


def _window(tracking: Tracking, r: range) -> Tracking:
    """``tracking`` restricted to the frames ``r`` (itself when that is all of them)."""
    return tracking if (r.start, r.stop) == (0, tracking.n_frames) else tracking.window(r.start, r.stop)


def _source(tracking: Tracking, default: str) -> str:
    return str(tracking.meta.get("source") or default)


def evaluate(pred: Tracking | str | Path, gt: Tracking | str | Path, metrics: list[str] | str | None = None,
             **options: Any) -> dict[str, Number]:
    """Score ``pred`` against ``gt`` (Tracking objects or CTC RES / GT folders).

    Options: ``seg`` (dict frame → SEG label image; default: the GT folder's ``SEG/``),
    ``frames`` (``"A:B"`` or a slice: score only frames A..B-1 of both), ``validate`` (True: refuse
    a result that breaks the CTC rules, raising TrackingError; the GT is always checked),
    ``bc_max_i`` (3), ``division_tolerance`` (1), ``iou_threshold`` (0.5),
    ``division_matching`` ("iou" or "ctc"), ``lineage_overlap`` (C for DistNet2D, 0 = off),
    ``exclude_border`` (False, DistNet2D), ``threads`` (2).
    Returns a flat dict keyed by the field's names (TRA, DET, SEG, LNK, CT, TF, BC(0)…, CHOTA, …);
    None where a measure is undefined (e.g. BC without reference divisions).

    A GT folder with only ``SEG/`` (segmentation truth, no lineage) gives the SEG and detection
    scores of :func:`celltrace.metrics.detection.seg_detection` instead.
    """
    from celltrace.io.ctc import is_seg_only

    fams = _families(metrics)
    frames = parse_frames(options.pop("frames", None))
    if not isinstance(gt, Tracking) and is_seg_only(gt):
        return _evaluate_seg_only(pred, Path(gt), metrics, frames, validate=options.pop("validate", True))
    seg = options.pop("seg", None)
    pred_t, gt_t = _as_tracking(pred), _as_tracking(gt)
    r_pred = frame_range(frames, pred_t.n_frames, _source(pred_t, "the result"))
    r_gt = frame_range(frames, gt_t.n_frames, _source(gt_t, "the ground truth"))
    if seg is None and "ctc" in fams:
        seg = _seg_for(gt, gt_t, r_gt)
    elif seg is not None:
        seg = {t - r_gt.start: s for t, s in seg.items() if t in r_gt}
    ev = Evaluation(_window(pred_t, r_pred), _window(gt_t, r_gt), seg=seg,
                    validate=options.pop("validate", True), threads=options.pop("threads", 2))
    return evaluate_matched(ev, fams, **options)


def _evaluate_seg_only(pred: Tracking | str | Path, gt: Path, metrics: list[str] | str | None,
                       frames: slice | None, validate: bool = True) -> dict[str, Number]:
    """SEG and detection scores of ``pred`` against the SEG-only truth folder ``gt``."""
    from celltrace.io.ctc import read_seg, seg_files
    from celltrace.metrics.detection import seg_detection

    other = sorted(set(_families(metrics)) - {"ctc"}) if metrics is not None else []
    if other:
        raise UsageError(f"{gt} holds segmentation truth only (SEG/, no TRA/): it gives SEG and detection "
                         f"scores, not {', '.join(other)}")
    full = _as_tracking(pred)
    name = _source(full, "the result")
    r = frame_range(frames, full.n_frames, name)
    beyond = [p for t, p in seg_files(gt).items() if t >= full.n_frames]
    if beyond and frames is None:
        raise InputError(beyond[0], f"SEG frame beyond the {full.n_frames} frames of {name} "
                                    f"(score a part with frames A:B)")
    seg = read_seg(gt, frame_shape=full.shape[1:], frames=r)
    if not seg:
        raise InputError(gt / "SEG", f"no SEG frame (man_segNNN.tif) among frames {r.start}..{r.stop - 1}")
    tracking = _window(full, r)
    if validate:
        try:
            tracking.validate()
        except TrackingError as exc:
            msg = str(exc)
            raise TrackingError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    return seg_detection(tracking.masks, {t - r.start: s for t, s in seg.items()})


def evaluate_matched(ev: Evaluation, families: list[str], bc_max_i: int = 3, division_tolerance: int = 1,
                     iou_threshold: float = 0.5, division_matching: str = "iou", lineage_overlap: float = 0,
                     exclude_border: bool = False) -> dict[str, Number]:
    """Run the chosen families on an :class:`Evaluation` (its matching computed once)."""
    out: dict[str, Number] = {}
    if "ctc" in families:
        from celltrace.metrics.ctc import ctc_technical

        out.update(ctc_technical(ev))
    if "bio" in families:
        from celltrace.metrics.biological import biological

        out.update(biological(ev, max_i=bc_max_i, lnk=out.get("LNK")))  # type: ignore[arg-type]
    if "mot" in families:
        from celltrace.metrics.mot import mot

        out.update(mot(ev))
    if "divisions" in families:
        from celltrace.metrics.divisions import division_events

        out.update(division_events(ev, tolerance=division_tolerance, iou_threshold=iou_threshold,
                                   matching=division_matching))
    if "lineage" in families:
        from celltrace.metrics.lineage import lineage_errors

        out.update(lineage_errors(ev, overlap=lineage_overlap, exclude_border=exclude_border))
    if "segmentation" in families:
        from celltrace.metrics.segmentation import segmentation_classes

        out.update(segmentation_classes(ev))
    return out


# ------------------------------------------------------------------------------------------ folders
_RES = re.compile(r"^(\d+)_RES$")
_GT = re.compile(r"^(\d+)_GT$")


def _pairs(pred: Path, gt: Path) -> list[tuple[str, Path, Path]]:
    """Sequences to score: one (pred is a RES folder) or all ``NN_RES`` / ``NN_GT`` pairs."""
    from celltrace.io.ctc import locate_ctc

    try:
        kind, _, _ = locate_ctc(pred)
        if kind == "res":
            return [(Path(pred).name.replace("_RES", "") or "sequence", Path(pred), Path(gt))]
    except InputError:
        pass
    pred, gt = Path(pred), Path(gt)
    if not pred.is_dir():
        raise InputError(pred, "no such folder")
    if not gt.is_dir():
        raise InputError(gt, "no such folder")
    res = {m.group(1): p for p in pred.iterdir() if p.is_dir() and (m := _RES.match(p.name))}
    gts = {m.group(1): p for p in gt.iterdir() if p.is_dir() and (m := _GT.match(p.name))}
    if not res:
        raise InputError(pred, "neither a CTC RES folder nor a dataset folder with NN_RES sequences")
    missing = sorted(set(res) - set(gts))
    if missing:
        raise InputError(gt, f"no ground truth folder {missing[0]}_GT for {missing[0]}_RES")
    return [(n, res[n], gts[n]) for n in sorted(res)]


def evaluate_folders(pred: Path | str, gt: Path | str, metrics: list[str] | None = None,
                     **options: Any) -> dict[str, Any]:
    """Score one sequence (pred = RES folder, gt = GT folder) or a dataset folder of sequences.

    Sequences pair by number (``01_RES`` ↔ ``01_GT``). Returns ``{"sequences": {name: scores},
    "pooled": scores}``. Pooling: the CTC technical measures are recomputed from the summed error
    counts and the summed normalisers (TRA = 1 − min(ΣAOGM, ΣAOGM_0)/ΣAOGM_0, likewise DET, LNK);
    SEG = ΣJaccard / ΣSEG objects; MOTA, IDF1, BC(i) and the division scores from the summed counts;
    every other score (CT, TF, CCA, CHOTA, MT, ML, …) is the mean over the sequences that define it.
    A result breaking the CTC rules raises :class:`TrackingError` naming the sequence, label and frame.
    """
    results: dict[str, dict[str, Number]] = {}
    for name, res, g in _pairs(Path(pred), Path(gt)):
        results[name] = evaluate(res, g, metrics=metrics, **options)   # errors name the folder
    return {"sequences": results, "pooled": pool(list(results.values()))}


def pool(results: list[dict[str, Number]]) -> dict[str, Number]:
    """Pooled scores of several sequences (see :func:`evaluate_folders`)."""
    from celltrace.metrics.biological import branching_correctness
    from celltrace.metrics.ctc import scores_from_counts, seg_from

    if len(results) == 1:
        return dict(results[0])
    keys: list[str] = []
    for r in results:
        keys += [k for k in r if k not in keys]

    def total(k: str) -> float:
        return sum((r.get(k) or 0) for r in results)

    out: dict[str, Number] = {}
    for k in keys:
        vals = [r[k] for r in results if r.get(k) is not None and not (isinstance(r[k], float) and math.isnan(r[k]))]
        if not vals:
            out[k] = None
        elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            out[k] = int(sum(vals))
        else:
            out[k] = float(np.mean(vals))
    if "AOGM_NS" in keys:
        c = {x: total(f"AOGM_{x}") for x in ("NS", "FN", "FP", "ED", "EA", "EC")}
        c.update(num_vertices=total("AOGM_VR"), num_edges=total("AOGM_ER"))
        out.update(scores_from_counts(c))
    if "SEG_objects" in keys:
        seg = seg_from({"SEG_iou_sum": total("SEG_iou_sum"), "SEG_objects": total("SEG_objects")}, out)
        out.update(seg if "AOGM_NS" in keys else {k: seg[k] for k in ("SEG", "SEG_iou_sum", "SEG_objects")})
    if "DET_TP" in keys:
        from celltrace.metrics.detection import detection_scores

        out.update(detection_scores(int(total("DET_TP")), int(total("DET_FP")), int(total("DET_FN"))))
    for k in keys:
        m = re.match(r"^BC\((\d+)\)$", k)
        if m:
            i = m.group(1)
            out[k] = branching_correctness(int(total(f"BC_TP({i})")), int(total(f"BC_FP({i})")),
                                           int(total(f"BC_FN({i})")))
    if "MOT_TP" in keys:
        tp, fn, fp, ids, ma = (total(x) for x in ("MOT_TP", "MOT_FN", "MOT_FP", "IDS", "MOT_MA"))
        out["MOTA"] = 1 - (fn + fp + ids + ma) / (tp + fn) if tp + fn else None
        tp_, fp_, fn_ = total("IDTP"), total("IDFP"), total("IDFN")
        out["IDF1"] = 2 * tp_ / (2 * tp_ + fp_ + fn_) if tp_ + fp_ + fn_ else None
        out["IDP"] = tp_ / (tp_ + fp_) if tp_ + fp_ else None
        out["IDR"] = tp_ / (tp_ + fn_) if tp_ + fn_ else None
    for suffix in [s for s in {re.sub(r"^DIV_TP", "", k) for k in keys if k.startswith("DIV_TP")}]:
        t, p, g, pr = (total(f"DIV_TP{suffix}"), total(f"DIV_FP{suffix}"), total("DIV_GT"), total("DIV_PRED"))
        rec = t / g if g else None
        prec = t / pr if pr else None
        out[f"DIV_recall{suffix}"], out[f"DIV_precision{suffix}"] = rec, prec
        out[f"DIV_F1{suffix}"] = 2 * rec * prec / (rec + prec) if rec is not None and prec is not None and rec + prec else None
        out[f"MBC{suffix}"] = t / (g + p) if g + p else None
    if "DIV_tolerance" in out:
        out["DIV_tolerance"] = results[0].get("DIV_tolerance")
    return out


# ------------------------------------------------------------------------------------------ output
_FIRST = ["TRA", "DET", "SEG", "LNK", "OP_CSB", "OP_CTB", "CT", "TF", "BC(0)", "BC(1)", "BC(2)", "BC(3)",
          "CCA", "BIO(0)", "BIO(1)", "BIO(2)", "BIO(3)", "OP_CLB(0)", "OP_CLB(1)", "OP_CLB(2)", "OP_CLB(3)",
          "CHOTA", "MOTA", "IDF1", "IDS", "MT", "ML", "MBC", "DIV_F1", "DIV_precision", "DIV_recall",
          "AOGM", "AOGM_0", "AOGM_NS", "AOGM_FN", "AOGM_FP", "AOGM_ED", "AOGM_EA", "AOGM_EC"]


def _ordered(keys: list[str]) -> list[str]:
    first = [k for k in _FIRST if k in keys]
    return first + [k for k in keys if k not in first]


def _fmt(v: Number) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return str(int(v))
    return f"{float(v):.4f}"


def format_results(results: dict[str, Any]) -> str:
    """An aligned text table: one row per measure, one column per sequence (+ pooled)."""
    if "sequences" in results:
        cols = dict(results["sequences"])
        if len(cols) > 1:
            cols["pooled"] = results["pooled"]
    else:
        cols = {"score": results}
    keys: list[str] = []
    for r in cols.values():
        keys += [k for k in r if k not in keys]
    keys = _ordered(keys)
    names = list(cols)
    w0 = max([len("measure")] + [len(k) for k in keys])
    widths = [max(len(n), *(len(_fmt(cols[n].get(k))) for k in keys)) for n in names]
    lines = ["  ".join(["measure".ljust(w0)] + [n.rjust(w) for n, w in zip(names, widths)])]
    lines.append("  ".join(["-" * w0] + ["-" * w for w in widths]))
    for k in keys:
        lines.append("  ".join([k.ljust(w0)] + [_fmt(cols[n].get(k)).rjust(w) for n, w in zip(names, widths)]))
    return "\n".join(lines)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    return v


def write_json(results: dict[str, Any], path: str | Path) -> Path:
    """Write results as JSON: for one sequence the flat object keyed by the field's names
    (TRA, DET, SEG, LNK, CT, TF, BC(0)…, CHOTA, MOTA, IDF1, … and the error counts); for several,
    ``{"sequences": {...}, "pooled": {...}}``. Undefined measures are ``null``."""
    from celltrace.io.atomic import atomic_file

    if "sequences" in results and len(results["sequences"]) == 1:
        flat = next(iter(results["sequences"].values()))
    elif "sequences" in results:
        flat = results
    else:
        flat = results
    path = Path(path)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(json.dumps(_jsonable(flat), indent=2) + "\n")
    return path


__all__ = ["evaluate", "evaluate_folders", "parse_frames", "frame_range", "evaluate_matched", "format_results", "write_json", "pool",
           "Evaluation", "FrameOverlap", "overlap_table", "FAMILIES"]
