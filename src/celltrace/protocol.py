"""The generalization protocol: scores that predict what a method does on a movie it never saw.

Frames of one sequence share cells, brightness, density and background, so a hold-out of frames
flatters a learned model. Every case here is data the scored model did not train on:

* ``spatial`` — the right part ``x ≥ 0.6·W`` of each 02 sequence, all frames; learned models are
  trained on ``x < 0.6·W`` only (``celltrace train … --param region=0:0.6``);
* ``lodo`` — leave one dataset out: all of dataset D's 02, models trained on the other two;
* ``shift`` — the spatial hold-out re-rendered by each :data:`celltrace.shifts.SHIFT_SUITE`
  shift (gain, offset, background, gamma, contrast, noise, blur, pixel size, image size,
  sparser / denser fields), scored per shift and summarised by mean and worst case;
* ``dim`` — the spatial hold-out with half of its cells dimmed to 0.5 and 0.3 of their contrast,
  four draws of which half each (:data:`celltrace.shifts.DIM_SUITE`): dim nuclei beside bright
  ones, which every method missed or matched off-centre on GOWT1 01 (2–3 of ~25 per frame);
* ``psc`` — a real phase-contrast movie (PhC-C2DL-PSC, another modality) against its silver
  truth (segmentation only: SEG and detection F1);
* ``synth`` — synthetic movies (:mod:`celltrace.synth`) with known truth at several densities
  and with dim cells;
* ``linking`` — all of each 02 with its GT markers given as the segmentation: the linker alone,
  as on a movie the segmentation gets right (methods that cannot link given masks are left out).

A case cut out of a larger field (the spatial hold-out, a ``crop`` shift) has *cut edges*. A TRA
marker covers about half of a cell, so a cell the cut passes through may keep its body and lose
its marker (MSC's cells reach 900 px of a 1200 px field): every method's object there counts as a
false one. Beside TRA, such cases also report ``TRA_uncut``, the TRA of the result without its
objects that touch a cut edge and match no marker (:func:`without_cut_cells`).

A *variant* names which trained weights a learned method uses per case family (``spatial``,
``lodo-<dataset>``, ``full``); a method without weights ignores it. :func:`run_protocol` runs the
cases and returns one row per (case, method) with TRA, DET, SEG, LNK, BC(2) (or SEG and DET_F1
for segmentation-only truth) and the seconds per frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.io.ctc import read_ctc
from celltrace.io.tiff import read_frame
from celltrace.metrics import evaluate
from celltrace.metrics.detection import seg_detection
from celltrace.metrics.matching import overlap_table
from celltrace.movie import open_movie
from celltrace.segmentation.watershed import relabel_sequential
from celltrace.shifts import DIM_SUITE, QUICK_SUITE, SHIFT_SUITE, Shift, fraction_slice, restrict_lineage
from celltrace.tracking import Tracking

DATASETS = ("Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+", "Fluo-C2DL-MSC")
SPATIAL_SPLIT = 0.6
"""Learned models of the spatial hold-out train on ``x < SPATIAL_SPLIT·W``; cases score the rest."""
KEYS = ("TRA", "TRA_uncut", "DET", "SEG", "LNK", "BC(2)", "DET_F1")
EDGES = ("top", "bottom", "left", "right")
BASELINE_PARAMS = {"background": 0.0, "grow_factor": 0.0, "merge_ratio": 0.0, "division_min_branch_frames": 0,
                   "division_symmetry_weight": 1.0, "division_distance_factor": 1.5, "division_shrink_weight": 0.0,
                   "faint_noise_k": 0.0, "radius_sigma_factor": 0.0, "hull_max_ratio": 0.0,
                   "piece_ratio": 0.0, "division_join_frames": 0, "close_jumps": False,
                   "division_piece_fraction": 0.0, "division_piece_frames": 0, "merge_split_frames": 0,
                   "split_merged_cells": False, "dim_rim_factor": 0.0, "division_max_cost": 1.5,
                   "min_cell_radius": 0.0, "speck_fraction": 0.0}
"""The ``classic`` method as the maintainers scored it on the held-out sequences (commit 99e1f6f):
today's classic with these parameters. The default method must not fall below it on the protocol."""
TOLERANCE = 0.01
"""TRA (or detection F1) by which a method may trail another on a dataset and still count as
"at least as good": about one cell in one frame of a protocol case."""


