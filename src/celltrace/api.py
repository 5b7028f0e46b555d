"""The public two-call API: open a movie, track it (``celltrace.track``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import InputError
from celltrace.frames import Frames, LazyFrames, as_frames
from celltrace.linking.filters import drop_short_tracks
from celltrace.methods.base import DEFAULT_METHOD, LearnedTracker, resolve_device, tracker_class
from celltrace.movie import Movie, open_movie
from celltrace.tracking import Tracking


def open_masks(path: str | Path, movie: Movie | None = None) -> Frames:
    """Open a folder (or stack) of per-frame label images for linking-only mode.

    Checks that they are integer or float images and, when ``movie`` is given, that there is one
    mask per frame of the same 2D shape; each frame is checked as it is read (:func:`check_labels`).
    """
    masks = open_movie(path, finite=False)
    if not (np.issubdtype(masks.dtype, np.integer) or np.issubdtype(masks.dtype, np.floating)):
        raise InputError(path, f"label images have dtype {masks.dtype}; expected integer labels")
    if movie is not None:
        if len(masks) != len(movie):
            raise InputError(path, f"{len(masks)} label images for a movie of {len(movie)} frames")
        if masks.frame_shape != movie.frame_shape:
            raise InputError(path, f"label images of shape {masks.frame_shape} for frames of shape {movie.frame_shape}")
    return check_labels(masks.frames, masks.meta.get("files") or masks.source or path)


def check_labels(masks: Frames, source: str | Path | list[Path] | None = None) -> LazyFrames:
    """``masks`` (T, H, W) read lazily, each frame checked as it is read: labels are whole numbers
    ≥ 0 (0 = background). Float label images holding whole numbers are read as int64. A frame with
    a negative, fractional, NaN or infinite label raises :class:`~celltrace.errors.InputError`
    naming its file (``source``: one file per frame, or the file of the whole stack) and the frame.
    """
    frames = as_frames(masks)
    dtype = np.dtype(frames.dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise InputError(source if isinstance(source, (str, Path)) else None,
                         f"label images have dtype {dtype}; expected integer labels")
    out_dtype = dtype if np.issubdtype(dtype, np.integer) else np.dtype(np.int64)

    def where(t: int) -> str | Path | None:
        return source[t] if isinstance(source, list) else source

    def check(t: int, frame: np.ndarray) -> np.ndarray:
        if frame.dtype.kind == "f":
            ok = np.isfinite(frame) & (frame == np.round(frame))
            if not ok.all():
                bad = frame[~ok].flat[0]
                raise InputError(where(t), f"label image {t} holds non-integer values (e.g. {bad}); "
                                           "expected whole-number labels")
        if frame.size and frame.min() < 0:
            raise InputError(where(t), f"label image {t} holds negative labels (e.g. {frame.min():g}); "
                                       "expected labels ≥ 0 (0 = background)")
        return frame.astype(out_dtype, copy=False)

    return LazyFrames(len(frames), tuple(frames.shape[1:]), out_dtype, lambda t: check(t, np.asarray(frames[t])))


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
    ``weights_files`` (what :mod:`celltrace.io.runinfo` writes as ``run.json``), and the movie's
    scale (:meth:`Movie.scale_meta`: ``pixel_size_um``, ``frame_interval_s`` when known).
    """
    if not isinstance(movie, Movie):
        movie = open_movie(movie) if isinstance(movie, (str, Path)) else Movie(frames=np.asarray(movie))
    if isinstance(masks, (str, Path)):
        masks = open_masks(masks, movie)
    elif masks is not None:
        if len(masks) != len(movie) or tuple(masks.shape[1:]) != movie.frame_shape:
            raise InputError(None, f"masks of shape {tuple(masks.shape)} do not match the movie's {movie.shape}")
        masks = check_labels(masks, "masks")
    device = params.pop("device", device)
    cls = tracker_class(method)
    learned = issubclass(cls, LearnedTracker)
    if learned or device != "auto":
        device = resolve_device(device)  # a clear error for an unusable GPU, before any work
    tracker = cls(device=device, **params) if learned else cls(**params)
    result = tracker.track(movie, masks=masks, progress=progress)
    result.meta.setdefault("method", method)
    result.meta.update({"config": tracker.resolved_config(), "device": device if learned else None,
                        "weights_files": [str(p) for p in tracker.weights_files()], **movie.scale_meta()})
    movie.warn_nonfinite()
    if min_track_length is not None:
        result = drop_short_tracks(result, int(min_track_length))
    return result.validate()
