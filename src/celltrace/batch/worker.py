"""What runs on a dask worker: the plugin that builds the tracker once per worker process, and the
task that tracks one movie into its result folder. Imports ``distributed`` (the ``batch`` extra)."""

from __future__ import annotations

import json
import os
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from celltrace.api import build_tracker, track_to_folder
from celltrace.batch.inputs import MovieJob
from celltrace.batch.table import finished, one_line, outcome, row
from celltrace.methods.base import LearnedTracker, Tracker

_TRACKERS: dict[str, Tracker] = {}  # in each worker process: the tracker LoadTracker built, by key


def _tracker_key(method: str, device: str, params: dict[str, Any]) -> str:
    return json.dumps([method, device, params], sort_keys=True, default=str)


def set_threads(threads: int, learned: bool) -> None:
    """Limit this process's numerical threads to ``threads`` (BLAS/OpenMP through the environment
    for libraries not loaded yet; torch directly when the method uses it)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if learned:
        import torch

        torch.set_num_threads(threads)


class LoadTracker(WorkerPlugin):
    """Worker plugin: when a worker starts (or restarts after a crash), set its thread count and
    build the tracker once (a learned method loads its network now), for every movie it tracks."""

    name = "celltrace-tracker"

    def __init__(self, method: str, device: str, params: dict[str, Any], threads: int):
        self.method, self.device, self.params, self.threads = method, device, dict(params), int(threads)

    def setup(self, worker: Any = None) -> None:
        tracker = build_tracker(self.method, self.device, **self.params)
        set_threads(self.threads, isinstance(tracker, LearnedTracker))
        if isinstance(tracker, LearnedTracker):
            tracker.model  # noqa: B018 (load the network once, here)
        _TRACKERS[_tracker_key(self.method, self.device, self.params)] = tracker


def track_job(job: MovieJob, method: str, device: str, params: dict[str, Any],
              min_track_length: int | None = None, overwrite: bool = False, command: str | None = None) -> dict[str, Any]:
    """Track one movie into its result folder (on a worker, with the tracker :class:`LoadTracker`
    built there) and return its row of the table; an error becomes a ``failed`` row. A result that
    is already complete is kept (dask runs a task again when the worker holding its row died)."""
    complete = None if overwrite else finished(job, method, params)
    if complete is not None:
        return {**complete, "status": "done"} if complete["status"] == "skipped" else complete
    try:
        tracker = _TRACKERS.get(_tracker_key(method, device, params))
        done = track_to_folder(job.movie, job.out, method, job.masks, overwrite=overwrite, progress=False,
                               device=device, min_track_length=min_track_length, tracker=tracker,
                               command=command, **params)
    except Exception as exc:  # any movie's failure is its own row, never the batch's end
        return row(job, "failed", error=one_line(exc))
    return outcome(job, "done", done.n_frames, done.n_tracks, done.n_divisions,
                   (done.track_s + done.write_s) / max(done.n_frames, 1))


__all__ = ["LoadTracker", "track_job", "set_threads"]