@dataclass
class Case:
    """One scored movie: frames ``(T, H, W)``, ground truth (a Tracking, or ``None`` with SEG-only
    truth in ``seg``), SEG frames ``{t: labels}``, the family and the weights variant to use."""

    name: str
    family: str
    frames: np.ndarray
    gt: Tracking | None
    seg: dict[int, np.ndarray] = field(default_factory=dict)
    variant: str = "full"
    masks: np.ndarray | None = None
    """A segmentation ``(T, H, W)`` to link instead of segmenting (``linking`` cases)."""
    cut_edges: frozenset[str] = frozenset()
    """The sides of the frames (of :data:`EDGES`) where the case was cut out of a larger field."""


def cut_after_window(cut: frozenset[str], window: tuple[int, int, int, int], shape: Sequence[int]
                     ) -> frozenset[str]:
    """The cut edges of a field of ``shape`` with cut edges ``cut`` once only ``window``
    ``(y0, y1, x0, x1)`` of it is kept: a side is cut where the window leaves pixels out beyond it,
    else it keeps the status of the field's side."""
    y0, y1, x0, x1 = window
    H, W = int(shape[0]), int(shape[1])
    kept = {"top": y0 == 0, "bottom": y1 >= H, "left": x0 == 0, "right": x1 >= W}
    return frozenset(e for e in EDGES if not kept[e] or e in cut)


def without_cut_cells(result: Tracking, gt: Tracking, edges: Iterable[str]) -> Tracking:
    """``result`` without its objects that touch one of the cut ``edges`` and match no GT marker
    (CTC matching, ``|R ∩ S| > 0.5·|S|``), frame by frame; the lineage is rebuilt for what is left
    (:func:`~celltrace.shifts.restrict_lineage`)."""
    edges = set(edges)
    masks = np.array(np.asarray(result.masks), copy=True)
    for t in range(masks.shape[0]):
        p = masks[t]
        strips = {"top": p[0], "bottom": p[-1], "left": p[:, 0], "right": p[:, -1]}
        touching = np.unique(np.concatenate([strips[e] for e in EDGES if e in edges] or [np.zeros(0, p.dtype)]))
        table = overlap_table(np.asarray(gt.masks[t]), p)
        matched = table.pred_labels[table.ctc_pairs()[1]]
        p[np.isin(p, np.setdiff1d(touching[touching > 0], matched))] = 0
    return restrict_lineage(masks, result.lineage)


def _crop_x(frames: np.ndarray, gt: Tracking | None, seg: dict[int, np.ndarray], x0f: float, x1f: float
            ) -> tuple[np.ndarray, Tracking | None, dict[int, np.ndarray]]:
    cols = fraction_slice(frames.shape[-1], x0f, x1f)
    out_gt = None if gt is None else restrict_lineage(np.asarray(gt.masks)[:, :, cols], gt.lineage)
    return (np.ascontiguousarray(frames[:, :, cols]), out_gt,
            {t: np.ascontiguousarray(s[:, cols]) for t, s in seg.items()})


def load_sequence(raw: Path, gt_dir: Path | None, frames: slice | None = None
                  ) -> tuple[np.ndarray, Tracking | None, dict[int, np.ndarray]]:
    """Frames, GT tracking (``TRA``; ``None`` without one) and SEG frames of a CTC sequence,
    optionally only ``frames`` (renumbered from 0)."""
    movie = open_movie(raw)
    idx = range(len(movie))[frames or slice(None)]
    stack = np.stack([movie[t] for t in idx])
    gt = None
    seg: dict[int, np.ndarray] = {}
    if gt_dir is not None:
        if (gt_dir / "TRA").is_dir():
            full = read_ctc(gt_dir)
            masks = np.stack([np.asarray(full.masks[t]) for t in idx])
            gt = restrict_lineage(masks, full.lineage)
        seg_dir = gt_dir / "SEG"
        for k, t in enumerate(idx):
            for name in (f"man_seg{t:03d}.tif", f"man_seg{t:04d}.tif"):
                if (seg_dir / name).exists():
                    seg[k] = read_frame(seg_dir / name)
    return stack, gt, seg


