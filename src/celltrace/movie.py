"""Movie: the frames of one field of view, (T, H, W), read one frame at a time."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import CelltraceWarning, InputError
from celltrace.frames import Frames, LazyFrames, as_frames
from celltrace.io.bioformats import MICROSCOPE_SUFFIXES, is_ngff, read_bioimage
from celltrace.io.names import frame_order, movie_name
from celltrace.io.ome import ome_tiff_scale
from celltrace.io.tiff import IMAGE_SUFFIXES, check_2d, imagej_scale, read_frame, read_stack, tiff_info, tiff_layout
from celltrace.units import (INTERVAL_KEY, PIXEL_KEY, PixelSize, format_interval, format_pixel_size, frame_interval,
                             pixel_size_pair, scale_meta)

CTC_FRAME = re.compile(r"^t(\d+)\.tiff?$")


@dataclass
class Movie:
    """A 2D+time movie. ``frames[t]`` is frame t as a 2D numpy array, read on access.

    Open one with :func:`open_movie`; wrap an in-memory array with ``Movie(frames=array)``.

    ``pixel_size_um`` — (y, x) pixel edge in µm (one number: square pixels) — and
    ``frame_interval_s`` — seconds between frames — are the physical scale, ``None`` where unknown
    (:mod:`celltrace.units`).

    Unless ``finite=False`` (label images), float frames are made finite on access, for every method
    alike: NaN and ±inf pixels become the median of the frame's finite pixels (counted in
    :attr:`nonfinite`, reported once by :meth:`warn_nonfinite`), and a frame with no finite pixel
    raises :class:`~celltrace.errors.InputError` naming the file and the frame.
    """

    frames: Frames
    name: str = "movie"
    source: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    finite: bool = True
    pixel_size_um: PixelSize | None = None
    frame_interval_s: float | None = None
    nonfinite: dict[int, int] = field(default_factory=dict, init=False, repr=False)
    """Frame → number of NaN/inf pixels replaced, for the frames read so far."""
    _warned: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.frames = as_frames(self.frames)
        self.pixel_size_um = pixel_size_pair(self.pixel_size_um)
        self.frame_interval_s = frame_interval(self.frame_interval_s)
        if self.finite and np.issubdtype(self.frames.dtype, np.floating):
            raw = self.frames  # checked a frame at a time: a float memmap is not read up front
            lazy = raw if isinstance(raw, LazyFrames) else LazyFrames(len(raw), raw.shape[1:], raw.dtype,
                                                                      lambda t: raw[t])
            self.frames = lazy.map(self._finite)

    def _finite(self, t: int, frame: np.ndarray) -> np.ndarray:
        """``frame`` with its NaN/inf pixels replaced by the median of its finite pixels."""
        bad = ~np.isfinite(frame)
        n = int(np.count_nonzero(bad))
        if n == 0:
            return frame
        if n == frame.size:
            files = self.meta.get("files")
            where = files[t] if files is not None and len(files) == len(self) else (self.source or self.name)
            raise InputError(where, f"frame {t}: every pixel is NaN or infinite; nothing to track")
        frame = np.array(frame)
        frame[bad] = np.median(frame[~bad])
        self.nonfinite[t] = n
        return frame

    def warn_nonfinite(self) -> None:
        """Warn (once per movie, a :class:`~celltrace.errors.CelltraceWarning`) which frames read
        so far had NaN/inf pixels replaced, and how many."""
        if not self.nonfinite or self._warned:
            return
        self._warned = True
        items = sorted(self.nonfinite.items())
        listed = ", ".join(f"frame {t}: {n} px" for t, n in items[:8]) + (", …" if len(items) > 8 else "")
        total = sum(n for _, n in items)
        warnings.warn(f"{self.source or self.name}: NaN/inf pixels replaced by the frame's median in {len(items)} "
                      f"frame(s) ({listed}; {total} px in all)", CelltraceWarning, stacklevel=2)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape)  # type: ignore[return-value]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.frames.dtype)

    @property
    def frame_shape(self) -> tuple[int, int]:
        return self.shape[1], self.shape[2]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, t: int) -> np.ndarray:
        return np.asarray(self.frames[t])

    def __iter__(self) -> Iterator[np.ndarray]:
        for t in range(len(self)):
            yield self[t]

    def scale_meta(self) -> dict[str, Any]:
        """The scale as ``Tracking.meta`` keys (``pixel_size_um``, ``frame_interval_s``; only the
        known ones) plus ``scale_from`` (where each came from) and the file's ``selection``
        (scene, channel, z) when one was made."""
        out = scale_meta(self.pixel_size_um, self.frame_interval_s)
        for key in ("scale_from", "selection"):
            if self.meta.get(key):
                out[key] = self.meta[key]
        return out

    def __repr__(self) -> str:
        scale = [f"pixel_size_um={self.pixel_size_um}"] if self.pixel_size_um else []
        scale += [f"frame_interval_s={self.frame_interval_s:g}"] if self.frame_interval_s else []
        return f"Movie({self.name!r}, shape={self.shape}, dtype={self.dtype}{''.join(', ' + s for s in scale)})"


def _frames_from_files(files: list[Path]) -> LazyFrames:
    """Check every file's header (shape, dtype) without decoding, then read lazily."""
    shapes = []
    dtype = None
    for f in files:
        shape, dt, _ = tiff_info(f) if f.suffix.lower() in IMAGE_SUFFIXES else _other_image_info(f)
        hw = check_2d(f, shape)
        if shapes and hw != shapes[0]:
            raise InputError(f, f"frame of shape {hw} differs from {shapes[0]} of {files[0].name}")
        if dtype is not None and dt != dtype:
            raise InputError(f, f"frame of dtype {dt} differs from {dtype} of {files[0].name}")
        shapes.append(hw)
        dtype = dt

    def load(t: int) -> np.ndarray:
        f = files[t]
        return read_frame(f) if f.suffix.lower() in IMAGE_SUFFIXES else _read_other_image(f)

    return LazyFrames(len(files), shapes[0], dtype, load)


