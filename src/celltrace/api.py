"""The public two-call API: open a movie, track it (``celltrace.track``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import InputError
from celltrace.frames import Frames
from celltrace.linking.filters import drop_short_tracks
from celltrace.methods.base import DEFAULT_METHOD, LearnedTracker, resolve_device, tracker_class
from celltrace.movie import Movie, open_movie
from celltrace.tracking import Tracking


def open_masks(path: str | Path, movie: Movie | None = None) -> Frames:
    """Open a folder (or stack) of per-frame label images for linking-only mode.

    Checks that they are integer-valued and, when ``movie`` is given, that there is one mask per
    frame of the same 2D shape.
    """
    masks = open_movie(path)
    if not np.issubdtype(masks.dtype, np.integer):
        raise InputError(path, f"label images have dtype {masks.dtype}; expected integer labels")
    if movie is not None:
        if len(masks) != len(movie):
            raise InputError(path, f"{len(masks)} label images for a movie of {len(movie)} frames")
        if masks.frame_shape != movie.frame_shape:
            raise InputError(path, f"label images of shape {masks.frame_shape} for frames of shape {movie.frame_shape}")
    return masks.frames


def track(movie: Movie | str | Path | np.ndarray, method: str = DEFAULT_METHOD,
          masks: Frames | str | Path | None = None, progress: bool = True, device: str = "cpu",
          min_track_length: int | None = None, **params: Any) -> Tracking:
    """Track every cell of ``movie`` with ``method`` and return a validated :class:`Tracking`.

    ``movie`` may be a Movie, a path :func:`open_movie` accepts, or a (T, H, W) array. With
    ``masks`` (label images, one per frame, e.g. from Cellpose) the method only links those objects
    and leaves their pixels unchanged. ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``) is where
    a learned method runs (:func:`~celltrace.methods.base.resolve_device`; ignored by others).
    ``min_track_length``: drop tracks shorter than this many frames
    (:func:`~celltrace.linking.filters.drop_short_tracks`). ``params`` override the method's config
    defaults. The result's ``meta`` records ``config`` (every parameter as used), ``device`` and
    ``weights_files`` (what :mod:`celltrace.io.runinfo` writes as ``run.json``).
    """
    if not isinstance(movie, Movie):
        movie = open_movie(movie) if isinstance(movie, (str, Path)) else Movie(frames=np.asarray(movie))
    if isinstance(masks, (str, Path)):
        masks = open_masks(masks, movie)
    elif masks is not None and (len(masks) != len(movie) or tuple(masks.shape[1:]) != movie.frame_shape):
        raise InputError(None, f"masks of shape {tuple(masks.shape)} do not match the movie's {movie.shape}")
    device = params.pop("device", device)
    cls = tracker_class(method)
    learned = issubclass(cls, LearnedTracker)
    if learned or device != "auto":
        device = resolve_device(device)  # a clear error for an unusable GPU, before any work
    tracker = cls(device=device, **params) if learned else cls(**params)
    result = tracker.track(movie, masks=masks, progress=progress)
    result.meta.setdefault("method", method)
    result.meta.update({"config": tracker.resolved_config(), "device": device if learned else None,
                        "weights_files": [str(p) for p in tracker.weights_files()]})
    if min_track_length is not None:
        result = drop_short_tracks(result, int(min_track_length))
    return result.validate()
