"""The DistNet2D tracker (Ollion et al. 2024): for each frame ``t`` the network sees the window of
frames around ``t``; its EDM and GDCM segment ``t`` (:mod:`~celltrace.methods.distnet2d.postprocess`),
its displacements and multiplicities of the pair ``(t−1, t)`` link ``t−1`` to ``t`` and correct
contradicting merge/split links (:mod:`~celltrace.methods.distnet2d.tracking_step`). What the
correction could not resolve, and links that contradict the multiplicity, are written to
``Tracking.meta["suspects"]`` (:mod:`celltrace.io.suspects`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import CelltraceError
from celltrace.frames import Frames, FrameStore, as_frames
from celltrace.io.suspects import suspects_table
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.movie import Movie
from celltrace.nn.scaling import network_scale
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "distnet2d.pt"


def label_suspects(tracking: Tracking, suspects: list[dict]) -> Any:
    """The suspects table with the result's track labels: each suspect's cells are ``(frame, y, x)``
    points, read in the final masks; the table's ``y``, ``x`` is its first cell."""
    rows = []
    for s in suspects:
        labels, first = [], None
        for frame, y, x in s["cells"]:
            if not (np.isfinite(y) and np.isfinite(x)):
                continue
            m = np.asarray(tracking.masks[frame])
            yy, xx = int(round(y)), int(round(x))
            if 0 <= yy < m.shape[0] and 0 <= xx < m.shape[1] and m[yy, xx] > 0:
                labels.append(int(m[yy, xx]))
            if first is None:
                first = (y, x)
        if labels:
            rows.append({"frame": s["frame"], "labels": sorted(set(labels)), "kind": s["kind"], "score": s["score"],
                         "y": first[0], "x": first[1]})
    return suspects_table(rows)


