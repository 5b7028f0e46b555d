"""The CAP tracker: a detector gives the query cells (the default method's segmentation, or the
user's masks / points), RAW inference tracks them as points (:func:`raw_inference`), and the points
become a :class:`~celltrace.Tracking`: each point a marker (the detector's object that contains it,
else a disk of ``marker_radius`` cell radii), divisions from the slots' visibilities, and the point
table ``(frame, label, y, x, visibility)`` in ``tracking.points``.

Scale: the movie's cell radius ``r`` (the default method's estimate, or from the given masks) sets
the network scale ``s = cell_radius / r``; frames and detections are resampled by ``s``, points
brought back by ``1 / s``.
"""

from __future__ import annotations

import functools
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import ndimage as ndi

from celltrace.errors import CelltraceError, InputError
from celltrace.frames import FrameStore, Frames, as_frames
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.cap.config import CapConfig
from celltrace.methods.cap.infer import PointTrack, prepare_frame, raw_inference
from celltrace.movie import Movie
from celltrace.nn.scaling import network_scale, resample, scaled_shape
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "cap.pt"
DETECTOR_THREADS = 2
"""Frames detected ahead, in parallel, while the network tracks (GOWT1 02 on 2 cores, whole
command: 0.281 s/frame, against 0.344 with one frame ahead and the network on both threads)."""


