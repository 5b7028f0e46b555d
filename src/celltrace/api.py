"""The public two-call API: open a movie, track it (``celltrace.track``); and the one-movie job of
``celltrace track`` / ``celltrace batch``: track a movie file and write its result folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from celltrace import tempdirs
from celltrace.errors import InputError
from celltrace.frames import Frames, LazyFrames, as_frames
from celltrace.io.atomic import atomic_dir, check_output
from celltrace.io.results import write_results
from celltrace.io.runinfo import run_record, write_run
from celltrace.linking.filters import drop_short_tracks
from celltrace.methods.base import DEFAULT_METHOD, LearnedTracker, Tracker, resolve_device, tracker_class
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


def build_tracker(method: str = DEFAULT_METHOD, device: str = "cpu", **params: Any) -> Tracker:
    """The tracker ``method`` with ``params`` overriding its config defaults; a learned method runs
    on ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``; checked now, before any work, by
    :func:`~celltrace.methods.base.resolve_device`). Build once, track many movies (a learned
    method loads its network on first use and keeps it)."""
    device = params.pop("device", device)
    cls = tracker_class(method)
    if issubclass(cls, LearnedTracker):
        return cls(device=resolve_device(device), **params)
    if device != "auto":
        resolve_device(device)  # a clear error for an unusable GPU, even where it is not used
    return cls(**params)


def track(movie: Movie | str | Path | np.ndarray, method: str = DEFAULT_METHOD,
          masks: Frames | str | Path | None = None, progress: bool = True, device: str = "cpu",
          min_track_length: int | None = None, tracker: Tracker | None = None, **params: Any) -> Tracking:
    """Track every cell of ``movie`` with ``method`` and return a validated :class:`Tracking`.

    ``movie`` may be a Movie, a path :func:`open_movie` accepts, or a (T, H, W) array. With
    ``masks`` (label images, one per frame, e.g. from Cellpose) the method only links those objects
    and leaves their pixels unchanged. ``device`` (``cpu``, ``cuda``, ``cuda:N``, ``auto``) is where
    a learned method runs (:func:`~celltrace.methods.base.resolve_device`; ignored by others).
    ``min_track_length``: drop tracks shorter than this many frames
    (:func:`~celltrace.linking.filters.drop_short_tracks`). ``params`` override the method's config
    defaults. ``tracker``: one made by :func:`build_tracker` (then ``method``, ``device`` and
    ``params`` are its own), to track many movies with one loaded model. The result's ``meta``
    records ``config`` (every parameter as used), ``device`` and ``weights_files`` (what
    :mod:`celltrace.io.runinfo` writes as ``run.json``), and the movie's scale
    (:meth:`Movie.scale_meta`: ``pixel_size_um``, ``frame_interval_s`` when known).
    """
    if not isinstance(movie, Movie):
        movie = open_movie(movie) if isinstance(movie, (str, Path)) else Movie(frames=np.asarray(movie))
    if isinstance(masks, (str, Path)):
        masks = open_masks(masks, movie)
    elif masks is not None:
        if len(masks) != len(movie) or tuple(masks.shape[1:]) != movie.frame_shape:
            raise InputError(None, f"masks of shape {tuple(masks.shape)} do not match the movie's {movie.shape}")
        masks = check_labels(masks, "masks")
    if tracker is None:
        tracker = build_tracker(method, device, **params)
    result = tracker.track(movie, masks=masks, progress=progress)
    result.meta.setdefault("method", tracker.name)
    learned = isinstance(tracker, LearnedTracker)
    result.meta.update({"config": tracker.resolved_config(), "device": tracker.device if learned else None,
                        "weights_files": [str(p) for p in tracker.weights_files()], **movie.scale_meta()})
    movie.warn_nonfinite()
    if min_track_length is not None:
        result = drop_short_tracks(result, int(min_track_length))
    return result.validate()


@dataclass
class TrackSummary:
    """What :func:`track_to_folder` made: the output folder and a few counts and times."""

    out: Path
    method: str
    n_frames: int
    n_tracks: int
    n_divisions: int
    track_s: float
    write_s: float
    scale: dict[str, Any] = field(default_factory=dict)
    """The movie's scale (:meth:`Movie.scale_meta`)."""
    files: tuple[str, ...] = ()
    """The files written beside the CTC RES files (:func:`~celltrace.io.results.write_results`)."""


def track_to_folder(movie: str | Path, out: str | Path, method: str = DEFAULT_METHOD,
                    masks: str | Path | None = None, *, overwrite: bool = False, progress: bool = True,
                    device: str = "cpu", min_track_length: int | None = None, tracker: Tracker | None = None,
                    command: str | None = None, movie_options: dict[str, Any] | None = None,
                    **params: Any) -> TrackSummary:
    """Track the movie file or folder ``movie`` and write its result folder ``out``: CTC RES
    (``mask*.tif`` + ``res_track.txt``), ``cells.csv`` and ``run.json`` (:mod:`celltrace.io.results`).

    What ``celltrace track`` and ``celltrace batch`` do for each movie. ``out`` is refused before
    any work if it exists (unless ``overwrite``) or overlaps an input; it appears complete or not
    at all (:func:`~celltrace.io.atomic.atomic_dir`), written a chunk of frames at a time. Other
    arguments as in :func:`track`; ``command`` is recorded in ``run.json``; ``movie_options`` go to
    :func:`open_movie` (scene, channel, z, pixel_size_um, frame_interval_s).
    """
    out = check_output(out, overwrite=overwrite, inputs=[("movie", movie), ("masks", masks),
                                                         ("boxes", params.get("boxes"))])
    tempdirs.sweep_scratch_once()  # scratch folders that killed runs left in the temp folder
    date = datetime.now().astimezone().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    opened = open_movie(movie, **(movie_options or {}))
    result = track(opened, method=method, masks=masks, progress=progress, device=device,
                   min_track_length=min_track_length, tracker=tracker, **params)
    method = result.meta.get("method", method)
    n_divisions = len(result.divisions())
    t1 = time.perf_counter()
    with atomic_dir(out, overwrite=overwrite, checked=True) as tmp:  # one there now appeared meanwhile
        files = write_results(result, tmp, opened)
        timings = {**result.meta.get("timing", {}), "track_s": t1 - t0, "write_s": time.perf_counter() - t1}
        write_run(tmp, run_record(result.meta, method=method, input=movie, masks=masks,
                                  n_frames=result.n_frames, frame_shape=result.shape[1:], date=date,
                                  timings=timings, overrides=params, min_track_length=min_track_length,
                                  command=command, n_tracks=result.n_tracks, n_divisions=n_divisions))
    return TrackSummary(out=out, method=method, n_frames=result.n_frames, n_tracks=result.n_tracks,
                        n_divisions=n_divisions, track_s=timings["track_s"], write_s=timings["write_s"],
                        scale=opened.scale_meta(), files=tuple(files))
