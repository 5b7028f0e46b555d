"""Cell Tracking Challenge folders: GT (``TRA/man_track*.tif``, ``man_track.txt``) and RES
(``mask*.tif``, ``res_track.txt``), read lazily and written atomically."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.frames import LazyFrames
from celltrace.io.atomic import atomic_dir
from celltrace.io.names import numbered_files
from celltrace.io.runinfo import run_scale
from celltrace.io.tiff import check_2d, read_frame, tiff_info, write_frame
from celltrace.tracking import LINEAGE_COLUMNS, MAX_LABEL, Tracking, label_dtype, label_problem, make_lineage

GT_MASK = re.compile(r"^man_track(\d{3,4})\.tiff?$")
RES_MASK = re.compile(r"^mask(\d{3,4})\.tiff?$")
SEG_MASK = re.compile(r"^man_seg(\d{3,4})\.tiff?$")


def read_lineage(path: str | Path) -> pd.DataFrame:
    """Parse a CTC lineage file (one ``L B E P`` line of integers per track)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "lineage file not found")
    rows = []
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read lineage file ({exc})") from None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise InputError(path, f"line {n}: expected 4 integers 'L B E P', got {line.strip()!r}")
        try:
            vals = [int(p) for p in parts]
        except ValueError:
            raise InputError(path, f"line {n}: expected 4 integers 'L B E P', got {line.strip()!r}") from None
        if min(vals) < 0:
            raise InputError(path, f"line {n}: negative value in {line.strip()!r}")
        if max(vals) > MAX_LABEL:
            raise InputError(path, f"line {n}: value {max(vals)} exceeds {MAX_LABEL}, the largest label or "
                                   f"frame number celltrace accepts")
        rows.append(vals)
    return make_lineage(rows)


def write_lineage(lineage: pd.DataFrame, path: str | Path) -> None:
    """Write ``L B E P`` lines, one per track, sorted by label."""
    lin = make_lineage(lineage)
    Path(path).write_text("".join(f"{a} {b} {c} {d}\n" for a, b, c, d in lin[LINEAGE_COLUMNS].to_numpy()))


