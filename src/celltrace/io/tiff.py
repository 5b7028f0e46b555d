"""TIFF frames: header inspection and frame reading that fail with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile

from celltrace.errors import InputError

IMAGE_SUFFIXES = (".tif", ".tiff")


def tiff_info(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Return (shape of the first page series, dtype, number of pages) without decoding pixels."""
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            return tuple(series.shape), np.dtype(series.dtype), len(tif.pages)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except Exception as exc:  # tifffile raises many types for damaged files
        raise InputError(path, f"not a readable TIFF ({type(exc).__name__}: {exc})") from None


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
    try:
        data = tifffile.imread(path, key=key) if key is not None else tifffile.imread(path)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except Exception as exc:
        where = f"page {key}: " if key is not None else ""
        raise InputError(path, f"{where}cannot read TIFF data ({type(exc).__name__}: {exc})") from None
    data = np.asarray(data)
    check_2d(path, data.shape)
    return data


def write_frame(path: Path, frame: np.ndarray, compress: bool = True) -> None:
    """Write one 2D frame as a (zlib-compressed) TIFF."""
    tifffile.imwrite(path, frame, compression="zlib" if compress else None)


def write_movie_tiff(frames, path: Path, progress: bool = False) -> None:
    """Write a (T, H, W) stack as one multi-page TIFF, a frame at a time (no whole-movie buffer)."""
    from tqdm.auto import tqdm

    pages = (np.asarray(frames[t]) for t in tqdm(range(len(frames)), desc="writing TIFF", unit="frame",
                                                   disable=not progress))
    with tifffile.TiffWriter(path, bigtiff=_needs_bigtiff(frames)) as tw:
        tw.write(pages, shape=tuple(frames.shape), dtype=frames.dtype, photometric="minisblack",
                 compression="zlib")


def _needs_bigtiff(frames) -> bool:
    n = int(np.prod(frames.shape)) * np.dtype(frames.dtype).itemsize
    return n > 2**31
