"""DeepCell ``.trk`` files (deepcell-tracking's ``load_trks`` / ``save_trk`` layout): a gzip tar with

* ``raw.npy`` — the movie, (T, H, W, 1) (zeros of dtype uint8 when no movie is given);
* ``tracked.npy`` — the label masks, (T, H, W, 1) int32, one label per track segment;
* ``lineage.json`` — ``{"<label>": {"label", "frames", "parent", "daughters", "frame_div", "capped"}}``:
  ``frames`` every frame the label is in, ``parent`` the mother (or null), ``daughters`` the
  labels beginning right after this one ends, ``frame_div`` their first frame (or null),
  ``capped`` true when the track ends in a division.

DeepCell lineages know divisions only (a daughter begins the frame after its mother ends). A CTC
gap continuation (a single child beginning later) is kept in the celltrace key ``"gap_parent"``,
which deepcell ignores, so ``parent`` stays valid for deepcell-tracking's ``is_valid_lineage``.
A label whose ``frames`` have holes is split at them (:mod:`celltrace.io.cells`).

The arrays are streamed into the tar a frame at a time; reading loads ``tracked.npy`` whole (a
gzip member cannot be read a frame at a time out of order), a frame at a time into the smallest
label dtype.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.frames import LazyFrames
from celltrace.io.atomic import atomic_file
from celltrace.io.cells import split_gaps
from celltrace.tracking import MAX_LABEL, Tracking, label_dtype


class _NpyStream(io.RawIOBase):
    """A readable stream of an ``.npy`` file (header, then frame after frame) for ``tarfile``."""

    def __init__(self, frames: Any, dtype: np.dtype, shape: tuple[int, ...]):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                      "fortran_order": False, "shape": shape})
        self.header = header.getvalue()
        self.size = len(self.header) + int(np.prod(shape)) * dtype.itemsize
        self._frames, self._dtype, self._t = frames, dtype, 0
        self._chunk, self._pos = self.header, 0       # the bytes being handed out, and how far

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        parts, wanted = [], n
        while wanted != 0:
            if self._pos == len(self._chunk):
                if self._t == len(self._frames):
                    break
                frame = np.asarray(self._frames[self._t])
                self._chunk, self._pos = np.ascontiguousarray(frame, dtype=self._dtype).tobytes(), 0
                self._t += 1
            end = len(self._chunk) if wanted < 0 else min(len(self._chunk), self._pos + wanted)
            parts.append(self._chunk[self._pos:end])
            wanted = wanted if wanted < 0 else wanted - (end - self._pos)
            self._pos = end
        return b"".join(parts)


def trk_lineage(tracking: Tracking) -> dict[str, dict[str, Any]]:
    """The ``lineage.json`` dictionary of ``tracking`` (module docstring)."""
    lin = tracking.lineage
    end = dict(zip(lin["label"].tolist(), lin["end"].tolist()))
    begin = dict(zip(lin["label"].tolist(), lin["begin"].tolist()))
    daughters: dict[int, list[int]] = {}
    for lab, par in zip(lin["label"].tolist(), lin["parent"].tolist()):
        if par and par in end and begin[lab] == end[par] + 1:
            daughters.setdefault(par, []).append(lab)
    out = {}
    for lab, b, e, par in lin[["label", "begin", "end", "parent"]].itertuples(index=False):
        lab, par = int(lab), int(par)
        division = bool(par) and par in end and b == end[par] + 1
        kids = sorted(daughters.get(lab, []))
        entry: dict[str, Any] = {"label": lab, "frames": list(range(int(b), int(e) + 1)),
                                 "parent": par if division else None, "daughters": kids,
                                 "frame_div": int(e) + 1 if kids else None, "capped": bool(kids)}
        if par and not division:
            entry["gap_parent"] = par
        out[str(lab)] = entry
    return out


def write_trk(tracking: Tracking, path: str | Path, movie: Any = None, overwrite: bool = False) -> Path:
    """Write ``tracking`` (and ``movie``, else zeros, as ``raw.npy``) as a DeepCell ``.trk`` file at
    ``path`` (atomically, frame by frame)."""
    path = Path(path)
    T, H, W = tracking.shape
    if movie is not None and tuple(np.shape(movie)[:3]) != (T, H, W):
        raise InputError(None, f"movie of shape {tuple(np.shape(movie))} does not match the tracking's {(T, H, W)}")
    raw_frames = movie if movie is not None else LazyFrames(T, (H, W), np.uint8, lambda t: np.zeros((H, W), np.uint8))
    raw_dtype = np.dtype(getattr(movie, "dtype", np.uint8)) if movie is not None else np.dtype(np.uint8)
    lineage = json.dumps(trk_lineage(tracking), indent=1).encode()
    with atomic_file(path, overwrite=overwrite) as tmp:
        with tarfile.open(tmp, mode="w:gz", compresslevel=1) as tar:
            info = tarfile.TarInfo("lineage.json")
            info.size = len(lineage)
            tar.addfile(info, io.BytesIO(lineage))
            for name, frames, dtype in (("raw.npy", raw_frames, raw_dtype),
                                        ("tracked.npy", tracking.masks, np.dtype(np.int32))):
                stream = _NpyStream(frames, dtype, (T, H, W, 1))
                info = tarfile.TarInfo(name)
                info.size = stream.size
                tar.addfile(info, stream)
    return path


def _load_npy(path: Path, tar: tarfile.TarFile, name: str, dtype: Any = None) -> np.ndarray:
    """Array ``name`` of the tar, read frame by frame (cast to ``dtype`` if given), so the memory
    peak is the array itself, not the member's bytes as well."""
    try:
        member = tar.extractfile(name)
    except KeyError:
        raise InputError(path, f"not a DeepCell .trk file: no {name} inside") from None
    try:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, stored = read_header(member)
        if fortran or stored.hasobject or len(shape) < 1:
            raise ValueError(f"{'Fortran-ordered' if fortran else 'object'} arrays are not read")
        if dtype is not None and not np.issubdtype(stored, np.integer):
            raise ValueError(f"dtype {stored}; labels must be integers")
        out = np.empty(shape, dtype=dtype or stored)
        size = int(np.prod(shape[1:])) * stored.itemsize
        for t in range(shape[0]):
            chunk = member.read(size)
            if len(chunk) != size:
                raise ValueError(f"ends in frame {t} of {shape[0]}")
            frame = np.frombuffer(chunk, dtype=stored).reshape(shape[1:])
            if dtype is not None and frame.size:
                if frame.min() < 0:
                    raise ValueError(f"negative label {int(frame.min())} in frame {t}")
                if frame.max() > np.iinfo(out.dtype).max:      # labels beyond the lineage's: widen
                    out = out.astype(np.uint32 if frame.max() <= MAX_LABEL else np.uint64)
            out[t] = frame
        return out
    except (ValueError, OSError, EOFError, tarfile.TarError) as exc:
        raise InputError(path, f"{name} inside is not a readable .npy array ({str(exc).splitlines()[0]})") from None


