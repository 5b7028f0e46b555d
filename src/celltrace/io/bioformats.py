"""Microscope files through bioio and its plugins: OME-TIFF, OME-Zarr (NGFF), ND2, CZI, LIF and
ImageJ hyperstacks (optional extra ``celltrace[formats]``).

A file holds images of up to five dimensions (T, C, Z, Y, X) in one or more scenes (positions).
:func:`read_bioimage` chooses one scene, one channel and one z-plane (or the maximum over z) and
returns lazy (T, Y, X) frames with their scale (:func:`celltrace.open_movie` makes the Movie):
frame t reads only the chunks of frame t.
Whatever is ambiguous (several scenes, channels or z-planes and no choice) or does not exist
raises one :class:`~celltrace.errors.InputError` line that lists what the file has.

Scale: OME metadata (OME-TIFF) through :func:`celltrace.io.ome.ome_scale`; otherwise the
reader's ``physical_pixel_sizes`` (µm in bioio's convention, converted from the axis unit where
the reader gives one, as OME-Zarr does) and ``standard_metadata.timelapse_interval``. OME-Zarr
axes without a unit carry no scale (their scale defaults to 1).
"""

from __future__ import annotations

import logging
import re
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import InputError
from celltrace.frames import LazyFrames
from celltrace.io.names import movie_name
from celltrace.io.ome import ome_scale
from celltrace.io.tiff import quiet_tifffile
from celltrace.units import PixelSize, frame_interval, pixel_size_pair, to_micrometres, to_seconds

MICROSCOPE_SUFFIXES = (".nd2", ".czi", ".lif")
INSTALL_HINT = "pip install 'celltrace[formats]'"
_DECLINED = re.compile(r"^.*?does not support the image: '[^']*'\.?\s*")  # the plugin's preamble, naming the path again
MAX_PROJECTION = "max"


def is_ngff(path: Path) -> bool:
    """True for an OME-Zarr (NGFF) image folder: ``*.ome.zarr`` or a zarr group whose attributes
    hold ``multiscales`` (NGFF 0.4: ``.zattrs``; 0.5: ``zarr.json`` under ``ome``)."""
    import json

    if not path.is_dir():
        return False
    if path.name.lower().endswith(".ome.zarr"):
        return True
    for name in ("zarr.json", ".zattrs"):
        f = path / name
        if f.is_file():
            try:
                attrs = json.loads(f.read_text())
            except (OSError, ValueError):
                return False
            attrs = attrs.get("attributes", attrs) if name == "zarr.json" else attrs
            return "multiscales" in attrs or "multiscales" in attrs.get("ome", {})
    return False


class _Collect(logging.Handler):
    """Collects the messages of bioio's logger (each plugin that declines a file logs why)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _ngff_reader() -> Any:
    """bioio-ome-zarr's Reader: bioio picks plugins by suffix, and an NGFF folder need not end in .ome.zarr."""
    try:
        from bioio_ome_zarr import Reader
    except ImportError:
        raise InputError(None, f"reading OME-Zarr needs bioio-ome-zarr ({INSTALL_HINT})") from None
    return Reader


def _bioimage(path: Path) -> Any:
    """``bioio.BioImage(path)``; a missing package or plugin or an unreadable file: one line."""
    try:
        import bioio
        from bioio_base.exceptions import UnsupportedFileFormatError
    except ImportError:
        raise InputError(path, f"reading this format needs bioio and its plugins ({INSTALL_HINT})") from None
    logger = logging.getLogger("bioio")
    collect, propagate = _Collect(), logger.propagate
    logger.addHandler(collect)
    logger.propagate = False  # held back: a plugin declining the file is not the user's business
    try:
        with warnings.catch_warnings(), quiet_tifffile():
            warnings.simplefilter("ignore")  # plugins warn about metadata they skip
            return bioio.BioImage(path, reader=_ngff_reader() if is_ngff(path) else None)
    except UnsupportedFileFormatError:
        why = [_DECLINED.sub("", m.split(" failed with error: ", 1)[-1].splitlines()[0]) for m in collect.messages]
        reason = f" ({why[-1]})" if why and why[-1] else f" (install the plugins: {INSTALL_HINT})"
        raise InputError(path, f"no installed bioio reader reads this file{reason}") from None
    except FileNotFoundError:
        raise InputError(path, "no such file or folder") from None
    except Exception as exc:  # plugins raise many types for damaged files
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(path, f"cannot read the image ({type(exc).__name__}{': ' + text if text else ''})") from None
    finally:
        logger.removeHandler(collect)
        logger.propagate = propagate


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(str(n) for n in names[:limit])
    return shown + (f", … ({len(names)} in all)" if len(names) > limit else "")