def spatial_cases(root: Path, datasets: Sequence[str] = DATASETS, frames: slice | None = None,
                  width: tuple[float, float] = (SPATIAL_SPLIT, 1.0)) -> list[Case]:
    """The spatial hold-out of each dataset's 02 (``x`` in ``width``, fractions of the field)."""
    out = []
    for ds in datasets:
        f, gt, seg = load_sequence(root / ds / "02", root / ds / "02_GT", frames)
        cut = frozenset(e for e, c in (("left", width[0] > 0), ("right", width[1] < 1)) if c)
        f, gt, seg = _crop_x(f, gt, seg, *width)
        out.append(Case(f"{ds} x≥{width[0]:g}", "spatial", f, gt, seg, "spatial", cut_edges=cut))
    return out


def lodo_cases(root: Path, datasets: Sequence[str] = DATASETS, frames: slice | None = None) -> list[Case]:
    """All of each dataset's 02, scored with models that never saw that dataset."""
    out = []
    for ds in datasets:
        f, gt, seg = load_sequence(root / ds / "02", root / ds / "02_GT", frames)
        out.append(Case(ds, "lodo", f, gt, seg, f"lodo-{ds}"))
    return out


def linking_cases(root: Path, datasets: Sequence[str] = DATASETS, frames: slice | None = None) -> list[Case]:
    """All of each dataset's 02 with its GT markers as the given segmentation, renumbered 1..n in
    each frame (as a segmentation tool without tracking writes them: no track identity)."""
    out = []
    for ds in datasets:
        f, gt, seg = load_sequence(root / ds / "02", root / ds / "02_GT", frames)
        assert gt is not None, f"{root / ds / '02_GT'}: no TRA ground truth"
        masks = np.stack([relabel_sequential(np.asarray(gt.masks[t]), dtype=np.int32) for t in range(len(f))])
        out.append(Case(f"{ds} GT markers", "linking", f, gt, {}, "full", masks))
    return out


def shift_cases(base: Sequence[Case], shifts: Sequence[Shift] = SHIFT_SUITE, family: str = "shift") -> list[Case]:
    """Every case of ``base`` (spatial hold-outs) under every shift, as cases of ``family``."""
    out = []
    for case in base:
        for sh in shifts:
            f, gt = sh.apply(case.frames, case.gt)
            seg = {}
            if case.seg and sh.kind not in ("pixel_size", "crop"):
                seg = case.seg
            window = sh.window(case.frames.shape[1:], None if case.gt is None else np.asarray(case.gt.masks))
            cut = case.cut_edges if window is None else cut_after_window(case.cut_edges, window, case.frames.shape[1:])
            out.append(Case(f"{case.name} | {sh.name}", family, f, gt, seg, case.variant, cut_edges=cut))
    return out


def dim_cases(base: Sequence[Case]) -> list[Case]:
    """The ``dim`` family: every case of ``base`` (spatial hold-outs) under each
    :data:`celltrace.shifts.DIM_SUITE` shift (half of the cells dimmed)."""
    return shift_cases(base, DIM_SUITE, family="dim")


def psc_case(extra: Path, frames: slice | None = None, crop: float | None = None) -> Case:
    """PhC-C2DL-PSC 02 (phase contrast) with its silver-truth segmentation; ``crop``: keep that
    fraction of the width (a smaller, faster case)."""
    f, _, seg = load_sequence(extra / "PhC-C2DL-PSC" / "02", extra / "PhC-C2DL-PSC" / "02_ST", frames)
    if crop:
        f, _, seg = _crop_x(f, None, seg, 0.0, crop)
    return Case("PhC-C2DL-PSC (silver SEG)", "psc", f, None, seg, "full")


SYNTH_SETTINGS: dict[str, dict[str, Any]] = {
    "sparse": {"n_cells": 10},
    "dense": {"n_cells": 60},
    "dim cells": {"n_cells": 25, "intensity": (0.12, 0.3)},
}