def locate_ctc(folder: str | Path) -> tuple[str, Path, Path]:
    """Return (kind, mask folder, lineage file) for a GT folder, its TRA folder, or a RES folder."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(folder, "no such folder")
    if not folder.is_dir():
        raise InputError(folder, "expected a CTC GT or RES folder, got a file")
    if (folder / "TRA").is_dir():
        return "gt", folder / "TRA", folder / "TRA" / "man_track.txt"
    if (folder / "man_track.txt").exists() or any(GT_MASK.match(p.name) for p in folder.iterdir()):
        return "gt", folder, folder / "man_track.txt"
    if (folder / "res_track.txt").exists() or any(RES_MASK.match(p.name) for p in folder.iterdir()):
        return "res", folder, folder / "res_track.txt"
    raise InputError(folder, "not a CTC folder (no TRA/, man_track*.tif or mask*.tif with its lineage file)")


def read_ctc(folder: str | Path, n_frames: int | None = None) -> Tracking:
    """Read a CTC GT or RES folder into a Tracking with lazily read masks.

    Mask files must be numbered 0..T-1 without gaps (``n_frames`` checks T), share one 2D shape
    and hold integer labels; the lineage file must parse. The scale a RES folder's ``run.json``
    records goes into ``meta`` (``pixel_size_um``, ``frame_interval_s``). The CTC rules themselves
    are checked by :meth:`Tracking.validate`, not here, so a broken result can still be inspected. A
    folder that is a symbolic link (a live result, :mod:`celltrace.live`) is resolved once: every
    file, also the masks read later, comes from the version it showed then.
    """
    source = Path(folder)
    if source.is_symlink():  # e.g. a live result (celltrace.live): read one version of it throughout
        folder = Path(os.path.realpath(source))
    kind, mask_dir, lineage_file = locate_ctc(folder)
    pattern = GT_MASK if kind == "gt" else RES_MASK
    files = numbered_files(mask_dir, pattern)
    if not files:
        raise InputError(mask_dir, f"no mask files ({'man_trackNNN.tif' if kind == 'gt' else 'maskNNN.tif'})")
    indices = [i for i, _ in files]
    expected = list(range(n_frames if n_frames is not None else indices[-1] + 1))
    missing = sorted(set(expected) - set(indices))
    if missing or indices[0] != 0:
        raise InputError(mask_dir, f"mask files missing for frames {missing[:5]}{'…' if len(missing) > 5 else ''}")
    paths = [p for i, p in files if i < len(expected)]
    lineage = read_lineage(lineage_file)
    shape0 = None
    max_label = int(lineage["label"].max()) if len(lineage) else 1
    dtype = label_dtype(max_label)
    for p in paths:
        shape, frame_dtype, _ = tiff_info(p)
        hw = check_2d(p, shape)
        if not np.issubdtype(frame_dtype, np.integer):
            raise InputError(p, f"mask of dtype {frame_dtype}; labels must be integers")
        if shape0 is not None and hw != shape0:
            raise InputError(p, f"mask of shape {hw} differs from {shape0} of {paths[0].name}")
        shape0 = hw
        dtype = np.promote_types(dtype, frame_dtype)   # one dtype that holds every frame's labels
    if not np.issubdtype(dtype, np.integer):           # uint64 with signed frames: no common type
        dtype = np.dtype(np.int64)                     # (labels beyond int64 are refused by load)

    def load(t: int) -> np.ndarray:
        frame = read_frame(paths[t])
        if not np.issubdtype(frame.dtype, np.integer):
            raise InputError(paths[t], f"mask of dtype {frame.dtype}; labels must be integers")
        if frame.shape != shape0:
            raise InputError(paths[t], f"mask of shape {frame.shape} differs from {shape0} of {paths[0].name}")
        if frame.size and not np.can_cast(frame.dtype, dtype):
            lo, hi, info = frame.min(), frame.max(), np.iinfo(dtype)
            if lo < info.min or hi > info.max:
                raise InputError(paths[t], f"label {int(lo if lo < info.min else hi)} does not fit {dtype}, "
                                           f"the labels of the other masks")
        return frame

    masks = LazyFrames(len(paths), shape0, dtype, load)
    return Tracking(masks=masks, lineage=lineage,
                    meta={"kind": kind, "source": str(source), "lineage_file": str(lineage_file),
                          "mask_files": [str(p) for p in paths], **run_scale(folder)})


def write_ctc(tracking: Tracking, folder: str | Path, kind: str = "res", overwrite: bool = False) -> Path:
    """Write ``tracking`` as a CTC RES folder (``maskTTT.tif`` + ``res_track.txt``) or, with
    ``kind='gt'``, a GT folder (``TRA/man_trackTTT.tif`` + ``TRA/man_track.txt``). Frames are numbered
    with 3 digits, or 4 from 1,000 frames on. The folder appears only when complete."""
    if kind not in ("res", "gt"):
        raise ValueError(f"kind must be 'res' or 'gt', not {kind!r}")
    folder = Path(folder)
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        write_ctc_files(tracking, tmp, kind)
    return folder


def write_ctc_files(tracking: Tracking, folder: Path, kind: str = "res") -> None:
    """Write the CTC files of ``tracking`` into the existing ``folder`` (not atomic: see write_ctc)."""
    T = tracking.n_frames
    digits = 3 if T <= 1000 else 4
    max_label = int(tracking.lineage["label"].max()) if tracking.n_tracks else 1
    dtype = label_dtype(max_label)
    out = folder / "TRA" if kind == "gt" else folder
    out.mkdir(exist_ok=True)
    stem = "man_track" if kind == "gt" else "mask"
    for t in range(T):
        write_frame(out / f"{stem}{t:0{digits}d}.tif", np.asarray(tracking.masks[t]).astype(dtype, copy=False))
    write_lineage(tracking.lineage, out / ("man_track.txt" if kind == "gt" else "res_track.txt"))


def seg_files(gt_folder: str | Path) -> dict[int, Path]:
    """Frame index → ``SEG/man_segTTT.tif`` of a CTC GT folder (empty if it has no SEG)."""
    seg = Path(gt_folder) / "SEG"
    if not seg.is_dir():
        return {}
    return dict(numbered_files(seg, SEG_MASK))


def is_seg_only(folder: str | Path) -> bool:
    """True for a folder with segmentation truth only: ``SEG/man_segNNN.tif`` but no tracking
    truth (no ``TRA/``, ``man_track*``; e.g. a CTC ``NN_ST`` silver-truth folder)."""
    folder = Path(folder)
    if not folder.is_dir() or not seg_files(folder):
        return False
    try:
        locate_ctc(folder)
    except InputError:
        return True
    return False


def read_seg(gt_folder: str | Path, frame_shape: tuple[int, int] | None = None, n_frames: int | None = None,
             frames: range | None = None) -> dict[int, np.ndarray]:
    """Read the SEG ground-truth frames of a GT folder: frame index → label image.

    Each must be an integer label image without negative labels; with ``frame_shape`` of that
    shape, with ``n_frames`` numbered below it. ``frames`` reads only those frame indices.
    A SEG file breaking this raises :class:`InputError` naming it.
    """
    out = {}
    for t, p in seg_files(gt_folder).items():
        if n_frames is not None and t >= n_frames:
            raise InputError(p, f"SEG frame {t} is beyond the movie's {n_frames} frames (0..{n_frames - 1})")
        if frames is not None and t not in frames:
            continue
        seg = read_frame(p)
        problem = label_problem(seg)
        if problem is None and frame_shape is not None and seg.shape != tuple(frame_shape):
            problem = f"SEG frame of shape {seg.shape}; the movie's frames are {tuple(frame_shape)}"
        if problem:
            raise InputError(p, problem)
        out[t] = seg
    return out


def write_ctc_sequence(frames, folder: str | Path, overwrite: bool = False) -> Path:
    """Write raw frames as a CTC sequence folder (``t000.tif``…; 4 digits from 1,000 frames on)."""
    folder = Path(folder)
    digits = 3 if len(frames) <= 1000 else 4
    with atomic_dir(folder, overwrite=overwrite) as tmp:
        for t in range(len(frames)):
            write_frame(tmp / f"t{t:0{digits}d}.tif", np.asarray(frames[t]))
    return folder