def _pick(path: Path, what: str, option: str, wanted: Any, names: list[str]) -> int:
    """Index of ``wanted`` (a name, else an index) among ``names``; ``None`` is allowed only when
    there is just one. Otherwise one InputError line listing the names."""
    if wanted is None:
        if len(names) == 1:
            return 0
        raise InputError(path, f"has {len(names)} {what}s ({_listing(names)}): choose one with {option}")
    text = str(wanted)
    if text in names:
        return names.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
        return int(text)
    raise InputError(path, f"{what} {text!r} not in the file: it has {_listing(names)}"
                           f" (a name, or an index 0..{len(names) - 1})")


@dataclass
class ImageSummary:
    """What a microscope file holds, for ``celltrace info``: scenes, and for the current scene its
    dimension sizes, channel names, dtype and scale."""

    scenes: list[str]
    sizes: dict[str, int]
    channels: list[str]
    dtype: np.dtype
    pixel_size_um: PixelSize | None
    frame_interval_s: float | None
    reader: str


def _channel_names(img: Any, n: int) -> list[str]:
    try:
        names = [str(c) for c in (img.channel_names or [])]
    except Exception:  # some plugins fail on files without channel metadata
        names = []
    return names if len(names) == n and len(set(names)) == n else [str(i) for i in range(n)]


def _sizes(img: Any) -> dict[str, int]:
    dims = img.dims
    return {d: int(getattr(dims, d)) for d in dims.order}


def summarize(path: str | Path) -> ImageSummary:
    """The :class:`ImageSummary` of a file bioio reads (its first scene)."""
    path = Path(path)
    img = _bioimage(path)
    sizes = _sizes(img)
    pixel, interval = image_scale(img)
    return ImageSummary(scenes=[str(s) for s in img.scenes], sizes=sizes,
                        channels=_channel_names(img, sizes.get("C", 1)), dtype=np.dtype(img.dtype),
                        pixel_size_um=pixel, frame_interval_s=interval, reader=_reader_name(img))


def _reader_name(img: Any) -> str:
    return type(img.reader).__module__.split(".")[0]


def image_scale(img: Any) -> tuple[PixelSize | None, float | None]:
    """(pixel size (y, x) in µm, frame interval in s) of the current scene of a ``BioImage``."""
    try:
        from ome_types import OME
    except ImportError:
        OME = None
    metadata = _quietly(lambda: img.metadata)
    if OME is not None and isinstance(metadata, OME):
        return ome_scale(metadata, img.current_scene_index)
    ngff = _reader_name(img) == "bioio_ome_zarr"
    props = _quietly(lambda: img.dimension_properties)
    pixel = None
    sizes = _quietly(lambda: img.physical_pixel_sizes)
    if sizes is not None and sizes.Y is not None and sizes.X is not None:
        units = (getattr(getattr(props, "Y", None), "unit", None), getattr(getattr(props, "X", None), "unit", None))
        try:
            if all(u is not None for u in units):
                pixel = pixel_size_pair((to_micrometres(sizes.Y, units[0]), to_micrometres(sizes.X, units[1])))
            elif not ngff:  # bioio's convention: micrometres
                pixel = pixel_size_pair((sizes.Y, sizes.X))
        except ValueError:
            pixel = None
    return pixel, _interval(img, ngff, getattr(getattr(props, "T", None), "unit", None))