def _max_label(lineage: Any) -> int:
    """The largest label of a lineage.json (one movie or a list of one), 1 if none can be read."""
    entries = lineage[0] if isinstance(lineage, list) and len(lineage) == 1 else lineage
    try:
        return max((int(k) for k in entries), default=1)
    except (TypeError, ValueError):
        return 1


def read_trk(path: str | Path) -> Tracking:
    """Read a DeepCell ``.trk`` file into a Tracking (masks from ``tracked.npy``, lineage from
    ``lineage.json``; ``meta["raw"]`` holds ``raw.npy`` as (T, H, W) when it is not all zeros)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, ".trk file not found" if not path.exists() else "expected a .trk file, got a folder")
    try:
        with tarfile.open(path, mode="r") as tar:
            names = set(tar.getnames())
            lineage_name = next((n for n in ("lineage.json", "lineages.json") if n in names), None)
            if lineage_name is None:
                raise InputError(path, "not a DeepCell .trk file: no lineage.json inside")
            try:
                lineage = json.loads(tar.extractfile(lineage_name).read().decode())
            except (ValueError, UnicodeDecodeError) as exc:
                raise InputError(path, f"{lineage_name} inside is not JSON ({exc})") from None
            raw = _load_npy(path, tar, "raw.npy") if "raw.npy" in names else None
            tracked = _load_npy(path, tar, "tracked.npy", dtype=label_dtype(_max_label(lineage)))
    except (tarfile.TarError, EOFError, OSError) as exc:
        first = str(exc).splitlines()[0].rstrip(":") if str(exc) else type(exc).__name__
        raise InputError(path, f"not a readable .trk (tar) file ({first})") from None
    if isinstance(lineage, list):
        if len(lineage) != 1:
            raise InputError(path, f"lineages.json holds {len(lineage)} movies; celltrace reads one (.trk, not .trks)")
        lineage = lineage[0]
    if tracked.ndim == 4 and tracked.shape[-1] == 1:
        tracked = tracked[..., 0]
    if tracked.ndim != 3 or not np.issubdtype(tracked.dtype, np.integer):
        raise InputError(path, f"tracked.npy is {tracked.dtype} of shape {tracked.shape}; expected integer labels (T, H, W, 1)")
    if not isinstance(lineage, dict):
        raise InputError(path, "lineage.json is not a dictionary keyed by label")
    rows, parents = [], {}
    for key, entry in lineage.items():
        try:
            lab = int(key)
            frames = [int(f) for f in entry["frames"]]
            parent = entry.get("parent") or entry.get("gap_parent") or 0
            parents[lab] = int(parent)
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(path, f"lineage.json: entry {key!r} lacks a label, frames or parent ({exc})") from None
        rows.extend((f, lab) for f in frames)
    table = pd.DataFrame(rows, columns=["frame", "label"]).drop_duplicates()
    split, lin = split_gaps(table, parents)
    masks = tracked.astype(np.promote_types(tracked.dtype, label_dtype(int(lin["label"].max()) if len(lin) else 1)),
                           copy=False)
    old = table.sort_values(["label", "frame"], kind="stable")["label"].to_numpy()   # split_gaps' order
    moved = split["label"].to_numpy() != old
    for t, before, after in zip(split["frame"].to_numpy()[moved], old[moved], split["label"].to_numpy()[moved]):
        masks[t][masks[t] == before] = after
    meta: dict[str, Any] = {"source": str(path), "format": "trk"}
    if raw is not None and raw.any():
        meta["raw"] = raw[..., 0] if raw.ndim == 4 and raw.shape[-1] == 1 else raw
    return Tracking(masks=masks, lineage=lin, meta=meta)


__all__ = ["write_trk", "read_trk", "trk_lineage"]
