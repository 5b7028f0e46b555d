"""Our shared linker on an object table, called the same way as the peers (see :mod:`.peers`).

``celltrace.linking.LAPLinker`` with a Euclidean (squared-distance) cost, the division detector and
gap closing, gated by the distances of ``benchmarks/peers/celltrace-lap.json`` (the same as LapTrack's).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd


def available() -> bool:
    try:
        from celltrace.linking import LAPLinker  # noqa: F401
        return True
    except ImportError:
        return False


def our_settings(profile: str) -> dict[str, Any]:
    from celltrace_bench.peers import peer_settings

    return peer_settings("celltrace-lap", profile)


def link_ours(objects: pd.DataFrame, shape: tuple[int, int], n_frames: int, s: dict[str, Any]) -> tuple[np.ndarray, float]:
    from celltrace.linking import DivisionDetector, EuclideanCost, GapCloser, LAPLinker

    from celltrace_bench.objects import frames_of

    tables = frames_of(objects[["frame", "label", "y", "x", "area"]], n_frames)
    linker = LAPLinker(
        cost=EuclideanCost(max_distance=float(s["max_distance"])),
        divisions=DivisionDetector(max_distance=float(s["splitting_max_distance"])) if s.get("splitting_max_distance") else None,
        gap_closing=(GapCloser(max_gap=int(s["gap_closing_max_frame_count"]),
                               max_distance=float(s["gap_closing_max_distance"]))
                     if s.get("gap_closing_max_frame_count") else None),
    )
    t0 = time.perf_counter()
    links = linker.link(tables)
    seconds = time.perf_counter() - t0
    return np.asarray(links, dtype=np.int64).reshape(-1, 4), seconds