@register
class DistNet2DTracker(LearnedTracker):
    """Segment and link every frame with a trained DistNet2D network.

    ``weights``: weights file (default: the package's weights folder); ``device``: torch device;
    other parameters override non-network :class:`DistNet2DConfig` fields (``postprocess``,
    ``edm_threshold``, ``centre_ratio``, …). With ``masks`` (linking-only mode) the given objects
    are linked by the predicted displacements, without segmentation correction.
    """

    name = "distnet2d"
    default_weights = DEFAULT_WEIGHTS
    description = ("DistNet2D: one network sees a window of frames, predicts distance maps and centre "
                   "displacements and link multiplicity; doubtful links listed as suspects "
                   "(postprocess=true corrects merge/split links)")
    config_classes = (DistNet2DConfig,)
    options = {"weights": "weights file (default: the shipped weights/distnet2d.pt)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)"}

    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given) and link every frame; timings in ``meta['timing']``,
        suspects in ``meta['suspects']``, corrections in ``meta['corrections']``."""
        from celltrace.methods.distnet2d.infer import EncodedFrames, NormalizedFrames, maps_to_frame, predict_maps
        from celltrace.methods.distnet2d.model import window_offsets

        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        model = self.model
        c = model.config  # the network fields (frames, gap, cell_radius…) come from the weights
        T = len(movie)
        given = as_frames(masks) if masks is not None else None
        if given is not None and (len(given) != T or tuple(given.shape[1:]) != tuple(movie.shape[1:])):
            raise CelltraceError(f"masks of shape {tuple(given.shape)} do not match the movie's {tuple(movie.shape)}")
        span = max(window_offsets(c.frames, c.gap)) - min(window_offsets(c.frames, c.gap)) + 2
        scale, radius = 1.0, None
        if c.cell_radius is not None:
            from celltrace.methods.classic import ClassicTracker

            radius = ClassicTracker().estimate_radius(movie)
            scale = network_scale(c.cell_radius, radius)
        frames = NormalizedFrames(movie, tuple(c.percentiles), keep=span, scale=scale)
        encoded = EncodedFrames(model, frames, self.device, keep=span)
        shape = tuple(movie.shape[1:])
        if given is None:  # post-processing at network scale, labels brought back to the frame
            tracking = track_maps(lambda t: predict_maps(model, frames, t, T, c, self.device, encoded=encoded), T,
                                  shape, c, None, progress, scale=scale)
        else:  # the user's objects are linked where they are: maps brought to the frame
            tracking = track_maps(lambda t: maps_to_frame(predict_maps(model, frames, t, T, c, self.device,
                                                                       encoded=encoded), scale, shape),
                                  T, shape, c, given, progress)
        tracking.meta.update({"weights": str(self.weights or DEFAULT_WEIGHTS), "network_scale": scale,
                              "cell_radius_px": radius})
        return tracking


def track_maps(maps_of: Callable[[int], dict[str, np.ndarray]], n_frames: int, shape: tuple[int, ...],
               config: DistNet2DConfig, masks: Frames | None = None, progress: bool = False,
               scale: float = 1.0) -> Tracking:
    """Post-processing of DistNet2D on the maps of every frame (``maps_of(t)``: ``edm``, ``gdcm`` of
    ``t`` and the pair maps of ``(t−1, t)``, as :func:`~celltrace.methods.distnet2d.infer.predict_maps`):
    segment (unless ``masks``), link, correct (``config.postprocess``), collect suspects.

    ``scale`` ≠ 1: the maps are at network scale (``scale`` network pixels per frame pixel of the
    frames of ``shape``); everything is decided there — where the post-processing's pixel
    parameters mean what they meant in training — and each label image is brought to ``shape``
    (nearest label, cut to the bilinearly resampled ``EDM > edm_threshold``), suspects' points
    divided by ``scale``."""
    from tqdm.auto import tqdm

    from celltrace.methods.distnet2d.postprocess import segment_maps
    from celltrace.methods.distnet2d.tracking_step import link_pair
    from celltrace.nn.scaling import resample

    c = config
    store = FrameStore(tuple(shape), np.uint32, prefix="celltrace-dn-")
    links: list[tuple[int, int, int, int]] = []
    suspects: list[dict] = []
    corrections: list[dict] = []
    labels_per_frame: list[np.ndarray] = []
    timing = {"network_s": 0.0, "segmentation_s": 0.0, "linking_s": 0.0}
    t_start = time.perf_counter()
    prev_lab = prev_edm = None

    def keep(lab: np.ndarray, edm: np.ndarray) -> None:
        if scale != 1.0:
            lab = resample(lab, 1.0 / scale, tuple(shape), order=0)
            lab[resample(edm, 1.0 / scale, tuple(shape)) <= c.edm_threshold] = 0
        store.append(lab)
        u = np.unique(lab)
        labels_per_frame.append(u[u > 0].astype(np.int64))

    for t in tqdm(range(n_frames), desc="distnet2d", unit="frame", disable=not progress):
        t0 = time.perf_counter()
        maps = maps_of(t)
        t1 = time.perf_counter()
        lab = np.asarray(masks[t]).astype(np.uint32) if masks is not None else segment_maps(maps["edm"], maps["gdcm"], c)
        t2 = time.perf_counter()
        if prev_lab is not None:
            res = link_pair(prev_lab, lab, maps, t, prev_edm, maps["edm"], correct=c.postprocess and masks is None,
                            min_size=c.min_size)
            if res.prev_relabel:  # merged fragments of t−1: the links into them follow
                links = [(a, b, u, res.prev_relabel.get(v, v) if u == t - 1 else v) for a, b, u, v in links]
            links += [(t - 1, i, t, j) for i, j in res.links]
            suspects += [{**x, "cells": [(f, y / scale, xx / scale) for f, y, xx in x["cells"]]} for x in res.suspects]
            corrections += res.corrections
            keep(prev_lab, prev_edm)
        timing["network_s"] += t1 - t0
        timing["segmentation_s"] += t2 - t1
        timing["linking_s"] += time.perf_counter() - t2
        prev_lab, prev_edm = lab, maps["edm"]
    if prev_lab is not None:
        keep(prev_lab, prev_edm)
    present = [set(v.tolist()) for v in labels_per_frame]
    links = [k for k in links if k[1] in present[k[0]] and k[3] in present[k[2]]]
    tracking = Tracking.from_links(store.frames(), links, labels_per_frame=labels_per_frame)
    timing["total_s"] = time.perf_counter() - t_start
    tracking.meta.update({"method": "distnet2d", "timing": timing, "suspects": label_suspects(tracking, suspects),
                          "corrections": corrections, "postprocess": c.postprocess})
    return tracking


find_weights = DistNet2DTracker.find_weights
"""The weights file: ``path`` if given, else the package's ``weights/distnet2d.pt`` (missing: one error line)."""

__all__ = ["DistNet2DTracker", "track_maps", "find_weights", "label_suspects", "DEFAULT_WEIGHTS", "WEIGHTS_DIR"]
