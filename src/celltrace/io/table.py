"""The CSV cell table (``cells.csv``, written by :meth:`Tracking.cell_table` / ``Tracking.to_csv``)
read back into a Tracking.

Required columns: ``frame`` (0-based), ``label``, ``centroid_y``, ``centroid_x``; optional
``parent`` (the track's parent label, 0 for none), ``area`` (pixels; the marker is a disk of that
area, else one pixel), the bounding box ``bbox_max_y``/``bbox_max_x`` (sizes the frame when no
shape is given) and the physical columns ``y_um``, ``x_um``, ``time_s`` (they give back
``meta["pixel_size_um"]`` and ``meta["frame_interval_s"]``). Other columns are kept in
``Tracking.points``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.cells import tracking_from_cells
from celltrace.tracking import Tracking

REQUIRED = ["frame", "label", "centroid_y", "centroid_x"]


def _scale(table: pd.DataFrame, physical: str, pixels: str) -> float | None:
    """The ratio ``physical / pixels`` where both columns exist (median over rows with pixels ≠ 0)."""
    if physical not in table or pixels not in table:
        return None
    ok = table[pixels].to_numpy(np.float64) != 0
    if not ok.any():
        return None
    return float(np.median(table[physical].to_numpy(np.float64)[ok] / table[pixels].to_numpy(np.float64)[ok]))


def read_cell_table(path: str | Path, shape: tuple[int, int, int] | None = None) -> Tracking:
    """Read a cells.csv into a Tracking with disks of each cell's area at its centroid (see the
    module docstring); ``shape`` (T, H, W) fixes the movie size the table does not hold."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "CSV file not found" if not path.exists() else "expected a CSV file, got a folder")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        raise InputError(path, f"cannot read as CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in table]
    if missing:
        raise InputError(path, f"not a celltrace cell table: missing column(s) {', '.join(missing)}")
    for col in ["frame", "label", "parent"]:
        if col in table:
            values = pd.to_numeric(table[col], errors="coerce")
            bad = values.isna() | (values != np.round(values)) | (values < (1 if col == "label" else 0))
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(path, f"row {row + 2}: {col} {table[col].iloc[row]!r} is not an integer ≥ "
                                       f"{1 if col == 'label' else 0}")
            table[col] = values.astype(np.int64)
    cells = table.rename(columns={"centroid_y": "y", "centroid_x": "x"})
    parents: dict[int, int] = {}
    if "parent" in cells:
        for lab, par in zip(cells["label"].tolist(), cells["parent"].tolist()):
            if par and parents.setdefault(lab, par) != par:
                raise InputError(path, f"label {lab} has two parents ({parents[lab]} and {par})")
        cells = cells.drop(columns="parent")
    if "area" in cells:
        cells["radius"] = np.sqrt(pd.to_numeric(cells["area"], errors="coerce").fillna(1).to_numpy(np.float64) / np.pi)
    if shape is None and {"bbox_max_y", "bbox_max_x"} <= set(cells) and len(cells):
        shape = (int(cells["frame"].max()) + 1, int(cells["bbox_max_y"].max()), int(cells["bbox_max_x"].max()))
    meta: dict = {"format": "csv"}
    py, px = _scale(cells, "y_um", "y"), _scale(cells, "x_um", "x")
    if py and px:
        meta["pixel_size_um"] = (py, px)
    dt = _scale(cells, "time_s", "frame")
    if dt:
        meta["frame_interval_s"] = dt
    return tracking_from_cells(cells, parents, path, shape=shape, meta=meta)


__all__ = ["read_cell_table"]
