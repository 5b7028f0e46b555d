"""One benchmark job, run in a fresh process by :func:`celltrace_bench.measure.run_job`.

    python -m celltrace_bench.worker JOB.json      # prints "@@RESULT {json}" as its last line

Jobs (``job["kind"]``):

* ``track`` — a registered method on a CTC sequence (own segmentation, or linking-only on given
  masks); the measured step is ``celltrace.track`` + writing the CTC RES folder (lazy masks are
  computed there); then scored against the GT.
* ``objects`` — object table of a label folder (GT TRA markers or a method's RES masks) → pickle.
* ``link`` — a linker (ours or a peer) on a pickled object table; the measured step is the linker's
  call; its links become a Tracking (``Tracking.from_links``) scored against the GT.
* ``scale`` — a linker on a simulated point table (``simulate_cells``; no pixels): seconds per frame,
  peak memory, link precision/recall against the simulation's true links.
* ``memory`` — the default pipeline on a synthetic movie of N frames, its masks consumed one frame
  at a time (the streaming path): peak memory vs. movie length.
* ``profile`` — the default pipeline on a CTC sequence under the stage sampler (:mod:`.stages`).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from celltrace_bench.measure import RESULT_TAG, Step

SCORE_KEYS = ["TRA", "DET", "SEG", "LNK", "BC(2)", "DIV_F1", "MOTA", "IDF1"]


def _movie(sequence: str, n_frames: int | None):
    from celltrace.movie import Movie, open_movie

    movie = open_movie(sequence)
    if n_frames and n_frames < len(movie):
        movie = Movie(frames=movie.frames[:n_frames], name=movie.name, source=movie.source)
    return movie


def score(pred, gt_dir: str, n_frames: int | None) -> dict[str, Any]:
    """celltrace.evaluate of ``pred`` (Tracking or RES folder) against the GT cut to ``n_frames``."""
    import celltrace
    from celltrace.io.ctc import read_seg
    from celltrace.tracking import Tracking

    from celltrace_bench.objects import truncate_tracking

    gt = Tracking.from_ctc(gt_dir)
    n = n_frames or gt.n_frames
    gt = truncate_tracking(gt, n)
    seg = {t: s for t, s in read_seg(gt_dir).items() if t < n}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = celltrace.evaluate(pred, gt, metrics=["ctc", "bio", "mot", "divisions"], seg=seg)
    out = {k: s.get(k) for k in SCORE_KEYS}
    out["n_divisions_gt"] = s.get("DIV_GT")
    return out


def job_track(j: dict[str, Any]) -> dict[str, Any]:
    import celltrace
    from celltrace.tracking import Tracking

    movie = _movie(j["sequence"], j.get("n_frames"))
    T = len(movie)
    masks = None
    if j.get("masks"):
        masks = Tracking.from_ctc(j["masks"]).masks[:T]
    celltrace.load_tracker(j["method"], **j.get("params", {}))  # import the method before timing
    with Step() as st:
        t0 = time.perf_counter()
        res = celltrace.track(movie, method=j["method"], masks=masks, progress=False, **j.get("params", {}))
        t_track = time.perf_counter() - t0
        res.to_ctc(j["res_dir"], overwrite=True)
    out = {"frames": T, "shape": list(movie.frame_shape), "track_call_s": t_track, **st.as_dict(),
           "s_per_frame": st.seconds / T, "tracks": res.n_tracks, "timing": res.meta.get("timing")}
    if j.get("gt"):
        t0 = time.perf_counter()
        out["scores"] = score(j["res_dir"], j["gt"], T)
        out["eval_s"] = time.perf_counter() - t0
    return out


def job_objects(j: dict[str, Any]) -> dict[str, Any]:
    from celltrace.tracking import Tracking

    from celltrace_bench.objects import objects_from_masks

    tr = Tracking.from_ctc(j["masks"])
    n = j.get("n_frames") or tr.n_frames
    with Step() as st:
        obj = objects_from_masks(tr.masks[:n])
    obj.to_pickle(j["out"])
    return {"objects": len(obj), "frames": n, "shape": list(tr.shape[1:]), **st.as_dict()}


def warm_up(name: str) -> None:
    """Import a linker's modules (and load btrack's C library) before the timed step."""
    if name.startswith("celltrace"):
        import celltrace.linking  # noqa: F401
    elif name == "laptrack":
        import laptrack  # noqa: F401
    elif name == "btrack":
        import btrack  # noqa: F401
        from btrack import libwrapper

        from celltrace_bench import peers

        peers.use_local_btrack_library()
        libwrapper.get_library()


def _linker(name: str, objects, shape, n_frames: int, profile: str) -> tuple[np.ndarray, float, dict]:
    if name.startswith("celltrace"):
        from celltrace_bench.ours import link_ours, our_settings

        s = our_settings(profile)
        links, sec = link_ours(objects, shape, n_frames, s)
        return links, sec, s
    from celltrace_bench import peers

    s = peers.peer_settings(name, profile)
    if name == "btrack":
        s["library"] = peers.use_local_btrack_library()
    links, sec = peers.link(name, objects, shape, s)
    return links, sec, s


def job_link(j: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd
    from celltrace.tracking import Tracking

    objects = pd.read_pickle(j["objects"])
    masks = Tracking.from_ctc(j["masks"]).masks
    T = j.get("n_frames") or len(masks)
    masks = masks[:T]
    shape = tuple(masks.shape[1:])
    warm_up(j["linker"])
    with Step() as st:
        links, core_s, settings = _linker(j["linker"], objects, shape, T, j["profile"])
    t0 = time.perf_counter()
    tracking = Tracking.from_links(masks, links)
    build_s = time.perf_counter() - t0
    out = {"frames": T, "objects": len(objects), "links": len(links), "core_s": core_s, **st.as_dict(),
           "s_per_frame": st.seconds / T, "from_links_s": build_s, "settings": settings}
    t0 = time.perf_counter()
    out["scores"] = score(tracking, j["gt"], T)
    out["eval_s"] = time.perf_counter() - t0
    return out


def job_scale(j: dict[str, Any]) -> dict[str, Any]:
    from celltrace.synth import SynthConfig, simulate_cells

    from celltrace_bench.objects import gt_links, link_scores, objects_from_points

    n, T = int(j["cells"]), int(j["frames"])
    side = int(round(j.get("side_per_sqrt_cell", 20.48) * np.sqrt(n)))
    sim = simulate_cells(SynthConfig(n_frames=T, shape=(side, side), n_cells=n, seed=int(j.get("seed", 0))))
    objects = objects_from_points(sim.points)
    truth = gt_links(sim.points, sim.lineage)
    del sim
    warm_up(j["linker"])
    with Step() as st:
        links, core_s, settings = _linker(j["linker"], objects, (side, side), T, "synthetic")
    out = {"cells": n, "frames": T, "side": side, "objects": len(objects),
           "cells_per_frame": len(objects) / T, **st.as_dict(), "core_s": core_s,
           "s_per_frame": st.seconds / T, "settings": settings}
    out.update(link_scores(links, truth))
    return out


def job_memory(j: dict[str, Any]) -> dict[str, Any]:
    import celltrace

    T = int(j["frames"])
    movie, _ = celltrace.synthetic_movie(n_frames=T, shape=tuple(j.get("shape", (512, 512))),
                                        n_cells=int(j.get("cells", 80)), seed=int(j.get("seed", 0)))
    celltrace.load_tracker(j["method"])  # import the method before measuring
    with Step() as st:
        res = celltrace.track(movie, method=j["method"], progress=False)
        n_cells = 0
        for t in range(len(res.masks)):  # consume the result one frame at a time (as a writer would)
            n_cells += int(np.count_nonzero(np.bincount(np.asarray(res.masks[t]).ravel())[1:]))
    return {"frames": T, **st.as_dict(), "s_per_frame": st.seconds / T, "tracks": res.n_tracks,
            "cells_per_frame": n_cells / T, "timing": res.meta.get("timing")}


def job_profile(j: dict[str, Any]) -> dict[str, Any]:
    import tempfile

    import celltrace

    from celltrace_bench.stages import StageSampler

    movie = _movie(j["sequence"], j.get("n_frames"))
    with tempfile.TemporaryDirectory() as d, StageSampler() as sampler:
        res = celltrace.track(movie, method=j["method"], progress=False)
        res.to_ctc(Path(d) / "RES")
    return {"frames": len(movie), "seconds": sampler.total, "s_per_frame": sampler.total / len(movie),
            "stages": sampler.stages(), "functions": sampler.functions(10), "timing": res.meta.get("timing")}


JOBS = {"track": job_track, "objects": job_objects, "link": job_link, "scale": job_scale,
        "memory": job_memory, "profile": job_profile}


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    try:
        out = JOBS[job["kind"]](job)
    except Exception as exc:  # reported as a row's status, not a crash of the whole harness
        import traceback

        traceback.print_exc()
        out = {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps(out, default=float), flush=True)


if __name__ == "__main__":
    main()
