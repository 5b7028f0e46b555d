"""The output folder of one tracked movie, written a chunk of frames at a time.

``OUT/`` holds the CTC RES files (``maskTTT.tif`` + ``res_track.txt``), ``cells.csv`` (one row per
cell per frame, :meth:`celltrace.Tracking.cell_table`) and ``run.json`` (:mod:`celltrace.io.runinfo`).
Nothing here holds more than :data:`CHUNK_FRAMES` frames' masks or table rows at once, so writing
a 10,000-frame result costs the memory of a few frames (the lineage aside).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from celltrace.io.ctc import write_ctc_files
from celltrace.io.mot import write_mot
from celltrace.io.suspects import write_suspects
from celltrace.tracking import Tracking

CELLS_FILE = "cells.csv"
MOT_FILE = "mot.txt"
POINTS_FILE = "points.csv"
CHUNK_FRAMES = 64
"""Frames measured per block of ``cells.csv`` rows (bounds the rows held in memory)."""


def write_cell_table(tracking: Tracking, out: str | Path | IO[str], movie: Any = None,
                     chunk: int = CHUNK_FRAMES) -> int:
    """Write ``tracking.cell_table(movie)`` as CSV to ``out`` (a path or an open text file),
    ``chunk`` frames at a time; the file equals ``cell_table(movie).to_csv(out, index=False)``.
    Returns the number of rows. Not atomic: write into a temporary place (:mod:`celltrace.io.atomic`)."""
    if isinstance(out, (str, Path)):
        with open(out, "w", newline="") as fh:
            return write_cell_table(tracking, fh, movie, chunk)
    T = tracking.n_frames
    rows = 0
    for start in range(0, max(T, 1), chunk):
        part = tracking.cell_table(movie, frames=range(start, min(T, start + chunk)))
        part.to_csv(out, index=False, header=start == 0)
        rows += len(part)
    return rows


def write_results(tracking: Tracking, folder: Path, movie: Any = None) -> list[str]:
    """Write the result files of ``tracking`` into the existing ``folder`` (a temporary one that
    :func:`~celltrace.io.atomic.atomic_dir` renames into place) and return the names of those
    beside the CTC RES files:

    * CTC RES masks and lineage, and ``cells.csv`` (mean intensities from ``movie``), always;
    * ``mot.txt`` (:mod:`celltrace.io.mot`) when the method scored each object (``meta["scores"]``:
      box-prompted methods);
    * ``points.csv`` (frame, label, y, x, visibility of the tracks kept) for point trackers
      (``tracking.points``);
    * ``suspects.csv`` (:mod:`celltrace.io.suspects`) when the method flagged suspect links
      (``meta["suspects"]``).

    ``run.json`` comes last (:func:`~celltrace.io.runinfo.write_run`), with the time the writing took."""
    write_ctc_files(tracking, folder, kind="res")
    write_cell_table(tracking, folder / CELLS_FILE, movie)
    written = [CELLS_FILE]
    if "scores" in tracking.meta:
        write_mot(tracking, folder / MOT_FILE, scores=tracking.meta["scores"])
        written.append(MOT_FILE)
    if tracking.points is not None:
        kept = tracking.points[tracking.points["label"].isin(tracking.lineage["label"])]
        kept.to_csv(folder / POINTS_FILE, index=False)
        written.append(POINTS_FILE)
    if tracking.meta.get("suspects") is not None:
        written.append(write_suspects(tracking.meta["suspects"], folder).name)
    return written


__all__ = ["CELLS_FILE", "CHUNK_FRAMES", "MOT_FILE", "POINTS_FILE", "write_cell_table", "write_results"]
