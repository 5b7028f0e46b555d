"""Suspect links for curation: ``suspects.csv`` beside a result's masks.

A method that knows where it is unsure (DistNet2D: merge/split links its post-processing could not
resolve, links that contradict the predicted multiplicity; any method: low-confidence links) puts
a table in ``Tracking.meta["suspects"]``; :func:`write_suspects` writes it into the result folder.
Columns: ``frame`` (0-based), ``labels`` (the result's track labels involved, ``;``-separated),
``kind`` (short name of the problem), ``score`` (in [0, 1], higher = more suspicious), and
optionally ``y``, ``x`` (pixel position, for a points layer; computed from the labels' centroids
when absent).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file

SUSPECTS_FILE = "suspects.csv"
COLUMNS = ("frame", "labels", "kind", "score")
POSITION = ("y", "x")


def suspects_table(rows: Iterable[dict] | None = None) -> pd.DataFrame:
    """A suspects table from dicts with ``frame``, ``labels`` (a label or a sequence of labels),
    ``kind``, ``score`` and optionally ``y``, ``x``; empty with the right columns when no rows."""
    rows = list(rows or [])
    out = pd.DataFrame(rows, columns=[*COLUMNS, *POSITION]) if rows else pd.DataFrame(columns=[*COLUMNS, *POSITION])
    if len(out):
        out["labels"] = [format_labels(v) for v in out["labels"]]
        out["frame"] = out["frame"].astype(int)
        out["score"] = out["score"].astype(float)
    return out


def format_labels(labels: int | str | Sequence[int]) -> str:
    """``[3, 7]`` → ``"3;7"`` (a string stays as it is)."""
    if isinstance(labels, str):
        return labels
    if isinstance(labels, (int, np.integer)):
        return str(int(labels))
    return ";".join(str(int(v)) for v in labels)


def parse_labels(text: object) -> list[int]:
    """``"3;7"`` → ``[3, 7]`` (empty for an empty cell)."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return []
    return [int(v) for v in str(text).replace(",", ";").split(";") if v.strip()]


def write_suspects(table: pd.DataFrame, folder: str | Path) -> Path:
    """Write ``table`` as ``folder/suspects.csv`` atomically (columns :data:`COLUMNS` first, then
    ``y``, ``x`` if present). Returns the path."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"suspects table lacks columns {missing}")
    cols = [*COLUMNS, *[c for c in POSITION if c in table.columns]]
    path = Path(folder) / SUSPECTS_FILE
    with atomic_file(path) as tmp:
        table[cols].to_csv(tmp, index=False)
    return path


def read_suspects(path: str | Path) -> pd.DataFrame:
    """Read a ``suspects.csv`` (or the one inside a result folder); bad files are one
    :class:`InputError` line naming the file."""
    p = Path(path)
    if p.is_dir():
        p = p / SUSPECTS_FILE
    if not p.is_file():
        raise InputError(p, "no suspects file")
    try:
        table = pd.read_csv(p, dtype={"labels": str, "kind": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(p, f"not a suspects table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(p, f"suspects table without column(s) {', '.join(missing)}")
    try:
        table["frame"] = table["frame"].astype(int)
        table["score"] = table["score"].astype(float)
    except (TypeError, ValueError):
        raise InputError(p, "suspects table: frame must be integers and score numbers") from None
    table["labels"] = table["labels"].fillna("")
    return table


def suspect_positions(table: pd.DataFrame, masks: object) -> np.ndarray:
    """``(n, 3)`` array ``(frame, y, x)`` of each suspect: its ``y``, ``x`` when given, else the
    centroid of its labels in ``masks[frame]`` (NaN when none of them is there)."""
    out = np.full((len(table), 3), np.nan)
    for k, row in enumerate(table.itertuples(index=False)):
        out[k, 0] = row.frame
        y, x = getattr(row, "y", np.nan), getattr(row, "x", np.nan)
        if pd.notna(y) and pd.notna(x):
            out[k, 1:] = (y, x)
            continue
        labs = parse_labels(row.labels)
        if masks is not None and labs and 0 <= row.frame < len(masks):  # type: ignore[arg-type]
            ys, xs = np.nonzero(np.isin(np.asarray(masks[row.frame]), labs))  # type: ignore[index]
            if ys.size:
                out[k, 1:] = (ys.mean(), xs.mean())
    return out


__all__ = ["SUSPECTS_FILE", "COLUMNS", "suspects_table", "format_labels", "parse_labels", "write_suspects",
           "read_suspects", "suspect_positions"]
