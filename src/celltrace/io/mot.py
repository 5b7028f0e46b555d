"""MOTChallenge / CTMC text: one line per cell per frame, ``frame,id,x,y,w,h,score,-1,-1,-1,parent``.

* ``frame`` is **1-based** (the first frame of the movie is 1, as in MOTChallenge); ``id`` is the
  track label; ``x, y`` the top-left corner of the box in 0-based pixel coordinates (the column and
  row of its first pixel), ``w, h`` its size in pixels (the box covers rows ``y .. y+h-1``);
  ``score`` the detection confidence (1 unless given); three ``-1`` (the unused 3D position of
  MOTChallenge results).
* ``parent`` — an **eleventh column added by celltrace** (not MOTChallenge) so the lineage survives:
  the label of the track this one continues from (a division's mother), 0 for none. Files with 6
  to 10 columns (plain MOT, CTMC) are read without parents.

A plain MOT id missing in some frames in between (occlusion) is split into segments joined as
parent → child (see :mod:`celltrace.io.cells`). Reading gives masks with the boxes drawn
(:mod:`celltrace.io.markers`); the frame size comes from ``frame_shape``, else a ``seqinfo.ini``
beside the file or one folder up (MOTChallenge's ``imHeight``, ``imWidth``, ``seqLength``), else the
smallest frame holding every box.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file
from celltrace.io.cells import tracking_from_cells
from celltrace.io.markers import frame_shape_of
from celltrace.tracking import Tracking

PARENT_COLUMN = 10
"""0-based index of celltrace's parent column (after MOTChallenge's ten)."""


def mot_rows(tracking: Tracking, scores: dict[tuple[int, int], float] | None = None) -> pd.DataFrame:
    """The MOT table of ``tracking`` (columns frame, id, x, y, w, h, score, wx, wy, wz, parent),
    boxes from the masks, frames 1-based; ``scores[(frame, label)]`` with the 0-based frame."""
    cells = tracking.cell_table()
    parents = cells["parent"].to_numpy(np.int64)
    if scores:
        score = [float(scores.get((int(t), int(lab)), 1.0)) for t, lab in zip(cells["frame"], cells["label"])]
    else:
        score = np.ones(len(cells))
    return pd.DataFrame({
        "frame": cells["frame"].to_numpy(np.int64) + 1, "id": cells["label"].to_numpy(np.int64),
        "x": cells["bbox_min_x"].to_numpy(np.int64), "y": cells["bbox_min_y"].to_numpy(np.int64),
        "w": (cells["bbox_max_x"] - cells["bbox_min_x"]).to_numpy(np.int64),
        "h": (cells["bbox_max_y"] - cells["bbox_min_y"]).to_numpy(np.int64),
        "score": np.asarray(score, np.float64), "wx": -1, "wy": -1, "wz": -1, "parent": parents,
    })


def write_mot(tracking: Tracking, path: str | Path, scores: dict[tuple[int, int], float] | None = None,
              overwrite: bool = True) -> Path:
    """Write ``tracking`` as MOT text at ``path`` (atomically), frames **1-based**, sorted by frame
    then id, with celltrace's parent column (module docstring).

    ``scores[(frame, label)]`` (``frame`` 0-based, as in ``tracking``) fills the score column;
    default 1, or the scores read from a MOT file (``tracking.meta["mot_scores"]``).
    """
    path = Path(path)
    if scores is None:
        scores = tracking.meta.get("mot_scores")
    table = mot_rows(tracking, scores).sort_values(["frame", "id"], kind="stable")
    lines = [f"{r.frame},{r.id},{r.x},{r.y},{r.w},{r.h},{r.score:g},-1,-1,-1,{r.parent}\n"
             for r in table.itertuples(index=False)]
    with atomic_file(path, overwrite=overwrite) as tmp:
        tmp.write_text("".join(lines))
    return path


def _seqinfo(path: Path) -> tuple[int | None, tuple[int, int] | None]:
    """``(seqLength, (imHeight, imWidth))`` from a MOTChallenge ``seqinfo.ini`` beside ``path`` or
    one folder up; ``(None, None)`` without one."""
    for folder in (path.parent, path.parent.parent):
        ini = folder / "seqinfo.ini"
        if ini.is_file():
            cp = configparser.ConfigParser()
            try:
                cp.read(ini)
                seq = cp["Sequence"]
                return int(seq["seqLength"]), (int(seq["imHeight"]), int(seq["imWidth"]))
            except (configparser.Error, KeyError, ValueError) as exc:
                raise InputError(ini, f"not a MOTChallenge seqinfo.ini ({exc})") from None
    return None, None


def parse_mot(path: str | Path) -> pd.DataFrame:
    """The numeric table of a MOT file (comma or white-space separated, 6 or more columns);
    :class:`InputError` naming the file and line for anything else."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "MOT file not found" if not path.exists() else "expected a MOT text file, got a folder")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read MOT file ({exc})") from None
    rows, width = [], None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 6:
            raise InputError(path, f"line {n}: expected at least 6 values 'frame,id,x,y,w,h', got {line.strip()!r}")
        if width is not None and len(parts) != width:
            raise InputError(path, f"line {n}: {len(parts)} values where line 1 has {width}")
        width = len(parts)
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise InputError(path, f"line {n}: not numbers: {line.strip()!r}") from None
    return pd.DataFrame(np.asarray(rows, np.float64).reshape(-1, width or 6))


