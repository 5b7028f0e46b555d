"""The batch loop: find the movies, skip the finished ones, track the others on a dask cluster."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from celltrace.api import build_tracker
from celltrace.batch.inputs import find_movies
from celltrace.batch.table import BATCH_FILE, finished, one_line, row, write_table
from celltrace.errors import CelltraceError
from celltrace.io.atomic import refuse_overlap
from celltrace.methods.base import DEFAULT_METHOD, LearnedTracker


def local_cluster(workers: int | None = None, threads: int | None = None, jobs: int | None = None) -> Any:
    """A :class:`distributed.LocalCluster` of worker processes for tracking: ``workers`` (default:
    one per core, at most ``jobs``), each running one movie at a time with ``threads`` numerical
    threads (default: cores / workers, so the workers together do not oversubscribe the cores)."""
    from distributed import LocalCluster

    cores = os.cpu_count() or 1
    n = max(1, workers or min(cores, jobs or cores))
    k = max(1, threads or cores // n)
    env = {var: str(k) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, env=env,
                           silence_logs=logging.ERROR)  # not "worker still alive after 4 s" at the end
    cluster.celltrace_threads = k
    return cluster


def batch(inputs: Iterable[str | Path], out: str | Path, method: str = DEFAULT_METHOD, *,
          workers: int | None = None, scheduler: str | None = None, client: Any = None,
          threads: int | None = None, overwrite: bool = False, progress: bool = True, device: str = "cpu",
          min_track_length: int | None = None, command: str | None = None, **params: Any) -> pd.DataFrame:
    """Track every movie of ``inputs`` (:func:`find_movies`) into ``out`` on a dask cluster and
    return the summary table (also written to ``out/batch.csv``; columns :data:`COLUMNS`).

    The cluster: ``client`` (a :class:`distributed.Client`), else the scheduler at ``scheduler``
    (``tcp://host:8786``; its workers must see the same paths), else a :func:`local_cluster` of
    ``workers`` processes with ``threads`` numerical threads each. Movies whose result is complete
    are skipped (unless ``overwrite``: then every result is made again). ``method``, ``device``,
    ``min_track_length`` and ``params`` as in :func:`celltrace.track`; ``progress`` shows a bar
    over the movies. Bad parameters or a missing weights file raise before any movie is started.
    """
    try:
        from distributed import Client, as_completed
        from distributed.client import FutureCancelledError

        from celltrace.batch.worker import LoadTracker, track_job
    except ImportError:
        raise CelltraceError("celltrace batch needs dask.distributed: pip install 'celltrace[batch]'") from None
    from tqdm.auto import tqdm

    out = Path(os.path.abspath(out))
    jobs = find_movies(inputs, out)
    if not jobs:
        raise CelltraceError("no movies to track")
    for job in jobs:
        refuse_overlap(job.out, [("movie", job.movie), ("masks", job.masks)])
    checked = build_tracker(method, device, **params)  # bad parameters fail here, once
    if isinstance(checked, LearnedTracker):
        checked.find_weights(checked.weights)
    out.mkdir(parents=True, exist_ok=True)
    table_path = out / BATCH_FILE
    rows: list[dict[str, Any]] = [row(job, "pending") for job in jobs]
    todo = []
    for i, job in enumerate(jobs):
        complete = None if overwrite else finished(job, method, params)
        if complete is None:
            todo.append(i)
        else:
            rows[i] = complete
    write_table(rows, table_path)
    if not todo:
        return write_table(rows, table_path)

    cluster = own_client = None
    try:
        if client is None:
            if scheduler is None:
                cluster = local_cluster(workers, threads, jobs=len(todo))
                client = own_client = Client(cluster)
                threads = cluster.celltrace_threads
            else:
                client = own_client = Client(scheduler)
        client.register_plugin(LoadTracker(method, device, params, threads or 1))
        futures = {}
        for i in todo:
            fut = client.submit(track_job, jobs[i], method, device, params, min_track_length, overwrite, command,
                                key=f"celltrace-track-{i}-{time.time_ns()}", pure=False)
            futures[fut] = i
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="celltrace batch", unit="movie",
                   disable=not progress)
        try:
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    rows[i] = fut.result()
                except FutureCancelledError:
                    rows[i] = row(jobs[i], "failed", error="cancelled")
                except Exception as exc:  # KilledWorker: every worker that tracked it died
                    rows[i] = row(jobs[i], "failed", error=f"the workers tracking it died (out of memory, or "
                                                           f"killed): {one_line(exc)}")
                bar.update(1)
                bar.set_postfix_str(f"{jobs[i].out.relative_to(out) if jobs[i].out.is_relative_to(out) else jobs[i].out}: "
                                    f"{rows[i]['status']}", refresh=False)
                write_table(rows, table_path)
        finally:
            bar.close()
            for fut in futures:
                fut.cancel()
    finally:
        if own_client is not None:
            own_client.close()
        if cluster is not None:
            cluster.close()
    return write_table(rows, table_path)


__all__ = ["batch", "local_cluster"]
