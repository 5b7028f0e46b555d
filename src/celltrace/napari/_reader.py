"""npe2 reader: a result in any format celltrace reads (CTC RES/GT folder, CSV, GEFF, napari npz,
TrackMate XML, DeepCell .trk, MOT text, OME-Zarr labels) → labels layer + tracks layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from celltrace.errors import InputError


def get_reader(path: str | list[str]) -> Callable[[Any], list] | None:
    """Return :func:`read_result_layers` if ``path`` is a result celltrace knows
    (:func:`celltrace.io.formats.detect_format`), else None (napari then asks other readers)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    from celltrace.io.formats import detect_format

    try:
        detect_format(Path(path))
    except InputError:
        return None
    return read_result_layers


def read_result_layers(path: str | list[str]) -> list[tuple[Any, dict, str]]:
    """Layer data of one result: ``[(masks, {...}, "labels"), (tracks, {...}, "tracks")]``, plus a
    points layer of the method's suspect links when the result folder has a ``suspects.csv``."""
    from celltrace.io.formats import read_result
    from celltrace.io.suspects import SUSPECTS_FILE, read_suspects
    from celltrace.napari._layers import suspects_layer, tracking_layers

    p = Path(path[0] if isinstance(path, list) else path)
    tracking = read_result(p)
    layers = tracking_layers(tracking, name=p.name)
    if p.is_dir() and (p / SUSPECTS_FILE).is_file():
        points = suspects_layer(read_suspects(p), tracking.masks, name=p.name)
        if points is not None:
            layers.append(points)
    return layers