def read_points_table(path: str | Path) -> pd.DataFrame:
    """A points CSV with columns ``frame, y, x`` (pixels; more columns are ignored)."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except Exception as exc:  # missing, unreadable, not CSV
        raise InputError(path, f"cannot read points table ({type(exc).__name__})") from None
    missing = {"frame", "y", "x"} - set(table.columns)
    if missing:
        raise InputError(path, f"points table lacks column(s) {sorted(missing)} (needs frame, y, x)")
    return table


def paint_disk(image: np.ndarray, y: float, x: float, radius: float, value: int, free_only: bool = True) -> int:
    """Set the pixels within ``radius`` of ``(y, x)`` to ``value`` (only unlabelled ones with
    ``free_only``); the centre pixel at least when it is free. Returns the flat index of one pixel
    painted, or −1."""
    H, W = image.shape
    r = max(float(radius), 0.5)
    y0, y1 = max(int(np.floor(y - r)), 0), min(int(np.ceil(y + r)) + 1, H)
    x0, x1 = max(int(np.floor(x - r)), 0), min(int(np.ceil(x + r)) + 1, W)
    if y1 <= y0 or x1 <= x0:
        return -1
    yy, xx = np.mgrid[y0:y1, x0:x1]
    disk = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    cy, cx = int(np.clip(round(y), 0, H - 1)), int(np.clip(round(x), 0, W - 1))
    if cy - y0 < disk.shape[0] and cx - x0 < disk.shape[1] and 0 <= cy - y0 and 0 <= cx - x0:
        disk[cy - y0, cx - x0] = True
    win = image[y0:y1, x0:x1]
    if free_only:
        disk &= win == 0
    if not disk.any():
        return -1
    win[disk] = value
    i, j = np.argwhere(disk)[0]
    return int((y0 + i) * W + x0 + j)


@register
class CapTracker(LearnedTracker):
    """Track cells as points with a trained CAP network (RAW inference; queries from a detector).

    ``weights``: weights file (default: the shipped ``weights/cap.pt``); ``device``: torch device;
    ``points``: a CSV ``frame, y, x`` of cell positions used as the detector instead of the default
    segmentation; other parameters override non-network :class:`CapConfig` fields (``l_win``,
    ``visibility_threshold``, ``marker``…). With ``masks``, their objects are the detections and the
    markers.
    """

    name = "cap"
    default_weights = DEFAULT_WEIGHTS
    description = "CAP: cells as points, tracked jointly by a transformer (TRA markers only); divisions from point slots"
    config_classes = (CapConfig,)
    options = {"weights": "weights file (default: the shipped weights/cap.pt)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)",
               "points": "CSV of cell positions (frame, y, x) to use as the detector instead of the default segmentation"}

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", points: str | Path | None = None,
                 **params: Any):
        super().__init__(weights, device, **params)
        self.points_file = points

    # ------------------------------------------------------------------ detector
    def _detector(self, movie: Movie, given: Frames | None, table: pd.DataFrame | None):
        """``(radius, detect)``: the cell radius (source px) and ``detect(t, scale, shape)``, the
        detector's label image of frame ``t`` (``None`` for a points table): the user's masks or the
        default method's segmentation at full resolution, or (``detect_at=network``) that
        segmentation run on the frame resampled to ``shape``."""
        from celltrace.methods.classic import ClassicTracker

        if given is not None:
            first = np.asarray(given[0])
            areas = np.bincount(first.ravel())[1:]
            areas = areas[areas > 0]
            radius = float(np.sqrt(np.median(areas) / np.pi)) if areas.size else 10.0
            return radius, lambda t, s, shape: np.asarray(given[t])
        classic = ClassicTracker()
        radius = classic.estimate_radius(movie)
        if table is not None:
            return radius, None
        if self.config.detect_at == "full":
            return radius, lambda t, s, shape: classic.segment(np.asarray(movie[t]), radius)
        return radius, lambda t, s, shape: classic.segment(resample(np.asarray(movie[t], np.float32), s, shape),
                                                           radius * s)

    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Detect, track the points (RAW) and render the Tracking; timings in ``meta['timing']``."""
        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        model = self.model  # fail before any work when there are no weights
        c = self.config
        T = len(movie)
        H, W = movie.frame_shape
        given = as_frames(masks) if masks is not None else None
        if given is not None and (len(given) != T or tuple(given.shape[1:]) != (H, W)):
            raise CelltraceError(f"masks of shape {tuple(given.shape)} do not match the movie's {tuple(movie.shape)}")
        table = read_points_table(self.points_file) if self.points_file is not None and given is None else None
        t0 = time.perf_counter()
        radius, detect_full = self._detector(movie, given, table)
        scale = network_scale(c.cell_radius, radius)
        net_shape = scaled_shape((H, W), scale)
        timing = {"detector_s": 0.0}

        keep_full = c.marker == "mask" and detect_full is not None
        net_store = FrameStore(net_shape, np.int32, prefix="celltrace-cap-det-")
        full_store = FrameStore((H, W), np.int32, prefix="celltrace-cap-det-") if keep_full else None

        def detect_frame(t: int) -> tuple[np.ndarray, np.ndarray | None]:
            """(network-scale labels, full-resolution labels or None) of frame t, computed."""
            if detect_full is None:
                net = np.zeros(net_shape, np.int32)
                rows = table[table["frame"] == t]
                for k, (y, x) in enumerate(zip(rows["y"].to_numpy(float), rows["x"].to_numpy(float)), start=1):
                    paint_disk(net, y * scale, x * scale, 0.5 * c.cell_radius, k)
                return net, None
            if given is not None or c.detect_at == "full":
                full = detect_full(t, scale, net_shape)
                return resample(full, scale, net_shape, order=0), full
            net = detect_full(t, scale, net_shape)
            return net, resample(net, 1.0 / scale, (H, W), order=0) if keep_full else None

        def timed_detect(t: int) -> tuple[np.ndarray, np.ndarray | None]:
            a = time.perf_counter()
            out = detect_frame(t)
            timing["detector_s"] += time.perf_counter() - a
            return out

        ahead: dict[int, Future] = {}

        @functools.lru_cache(maxsize=4)
        def detections(t: int) -> tuple[np.ndarray, np.ndarray | None]:
            """Frame t's detections, each frame detected once: RAW inference first asks for frames in
            order, so they are appended to compressed on-disk stores that the rendering reads back.
            The next ``DETECTOR_THREADS`` frames are detected in worker threads meanwhile (the
            segmentation's C code mostly releases the GIL), so the detector overlaps the network,
            which gives up one of its threads for them."""
            while len(net_store) <= t:
                n = len(net_store)
                a = time.perf_counter()
                net, full = (ahead.pop(n) if n in ahead else worker.submit(timed_detect, n)).result()
                timing["detector_wait_s"] += time.perf_counter() - a
                for m in range(n + 1, min(n + 1 + DETECTOR_THREADS, T)):
                    if m not in ahead:
                        ahead[m] = worker.submit(timed_detect, m)
                net_store.append(net)
                if full_store is not None:
                    full_store.append(full)
            return (np.asarray(net_store.frames()[t]),
                    np.asarray(full_store.frames()[t]) if full_store is not None else None)

        timing["detector_wait_s"] = 0.0
        worker = ThreadPoolExecutor(max_workers=DETECTOR_THREADS, thread_name_prefix="celltrace-cap-detector")
        torch_threads = torch.get_num_threads()
        torch.set_num_threads(max(1, torch_threads - 1))  # a core for the detector threads
        try:
            tracks = raw_inference(model, lambda t: prepare_frame(np.asarray(movie[t]), scale),
                                   lambda t: detections(t)[0], T, min_area=0.25 * np.pi * c.cell_radius ** 2,
                                   gate=c.gate, device=self.device, progress=progress)
            t1 = time.perf_counter()
            network_s = t1 - t0 - timing["detector_wait_s"]
            tracking = self.render(tracks, (T, H, W), scale, radius,
                                   (lambda t: detections(t)[1]) if keep_full else None)
        finally:
            worker.shutdown(wait=True, cancel_futures=True)
            torch.set_num_threads(torch_threads)
        timing.update({"network_s": network_s,
                       "render_s": time.perf_counter() - t1, "total_s": time.perf_counter() - t0})
        timing["segmentation_s"] = timing["detector_s"]
        tracking.meta.update({"method": self.name, "weights": str(self.weights or DEFAULT_WEIGHTS), "timing": timing,
                              "network_scale": scale, "cell_radius_px": radius})
        return tracking

    def render(self, tracks: dict[int, PointTrack], shape: tuple[int, int, int], scale: float, radius: float,
               objects=None) -> Tracking:
        """Points (network px) → Tracking: markers (``objects(t)``'s object containing the point, else a
        disk), links between consecutive points of a track and from a mother's last point to her
        daughters' first, point table in ``tracking.points``."""
        T, H, W = shape
        rows = [(f, k, y / scale, x / scale, v) for k, tr in tracks.items() for f, y, x, v in tr.points]
        points = pd.DataFrame(rows, columns=["frame", "track", "y", "x", "visibility"]).sort_values(["frame", "track"])
        by_frame = {t: g for t, g in points.groupby("frame")}
        store = FrameStore((H, W), np.uint32, prefix="celltrace-cap-")
        pixel: dict[tuple[int, int], int] = {}
        labels_per_frame = []
        disk_r = self.config.marker_radius * radius
        for t in range(T):
            img = np.zeros((H, W), np.uint32)
            g = by_frame.get(t)
            obj = objects(t) if objects is not None and g is not None else None
            boxes = ndi.find_objects(obj) if obj is not None else []
            used: set[int] = set()
            if g is not None:
                for k, y, x in zip(g["track"].to_numpy(int), g["y"].to_numpy(float), g["x"].to_numpy(float)):
                    lab = 0
                    if obj is not None:
                        i, j = int(np.clip(round(y), 0, H - 1)), int(np.clip(round(x), 0, W - 1))
                        lab = int(obj[i, j])
                    if lab > 0 and lab not in used and boxes[lab - 1] is not None:
                        used.add(lab)
                        sl = boxes[lab - 1]
                        where = (obj[sl] == lab) & (img[sl] == 0)
                        if where.any():
                            img[sl][where] = k
                            i, j = np.argwhere(where)[0]
                            pixel[(t, k)] = int((sl[0].start + i) * W + sl[1].start + j)
                            continue
                    p = paint_disk(img, y, x, disk_r, k)
                    if p >= 0:
                        pixel[(t, k)] = p
            store.append(img)
            u = np.unique(img)
            labels_per_frame.append(u[u > 0].astype(np.int64))
        links = []
        for k, tr in tracks.items():
            fs = [f for f, *_ in tr.points if (f, k) in pixel]
            links += [(a, k, b, k) for a, b in zip(fs, fs[1:])]
            if tr.parent and fs:
                pf = [f for f, *_ in tracks[tr.parent].points if (f, tr.parent) in pixel]
                if pf:
                    links.append((pf[-1], tr.parent, fs[0], k))
        tracking = Tracking.from_links(store.frames(), links, labels_per_frame=labels_per_frame)
        final = np.zeros(len(points), np.int64)
        frames_of = points["frame"].to_numpy(int)
        tracks_of = points["track"].to_numpy(int)
        for t in np.unique(frames_of):
            flat = np.asarray(tracking.masks[t]).ravel()
            for n in np.flatnonzero(frames_of == t):
                p = pixel.get((t, tracks_of[n]))
                final[n] = int(flat[p]) if p is not None else 0
        points["label"] = final
        tracking.points = points[points["label"] > 0][["frame", "label", "y", "x", "visibility"]].reset_index(drop=True)
        return tracking


find_weights = CapTracker.find_weights
"""The weights file: ``path`` if given, else the package's ``weights/cap.pt`` (missing: one error line)."""

__all__ = ["CapTracker", "find_weights", "DEFAULT_WEIGHTS", "read_points_table", "paint_disk"]