def read_mot(path: str | Path, frame_shape: tuple[int, int] | None = None, n_frames: int | None = None) -> Tracking:
    """Read a MOT / CTMC text file into a Tracking with the boxes drawn as masks (module docstring).

    ``frame_shape`` (H, W) and ``n_frames`` fix the movie's size where the file cannot (else
    ``seqinfo.ini`` or the extent of the boxes). ``meta["mot_scores"]`` keeps the score column
    (keyed by 0-based frame and the label read).
    """
    path = Path(path)
    raw = parse_mot(path)
    seq_len, seq_shape = _seqinfo(path)
    frame_shape = frame_shape or seq_shape
    n_frames = n_frames or seq_len
    frames, ids = raw[0].to_numpy(), raw[1].to_numpy()
    for what, col in (("frame", frames), ("id", ids)):
        bad = col != np.round(col)
        if bad.any():
            raise InputError(path, f"{what} {col[bad][0]:g} is not an integer")
    if len(raw) and frames.min() < 1:
        raise InputError(path, f"frame {int(frames.min())}: MOT frames start at 1")
    if len(raw) and ids.min() < 1:
        raise InputError(path, f"id {int(ids.min())}: rows without a track id (detections) are not a tracking")
    w, h = raw[4].to_numpy(), raw[5].to_numpy()
    if len(raw) and (min(w.min(), h.min()) <= 0):
        raise InputError(path, "a box with width or height ≤ 0")
    table = pd.DataFrame({
        "frame": frames.astype(np.int64) - 1, "label": ids.astype(np.int64),
        "box_left": raw[2].to_numpy(), "box_top": raw[3].to_numpy(), "box_w": w, "box_h": h,
    })
    table["y"] = table["box_top"] + (h - 1) / 2
    table["x"] = table["box_left"] + (w - 1) / 2
    parents: dict[int, int] = {}
    if raw.shape[1] > PARENT_COLUMN:
        p = raw[PARENT_COLUMN].to_numpy()
        if (p != np.round(p)).any() or (p < 0).any():
            raise InputError(path, f"parent column (column {PARENT_COLUMN + 1}) holds {p[(p != np.round(p)) | (p < 0)][0]:g}, "
                                   f"not a label ≥ 0")
        for lab, par in zip(table["label"].tolist(), p.astype(np.int64).tolist()):
            if par:
                if parents.setdefault(lab, par) != par:
                    raise InputError(path, f"id {lab} has two parents ({parents[lab]} and {par})")
    table["score"] = raw[6].to_numpy() if raw.shape[1] > 6 else 1.0
    shape = None
    if n_frames is not None or frame_shape is not None:
        last = int(table["frame"].max()) + 1 if len(table) else 1
        shape = (n_frames or last, *(frame_shape or frame_shape_of(table)))
    tracking = tracking_from_cells(table, parents, path, shape=shape, meta={"format": "mot"})
    pts = tracking.points
    tracking.meta["mot_scores"] = dict(zip(zip(pts["frame"].tolist(), pts["label"].tolist()), pts["score"].tolist()))
    return tracking


__all__ = ["write_mot", "read_mot", "mot_rows", "parse_mot", "PARENT_COLUMN"]
