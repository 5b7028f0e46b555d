"""TIFF frames: header inspection and frame reading that fail with one clear line."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from celltrace.errors import InputError
from celltrace.units import frame_interval, pixel_size_pair, to_micrometres, to_seconds

IMAGE_SUFFIXES = (".tif", ".tiff")


class _HoldBack(logging.Filter):
    """Keeps tifffile's log records (damaged files log a line or two before they fail) off the
    console while the current thread reads through this module, collecting their text instead.
    Other threads and other code using tifffile are not affected."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        notes = getattr(self.local, "notes", None)
        if notes is None:
            return True
        notes.append(record.getMessage())
        return False


_HOLD_BACK = _HoldBack()
logging.getLogger("tifffile").addFilter(_HOLD_BACK)


@contextmanager
def quiet_tifffile() -> Iterator[list[str]]:
    """Hold back tifffile's log messages in this block; yield the list they are collected in."""
    before = getattr(_HOLD_BACK.local, "notes", None)
    _HOLD_BACK.local.notes = notes = []
    try:
        yield notes
    finally:
        _HOLD_BACK.local.notes = before


def _reason(exc: BaseException, notes: list[str]) -> str:
    """Why tifffile failed, in a few words: its last log message if it logged one (it tells more
    than the exception a damaged file ends in), else the exception."""
    if notes:
        return re.sub(r"^<tifffile\.[^>]*>\s*", "", notes[-1].splitlines()[0]) + "; damaged or truncated file?"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_complete(path: Path, tif: tifffile.TiffFile) -> None:
    """Raise InputError if the pixel data of the first or last page lies past the end of the file."""
    size = os.path.getsize(path)
    for page in (tif.pages[0], tif.pages[-1]):
        ends = [int(o) + int(c) for o, c in zip(page.dataoffsets, page.databytecounts) if c]
        if ends and max(ends) > size:
            raise InputError(path, f"truncated TIFF: pixel data runs to byte {max(ends)}, the file has {size} bytes")


