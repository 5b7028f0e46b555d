"""Latency of live tracking (`celltrace watch`), and how its result compares with `celltrace track`.

    python benchmarks/live_latency.py [--sequence DIR] [--gt DIR] [--frames N] [--interval S]
                                      [--poll S] [--methods classic ...] [--json FILE]

A writer thread copies the frames of a real sequence (default Fluo-N2DH-GOWT1/02, 1024², 92
frames) into an empty folder, one every ``--interval`` seconds (each file written in place, not
renamed), while a :class:`celltrace.live.Watcher` follows the folder. Latency of a frame = the
moment its result is published (the output folder shows it) minus the moment the writer closed
the file. Per method (``classic`` and the default method, once when they are the same) it prints
the mean, median, 90th percentile and max latency and the seconds spent per frame; then TRA,
DET, LNK and BC(2) of the live result and of `celltrace track` on the whole sequence against the
ground truth, and whether the two results are identical, link the same objects under another track
numbering (``same links``: divisions the live linker took back) or differ (``--check-fixed``: also
with the two settings offline takes from the whole movie — cell radius, motion gate — fixed for both).

The interval should exceed the time per frame, else frames queue and latency grows with the
queue (the table shows both). Machines here are shared: compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

import celltrace  # noqa: E402
from celltrace.io.ctc import read_ctc  # noqa: E402
from celltrace.live import Watcher  # noqa: E402
from celltrace.methods.base import DEFAULT_METHOD  # noqa: E402

SHARED = REPO.parent / "shared" / "data" / "ctc"


def copy_frames(files: list[Path], folder: Path, interval: float, written: dict[str, float]) -> None:
    """Write each file into ``folder`` every ``interval`` seconds, recording when it was closed;
    then the sentinel."""
    for f in files:
        t0 = time.monotonic()
        with open(folder / f.name, "wb") as fh:
            fh.write(f.read_bytes())
        written[f.name] = time.time()
        time.sleep(max(0.0, interval - (time.monotonic() - t0)))
    (folder / "STOP").touch()


def agreement(live: celltrace.Tracking, offline: celltrace.Tracking, settled: int) -> str:
    """``identical`` (masks and lineage), ``same links`` (the same links between objects into the
    frames before ``settled``, under another track numbering: a division the live linker took back
    leaves the daughter that stays under her own label, offline she continues her mother's; the
    divisions of the last frames are not decided live when the movie ends) or ``different``."""
    if live.n_frames != offline.n_frames:
        return "different"
    if live.lineage.equals(offline.lineage) and all(
            np.array_equal(np.asarray(live.masks[t]), np.asarray(offline.masks[t])) for t in range(live.n_frames)):
        return "identical"
    a, b = live.object_links(), offline.object_links()
    return "same links" if {x for x in a if x[2] < settled} == {x for x in b if x[2] < settled} else "different"


def run(method: str, files: list[Path], gt: Path, interval: float, poll: float, work: Path,
        check_fixed: bool = False) -> dict:
    watched, out = work / f"{method}-in", work / f"{method}-RES"
    watched.mkdir()
    written: dict[str, float] = {}
    published: dict[str, float] = {}
    process: list[float] = []

    def on_update(u) -> None:
        published[u.file.name] = time.time()
        process.append(u.process_s)
        print(f"  {method}: frame {u.frame:3d}  {u.n_cells:3d} cells  {u.process_s:5.2f} s to process", flush=True)

    watcher = Watcher(watched, out, method=method, poll_s=poll, on_update=on_update)
    writer = threading.Thread(target=copy_frames, args=(files, watched, interval, written))
    writer.start()
    summary = watcher.run()
    writer.join()
    latency = np.array([published[f.name] - written[f.name] for f in files])
    live = read_ctc(out).validate()
    t0 = time.perf_counter()
    offline = celltrace.track(watched, method=method, progress=False)
    offline_s = time.perf_counter() - t0
    keys = ("TRA", "DET", "LNK", "BC(2)")
    live_scores = celltrace.evaluate(live, gt, metrics=["ctc", "bio"], frames=slice(0, len(files)))
    offline_scores = celltrace.evaluate(offline, gt, metrics=["ctc", "bio"], frames=slice(0, len(files)))
    fixed = None
    if check_fixed:  # the two settings offline takes from the whole movie, given to both: identical?
        params = {"cell_radius": offline.meta["cell_radius"], "motion_gate_factor": 0}
        (work / f"{method}-fixed-in").mkdir()
        copy_frames(files, work / f"{method}-fixed-in", 0.0, {})
        fixed_watcher = Watcher(work / f"{method}-fixed-in", work / f"{method}-fixed-RES", method=method,
                                params=params, poll_s=poll)
        fixed_watcher.run()
        fixed = agreement(read_ctc(work / f"{method}-fixed-RES"),
                          celltrace.track(watched, method=method, progress=False, **params),
                          len(files) - fixed_watcher.linker.lineage_delay)
    return {"method": method, "frames": len(files), "agreement_with_fixed_settings": fixed, "interval_s": interval, "poll_s": poll, "ended": summary.reason,
            "latency_s": {"mean": float(latency.mean()), "median": float(np.median(latency)),
                          "p90": float(np.percentile(latency, 90)), "max": float(latency.max())},
            "process_s_per_frame": float(np.mean(process)), "offline_s_per_frame": offline_s / len(files),
            "live": {k: live_scores.get(k) for k in keys}, "offline": {k: offline_scores.get(k) for k in keys},
            "agreement": agreement(live, offline, len(files) - watcher.linker.lineage_delay), "live_tracks": live.n_tracks, "offline_tracks": offline.n_tracks,
            "live_cell_radius": watcher.linker.radius, "offline_cell_radius": offline.meta.get("cell_radius")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequence", type=Path, default=SHARED / "Fluo-N2DH-GOWT1" / "02")
    ap.add_argument("--gt", type=Path, default=None, help="ground truth (default: the sequence's _GT folder)")
    ap.add_argument("--frames", type=int, default=0, help="first N frames (0: all)")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between frames (default 2)")
    ap.add_argument("--poll", type=float, default=0.1, help="the watcher's poll interval (default 0.1 s)")
    ap.add_argument("--methods", nargs="+", default=list(dict.fromkeys(["classic", DEFAULT_METHOD])))
    ap.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    ap.add_argument("--check-fixed", action="store_true",
                    help="also track live with the offline run's cell radius and no motion gate, and say "
                         "whether that equals `celltrace track` with the same settings")
    args = ap.parse_args()
    gt_folder = args.gt or args.sequence.with_name(args.sequence.name + "_GT")
    files = sorted(args.sequence.glob("t*.tif"))
    if args.frames:
        files = files[:args.frames]
    gt = gt_folder
    print(f"{args.sequence} ({len(files)} frames), a frame every {args.interval:g} s, poll {args.poll:g} s; "
          f"default method: {DEFAULT_METHOD}")
    work = Path(tempfile.mkdtemp(prefix="celltrace-live-bench-"))
    try:
        results = [run(m, files, gt, args.interval, args.poll, work, args.check_fixed) for m in args.methods]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print("| method | latency mean | median | p90 | max | process/frame | offline/frame | TRA live | TRA offline "
          "| DET live / offline | LNK live / offline | BC(2) live / offline | live vs offline |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731  (no divisions in the truth: None)
    for r in results:
        lat, lv, of = r["latency_s"], r["live"], r["offline"]
        name = r["method"] + (" (default)" if r["method"] == DEFAULT_METHOD else "")
        print(f"| {name} | {lat['mean']:.2f} s | {lat['median']:.2f} s | {lat['p90']:.2f} s | {lat['max']:.2f} s "
              f"| {r['process_s_per_frame']:.2f} s | {r['offline_s_per_frame']:.2f} s | {lv['TRA']:.4f} | {of['TRA']:.4f} "
              f"| {lv['DET']:.4f} / {of['DET']:.4f} | {lv['LNK']:.4f} / {of['LNK']:.4f} "
              f"| {fmt(lv['BC(2)'])} / {fmt(of['BC(2)'])} | {r['agreement']} |")
        if r["agreement_with_fixed_settings"] is not None:
            print(f"| {name}, cell radius and motion gate fixed | | | | | | | | | | | | "
                  f"{r['agreement_with_fixed_settings']} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
