"""The batch's summary table (``batch.csv``) and the rows of results that are already complete."""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import pandas as pd

from celltrace.batch.inputs import MovieJob
from celltrace.errors import CelltraceError, InputError
from celltrace.io.atomic import atomic_file
from celltrace.io.runinfo import RUN_FILE, read_run

BATCH_FILE = "batch.csv"
COLUMNS = ["movie", "out", "status", "frames", "tracks", "divisions", "s_per_frame", "error"]
"""``status``: done, skipped (complete before), failed (``error`` says why) or pending;
``s_per_frame``: seconds of tracking and writing per frame."""


def one_line(exc: BaseException) -> str:
    """``exc`` as one line: our own errors as they are, others with their type."""
    if isinstance(exc, CelltraceError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def row(job: MovieJob, status: str, frames: int | None = None, tracks: int | None = None,
        divisions: int | None = None, s_per_frame: float | None = None, error: str = "") -> dict[str, Any]:
    """One row of the table (:data:`COLUMNS`) for ``job``."""
    return {"movie": str(job.movie), "out": str(job.out), "status": status, "frames": frames, "tracks": tracks,
            "divisions": divisions, "s_per_frame": None if s_per_frame is None else round(s_per_frame, 4),
            "error": error}


def finished(job: MovieJob, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The row of a movie whose result is already complete (its folder exists with ``run.json``,
    made from this movie by ``method`` with ``params``), else None. An existing folder made
    otherwise is a ``failed`` row saying so (``overwrite`` replaces it)."""
    if not os.path.lexists(job.out):
        return None
    try:
        record = read_run(job.out) if job.out.is_dir() else None
    except InputError as exc:
        record, problem = None, str(exc)
    else:
        problem = f"{job.out}: exists and is not a celltrace result (no {RUN_FILE})"
    if record is None:
        return row(job, "failed", error=f"{problem}; use --overwrite to replace it")
    same = (record.get("method") == method and record.get("input") == str(job.movie.resolve())
            and json.loads(json.dumps(record.get("overrides") or {})) == json.loads(json.dumps(params, default=str)))
    if not same:
        return row(job, "failed", error=f"{job.out}: holds a result of {record.get('input')} made by method "
                                         f"{record.get('method')} with {record.get('overrides') or 'its defaults'}; "
                                         f"use --overwrite to replace it")
    n = int(record.get("n_frames") or 0)
    seconds = sum((record.get("timings") or {}).get(k, 0.0) for k in ("track_s", "write_s"))
    return outcome(job, "skipped", n, record.get("n_tracks"), record.get("n_divisions"), seconds / max(n, 1))


def outcome(job: MovieJob, status: str, frames: int, tracks: int | None, divisions: int | None,
            s_per_frame: float) -> dict[str, Any]:
    """The row of a result made (``status`` done) or found (skipped); one without any track is
    ``failed``: no cells found (its empty result stays, so a re-run does not track it again)."""
    if tracks == 0:
        return row(job, "failed", frames, 0, 0, s_per_frame,
                   error=f"{job.movie}: no cells found in {frames} frames (the empty result is in {job.out})")
    return row(job, status, frames, tracks, divisions, s_per_frame)


def write_table(rows: Sequence[dict[str, Any]], path: Path) -> pd.DataFrame:
    """Write ``rows`` as the table ``path`` (atomically) and return it."""
    table = pd.DataFrame(list(rows), columns=COLUMNS)
    for col in ("frames", "tracks", "divisions"):
        table[col] = table[col].astype("Int64")
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)
    return table


__all__ = ["BATCH_FILE", "COLUMNS", "row", "one_line", "finished", "outcome", "write_table"]
