"""The generalization protocol (celltrace.protocol), every method side by side, in one command.

    python benchmarks/generalization.py [--models DIR] [--families spatial lodo shift dim psc synth linking]
                                        [--methods classic-baseline classic caliban caliban-learned ...]
                                        [--frames N] [--link-weights FILE] [--out DIR]

Learned models must not have seen the scored data, so each case family uses its own weights:
``spatial``, ``shift`` and ``dim`` cases the models trained on ``x < 0.6·W`` of the 02 sequences
(``DIR/spatial.pt``), ``lodo`` cases on dataset D the model trained without D
(``DIR/lodo-<D>.pt``), ``psc`` and ``synth`` the shipped model (or ``DIR/full.pt``). ``DIR``
defaults to ``benchmarks/protocol_models`` (made by ``scripts/device_train.sh``; their manifests
say how). A method whose weights for a family are missing is left out of that family, never run
on data it trained on.

Methods:
  classic-baseline     the classic method as the maintainers scored it (commit 99e1f6f: no background
                       correction); the default must not fall below it
  classic              the classic method with today's defaults
  caliban              caliban segmentation + its default linker (the standard LAP linker)
  caliban-learned      the same masks linked by caliban's learned linker (shipped linker weights, or
                       --link-weights FILE)
  caliban-noaug(-learned)   models trained without the photometric shifts (spatial and shift only)
  caliban-shipped(-learned) the package's caliban segmentation weights (psc, synth only)
  embedtrack           the shipped EmbedTrack generalist on psc, synth (it trained on all of 02), and
                       DIR/embedtrack-<variant>.pt where it exists (embedtrack-spatial.pt: trained on
                       x < 0.6·W by ``celltrace train embedtrack … --param region=0:0.6``: spatial, shift, dim)
  boxtrack(-boxes)     BoxTrack with its shipped spatial weights (lodo: DIR/boxtrack-lodo-<D>.pt), prompted
                       by the default detector's first frame (-boxes: by the first GT frame's boxes)
  cap                  CAP (points; TRA markers only): DIR/cap-<variant>.pt, or the shipped weights where
                       their manifest says they trained on region 0:0.6 (spatial, shift) or for psc, synth
  cap:K=V[:K=V...]     the same with these parameters (e.g. cap:detect_at=network); also classic:K=V[:K=V...]
  distnet2d(-nopost)   DistNet2D trained on x < 0.6·W of the 02 sequences (DIR/distnet2d-spatial.pt, else
                       the shipped weights, which are that model for now): spatial, shift, psc, synth;
                       lodo with DIR/distnet2d-lodo-<D>.pt (METHOD=distnet2d bash scripts/train_lodo.sh);
                       -nopost without the merge/split correction (the default since the protocol chose
                       it; distnet2d:postprocess=true is the correction on: the ablation);
                       distnet2d:K=V[:K=V...] with these parameters (e.g. distnet2d:edm_threshold=0.25)

The ``linking`` family gives each 02's GT markers as the segmentation: only ``classic`` (and
``classic-baseline``, ``classic:K=V``) link a given segmentation as it is; the others are left out.

Writes ``results.json`` and ``results.md`` (per-case rows and the per-family summary: mean and
worst TRA, or detection F1 for segmentation-only truth) to ``--out``. Cases cut out of a larger
field (spatial, shift, dim) also report ``TRA_uncut``: TRA without the result's objects that touch
a cut edge and match no marker, parts of cells whose marker the cut left outside
(:func:`celltrace.protocol.without_cut_cells`); rows from runs before it show ``–``.
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
from celltrace.movie import Movie
from celltrace.protocol import (BASELINE_PARAMS, DATASETS, KEYS, Case, dim_cases, linking_cases, lodo_cases, psc_case,
                                quick_cases, run_protocol, shift_cases, spatial_cases, summarise, synth_cases)
from celltrace.tracking import Tracking
from celltrace.cli import _parse_params
from celltrace_bench.machine import short_commit
from celltrace_bench.weights import shipped_saw_holdout

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MODELS = REPO / "benchmarks" / "protocol_models"
FAMILIES = ("spatial", "lodo", "shift", "dim", "psc", "synth", "linking")


def variant_params(models: Path, case: Case, stem: str) -> dict[str, str] | None:
    """caliban's parameters for ``case`` with the model family ``stem`` ('' = the augmented recipe,
    'noaug', 'shipped' = the package's weights, psc/synth only): ``{}`` (package weights),
    ``{"weights": path}``, or ``None`` when no weights unseen by the case exist."""
    if stem == "shipped":
        return {} if case.variant == "full" else None
    name = case.variant if not stem else f"{case.variant}-{stem}"
    p = models / f"{name}.pt"
    return {"weights": str(p)} if p.exists() else None


class Runners:
    """The methods of the protocol. Caliban segmentations are computed once per (case, weights) and
    linked both ways: with its default linker (the standard LAP linker) and, in linking-only mode on
    the same masks, with the learned linker (``-learned``)."""

    def __init__(self, models: Path, link_weights: Path | None = None):
        self.models, self.link_weights = models, link_weights
        self.cache: dict[tuple[int, str], Tracking] = {}

    def own_weights(self, method: str, case: Case) -> Path | None:
        """``DIR/<method>-<variant>.pt`` (e.g. ``cap-lodo-Fluo-C2DL-MSC.pt``, as
        ``scripts/train_lodo.sh`` names them) when it exists."""
        p = self.models / f"{method}-{case.variant}.pt"
        return p if p.exists() else None

    def classic(self, frames: np.ndarray, case: Case, **params) -> Tracking:
        return load_tracker("classic", **params).track(Movie(frames=frames), masks=case.masks, progress=False)

    def embedtrack(self, frames: np.ndarray, case: Case) -> Tracking | None:
        if case.variant == "full":
            return load_tracker("embedtrack").track(Movie(frames=frames), progress=False)
        own = self.own_weights("embedtrack", case)
        if own is None:
            return None
        return load_tracker("embedtrack", weights=str(own)).track(Movie(frames=frames), progress=False)

    def distnet2d(self, frames: np.ndarray, case: Case, **params) -> Tracking | None:
        if case.family == "lodo":  # DIR/distnet2d-lodo-<dataset>.pt (scripts/train_lodo.sh), else not run
            own = self.own_weights("distnet2d", case)
            if own is None:
                return None
            return load_tracker("distnet2d", weights=str(own), **params).track(Movie(frames=frames), progress=False)
        p = self.models / "distnet2d-spatial.pt"
        weights = {"weights": str(p)} if p.exists() else {}
        return load_tracker("distnet2d", **weights, **params).track(Movie(frames=frames), progress=False)

    def caliban(self, frames: np.ndarray, case: Case, stem: str = "", learned: bool = False) -> Tracking | None:
        params = variant_params(self.models, case, stem)
        if params is None:
            return None
        key = (id(case), params.get("weights", "package"))
        if key not in self.cache:
            self.cache[key] = load_tracker("caliban", **params).track(Movie(frames=frames), progress=False)
        result = self.cache[key]
        if not learned:
            return result
        linking = {"link_weights": str(self.link_weights)} if self.link_weights is not None else {}
        return load_tracker("caliban", linker="learned", **linking).track(Movie(frames=frames),
                                                                          masks=np.asarray(result.masks), progress=False)

    def boxtrack(self, frames: np.ndarray, case: Case, gt_boxes: bool = False) -> Tracking | None:
        """BoxTrack with the shipped (spatial: left 60 % of each 02) weights, or on lodo cases
        ``DIR/boxtrack-lodo-<dataset>.pt`` (none: not run); prompts: the default detector's first
        frame, or (``gt_boxes``) the first GT frame's boxes."""
        own = self.own_weights("boxtrack", case)
        weights = {"weights": str(own)} if case.variant.startswith("lodo") and own is not None else {}
        if (case.variant.startswith("lodo") and not weights) or (gt_boxes and case.gt is None):
            return None
        from boxtrack_mot import truth_boxes  # benchmarks/: SEG boxes, or markers scaled to cell size

        boxes = truth_boxes(case.gt, case.seg) if gt_boxes else None
        return load_tracker("boxtrack", boxes=boxes, **weights).track(Movie(frames=frames), progress=False)

    def cap(self, frames: np.ndarray, case: Case, **params: str) -> Tracking | None:
        own = self.own_weights("cap", case)
        if own is not None:
            return load_tracker("cap", weights=str(own), **params).track(Movie(frames=frames), progress=False)
        if case.variant == "full" or (case.variant == "spatial" and not shipped_saw_holdout("cap")):
            return load_tracker("cap", **params).track(Movie(frames=frames), progress=False)
        return None

    def table(self, names: list[str]) -> dict:
        out = {}
        for n in names:
            if n == "classic":
                out[n] = self.classic
            elif n == "classic-baseline":
                out[n] = lambda f, c: self.classic(f, c, **BASELINE_PARAMS)
            elif n == "embedtrack":
                out[n] = self.embedtrack
            elif n in ("boxtrack", "boxtrack-boxes"):
                out[n] = (lambda g: lambda f, c: self.boxtrack(f, c, gt_boxes=g))(n == "boxtrack-boxes")
            elif n == "cap":
                out[n] = self.cap
            elif n.split(":")[0] in ("cap", "distnet2d", "classic") and ":" in n:  # cap:detect_at=network — with parameters
                params = _parse_params(n.split(":")[1:])
                run = {"cap": self.cap, "distnet2d": self.distnet2d, "classic": self.classic}[n.split(":")[0]]
                out[n] = (lambda r, p: lambda f, c: r(f, c, **p))(run, params)
            elif n == "distnet2d":
                out[n] = self.distnet2d
            elif n == "distnet2d-nopost":
                out[n] = lambda f, c: self.distnet2d(f, c, postprocess=False)
            elif n.startswith("caliban"):
                rest = n[len("caliban"):].lstrip("-")
                learned = rest.endswith("learned")
                stem = rest[: -len("learned")].rstrip("-") if learned else rest
                out[n] = (lambda s, lk: lambda f, c: self.caliban(f, c, s, lk))(stem, learned)
            else:
                raise SystemExit(f"unknown method {n}")
        for n in out:  # only classic links a given segmentation as it is; the others segment
            if n.split(":")[0] not in ("classic", "classic-baseline"):
                out[n] = (lambda run: lambda f, c: None if c.masks is not None else run(f, c))(out[n])
        return out


