"""Physical scale of a movie: pixel size (µm) and frame interval (s), and the tables' unit columns.

The scale travels as two plain values (the "Physical units" contract):

* ``pixel_size_um = (y, x)`` — the edge of a pixel along y and x in micrometres, or ``None``;
* ``frame_interval_s`` — seconds between consecutive frames, or ``None``.

:class:`~celltrace.Movie` holds them as attributes; :class:`~celltrace.Tracking` as
``meta["pixel_size_um"]`` and ``meta["frame_interval_s"]``, present only when known. Conversions
between units (a file's nm, min or h) go through ``pint``.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

import pandas as pd

from celltrace.errors import UsageError

PIXEL_KEY = "pixel_size_um"
INTERVAL_KEY = "frame_interval_s"
UNIT_COLUMNS = ("y_um", "x_um", "area_um2", "time_s")
"""The columns :func:`add_unit_columns` adds to a cell table (those whose scale is known)."""

PixelSize = tuple[float, float]


@functools.lru_cache(maxsize=1)
def _registry() -> Any:
    import pint  # built once, on first use: creating a registry takes a moment

    return pint.UnitRegistry()


def _quantity(value: float, unit: Any) -> Any:
    """``value`` in ``unit``: a unit name ("nm", "micron", "min") or a pint unit of any registry."""
    if isinstance(unit, str):
        return _registry().Quantity(float(value), unit.strip())
    return float(value) * unit


def to_micrometres(value: float, unit: Any) -> float:
    """``value`` (a length in ``unit``) in µm; a unit that is no length raises ``ValueError``."""
    try:
        return float(_quantity(value, unit).to("micrometer").magnitude)
    except Exception as exc:  # pint's errors: undefined unit, dimensionality
        raise ValueError(f"{value} {unit} is not a length ({type(exc).__name__})") from None


def to_seconds(value: float, unit: Any) -> float:
    """``value`` (a duration in ``unit``) in seconds; a unit that is no time raises ``ValueError``."""
    try:
        return float(_quantity(value, unit).to("second").magnitude)
    except Exception as exc:
        raise ValueError(f"{value} {unit} is not a duration ({type(exc).__name__})") from None


def pixel_size_pair(value: Any) -> PixelSize | None:
    """``value`` as a (y, x) pair of positive finite floats: one number is a square pixel; ``None``
    stays ``None``. Anything else raises ``ValueError``."""
    if value is None:
        return None
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"pixel size {value!r}: expected one number or (y, x)")
    out = (float(pair[0]), float(pair[1]))
    if not all(math.isfinite(v) and v > 0 for v in out):
        raise ValueError(f"pixel size {value!r}: expected positive sizes in µm")
    return out


def frame_interval(value: Any) -> float | None:
    """``value`` as a positive finite number of seconds (``None`` stays ``None``), else ``ValueError``."""
    if value is None:
        return None
    out = float(value)
    if not (math.isfinite(out) and out > 0):
        raise ValueError(f"frame interval {value!r}: expected a positive number of seconds")
    return out


_NUMBER_UNIT = re.compile(r"^\s*([-+0-9.eE]+)\s*([^\d\s].*)?$")


def _parse(text: str, default_unit: str, convert: Any, what: str, example: str) -> float:
    m = _NUMBER_UNIT.match(text)
    try:
        if not m:
            raise ValueError
        value = convert(float(m.group(1)), m.group(2) or default_unit)
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected a number with an optional unit, e.g. {example}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{what} {text!r}: must be positive")
    return value


def parse_pixel_size(text: str) -> PixelSize:
    """``--pixel-size``: ``0.65`` (µm, square), ``0.65,0.5`` (y, x) or with a unit (``650nm``)."""
    parts = [p for p in text.split(",")]
    if len(parts) not in (1, 2):
        raise UsageError(f"pixel size {text!r}: expected one size or 'Y,X'")
    sizes = [_parse(p, "micrometer", to_micrometres, "pixel size", "0.65, 0.65um, 650nm or 0.65,0.5")
             for p in parts]
    return (sizes[0], sizes[-1])


def parse_interval(text: str) -> float:
    """``--interval``: seconds (``300``) or with a unit (``5min``, ``0.5h``, ``300 s``)."""
    return _parse(text, "second", to_seconds, "frame interval", "300, 300s, 5min or 0.5h")


def scale_meta(pixel_size_um: PixelSize | None, frame_interval_s: float | None) -> dict[str, Any]:
    """The contract's keys for ``Tracking.meta``, present only when known."""
    out: dict[str, Any] = {}
    if pixel_size_um is not None:
        out[PIXEL_KEY] = tuple(float(v) for v in pixel_size_um)
    if frame_interval_s is not None:
        out[INTERVAL_KEY] = float(frame_interval_s)
    return out


