"""The EmbedTrack tracker (Löffler & Mikut 2022): for each frame ``t`` the network sees the pair
``(t−1, t)``; clustering its segmentation outputs gives the masks of ``t`` (§3.3), and its tracking
offsets link them to the masks of ``t−1`` (§3.4). Frame 0 is paired with itself."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from celltrace.errors import CelltraceError
from celltrace.frames import Frames
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.movie import Movie
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "embedtrack.pt"


@register
class EmbedTrackTracker(LearnedTracker):
    """Segment and link every frame with a trained EmbedTrack network.

    ``weights``: weights file (default: the package's weights folder); ``device``: torch device;
    other parameters override non-network :class:`EmbedTrackConfig` fields (``tta``, ``tile``,
    ``min_size``, …). With ``masks`` (linking-only mode) the network's tracking offsets link the
    given objects, whose pixels stay as they are (the weights are still needed).
    """

    name = "embedtrack"
    default_weights = DEFAULT_WEIGHTS
    description = "EmbedTrack: one network segments cells (instance embeddings) and links them (tracking offsets)"
    config_classes = (EmbedTrackConfig,)
    options = {"weights": "weights file (default: the shipped weights/embedtrack.pt)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)"}

    def predict(self, prev: np.ndarray, curr: np.ndarray) -> dict[str, np.ndarray]:
        """Network maps of the frame pair (see :func:`~celltrace.methods.embedtrack.infer.predict_maps`)."""
        from celltrace.methods.embedtrack.infer import predict_maps

        return predict_maps(self.model, prev, curr, self.config, self.device)

    def segment(self, maps: dict[str, np.ndarray]) -> np.ndarray:
        """Label image of frame ``t`` from its maps (clustering, §3.3)."""
        from celltrace.methods.embedtrack.clustering import cluster

        return cluster(maps["offset"], maps["sigma"], maps["seed"], self.config, dtype=np.uint32)

    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given) and link every frame; timings in ``meta['timing']``."""
        from tqdm.auto import tqdm

        from celltrace.frames import FrameStore, as_frames
        from celltrace.methods.embedtrack.tracking_step import link_frames

        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        self.model  # noqa: B018 -- fail before any work when there are no weights
        T = len(movie)
        given = as_frames(masks) if masks is not None else None
        if given is not None and (len(given) != T or tuple(given.shape[1:]) != tuple(movie.shape[1:])):
            raise CelltraceError(f"masks of shape {tuple(given.shape)} do not match the movie's {tuple(movie.shape)}")
        store = None if given is not None else FrameStore(tuple(movie.shape[1:]), np.uint32, prefix="celltrace-et-")
        labels_per_frame: list[np.ndarray] = []
        links: list[tuple[int, int, int, int]] = []
        timing = {"network_s": 0.0, "clustering_s": 0.0, "linking_s": 0.0}
        t_start = time.perf_counter()
        prev_img, prev_lab = None, None
        for t in tqdm(range(T), desc="embedtrack", unit="frame", disable=not progress):
            img = np.asarray(movie[t])
            t0 = time.perf_counter()
            maps = self.predict(prev_img if prev_img is not None else img, img)
            t1 = time.perf_counter()
            lab = np.asarray(given[t]) if given is not None else self.segment(maps)
            t2 = time.perf_counter()
            if prev_lab is not None:
                links += link_frames(prev_lab, lab, maps["track"], self.config.position_scale, t)
            t3 = time.perf_counter()
            timing["network_s"] += t1 - t0
            timing["clustering_s"] += t2 - t1
            timing["linking_s"] += t3 - t2
            if store is not None:
                store.append(lab)
            u = np.unique(lab)
            labels_per_frame.append(u[u > 0].astype(np.int64))
            prev_img, prev_lab = img, lab
        segmentation = given if given is not None else store.frames()
        tracking = Tracking.from_links(segmentation, links, labels_per_frame=labels_per_frame)
        timing["total_s"] = time.perf_counter() - t_start
        timing["segmentation_s"] = timing["network_s"] + timing["clustering_s"]  # the trackers' common split
        tracking.meta.update({"method": self.name, "weights": str(self.weights or DEFAULT_WEIGHTS),
                              "tta": self.config.tta, "timing": timing})
        return tracking


find_weights = EmbedTrackTracker.find_weights
"""The weights file: ``path`` if given, else the package's ``weights/embedtrack.pt`` (missing: one error line)."""

__all__ = ["EmbedTrackTracker", "find_weights", "DEFAULT_WEIGHTS", "WEIGHTS_DIR"]