def tiff_info(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Return (shape of the first page series, dtype, number of pages) without decoding pixels.

    Damaged or truncated files (data past the end of the file) raise one InputError line naming the
    file; tifffile's own log messages about them are held back."""
    with quiet_tifffile() as notes:
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                _check_complete(path, tif)
                return tuple(series.shape), np.dtype(series.dtype), len(tif.pages)
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except InputError:
            raise
        except Exception as exc:  # tifffile raises many types for damaged files
            raise InputError(path, f"not a readable TIFF ({_reason(exc, notes)})") from None


@dataclass(frozen=True)
class TiffLayout:
    """What a TIFF holds, from its headers: the first series' axes (tifffile's letters, e.g.
    ``TCZYX``; singleton axes dropped), its shape, the number of series and the metadata flavour."""

    axes: str
    shape: tuple[int, ...]
    n_series: int
    kind: str | None  # "ome", "imagej" or None

    def size(self, axis: str) -> int:
        return self.shape[self.axes.index(axis)] if axis in self.axes else 1

    @property
    def needs_choice(self) -> bool:
        """True when a frame is not one plane of one series: several series (OME scenes),
        channels, or z-planes besides time. ImageJ stacks labelled only with slices (Z) are read
        as time, as ImageJ users often save time-lapses that way."""
        if self.kind == "ome":
            return self.n_series > 1 or self.size("C") > 1 or self.size("Z") > 1
        if self.kind == "imagej":
            return self.size("C") > 1 or (self.size("Z") > 1 and self.size("T") > 1)
        return False


def tiff_layout(path: Path) -> TiffLayout:
    """The :class:`TiffLayout` of ``path`` (a damaged file raises one InputError line)."""
    with quiet_tifffile() as notes:
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                _check_complete(path, tif)
                kind = "ome" if tif.is_ome else "imagej" if tif.is_imagej else None
                return TiffLayout(series.axes, tuple(series.shape), len(tif.series), kind)
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except InputError:
            raise
        except Exception as exc:
            raise InputError(path, f"not a readable TIFF ({_reason(exc, notes)})") from None


def imagej_scale(path: Path) -> tuple[tuple[float, float] | None, float | None]:
    """(pixel size (y, x) in µm, frame interval in s) of an ImageJ TIFF: the X/YResolution tags
    (pixels per ``unit``) and ``finterval`` (in ``tunit``, seconds by default) that ImageJ writes;
    ``None`` each where absent or in a unit that is no length/time."""
    with tifffile.TiffFile(path) as tif:
        meta = tif.imagej_metadata or {}
        tags = tif.pages[0].tags
        res = [tags[name].value if name in tags else None for name in ("YResolution", "XResolution")]
    pixel = interval = None
    unit = str(meta.get("unit", ""))
    if "\\u" in unit:  # ImageJ writes µ as the escape \u00B5
        unit = unit.encode("ascii", "backslashreplace").decode("unicode_escape")
    if unit and unit not in ("pixel", "pixels") and all(r and r[0] and r[1] for r in res):
        try:
            pixel = pixel_size_pair(tuple(to_micrometres(r[1] / r[0], unit) for r in res))
        except ValueError:
            pixel = None
    if meta.get("finterval"):
        try:
            interval = frame_interval(to_seconds(float(meta["finterval"]), str(meta.get("tunit") or "second")))
        except ValueError:
            interval = None
    return pixel, interval


def check_2d(path: Path, shape: tuple[int, ...]) -> tuple[int, int]:
    """Return (H, W) for a single-plane 2D image, else raise an InputError naming the file."""
    if len(shape) == 2:
        if 0 in shape:
            raise InputError(path, f"image of shape {tuple(shape)} has no pixels")
        return int(shape[0]), int(shape[1])
    if len(shape) == 3 and shape[-1] in (3, 4):
        raise InputError(path, f"RGB image of shape {shape}; expected one grey-level 2D frame")
    raise InputError(path, f"image of shape {shape}; expected one 2D frame (H, W)")


def read_frame(path: Path, key: int | None = None) -> np.ndarray:
    """Read one 2D frame (page ``key`` of a multi-page file), raising InputError if it is damaged."""
    data = np.asarray(_imread(path, key))
    check_2d(path, data.shape)
    return data


def read_stack(path: Path) -> np.ndarray:
    """Read every page of a TIFF as one array, raising InputError if it is damaged."""
    return np.asarray(_imread(path, None))


def _imread(path: Path, key: int | None) -> np.ndarray:
    with quiet_tifffile() as notes:
        try:
            return tifffile.imread(path, key=key) if key is not None else tifffile.imread(path)
        except FileNotFoundError:
            raise InputError(path, "file not found") from None
        except Exception as exc:
            where = f"page {key}: " if key is not None else ""
            raise InputError(path, f"{where}cannot read TIFF data ({_reason(exc, notes)})") from None


def write_frame(path: Path, frame: np.ndarray, compress: bool = True) -> None:
    """Write one 2D frame as a (zlib-compressed) TIFF."""
    tifffile.imwrite(path, frame, compression="zlib" if compress else None)


def write_movie_tiff(frames, path: Path, progress: bool = False, pixel_size_um: tuple[float, float] | None = None,
                     frame_interval_s: float | None = None) -> None:
    """Write a (T, H, W) stack as one multi-page TIFF, a frame at a time (no whole-movie buffer).

    With a pixel size (µm) or frame interval (s) the file is an OME-TIFF carrying them
    (``PhysicalSizeY/X``, ``TimeIncrement``), so :func:`celltrace.open_movie` reads them back."""
    from tqdm.auto import tqdm

    pages = (np.asarray(frames[t]) for t in tqdm(range(len(frames)), desc="writing TIFF", unit="frame",
                                                   disable=not progress))
    scale: dict = {}
    if pixel_size_um is not None:
        scale.update(PhysicalSizeY=float(pixel_size_um[0]), PhysicalSizeYUnit="µm",
                     PhysicalSizeX=float(pixel_size_um[1]), PhysicalSizeXUnit="µm")
    if frame_interval_s is not None:
        scale.update(TimeIncrement=float(frame_interval_s), TimeIncrementUnit="s")
    with tifffile.TiffWriter(path, bigtiff=_needs_bigtiff(frames), ome=bool(scale)) as tw:
        tw.write(pages, shape=tuple(frames.shape), dtype=frames.dtype, photometric="minisblack",
                 compression="zlib", metadata={"axes": "TYX", **scale} if scale else {})


def _needs_bigtiff(frames) -> bool:
    n = int(np.prod(frames.shape)) * np.dtype(frames.dtype).itemsize
    return n > 2**31
