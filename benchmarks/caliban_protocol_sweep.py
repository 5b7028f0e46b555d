"""Caliban post-processing chosen on the generalization protocol's spatial hold-outs (not on frames
of the sequences the model trained on): peak radius and peak threshold of the marker watershed,
scored by TRA with the standard LAP linker, with the protocol's spatial weights.

    python benchmarks/caliban_protocol_sweep.py [--frames N] [--out DIR]
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from celltrace.methods.base import load_tracker
from celltrace.movie import Movie
from celltrace.protocol import run_protocol, spatial_cases, summarise
from generalization import MODELS, REPO, SHARED



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--peak-radius", type=float, nargs="+", default=[25.0, 40.0])
    ap.add_argument("--peak-threshold", type=float, nargs="+", default=[0.5, 0.7])
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "caliban-protocol-sweep"))
    a = ap.parse_args()
    cases = spatial_cases(SHARED / "ctc", frames=slice(0, a.frames) if a.frames else None)
    runners = {}
    for pr, pt in itertools.product(a.peak_radius, a.peak_threshold):
        params = {"weights": str(MODELS / "spatial.pt"), "linker": "lap", "peak_radius": pr, "peak_threshold": pt}
        runners[f"peak_radius={pr:g} peak_threshold={pt:g}"] = (
            lambda p: lambda f, c: load_tracker("caliban", **p).track(Movie(frames=f), progress=False))(params)
    rows = run_protocol(cases, runners)
    summary = summarise(rows)
    lines = ["| setting | " + " | ".join(c.name for c in cases) + " | mean |", "|---|" + "---|" * (len(cases) + 1)]
    for name in runners:
        vals = [next(r["TRA"] for r in rows if r["method"] == name and r["case"] == c.name) for c in cases]
        lines.append(f"| {name} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {np.mean(vals):.3f} |")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"rows": rows, "summary": [
        {"family": f, "method": m, **v} for (f, m), v in summary.items()]}, indent=1))
    (out / "results.md").write_text("TRA on the spatial hold-outs (x ≥ 0.6·W of each 02)\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