def scale_of(*sources: Any) -> tuple[PixelSize | None, float | None]:
    """The first known pixel size and frame interval among ``sources``: Movies (attributes), meta
    dicts or Trackings (their ``meta``); ``None`` each where none knows."""
    pixel = interval = None
    for src in sources:
        if src is None:
            continue
        meta = src if isinstance(src, dict) else getattr(src, "meta", None)
        meta = meta if isinstance(meta, dict) else {}
        p = getattr(src, PIXEL_KEY, None) if not isinstance(src, dict) else None
        i = getattr(src, INTERVAL_KEY, None) if not isinstance(src, dict) else None
        pixel = pixel or pixel_size_pair(p if p is not None else meta.get(PIXEL_KEY))
        interval = interval or frame_interval(i if i is not None else meta.get(INTERVAL_KEY))
    return pixel, interval


def add_unit_columns(cells: pd.DataFrame, pixel_size_um: PixelSize | None,
                     frame_interval_s: float | None) -> pd.DataFrame:
    """``cells`` (frame, centroid_y, centroid_x, area, …) with ``y_um = centroid_y·s_y``,
    ``x_um = centroid_x·s_x``, ``area_um2 = area·s_y·s_x`` (when the pixel size is known) and
    ``time_s = frame·Δt`` (when the interval is known) appended; unchanged when neither is."""
    out = cells.copy() if pixel_size_um is not None or frame_interval_s is not None else cells
    if pixel_size_um is not None:
        sy, sx = pixel_size_um
        out["y_um"] = cells["centroid_y"].astype(float) * sy
        out["x_um"] = cells["centroid_x"].astype(float) * sx
        out["area_um2"] = cells["area"].astype(float) * sy * sx
    if frame_interval_s is not None:
        out["time_s"] = cells["frame"].astype(float) * frame_interval_s
    return out


def format_pixel_size(pixel_size_um: PixelSize | None) -> str:
    """``0.125 µm`` (square), ``0.2 × 0.1 µm (y × x)``, or ``unknown``."""
    if pixel_size_um is None:
        return "unknown"
    y, x = pixel_size_um
    return f"{y:.4g} µm" if math.isclose(y, x, rel_tol=1e-9) else f"{y:.4g} × {x:.4g} µm (y × x)"


def format_interval(frame_interval_s: float | None) -> str:
    """``300 s (5 min)``, ``2.5 s``, or ``unknown``."""
    if frame_interval_s is None:
        return "unknown"
    s = f"{frame_interval_s:.4g} s"
    if frame_interval_s >= 3600:
        return f"{s} ({frame_interval_s / 3600:.4g} h)"
    if frame_interval_s >= 60:
        return f"{s} ({frame_interval_s / 60:.4g} min)"
    return s


__all__ = ["PIXEL_KEY", "INTERVAL_KEY", "UNIT_COLUMNS", "to_micrometres", "to_seconds", "pixel_size_pair",
           "frame_interval", "parse_pixel_size", "parse_interval", "scale_meta", "scale_of", "add_unit_columns",
           "format_pixel_size", "format_interval"]
