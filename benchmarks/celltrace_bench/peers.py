"""Peer linkers (benchmark-only): LapTrack and btrack, run on an object table, returning links.

Each adapter takes an object table (see :mod:`.objects`), the image shape and the peer's settings
(from ``benchmarks/peers/*.json``) and returns ``(links, seconds)``: a (N, 4) link array for
:meth:`celltrace.Tracking.from_links` and the seconds of the peer's own linking call (input
conversion excluded; it is timed separately by the caller's total).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PEERS_DIR = Path(__file__).resolve().parents[1] / "peers"
PEERS = ["laptrack", "btrack"]


def peer_settings(peer: str, profile: str) -> dict[str, Any]:
    """Settings of ``peer`` for a data ``profile`` (a CTC dataset name or ``synthetic``): the file's
    ``default`` block updated by the profile's block."""
    cfg = json.loads((PEERS_DIR / f"{peer}.json").read_text())
    out = dict(cfg["default"])
    out.update(cfg.get("profiles", {}).get(profile, {}))
    return out


def peer_version(peer: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(peer)
    except PackageNotFoundError:
        return "not installed"


def link(peer: str, objects: pd.DataFrame, shape: tuple[int, int], settings: dict[str, Any]) -> tuple[np.ndarray, float]:
    if peer == "laptrack":
        return link_laptrack(objects, settings)
    if peer == "btrack":
        return link_btrack(objects, shape, settings)
    raise ValueError(f"unknown peer {peer!r}")


# ------------------------------------------------------------------------------------------ LapTrack
def link_laptrack(objects: pd.DataFrame, s: dict[str, Any]) -> tuple[np.ndarray, float]:
    """LapTrack (Jaqaman LAP: frame-to-frame, then gap closing and splitting) on centroids.

    Settings: ``max_distance`` (px; LapTrack's ``cutoff`` is its square, squared-Euclidean metric),
    ``gap_closing_max_distance`` and ``gap_closing_max_frame_count``, ``splitting_max_distance``
    (divisions; merging stays off — CTC tracks cannot merge), ``alternative_cost_percentile``.
    """
    from laptrack import LapTrack

    lt = LapTrack(
        metric="sqeuclidean", cutoff=float(s["max_distance"]) ** 2,
        gap_closing_metric="sqeuclidean",
        gap_closing_cutoff=(float(s["gap_closing_max_distance"]) ** 2
                            if s.get("gap_closing_max_frame_count", 0) else False),
        gap_closing_max_frame_count=int(s.get("gap_closing_max_frame_count", 0) or 1),
        splitting_metric="sqeuclidean",
        splitting_cutoff=float(s["splitting_max_distance"]) ** 2 if s.get("splitting_max_distance") else False,
        merging_cutoff=False,
        alternative_cost_factor=float(s.get("alternative_cost_factor", 1.05)),
        alternative_cost_percentile=float(s.get("alternative_cost_percentile", 90)),
    )
    df = objects[["frame", "y", "x", "label"]].reset_index(drop=True)
    t0 = time.perf_counter()
    track_df, split_df, _ = lt.predict_dataframe(df, coordinate_cols=["y", "x"], frame_col="frame",
                                                 only_coordinate_cols=False)
    seconds = time.perf_counter() - t0
    track_df = track_df.sort_values(["track_id", "frame"], kind="stable")
    tid = track_df["track_id"].to_numpy()
    fr = track_df["frame"].to_numpy(np.int64)
    lab = track_df["label"].to_numpy(np.int64)
    same = tid[1:] == tid[:-1]
    links = [np.column_stack([fr[:-1][same], lab[:-1][same], fr[1:][same], lab[1:][same]])]
    if len(split_df):
        first = track_df.groupby("track_id").head(1).set_index("track_id")
        last = track_df.groupby("track_id").tail(1).set_index("track_id")
        p, c = split_df["parent_track_id"].to_numpy(), split_df["child_track_id"].to_numpy()
        links.append(np.column_stack([last.loc[p, "frame"].to_numpy(), last.loc[p, "label"].to_numpy(),
                                      first.loc[c, "frame"].to_numpy(), first.loc[c, "label"].to_numpy()]))
    return np.concatenate(links).astype(np.int64).reshape(-1, 4), seconds


# ------------------------------------------------------------------------------------------ btrack
def btrack_config(s: dict[str, Any], shape: tuple[int, int]) -> dict[str, Any]:
    """btrack TrackerConfig dict: the motion/hypothesis model file named by ``config`` (in
    benchmarks/peers/, written for this benchmark: nothing is downloaded at run time), with
    ``max_search_radius``, ``update_method``, hypothesis-model overrides and the image volume."""
    cfg = json.loads((PEERS_DIR / s["config"]).read_text())["TrackerConfig"]
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    cfg["max_search_radius"] = float(s["max_search_radius"])
    cfg["update_method"] = s.get("update_method", "EXACT")
    cfg["hypothesis_model"] = dict(cfg.pop("HypothesisModel"), **s.get("hypothesis_overrides", {}))
    cfg["motion_model"] = dict(cfg.pop("MotionModel"), **s.get("motion_overrides", {}))
    cfg.pop("ObjectModel", None)
    cfg["verbose"] = False
    H, W = shape
    cfg["volume"] = ((0, W), (0, H))
    return cfg


def link_btrack(objects: pd.DataFrame, shape: tuple[int, int], s: dict[str, Any]) -> tuple[np.ndarray, float]:
    """btrack (Bayesian tracklets from a Kalman motion model, then a global hypothesis optimisation
    for links across gaps, divisions, births and deaths) on centroids (x = column, y = row, z = 0)."""
    import btrack
    from btrack import btypes
    from btrack.constants import BayesianUpdates

    logging.getLogger("btrack").setLevel(logging.ERROR)
    use_local_btrack_library()
    cfg = btrack_config(s, shape)
    cfg["update_method"] = BayesianUpdates[cfg["update_method"]]
    frames = objects["frame"].to_numpy(np.int64)
    labels = objects["label"].to_numpy(np.int64)
    ys, xs = objects["y"].to_numpy(np.float64), objects["x"].to_numpy(np.float64)
    objs = []
    for i in range(len(objects)):
        o = btypes.PyTrackObject()
        o.ID, o.t, o.x, o.y, o.z, o.label = i, int(frames[i]), float(xs[i]), float(ys[i]), 0.0, 0
        objs.append(o)
    t0 = time.perf_counter()
    with _quiet_fd(), btrack.BayesianTracker(verbose=False) as tracker:
        tracker.configure(cfg)
        tracker.append(objs)
        tracker.track(step_size=100)
        if s.get("optimise", True):
            tracker.optimize()
        tracks = tracker.tracks
    seconds = time.perf_counter() - t0
    by_id = {trk.ID: trk for trk in tracks}
    out = []
    ends: dict[int, tuple[int, int]] = {}
    starts: dict[int, tuple[int, int]] = {}
    for trk in tracks:
        real = [(int(t), int(r)) for t, r, d in zip(trk.t, trk.refs, trk.dummy) if not d and r >= 0]
        if not real:
            continue
        real.sort()
        for (ta, ra), (tb, rb) in zip(real[:-1], real[1:]):
            out.append((ta, int(labels[ra]), tb, int(labels[rb])))
        starts[trk.ID] = real[0]
        ends[trk.ID] = real[-1]
    for trk in tracks:
        for c in trk.children or []:
            if trk.ID in ends and c in starts and c in by_id:
                (ta, ra), (tb, rb) = ends[trk.ID], starts[c]
                if tb > ta:
                    out.append((ta, int(labels[ra]), tb, int(labels[rb])))
    return np.asarray(out, dtype=np.int64).reshape(-1, 4), seconds


BTRACK_LOCAL_LIB = Path(os.environ.get("CELLTRACE_BENCH_BTRACK_LIB", str(Path.home() / ".cache" / "celltrace" / "btrack" / "libtracker.so")))


def use_local_btrack_library() -> str:
    """Point btrack at a locally built libtracker when its bundled one cannot load here.

    btrack 0.7.0's wheel ships a libtracker.so built with GCC 13 (needs GLIBCXX_3.4.32); on a GCC 12
    system it fails to load. ``benchmarks/peers/build_btrack_lib.sh`` rebuilds the same shipped C++
    sources locally; this uses that build (``$CELLTRACE_BENCH_BTRACK_LIB``) and says which it used.
    """
    import ctypes

    from btrack import libwrapper

    try:
        ctypes.cdll.LoadLibrary(str(Path(libwrapper.BTRACK_LIB_PATH).with_suffix(".so")))
        return "bundled"
    except OSError:
        if not BTRACK_LOCAL_LIB.exists():
            raise RuntimeError("btrack's bundled libtracker.so does not load here (libstdc++ too old); "
                               "build one with benchmarks/peers/build_btrack_lib.sh") from None
        libwrapper.BTRACK_LIB_PATH = BTRACK_LOCAL_LIB.with_suffix("")
        return f"local build {BTRACK_LOCAL_LIB}"


@contextlib.contextmanager
def _quiet_fd():
    """Silence the C++ library's stdout/stderr (it prints per step)."""
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)
