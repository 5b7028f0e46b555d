"""The DistNet2D tracker (Ollion et al. 2024): for each frame ``t`` the network sees the window of
frames around ``t``; its EDM and GDCM segment ``t`` (:mod:`~celltrace.methods.distnet2d.postprocess`),
its displacements and multiplicities of the pair ``(t−1, t)`` link ``t−1`` to ``t`` and correct
contradicting merge/split links (:mod:`~celltrace.methods.distnet2d.tracking_step`). What the
correction could not resolve, and links that contradict the multiplicity, are written to
``Tracking.meta["suspects"]`` (:mod:`celltrace.io.suspects`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from celltrace.errors import CelltraceError
from celltrace.frames import Frames, FrameStore, as_frames
from celltrace.io.suspects import suspects_table
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.movie import Movie
from celltrace.nn.weights_file import locate_weights
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "distnet2d.pt"


def find_weights(path: str | Path | None = None) -> Path:
    """The weights file: ``path`` if given, else the package's ``weights/distnet2d.pt``."""
    return locate_weights(path, DEFAULT_WEIGHTS, "distnet2d", "distnet2d")


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
                   "displacements; merge/split links are corrected, unresolved ones listed as suspects")
    config_classes = (DistNet2DConfig,)
    options = {"weights": "weights file (default: the shipped weights/distnet2d.pt)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)"}

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", **params: Any):
        self.weights = weights
        self.device = device
        self.params = params
        self.config = DistNet2DConfig.from_params(**params)

    find_weights = staticmethod(find_weights)

    def load_model(self, path: Path):
        from celltrace.methods.distnet2d.model import load_model

        return load_model(path, device=self.device, **self.params)

    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given) and link every frame; timings in ``meta['timing']``,
        suspects in ``meta['suspects']``, corrections in ``meta['corrections']``."""
        from tqdm.auto import tqdm

        from celltrace.methods.distnet2d.infer import NormalizedFrames, predict_maps
        from celltrace.methods.distnet2d.postprocess import segment_maps
        from celltrace.methods.distnet2d.tracking_step import link_pair

        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        model = self.model
        c = self.config
        T = len(movie)
        given = as_frames(masks) if masks is not None else None
        if given is not None and (len(given) != T or tuple(given.shape[1:]) != tuple(movie.shape[1:])):
            raise CelltraceError(f"masks of shape {tuple(given.shape)} do not match the movie's {tuple(movie.shape)}")
        store = FrameStore(tuple(movie.shape[1:]), np.uint32, prefix="celltrace-dn-")
        frames = NormalizedFrames(movie, tuple(c.percentiles), keep=4 * max(1, c.frames) * max(1, c.gap))
        links: list[tuple[int, int, int, int]] = []
        suspects: list[dict] = []
        corrections: list[dict] = []
        labels_per_frame: list[np.ndarray] = []
        timing = {"network_s": 0.0, "segmentation_s": 0.0, "linking_s": 0.0}
        t_start = time.perf_counter()
        prev_lab = prev_edm = None
        for t in tqdm(range(T), desc="distnet2d", unit="frame", disable=not progress):
            t0 = time.perf_counter()
            maps = predict_maps(model, frames, t, T, c, self.device)
            t1 = time.perf_counter()
            if given is not None:
                lab = np.asarray(given[t]).astype(np.uint32)
            else:
                lab = segment_maps(maps["edm"], maps["gdcm"], c)
            t2 = time.perf_counter()
            if prev_lab is not None:
                res = link_pair(prev_lab, lab, maps, t, prev_edm, maps["edm"],
                                correct=c.postprocess and given is None, min_size=c.min_size)
                if res.prev_relabel:  # merged fragments of t−1: the links into them follow
                    links = [(a, b, u, res.prev_relabel.get(v, v) if u == t - 1 else v) for a, b, u, v in links]
                links += [(t - 1, i, t, j) for i, j in res.links]
                suspects += res.suspects
                corrections += res.corrections
                store.append(prev_lab)
                u = np.unique(prev_lab)
                labels_per_frame.append(u[u > 0].astype(np.int64))
            t3 = time.perf_counter()
            timing["network_s"] += t1 - t0
            timing["segmentation_s"] += t2 - t1
            timing["linking_s"] += t3 - t2
            prev_lab, prev_edm = lab, maps["edm"]
        if prev_lab is not None:
            store.append(prev_lab)
            u = np.unique(prev_lab)
            labels_per_frame.append(u[u > 0].astype(np.int64))
        present = [set(v.tolist()) for v in labels_per_frame]
        links = [k for k in links if k[1] in present[k[0]] and k[3] in present[k[2]]]
        segmentation = store.frames()
        tracking = Tracking.from_links(segmentation, links, labels_per_frame=labels_per_frame)
        timing["total_s"] = time.perf_counter() - t_start
        tracking.meta.update({"method": self.name, "weights": str(self.weights or DEFAULT_WEIGHTS), "timing": timing,
                              "suspects": label_suspects(tracking, suspects),
                              "corrections": corrections, "postprocess": c.postprocess})
        return tracking


__all__ = ["DistNet2DTracker", "find_weights", "label_suspects", "DEFAULT_WEIGHTS", "WEIGHTS_DIR"]
