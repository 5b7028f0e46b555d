"""npe2 reader: a CTC RES or GT folder → labels layer + tracks layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from celltrace.errors import InputError


def get_reader(path: str | list[str]) -> Callable[[Any], list] | None:
    """Return :func:`read_ctc_folder` if ``path`` is a CTC RES/GT folder, else None (napari then
    asks other readers)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if not p.is_dir():
        return None
    from celltrace.io.ctc import locate_ctc

    try:
        locate_ctc(p)
    except InputError:
        return None
    return read_ctc_folder


def read_ctc_folder(path: str | list[str]) -> list[tuple[Any, dict, str]]:
    """Layer data of one CTC folder: ``[(masks, {...}, "labels"), (tracks, {...}, "tracks")]``, plus a
    points layer of the method's suspect links when the folder has a ``suspects.csv``."""
    from celltrace.io.suspects import SUSPECTS_FILE, read_suspects
    from celltrace.napari._layers import suspects_layer, tracking_layers
    from celltrace.tracking import Tracking

    p = Path(path[0] if isinstance(path, list) else path)
    tracking = Tracking.from_ctc(p)
    layers = tracking_layers(tracking, name=p.name)
    if (p / SUSPECTS_FILE).is_file():
        points = suspects_layer(read_suspects(p), tracking.masks, name=p.name)
        if points is not None:
            layers.append(points)
    return layers
