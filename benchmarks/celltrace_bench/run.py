"""The benchmark run: every section, one process per measured job, one time budget.

See benchmarks/README.md for how to read the tables and ``python benchmarks/harness.py --help``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from celltrace_bench import peers as peer_mod
from celltrace_bench.machine import machine
from celltrace_bench.measure import run_job

BENCH = Path(__file__).resolve().parents[1]
DEFAULT_DATA = BENCH.parents[1] / "shared" / "data" / "ctc"
SECTIONS = ["accuracy", "peers", "scaling", "memory", "profile", "gpu"]
# share of the budget each section may use (cumulative deadlines; time a section leaves is passed on)
SHARES = {"accuracy": 0.25, "peers": 0.25, "scaling": 0.22, "memory": 0.18, "profile": 0.08, "gpu": 0.02}

QUICK = dict(budget=600, frames=30, scale_sizes=[100, 1000, 5000, 10000],
             scale_frames={100: 10, 1000: 10, 5000: 5, 10000: 5},
             scale_repeats={100: 3, 1000: 3, 5000: 1, 10000: 1}, memory_frames=[100, 300, 1000],
             repeats=1, job_timeout=240, profile_frames=30)
FULL = dict(budget=3 * 3600, frames=0, scale_sizes=[100, 1000, 5000, 10000],
            scale_frames={100: 50, 1000: 50, 5000: 50, 10000: 50},
            scale_repeats={100: 5, 1000: 5, 5000: 3, 10000: 3}, memory_frames=[100, 1000, 5000],
            repeats=3, job_timeout=3600, profile_frames=0)


def ctc_sequences(data: Path) -> list[dict[str, Any]]:
    """Every ``<dataset>/NN`` with an ``NN_GT`` beside it (or ``data`` itself as one dataset)."""
    out = []
    roots = [data] if any(p.name.endswith("_GT") for p in data.iterdir()) else sorted(p for p in data.iterdir() if p.is_dir())
    for ds in roots:
        for gt in sorted(ds.glob("*_GT")):
            seq = ds / gt.name[:-3]
            if seq.is_dir() and (gt / "TRA").is_dir():
                out.append({"dataset": ds.name, "seq": seq.name, "sequence": str(seq), "gt": str(gt),
                            "tra": str(gt / "TRA")})
    return out


def median(xs: list[float | None]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.cfg = dict(QUICK if args.quick else FULL)
        if args.budget:
            self.cfg["budget"] = args.budget
        if args.frames is not None:
            self.cfg["frames"] = args.frames
        if args.memory_frames:
            self.cfg["memory_frames"] = args.memory_frames
        if args.scale_sizes:
            self.cfg["scale_sizes"] = args.scale_sizes
        self.t0 = time.perf_counter()
        self.out = Path(args.out or BENCH / "results" / ("quick" if args.quick else "full"))
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = self.out / "jobs.log"
        self.log.write_text("")
        self.work = Path(tempfile.mkdtemp(prefix="celltrace-bench-"))
        self.results: dict[str, Any] = {"config": {k: v for k, v in self.cfg.items()}, "sections": {}}
        self.deadline = self.t0
        import celltrace

        from celltrace.methods.base import runnable_methods

        self.methods = args.methods or runnable_methods()
        wanted = [p for p in (args.peers or peer_mod.PEERS) if p != "none"]
        self.peers = [p for p in wanted if peer_mod.peer_version(p) != "not installed"]
        if len(self.peers) < len(wanted):  # a peer that is not installed is left out, and said so
            print(f"peers not installed, left out: {sorted(set(wanted) - set(self.peers))} "
                  f"(pip install laptrack btrack)", flush=True)

    # ------------------------------------------------------------------ plumbing
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def job(self, job: dict[str, Any], cap: float | None = None) -> dict[str, Any]:
        left = self.left()
        if left < 5:
            return {"status": "skipped", "error": "time budget"}
        r = run_job(job, timeout=min(left, cap or self.cfg["job_timeout"]), log=self.log)
        tag = job.get("linker") or job.get("method") or ""
        what = " ".join(str(job.get(k)) for k in ("dataset", "segmentation", "cells", "frames") if job.get(k) is not None)
        print(f"  [{self.elapsed():6.0f}s] {job['kind']:8s} {tag:12s} {what:40s} {r.get('status')}"
              f"{'' if r.get('status') == 'ok' else ' ' + str(r.get('error', ''))[:120]}", flush=True)
        return r

    def repeat(self, job: dict[str, Any], n: int, cap: float | None = None) -> dict[str, Any]:
        """Run ``job`` n times (fresh process each); medians of its timings and memory."""
        runs = []
        for _ in range(max(1, n)):
            r = self.job(job, cap)
            if r.get("status") != "ok":
                if not runs:
                    return r
                break
            runs.append(r)
        out = dict(runs[0])
        for k in ("seconds", "s_per_frame", "core_s", "peak_mb", "base_mb", "track_call_s", "end_anon_mb", "end_file_mb"):
            if k in out:
                out[k] = median([r.get(k) for r in runs])
        out["repeats"] = len(runs)
        out["s_per_frame_all"] = [r.get("s_per_frame") for r in runs]
        return out

    # ------------------------------------------------------------------ sections
    def run(self) -> dict[str, Any]:
        wanted = self.args.sections or [s for s in SECTIONS if s != "gpu" or self.args.gpu]
        self.results["machine"] = machine()
        self.results["command"] = " ".join([Path(sys.executable).name] + sys.argv)
        self.results["methods"] = self.methods
        self.results["peers"] = {p: peer_mod.peer_version(p) for p in self.peers}
        seqs = ctc_sequences(Path(self.args.data or DEFAULT_DATA))
        self.results["sequences"] = [f"{s['dataset']}/{s['seq']}" for s in seqs]
        budget = self.cfg["budget"]
        cum = 0.0
        print(f"celltrace benchmark: {len(seqs)} sequences, methods {self.methods}, peers {self.peers}, "
              f"budget {budget:.0f}s, output {self.out}", flush=True)
        try:
            for name in SECTIONS:
                cum += SHARES[name]
                if name not in wanted:
                    continue
                self.deadline = self.t0 + cum * budget
                print(f"== {name} (until {cum * budget:.0f}s)", flush=True)
                t = time.perf_counter()
                getattr(self, f"section_{name}")(seqs)
                self.results["sections"].setdefault(name, {})["seconds"] = time.perf_counter() - t
                self.save()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        self.results["total_seconds"] = self.elapsed()
        self.save()
        return self.results

    def save(self) -> None:
        from celltrace_bench.report import write_report

        self.results["total_seconds"] = self.elapsed()
        write_report(self.results, self.out)

    def section_accuracy(self, seqs: list[dict[str, Any]]) -> None:
        rows = []
        n = self.cfg["frames"] or None
        for s in seqs:
            for m in self.methods:
                res_dir = self.work / s["dataset"] / m / "RES"
                res_dir.parent.mkdir(parents=True, exist_ok=True)
                job = {"kind": "track", "method": m, "sequence": s["sequence"], "gt": s["gt"], "n_frames": n,
                       "res_dir": str(res_dir), "dataset": s["dataset"]}
                r = self.repeat(job, self.cfg["repeats"])
                r.update(dataset=s["dataset"], seq=s["seq"], method=m, res_dir=str(res_dir))
                rows.append(r)
        self.results["sections"]["accuracy"] = {"rows": rows, "frames": n or "all"}

    def section_peers(self, seqs: list[dict[str, Any]]) -> None:
        from celltrace_bench import ours

        rows = []
        n = self.cfg["frames"] or None
        acc = {(r["dataset"], r["method"]): r for r in self.results["sections"].get("accuracy", {}).get("rows", [])}
        linkers = (["celltrace-lap"] if ours.available() else []) + self.peers
        for s in seqs:
            segs = [("GT markers", s["tra"], None)]
            segs += [(f"{m} masks", acc[(s["dataset"], m)]["res_dir"], m) for m in self.methods
                     if acc.get((s["dataset"], m), {}).get("status") == "ok"]
            for seg_name, folder, own in segs:
                if own is None:  # our methods in linking-only mode on the same markers
                    for m in self.methods:
                        job = {"kind": "track", "method": m, "sequence": s["sequence"], "gt": s["gt"],
                               "masks": s["gt"], "n_frames": n, "dataset": s["dataset"], "segmentation": seg_name,
                               "res_dir": str(self.work / s["dataset"] / f"{m}-on-markers" / "RES")}
                        r = self.repeat(job, self.cfg["repeats"])
                        r.update(dataset=s["dataset"], segmentation=seg_name, linker=f"{m} (track, masks=)")
                        rows.append(r)
                pkl = self.work / s["dataset"] / f"objects-{seg_name.replace(' ', '_')}.pkl"
                o = self.job({"kind": "objects", "masks": folder, "n_frames": n, "out": str(pkl),
                              "dataset": s["dataset"], "segmentation": seg_name})
                if o.get("status") != "ok":
                    rows.append({**o, "dataset": s["dataset"], "segmentation": seg_name, "linker": "(objects)"})
                    continue
                for lk in linkers:
                    job = {"kind": "link", "linker": lk, "objects": str(pkl), "masks": folder, "gt": s["gt"],
                           "n_frames": n, "profile": s["dataset"], "dataset": s["dataset"], "segmentation": seg_name}
                    r = self.repeat(job, self.cfg["repeats"])
                    r.update(dataset=s["dataset"], segmentation=seg_name, linker=lk, objects_s=o.get("seconds"))
                    rows.append(r)
        settings = {p: {"file": f"benchmarks/peers/{p}.json",
                        "content": json.loads((BENCH / "peers" / f"{p}.json").read_text())} for p in linkers}
        self.results["sections"]["peers"] = {"rows": rows, "frames": n or "all", "settings": settings}

    def section_scaling(self, seqs: list[dict[str, Any]]) -> None:
        from celltrace_bench import ours

        linkers = (["celltrace-lap"] if ours.available() else []) + self.peers
        rows = []
        frames = self.cfg["scale_frames"]
        dead: dict[str, str] = {}
        last: dict[str, list[tuple[int, float]]] = {}
        for n in self.cfg["scale_sizes"]:
            T = frames.get(n) or max(frames.values())
            for lk in linkers:
                if lk in dead:
                    rows.append({"status": "skipped", "error": dead[lk], "linker": lk, "cells": n})
                    continue
                cap = self.cfg["job_timeout"]
                if lk in last:  # predict from the previous sizes: skip hopeless runs
                    (n0, s0), k = last[lk][-1], 1.2
                    if len(last[lk]) > 1:
                        (na, sa) = last[lk][-2]
                        k = min(2.0, max(1.0, float(np.log(s0 / sa) / np.log(n0 / na))))
                    guess = s0 * T * (n / n0) ** k
                    if guess > min(cap, self.left()):
                        dead[lk] = f"predicted {guess:.0f}s > time left"
                        rows.append({"status": "skipped", "error": dead[lk], "linker": lk, "cells": n})
                        continue
                job = {"kind": "scale", "linker": lk, "cells": n, "frames": T, "seed": 0}
                r = self.repeat(job, self.cfg["scale_repeats"].get(n, 1), cap)
                r.update(linker=lk, cells=n)
                rows.append(r)
                if r.get("status") == "ok":
                    last.setdefault(lk, []).append((n, r["s_per_frame"]))
                else:
                    dead[lk] = f"{r.get('status')} at {n} cells"
        self.results["sections"]["scaling"] = {"rows": rows, "frames": frames}

    def section_memory(self, seqs: list[dict[str, Any]]) -> None:
        from celltrace.methods.base import DEFAULT_METHOD

        rows = []
        rate = None
        for T in self.cfg["memory_frames"]:
            ran = T
            if rate is not None:  # fit the run into the time left
                fits = int(0.85 * self.left() / rate)
                if fits < T:
                    ran = max(fits, 0)
            if ran < 20:
                rows.append({"status": "skipped", "error": "time budget", "frames_requested": T})
                continue
            job = {"kind": "memory", "method": DEFAULT_METHOD, "frames": ran, "shape": [512, 512], "cells": 80}
            r = self.job(job)
            r.update(frames_requested=T, method=DEFAULT_METHOD)
            rows.append(r)
            if r.get("status") == "ok":
                rate = r["seconds"] / ran + 0.01  # + process start
        self.results["sections"]["memory"] = {"rows": rows, "shape": [512, 512], "cells": 80}

    def section_profile(self, seqs: list[dict[str, Any]]) -> None:
        from celltrace.methods.base import DEFAULT_METHOD

        pick = [s for s in seqs if s["dataset"] == self.args.profile_dataset] or seqs[:1]
        if not pick:
            return
        s = pick[0]
        job = {"kind": "profile", "method": DEFAULT_METHOD, "sequence": s["sequence"],
               "n_frames": self.cfg["profile_frames"] or None, "dataset": s["dataset"]}
        r = self.job(job)
        r.update(dataset=s["dataset"], method=DEFAULT_METHOD)
        self.results["sections"]["profile"] = r

    def section_gpu(self, seqs: list[dict[str, Any]]) -> None:
        _section_gpu(self, seqs)


def _section_gpu(self: Bench, seqs: list[dict[str, Any]]) -> None:
    """Learned methods on the GPU; skipped (with the reason) without a GPU or learned methods."""
    from celltrace.methods.base import load_tracker

    gpu = self.results["machine"]["gpu"]
    learned = []
    for m in self.methods:
        try:
            if getattr(type(load_tracker(m)), "needs_weights", False):
                learned.append(m)
        except Exception:
            pass
    if not gpu.get("available"):
        self.results["sections"]["gpu"] = {"skipped": "no GPU visible to torch on this machine", "learned": learned}
        return
    if not learned:
        self.results["sections"]["gpu"] = {"skipped": "no learned method registered", "learned": learned}
        return
    rows = []
    n = self.cfg["frames"] or None
    for s in seqs:
        for m in learned:
            job = {"kind": "track", "method": m, "sequence": s["sequence"], "gt": s["gt"], "n_frames": n,
                   "params": {"device": "cuda"}, "dataset": s["dataset"],
                   "res_dir": str(self.work / s["dataset"] / f"{m}-gpu" / "RES")}
            r = self.repeat(job, self.cfg["repeats"])
            r.update(dataset=s["dataset"], method=m, device=gpu.get("name"))
            rows.append(r)
    self.results["sections"]["gpu"] = {"rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="celltrace benchmark: accuracy, peers, scaling, memory, GPU — one run")
    ap.add_argument("--quick", action="store_true", help="CPU subset in ≤ 10 min on 2 cores (30 frames per CTC "
                    "sequence, 10-frame scaling movies, memory at 100/300/1000 frames)")
    ap.add_argument("--data", type=Path, help=f"folder of CTC datasets (default {DEFAULT_DATA})")
    ap.add_argument("--methods", nargs="*", help="methods to run (default: every method that runs out of the box: no weights needed, or weights shipped)")
    ap.add_argument("--peers", nargs="*", help="peers (default: laptrack btrack; 'none' for none)")
    ap.add_argument("--sections", nargs="*", choices=SECTIONS, help="sections to run (default: all but gpu)")
    ap.add_argument("--gpu", action="store_true", help="also run the GPU section (skipped cleanly without a GPU)")
    ap.add_argument("--budget", type=float, help="seconds for the whole run (quick: 600, full: 10800)")
    ap.add_argument("--frames", type=int, help="first N frames of each CTC sequence (0 = all)")
    ap.add_argument("--memory-frames", type=int, nargs="*", help="movie lengths for the memory section")
    ap.add_argument("--scale-sizes", type=int, nargs="*", help="cells per frame for the scaling section")
    ap.add_argument("--profile-dataset", default="Fluo-N2DH-GOWT1")
    ap.add_argument("--out", type=Path, help="output folder (default benchmarks/results/quick or full)")
    args = ap.parse_args(argv)
    bench = Bench(args)
    bench.run()
    print((bench.out / "results.md").read_text())
    return 0
