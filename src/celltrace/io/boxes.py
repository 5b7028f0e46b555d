"""Box prompts: one box per cell, as BoxTrack's user draws them.

A box table has the columns ``frame, x0, y0, x1, y1`` and an optional ``id``: ``frame`` is the
0-based frame the box is drawn on, ``(x0, y0)`` its top-left and ``(x1, y1)`` its bottom-right
corner in pixel *edges* (a box around pixels ``i0..i1−1`` of a row has ``x0 = i0``, ``x1 = i1``;
x is the column, y the row), ``id`` a positive integer naming the cell.

Sources (:func:`load_boxes`):

* a CSV file with a header naming those columns (or no header: 5 or 6 numeric columns in that order);
* a JSON file: a list of objects with those keys (or ``{"boxes": [...]}``), or a list of
  ``[frame, x0, y0, x1, y1(, id)]`` rows;
* a label image of the first frame (TIFF/PNG/NPY, or a 2D integer array): one box per label, the
  label as its ``id``;
* a table (pandas DataFrame) with those columns.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file

COLUMNS = ["frame", "x0", "y0", "x1", "y1", "id"]
LABEL_IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".npy")


def boxes_from_labels(labels: np.ndarray, frame: int = 0) -> pd.DataFrame:
    """One box per label of a 2D label image (the label is its ``id``)."""
    labels = np.asarray(labels)
    rows = []
    for i, sl in enumerate(ndi.find_objects(labels.astype(np.int64, copy=False)), start=1):
        if sl is not None:
            rows.append((frame, sl[1].start, sl[0].start, sl[1].stop, sl[0].stop, i))
    return _typed(pd.DataFrame(rows, columns=COLUMNS))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["frame"] = out["frame"].astype(np.int64)
    for c in ("x0", "y0", "x1", "y1"):
        out[c] = out[c].astype(np.float64)
    out["id"] = out["id"].astype("float64") if "id" in out else np.nan
    return out[COLUMNS].reset_index(drop=True)


def check_boxes(table: pd.DataFrame, source: Any = None, frame_shape: tuple[int, int] | None = None) -> pd.DataFrame:
    """``table`` with the box columns checked and typed; a problem is one :class:`InputError` line
    naming ``source``."""
    where = source if isinstance(source, (str, Path)) else None
    missing = [c for c in COLUMNS[:5] if c not in table.columns]
    if missing:
        raise InputError(where, f"box table lacks the column(s) {', '.join(missing)} (expected frame,x0,y0,x1,y1[,id])")
    try:
        values = table[[c for c in COLUMNS if c in table.columns]].apply(pd.to_numeric)
    except (ValueError, TypeError):
        raise InputError(where, "box table holds values that are not numbers") from None
    core = values[COLUMNS[:5]].to_numpy(dtype=np.float64)
    if not np.isfinite(core).all():
        raise InputError(where, "box table holds empty, NaN or infinite coordinates")
    for i, (f, x0, y0, x1, y1) in enumerate(core):
        if f < 0 or f != round(f):
            raise InputError(where, f"box {i + 1}: frame {f:g} is not a whole number ≥ 0")
        if x1 <= x0 or y1 <= y0:
            raise InputError(where, f"box {i + 1}: needs x0 < x1 and y0 < y1, got ({x0:g}, {y0:g}, {x1:g}, {y1:g})")
        if frame_shape is not None:
            H, W = frame_shape
            if x1 <= 0 or y1 <= 0 or x0 >= W or y0 >= H:
                raise InputError(where, f"box {i + 1} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) lies outside the "
                                        f"{W}×{H} frame")
    if "id" in values and values["id"].notna().any():
        ids = values["id"].dropna()
        if (ids <= 0).any() or (ids != ids.round()).any():
            raise InputError(where, "box ids must be positive whole numbers")
    return _typed(values)


def read_boxes(path: str | Path) -> pd.DataFrame:
    """Boxes from a CSV or JSON file (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such box file")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(path, f"not valid JSON ({str(exc).splitlines()[0]})") from None
        if isinstance(data, dict):
            data = data.get("boxes")
        if not isinstance(data, list):
            raise InputError(path, 'expected a list of boxes (or {"boxes": [...]})')
        if data and all(isinstance(r, (list, tuple)) for r in data):
            table = _rows_table(data, path)
        elif all(isinstance(r, dict) for r in data):
            table = pd.DataFrame(data, columns=None if data else COLUMNS)
        else:
            raise InputError(path, "every box must be an object with frame,x0,y0,x1,y1[,id] or a list of numbers")
    else:
        try:
            table = pd.read_csv(path, skipinitialspace=True)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(path, f"not a readable CSV file ({str(exc).splitlines()[0] if str(exc) else 'empty'})") from None
        table.columns = [str(c).strip().lower() for c in table.columns]
        if "frame" not in table.columns:  # no header: numeric columns in order
            table = _rows_table(pd.read_csv(path, header=None).to_numpy().tolist(), path)
    return check_boxes(table, path)


def _rows_table(rows: list, path: Path) -> pd.DataFrame:
    widths = {len(r) for r in rows}
    if not widths <= {5, 6}:
        raise InputError(path, f"box rows must have 5 or 6 values (frame,x0,y0,x1,y1[,id]), found {sorted(widths)}")
    return pd.DataFrame([list(r) + [np.nan] * (6 - len(r)) for r in rows], columns=COLUMNS)


def load_boxes(source: Any, frame_shape: tuple[int, int] | None = None) -> pd.DataFrame:
    """Boxes from any source of the module docstring, checked against ``frame_shape`` (H, W)."""
    if isinstance(source, pd.DataFrame):
        return check_boxes(source, "boxes", frame_shape)
    if isinstance(source, np.ndarray):
        if source.ndim != 2 or not np.issubdtype(source.dtype, np.integer):
            raise InputError(None, f"a box label image must be a 2D integer array, got {source.dtype} {source.shape}")
        return check_boxes(boxes_from_labels(source), "label image", frame_shape)
    path = Path(source)
    if path.suffix.lower() in LABEL_IMAGE_SUFFIXES:
        labels = _read_label_image(path)
        if frame_shape is not None and labels.shape != tuple(frame_shape):
            raise InputError(path, f"label image of shape {labels.shape} for frames of shape {tuple(frame_shape)}")
        return check_boxes(boxes_from_labels(labels), path, frame_shape)
    return check_boxes(read_boxes(path), path, frame_shape)


def _read_label_image(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(path, "no such label image")
    if path.suffix.lower() == ".npy":
        labels = np.load(path, allow_pickle=False)
    else:
        from celltrace.io.tiff import read_frame

        if path.suffix.lower() == ".png":
            from skimage.io import imread

            labels = np.asarray(imread(path))
        else:
            labels = read_frame(path)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(path, f"expected a 2D integer label image, got {labels.dtype} of shape {labels.shape}")
    if labels.min() < 0:
        raise InputError(path, "label image holds negative labels")
    return labels


def write_boxes(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a box table as CSV (``frame,x0,y0,x1,y1,id``), atomically."""
    table = check_boxes(table, path)
    with atomic_file(path) as tmp:
        table.to_csv(tmp, index=False)
    return Path(path)


__all__ = ["load_boxes", "read_boxes", "write_boxes", "boxes_from_labels", "check_boxes", "COLUMNS"]
