"""OME metadata (the OME-XML of OME-TIFF files, parsed by ``ome-types``): the physical scale.

Pixel size: ``Pixels@PhysicalSizeY/X`` with their units. Frame interval: ``Pixels@TimeIncrement``
with its unit, else the median step of ``Plane@DeltaT`` between consecutive time points (of the
first channel and z-plane). Units are converted with pint; a value in a unit that is no length
(``pixel``, ``reference frame``) or no time counts as unknown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from celltrace.errors import InputError
from celltrace.units import PixelSize, frame_interval, pixel_size_pair, to_micrometres, to_seconds


def parse_ome(xml: str, where: str | Path) -> Any:
    """The ``ome_types.OME`` model of an OME-XML text; unparsable XML raises one InputError line."""
    import ome_types

    try:
        return ome_types.from_xml(xml)
    except Exception as exc:  # xsdata / pydantic errors of a damaged document
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise InputError(where, f"unreadable OME-XML metadata ({type(exc).__name__}: {first})") from None


def ome_scale(ome: Any, image: int = 0) -> tuple[PixelSize | None, float | None]:
    """(pixel size (y, x) in µm, frame interval in s) of image ``image`` of an ``ome_types.OME``;
    ``None`` each where the metadata does not say (or says it in a unit that is no length/time)."""
    if not ome.images or image >= len(ome.images):
        return None, None
    pixels = ome.images[image].pixels
    pixel = None
    if pixels.physical_size_y is not None and pixels.physical_size_x is not None:
        try:
            pixel = pixel_size_pair((to_micrometres(pixels.physical_size_y, pixels.physical_size_y_unit.value),
                                     to_micrometres(pixels.physical_size_x, pixels.physical_size_x_unit.value)))
        except ValueError:
            pixel = None
    return pixel, _interval(pixels)


def _interval(pixels: Any) -> float | None:
    try:
        if pixels.time_increment is not None:
            return frame_interval(to_seconds(pixels.time_increment, pixels.time_increment_unit.value))
        stamps = {}
        for plane in pixels.planes:
            if plane.the_c == 0 and plane.the_z == 0 and plane.delta_t is not None:
                stamps[int(plane.the_t)] = to_seconds(plane.delta_t, plane.delta_t_unit.value)
        ts = sorted(stamps)
        steps = [(stamps[b] - stamps[a]) / (b - a) for a, b in zip(ts, ts[1:])]
        return frame_interval(float(np.median(steps))) if steps else None
    except ValueError:
        return None


def ome_tiff_scale(path: str | Path) -> tuple[PixelSize | None, float | None]:
    """The scale of the first image of an OME-TIFF (``(None, None)`` for a TIFF without OME-XML)."""
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    if not xml:
        return None, None
    return ome_scale(parse_ome(xml, path), 0)


__all__ = ["parse_ome", "ome_scale", "ome_tiff_scale"]
