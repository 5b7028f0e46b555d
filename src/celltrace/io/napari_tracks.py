"""napari Tracks data as ``.npz``: ``data`` rows ``[track_id, t, y, x]`` and ``graph`` rows
``[child, parent]`` (the arrays ``napari.layers.Tracks`` takes, see :meth:`Tracking.to_napari_tracks`).

Reading draws each point as a one-pixel marker (:mod:`celltrace.io.markers`); the npz holds no frame
size, so it is the smallest holding every point unless given.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from celltrace.errors import InputError
from celltrace.io.atomic import atomic_file
from celltrace.io.cells import tracking_from_cells
from celltrace.tracking import Tracking


def write_napari_tracks(tracking: Tracking, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``tracking``'s napari tracks (``data``, ``graph``) as an ``.npz`` file (atomically)."""
    path = Path(path)
    data, graph = tracking.to_napari_tracks()
    pairs = np.array([(c, p[0]) for c, p in graph.items()], dtype=np.int64).reshape(-1, 2)
    with atomic_file(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, data=data, graph=pairs)
    return path


def read_napari_tracks(path: str | Path, shape: tuple[int, int, int] | None = None) -> Tracking:
    """Read a napari tracks ``.npz`` (``data`` [track_id, t, y, x], optional ``graph`` [child, parent])."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "data" not in npz:
                raise InputError(path, "not napari tracks: no 'data' array inside")
            data = np.asarray(npz["data"], dtype=np.float64)
            graph = np.asarray(npz["graph"], dtype=np.int64) if "graph" in npz else np.zeros((0, 2), np.int64)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputError(path, f"not a readable .npz file ({exc})") from None
    if data.ndim != 2 or data.shape[1] != 4:
        raise InputError(path, f"'data' has shape {data.shape}; napari 2D tracks are (N, 4): track_id, t, y, x")
    if graph.size and (graph.ndim != 2 or graph.shape[1] != 2):
        raise InputError(path, f"'graph' has shape {graph.shape}; expected (M, 2): child, parent")
    ids = data[:, :2]
    if (ids != np.round(ids)).any() or (data[:, 0] < 1).any() or (data[:, 1] < 0).any():
        raise InputError(path, "'data' track ids must be integers ≥ 1 and times integers ≥ 0")
    table = pd.DataFrame({"frame": data[:, 1].astype(np.int64), "label": data[:, 0].astype(np.int64),
                          "y": data[:, 2], "x": data[:, 3]})
    parents = {int(c): int(p) for c, p in graph.reshape(-1, 2).tolist()}
    return tracking_from_cells(table, parents, path, shape=shape, meta={"format": "napari"})


__all__ = ["write_napari_tracks", "read_napari_tracks"]