def per_dataset(rows: list[dict]) -> list[str]:
    """Markdown: per dataset and method, TRA on the spatial and leave-one-dataset-out hold-outs,
    mean / worst TRA over the shift suite (and TRA_uncut where the rows have it), TRA and BC(2)
    linking the GT markers; PSC detection F1
    and SEG; synthetic TRA per setting."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731

    def pick(fam: str, prefix: str, m: str, key: str = "TRA") -> list[float]:
        return [r[key] for r in rows if r["family"] == fam and r["case"].startswith(prefix) and r["method"] == m
                and r.get(key) is not None]

    lines = ["## Per dataset", "", "| dataset | measure | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for ds in DATASETS:
        for label, fam, how, key in (("spatial TRA", "spatial", "one", "TRA"),
                                     ("spatial TRA_uncut", "spatial", "one", "TRA_uncut"),
                                     ("LODO TRA", "lodo", "one", "TRA"),
                                     ("shift TRA mean / worst", "shift", "both", "TRA"),
                                     ("shift TRA_uncut mean / worst", "shift", "both", "TRA_uncut"),
                                     ("dim cells TRA mean / worst", "dim", "both", "TRA"),
                                     ("dim cells TRA_uncut mean / worst", "dim", "both", "TRA_uncut"),
                                     ("GT markers linked: TRA", "linking", "one", "TRA"),
                                     ("GT markers linked: BC(2)", "linking", "one", "BC(2)")):
            cells = []
            for m in methods:
                v = pick(fam, ds, m, key)
                cells.append("–" if not v else fmt(v[0]) if how == "one" else f"{np.mean(v):.3f} / {np.min(v):.3f}")
            if any(c != "–" for c in cells):
                lines.append(f"| {ds} | {label} | " + " | ".join(cells) + " |")
    for label, key in (("PSC detection F1", "DET_F1"), ("PSC SEG", "SEG")):
        cells = [fmt((pick("psc", "PhC", m, key) or [None])[0]) for m in methods]
        if any(c != "–" for c in cells):
            lines.append(f"| PhC-C2DL-PSC | {label} | " + " | ".join(cells) + " |")
    for case in dict.fromkeys(r["case"] for r in rows if r["family"] == "synth"):
        cells = [fmt((pick("synth", case, m) or [None])[0]) for m in methods]
        lines.append(f"| {case} | TRA | " + " | ".join(cells) + " |")
    return lines


def markdown(rows: list[dict], summary: dict) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fams = list(dict.fromkeys(r["family"] for r in rows))
    lines = per_dataset(rows) + ["", "## Summary: mean / worst TRA per family (psc: detection F1)", "",
             "| family | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for fam in fams:
        cells = []
        for m in methods:
            s = summary.get((fam, m))
            cells.append("–" if s is None else f"{s['mean']:.3f} / {s['worst']:.3f}")
        lines.append(f"| {fam} | " + " | ".join(cells) + " |")
    lines += ["", "## Every case", "", "| family | case | method | " + " | ".join(KEYS) + " | s/frame |",
              "|---|---|---|" + "---|" * len(KEYS) + "---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['case']} | {r['method']} | " + " | ".join(fmt(r.get(k)) for k in KEYS)
                     + f" | {r['s_per_frame']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=str(MODELS), help="folder of the protocol's weights")
    ap.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    ap.add_argument("--methods", nargs="+", default=["classic-baseline", "classic", "caliban", "caliban-learned", "embedtrack"])
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS))
    ap.add_argument("--link-weights", help="caliban-learned: these linker weights instead of the shipped ones")
    ap.add_argument("--frames", type=int, help="only the first N frames of each sequence (quicker)")
    ap.add_argument("--shift-frames", type=int, default=30, help="frames of each shift case (default 30)")
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "generalization"))
    ap.add_argument("--render", action="store_true", help="only re-render results.md from --out/results.json")
    ap.add_argument("--quick", action="store_true", help="the quick protocol (protocol.quick_cases) instead of the families")
    a = ap.parse_args()
    if a.render:
        d = json.loads((Path(a.out) / "results.json").read_text())
        (Path(a.out) / "results.md").write_text(f"{d['header']}\n\n{markdown(d['rows'], summarise(d['rows']))}\n")
        return
    root, extra = SHARED / "ctc", SHARED / "extra"
    frames = slice(0, a.frames) if a.frames else None
    cases: list[Case] = quick_cases(root, extra) if a.quick else []
    families = [] if a.quick else a.families
    if "spatial" in families:
        cases += spatial_cases(root, a.datasets, frames)
    if "shift" in families:
        cases += shift_cases(spatial_cases(root, a.datasets, slice(0, a.shift_frames)))
    if "dim" in families:
        cases += dim_cases(spatial_cases(root, a.datasets, slice(0, a.shift_frames)))
    if "lodo" in families:
        cases += lodo_cases(root, a.datasets, frames)
    if "psc" in families:
        cases.append(psc_case(extra, frames))
    if "synth" in families:
        cases += synth_cases()
    if "linking" in families:
        cases += linking_cases(root, a.datasets, frames)
    runners = Runners(Path(a.models), Path(a.link_weights) if a.link_weights else None)
    rows = run_protocol(cases, runners.table(a.methods))
    summary = summarise(rows)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    commit = short_commit()
    head = (f"commit {commit}, {time.strftime('%Y-%m-%d')}, {platform.machine()}, {torch.get_num_threads()} torch "
            f"threads, models {a.models}{f', linker weights {a.link_weights}' if a.link_weights else ''}, families {'quick protocol' if a.quick else a.families}, frames {a.frames or 'all'}")
    (out / "results.json").write_text(json.dumps({"header": head, "rows": rows, "summary": [
        {"family": f, "method": m, **v} for (f, m), v in summary.items()]}, indent=1))
    (out / "results.md").write_text(f"{head}\n\n{markdown(rows, summary)}\n")
    print(markdown(rows, summary))


if __name__ == "__main__":
    main()