def _other_image_info(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    img = _read_other_image(path, check=False)
    return img.shape, img.dtype, 1


def _read_other_image(path: Path, check: bool = True) -> np.ndarray:
    from skimage import io as skio

    try:
        img = np.asarray(skio.imread(path))
    except Exception as exc:
        raise InputError(path, f"cannot read image ({type(exc).__name__}: {exc})") from None
    if check:
        check_2d(path, img.shape)
    return img


OTHER_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def open_movie(path: str | Path, finite: bool = True, *, scene: str | int | None = None,
               channel: str | int | None = None, z: int | str | None = None,
               pixel_size_um: float | PixelSize | None = None, frame_interval_s: float | None = None) -> Movie:
    """Open a movie lazily.

    Accepts a CTC sequence folder (``t000.tif``…, ``t0000.tif``… or ``t0.tif``…), a folder of
    single-frame images (in the order of the number in their names, ``frame2`` before ``frame10``;
    names whose order is ambiguous are refused, see :func:`~celltrace.io.names.frame_order`), a
    multi-page TIFF of shape (T, H, W) (a 2D TIFF is a one-frame movie), a zarr array of shape
    (T, H, W), and, with ``celltrace[formats]`` installed, microscope files through bioio
    (:mod:`celltrace.io.bioformats`): OME-TIFF and ImageJ hyperstacks with channels or z-planes,
    OME-Zarr (NGFF) folders, ND2, CZI, LIF. ``scene``, ``channel`` (a name or an index) and ``z``
    (an index, or ``"max"`` for the maximum projection) choose what to read where a file holds
    more than one movie. Headers are checked up front (missing files, damaged TIFFs, RGB or 3D
    frames, frames of different shapes raise :class:`~celltrace.errors.InputError`); pixels are read
    one frame at a time on access. ``finite=False`` keeps NaN/inf pixels as they are (see
    :class:`Movie`; for label images, which must not be repaired).

    Scale: the pixel size (µm) and frame interval (s) are read from OME and ImageJ metadata and the
    bioio readers when the file has them; ``pixel_size_um`` / ``frame_interval_s`` override the
    file (``movie.meta["scale_from"]`` says, for each, ``file`` or ``given`` and what the file said).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    chosen = scene is not None or channel is not None or z is not None
    suffix = path.suffix.lower()
    if is_ngff(path) or suffix in MICROSCOPE_SUFFIXES:
        movie = _open_bioimage(path, finite, scene, channel, z)
    elif path.is_dir() and (suffix == ".zarr" or (path / ".zarray").exists() or (path / "zarr.json").exists()):
        movie = _open_zarr(path, finite)
    elif path.is_dir():
        movie = _open_folder(path, finite)
    elif suffix in IMAGE_SUFFIXES:
        layout = tiff_layout(path)
        movie = _open_bioimage(path, finite, scene, channel, z) if chosen or layout.needs_choice else \
            _open_tiff(path, finite)
        scale = imagej_scale(path) if layout.kind == "imagej" else \
            ome_tiff_scale(path) if layout.kind == "ome" and "selection" not in movie.meta else (None, None)
        # bioio's TIFF reader misses ImageJ's frame interval: the metadata's values come first
        movie.pixel_size_um = scale[0] or movie.pixel_size_um
        movie.frame_interval_s = scale[1] or movie.frame_interval_s
    else:
        raise InputError(path, "unsupported movie format (expected a folder, a .tif/.tiff file, a .zarr array, "
                               "an OME-Zarr folder or an .nd2/.czi/.lif file)")
    if chosen and "selection" not in movie.meta:
        raise InputError(path, "scene, channel and z choose within microscope files (OME-TIFF, OME-Zarr, ND2, CZI, "
                               "LIF); this movie has one scene, one channel and one plane")
    return with_scale(movie, pixel_size_um, frame_interval_s)


def reads_through_bioio(path: str | Path) -> bool:
    """True when :func:`open_movie` reads ``path`` through bioio (:mod:`celltrace.io.bioformats`):
    OME-Zarr folders, ND2/CZI/LIF files, and TIFFs holding several scenes, channels or z-planes."""
    path = Path(path)
    if is_ngff(path) or path.suffix.lower() in MICROSCOPE_SUFFIXES:
        return True
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and tiff_layout(path).needs_choice


def with_scale(movie: Movie, pixel_size_um: float | PixelSize | None = None,
               frame_interval_s: float | None = None) -> Movie:
    """``movie`` with the given scale overriding the file's; records ``meta["scale_from"]``:
    ``file`` for a value read from the file, ``given`` (and the file's own value when it had a
    different one) for a value given here."""
    given = {PIXEL_KEY: pixel_size_pair(pixel_size_um), INTERVAL_KEY: frame_interval(frame_interval_s)}
    shown = {PIXEL_KEY: format_pixel_size, INTERVAL_KEY: format_interval}
    source = dict(movie.meta.get("scale_from") or {})
    for key, value in given.items():
        in_file = getattr(movie, key)
        if value is not None:
            source[key] = "given" + (f" (the file says {shown[key](in_file)})"
                                     if in_file is not None and in_file != value else "")
            setattr(movie, key, value)
        elif in_file is not None:
            source.setdefault(key, "file")
    if source:
        movie.meta["scale_from"] = source
    return movie


def _open_bioimage(path: Path, finite: bool, scene: str | int | None, channel: str | int | None,
                   z: int | str | None) -> Movie:
    image = read_bioimage(path, scene=scene, channel=channel, z=z)
    return Movie(image.frames, name=image.name, source=path, meta=image.meta, finite=finite,
                 pixel_size_um=image.pixel_size_um, frame_interval_s=image.frame_interval_s)


def _open_folder(path: Path, finite: bool) -> Movie:
    images = [p for p in path.iterdir()
              if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + OTHER_IMAGE_SUFFIXES and not p.name.startswith(".")]
    ctc = frame_order(path, [p for p in images if CTC_FRAME.match(p.name)])
    if ctc:
        indices = [i for i, _ in ctc]
        if indices != list(range(indices[0], indices[0] + len(indices))):
            missing = sorted(set(range(indices[0], indices[-1] + 1)) - set(indices))
            raise InputError(path, f"CTC sequence has missing frames: {missing[:5]}")
        files = [p for _, p in ctc]
    else:
        files = [p for _, p in frame_order(path, images)]
    if not files:
        raise InputError(path, "folder holds no image frames (expected t000.tif… or *.tif/*.png)")
    return Movie(_frames_from_files(files), name=path.name, source=path, meta={"files": files}, finite=finite)


def _open_tiff(path: Path, finite: bool) -> Movie:
    shape, dtype, npages = tiff_info(path)
    if len(shape) == 2:
        return Movie(_frames_from_files([path]), name=movie_name(path), source=path, finite=finite)
    if len(shape) == 3 and shape[-1] in (3, 4) and npages == 1:
        check_2d(path, shape)
    if len(shape) != 3:
        raise InputError(path, f"TIFF of shape {shape}; expected a (T, H, W) movie")
    if npages == shape[0]:
        loader = lambda t: read_frame(path, key=t)  # noqa: E731
    else:  # one page holding the whole stack: read it once on demand
        loader = lambda t: read_stack(path)[t]  # noqa: E731
    return Movie(LazyFrames(shape[0], shape[1:], dtype, loader), name=movie_name(path), source=path, finite=finite)


def _open_zarr(path: Path, finite: bool = True) -> Movie:
    try:
        import zarr
    except ImportError:
        raise InputError(path, "reading zarr needs the 'zarr' package (pip install zarr)") from None
    try:
        arr = zarr.open(str(path), mode="r")
    except Exception as exc:
        raise InputError(path, f"cannot open zarr array ({type(exc).__name__}: {exc})") from None
    if not hasattr(arr, "shape") or len(arr.shape) != 3:
        raise InputError(path, f"zarr array of shape {getattr(arr, 'shape', None)}; expected (T, H, W)")
    return Movie(LazyFrames(arr.shape[0], arr.shape[1:], arr.dtype, lambda t: np.asarray(arr[t])),
                 name=movie_name(path), source=path, finite=finite)