def _interval(img: Any, ngff: bool, time_unit: Any) -> float | None:
    """Seconds between frames: the reader's ``time_interval`` when it is a timedelta (ND2: the
    experiment's time loop) or, for OME-Zarr, a T scale with a unit; else, for the other readers,
    ``standard_metadata.timelapse_interval`` (e.g. CZI)."""
    step = _quietly(lambda: img.time_interval)
    try:
        if isinstance(step, timedelta):
            return frame_interval(step.total_seconds())
        if ngff:  # a T axis without a unit has a nominal scale of 1: unknown
            if step is None or time_unit is None:
                return None
            return frame_interval(to_seconds(float(step), time_unit))
        step = _quietly(lambda: img.standard_metadata.timelapse_interval)
        return frame_interval(step.total_seconds()) if isinstance(step, timedelta) else None
    except (TypeError, ValueError):
        return None


def _quietly(get: Any) -> Any:
    """``get()``, or ``None`` where the plugin cannot say (it raises or warns instead)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return get()
    except Exception:
        return None


@dataclass
class BioImageFrames:
    """One (T, Y, X) movie chosen from a microscope file: lazy frames, a name, the choice made
    (``meta["selection"]``: scene, channel, z) and the scale the file gives."""

    frames: LazyFrames
    name: str
    meta: dict[str, Any]
    pixel_size_um: PixelSize | None
    frame_interval_s: float | None


def read_bioimage(path: str | Path, scene: str | int | None = None, channel: str | int | None = None,
                  z: int | str | None = None) -> BioImageFrames:
    """Choose one (T, Y, X) movie of a microscope file and read it lazily through bioio.

    ``scene`` and ``channel``: a name, or an index; needed only when the file has several.
    ``z``: a plane index, or ``"max"`` for the maximum-intensity projection over z; needed only
    when the file has several planes. The scale comes from the file (see the module docstring).
    """
    path = Path(path)
    img = _bioimage(path)
    scenes = [str(s) for s in img.scenes]
    s = _pick(path, "scene", "--scene", scene, scenes)
    if s != img.current_scene_index:
        img.set_scene(s)
    sizes = _sizes(img)
    if sizes.get("S", 1) > 1:
        raise InputError(path, f"RGB image ({sizes['S']} samples per pixel); expected grey-level frames")
    if sizes.get("M", 1) > 1:
        raise InputError(path, f"a mosaic of {sizes['M']} tiles; stitch it first")
    channels = _channel_names(img, sizes.get("C", 1))
    c = _pick(path, "channel", "--channel", channel, channels)
    n_z = sizes.get("Z", 1)
    project = str(z).lower() == MAX_PROJECTION
    if project:
        zi = None
    elif z is None and n_z > 1:
        raise InputError(path, f"has {n_z} z-planes: choose one with --z 0..{n_z - 1}, or --z max for "
                               "the maximum projection")
    else:
        zi = _pick(path, "z-plane", "--z", z if z is not None else 0, [str(i) for i in range(n_z)])
    fixed = {d: 0 for d in ("S", "M") if d in sizes}
    stack = img.get_image_dask_data("TZYX", C=c, **fixed)  # (T, Z, Y, X), lazy
    T, _, H, W = (int(n) for n in stack.shape)

    def load(t: int) -> np.ndarray:
        block = stack[t].max(axis=0) if project else stack[t, zi]
        try:
            with quiet_tifffile():
                return np.asarray(block.compute(scheduler="synchronous"))
        except Exception as exc:
            raise InputError(path, f"frame {t}: cannot read ({type(exc).__name__}: {exc})") from None

    pixel, interval = image_scale(img)
    selection = {"scene": scenes[s], "channel": channels[c], "z": MAX_PROJECTION if project else zi}
    name = movie_name(path) + "".join(f"-{v}" for k, v in selection.items()
                                      if (k == "scene" and len(scenes) > 1) or (k == "channel" and len(channels) > 1))
    return BioImageFrames(LazyFrames(T, (H, W), stack.dtype, load), name,
                          {"selection": selection, "reader": _reader_name(img)}, pixel, interval)


__all__ = ["MICROSCOPE_SUFFIXES", "is_ngff", "read_bioimage", "summarize", "image_scale", "ImageSummary",
           "BioImageFrames"]