def synth_cases(n_frames: int = 30, size: int = 256, seed: int = 1,
                settings: dict[str, dict[str, Any]] = SYNTH_SETTINGS) -> list[Case]:
    """Synthetic movies with known truth at several densities and with dim cells."""
    from celltrace.synth import synthetic_movie

    out = []
    for name, kw in settings.items():
        movie, gt = synthetic_movie(n_frames=n_frames, shape=(size, size), seed=seed, **kw)
        masks = np.asarray(gt.masks)
        out.append(Case(f"synthetic {name}", "synth", np.asarray(movie.frames), Tracking(masks, gt.lineage),
                        {t: masks[t] for t in range(0, n_frames, 5)}, "full"))
    return out


Runner = Callable[[np.ndarray, Case], "Tracking | None"]
"""``runner(frames, case) -> Tracking``: one method (with the case's variant of its weights), or
``None`` when it has no weights that did not see the case's data (it is then left out)."""


def score(result: Tracking, case: Case) -> dict[str, Any]:
    """The protocol's numbers for one result."""
    if case.gt is None:
        s = seg_detection(result.masks, case.seg)
        return {k: s.get(k) for k in ("SEG", "DET_F1")}
    s = evaluate(result, case.gt, metrics=["ctc", "bio"], seg=case.seg or {})
    out = {k: s.get(k) for k in ("TRA", "DET", "LNK", "BC(2)")}
    if case.cut_edges:
        uncut = without_cut_cells(result, case.gt, case.cut_edges)
        out["TRA_uncut"] = evaluate(uncut, case.gt, metrics=["ctc"]).get("TRA")
    out["SEG"] = s.get("SEG") if case.seg else None
    out["DET_F1"] = seg_detection(result.masks, case.seg)["DET_F1"] if case.seg else None
    return out


def run_protocol(cases: Iterable[Case], runners: dict[str, Runner], progress: bool = True) -> list[dict[str, Any]]:
    """Run every method on every case; one row per (case, method): family, case, method, variant,
    the :data:`KEYS` scores, seconds per frame, number of frames."""
    rows = []
    for case in cases:
        for name, runner in runners.items():
            t0 = time.perf_counter()
            result = runner(case.frames, case)
            if result is None:
                continue
            dt = (time.perf_counter() - t0) / max(1, len(case.frames))
            row = {"family": case.family, "case": case.name, "method": name, "variant": case.variant,
                   **score(result.validate(), case), "s_per_frame": dt, "frames": len(case.frames)}
            rows.append(row)
            if progress:
                print(" | ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                      flush=True)
    return rows


def summarise(rows: Sequence[dict[str, Any]], key: str = "TRA") -> dict[tuple[str, str], dict[str, float]]:
    """Per (family, method): mean and worst of ``key`` over the family's cases (``DET_F1`` for
    segmentation-only cases when ``key`` is missing)."""
    out: dict[tuple[str, str], dict[str, float]] = {}
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        v = r.get(key)
        if v is None:
            v = r.get("DET_F1")
        if v is not None:
            groups.setdefault((r["family"], r["method"]), []).append(float(v))
    for k, vs in groups.items():
        out[k] = {"mean": float(np.mean(vs)), "worst": float(np.min(vs)), "n": len(vs)}
    return out


def quick_cases(root: Path, extra: Path) -> list[Case]:
    """The quick protocol (CI): 8-frame spatial hold-outs of GOWT1 and SIM+ (right 40 %, plain
    and under :data:`QUICK_SUITE`), 10 frames of PSC (left half) and one small synthetic movie."""
    base = spatial_cases(root, ("Fluo-N2DH-GOWT1", "Fluo-N2DH-SIM+"), frames=slice(0, 8))
    return (base + shift_cases(base, QUICK_SUITE) + [psc_case(extra, slice(0, 10), crop=0.5)]
            + synth_cases(n_frames=12, settings={"dense": {"n_cells": 40}}))


__all__ = ["Case", "DATASETS", "SPATIAL_SPLIT", "KEYS", "EDGES", "cut_after_window", "without_cut_cells",
           "BASELINE_PARAMS", "TOLERANCE", "load_sequence", "spatial_cases", "lodo_cases", "linking_cases",
           "shift_cases", "dim_cases", "psc_case", "synth_cases", "SYNTH_SETTINGS", "score", "run_protocol", "summarise",
           "quick_cases", "Runner"]
