"""The result formats celltrace reads and writes, in one registry that ``convert``, ``info`` and the
napari reader use: which format a file or folder is, how to read it into a Tracking, how to write one.

=========  ================================  =====  ============================================
name       on disk                           masks  module
=========  ================================  =====  ============================================
ctc-res    folder: ``maskTTT.tif``, res_track  yes  :mod:`celltrace.io.ctc`
ctc-gt     folder: ``TRA/man_trackTTT.tif``…   yes  :mod:`celltrace.io.ctc`
csv        ``.csv`` cell table                 no   :mod:`celltrace.io.table`
geff       ``.geff`` / ``.zarr`` graph store   no   :mod:`celltrace.io.geff`
napari     ``.npz`` tracks (data, graph)       no   :mod:`celltrace.io.napari_tracks`
trackmate  ``.xml`` TrackMate model            no   :mod:`celltrace.io.trackmate`
trk        ``.trk`` DeepCell tar               yes  :mod:`celltrace.io.trk`
mot        ``.txt`` MOTChallenge / CTMC        no   :mod:`celltrace.io.mot`
ome-zarr   ``.ome.zarr`` NGFF labels           yes  :mod:`celltrace.io.omezarr`
=========  ================================  =====  ============================================

Formats without masks read back with markers drawn as masks (:mod:`celltrace.io.markers`).
Readers and writers are named ``module:function`` and imported when used, so detecting a format
does not load zarr, geff or ome-zarr (slow to import).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celltrace.errors import InputError
from celltrace.io.ctc import locate_ctc, write_ctc
from celltrace.io.mot import read_mot
from celltrace.tracking import Tracking


@dataclass(frozen=True)
class ResultFormat:
    """One result format: ``extensions`` of its outputs (the first is added to a name without one;
    none for folders), whether it holds ``masks``, and ``module:function`` of its reader and writer.

    Readers are called ``read(path, **hints)`` with the hints they accept (``shape``: the movie's
    (T, H, W) for formats that do not store it); writers ``write(tracking, path, overwrite=...,
    movie=...)`` with ``movie`` only where ``uses_movie``.
    """

    name: str
    description: str
    extensions: tuple[str, ...]
    masks: bool
    reader: str
    writer: str
    uses_movie: bool = False
    takes_shape: bool = False

    @property
    def folder(self) -> bool:
        """True when the output is a folder (a zarr store or a CTC folder)."""
        return self.name in ("ctc-res", "ctc-gt", "geff", "ome-zarr")

    def _function(self, spec: str) -> Callable[..., Any]:
        module, name = spec.split(":")
        return getattr(importlib.import_module(module), name)

    def read(self, path: str | Path, shape: tuple[int, int, int] | None = None) -> Tracking:
        read = self._function(self.reader)
        return read(path, shape=shape) if self.takes_shape else read(path)

    def write(self, tracking: Tracking, path: str | Path, movie: Any = None, overwrite: bool = False) -> Path:
        write = self._function(self.writer)
        extra = {"movie": movie} if self.uses_movie else {}
        return write(tracking, path, overwrite=overwrite, **extra)


FORMATS: dict[str, ResultFormat] = {f.name: f for f in [
    ResultFormat("ctc-res", "CTC RES folder", (), True, "celltrace.io.ctc:read_ctc", "celltrace.io.formats:_write_ctc_res"),
    ResultFormat("ctc-gt", "CTC GT folder", (), True, "celltrace.io.ctc:read_ctc", "celltrace.io.formats:_write_ctc_gt"),
    ResultFormat("csv", "CSV cell table", (".csv",), False, "celltrace.io.table:read_cell_table",
                 "celltrace.io.formats:_write_csv", uses_movie=True, takes_shape=True),
    ResultFormat("geff", "GEFF graph", (".geff", ".zarr"), False, "celltrace.io.geff:read_geff",
                 "celltrace.io.geff:write_geff"),
    ResultFormat("napari", "napari tracks", (".npz",), False, "celltrace.io.napari_tracks:read_napari_tracks",
                 "celltrace.io.napari_tracks:write_napari_tracks", takes_shape=True),
    ResultFormat("trackmate", "TrackMate XML", (".xml",), False, "celltrace.io.trackmate:read_trackmate",
                 "celltrace.io.trackmate:write_trackmate"),
    ResultFormat("trk", "DeepCell .trk", (".trk",), True, "celltrace.io.trk:read_trk", "celltrace.io.trk:write_trk",
                 uses_movie=True),
    ResultFormat("mot", "MOT / CTMC text", (".txt",), False, "celltrace.io.formats:_read_mot",
                 "celltrace.io.mot:write_mot", takes_shape=True),
    ResultFormat("ome-zarr", "OME-Zarr labels", (".ome.zarr", ".zarr"), True, "celltrace.io.omezarr:read_omezarr",
                 "celltrace.io.omezarr:write_omezarr", uses_movie=True),
]}


def _write_ctc_res(tracking: Tracking, path: Path, overwrite: bool = False) -> Path:
    return write_ctc(tracking, path, kind="res", overwrite=overwrite)


def _write_ctc_gt(tracking: Tracking, path: Path, overwrite: bool = False) -> Path:
    return write_ctc(tracking, path, kind="gt", overwrite=overwrite)


def _write_csv(tracking: Tracking, path: Path, overwrite: bool = False, movie: Any = None) -> Path:
    return tracking.to_csv(path, movie, overwrite=overwrite)


def _read_mot(path: Path, shape: tuple[int, int, int] | None = None) -> Tracking:
    return read_mot(path, frame_shape=shape[1:] if shape else None, n_frames=shape[0] if shape else None)


def _zarr_attrs(folder: Path) -> dict:
    """Root attributes of a zarr store (v3 ``zarr.json`` or v2 ``.zattrs``), {} if none."""
    for name, key in (("zarr.json", "attributes"), (".zattrs", None)):
        f = folder / name
        if f.is_file():
            try:
                doc = json.loads(f.read_text())
            except (ValueError, OSError, UnicodeDecodeError):
                return {}
            return (doc.get(key, {}) if key else doc) or {}
    return {}


def detect_format(path: str | Path) -> str:
    """The registry name of the result at ``path``; :class:`InputError` (one line) if none fits."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    name = path.name.lower()
    if path.is_dir():
        try:
            return "ctc-" + locate_ctc(path)[0]
        except InputError:
            pass
        attrs = _zarr_attrs(path)
        if "geff" in attrs:
            return "geff"
        if (path / "labels").is_dir():
            return "ome-zarr"
        if name.endswith((".geff", ".zarr")):
            raise InputError(path, "zarr store that is neither GEFF (no 'geff' attributes) nor OME-Zarr with labels")
        raise InputError(path, "not a result folder celltrace knows (CTC RES/GT, GEFF or OME-Zarr)")
    for fmt in FORMATS.values():
        if fmt.extensions and not fmt.folder and name.endswith(fmt.extensions):
            return fmt.name
    known = ", ".join(e for f in FORMATS.values() if not f.folder for e in f.extensions)
    raise InputError(path, f"not a result file celltrace knows (expected one of {known}, or a folder)")


def read_result(path: str | Path, shape: tuple[int, int, int] | None = None) -> Tracking:
    """Read the result at ``path``, whatever its format (:func:`detect_format`); ``shape`` gives the
    movie size to formats that do not store it."""
    return FORMATS[detect_format(path)].read(path, shape=shape)


def write_result(tracking: Tracking, path: str | Path, to: str, movie: Any = None, overwrite: bool = False) -> Path:
    """Write ``tracking`` at ``path`` in format ``to`` (a registry name); atomic for every format."""
    if to not in FORMATS:
        raise InputError(None, f"unknown result format {to!r} (known: {', '.join(FORMATS)})")
    return FORMATS[to].write(tracking, path, movie=movie, overwrite=overwrite)


__all__ = ["FORMATS", "ResultFormat", "detect_format", "read_result", "write_result"]
