"""The Caliban tracker (Schwartz et al. 2023): learned nuclear segmentation (FPN with inner/outer
distance heads + marker watershed), then linking — Caliban's learned linker when
:mod:`celltrace.methods.caliban.link_infer` provides one, else the shared LAP linker with the
Euclidean cost (Jaqaman et al. 2008), divisions and gap closing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from celltrace.frames import Frames, spread
from celltrace.methods.base import LearnedTracker, register
from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.movie import Movie
from celltrace.nn.weights_file import locate_weights
from celltrace.tracking import Tracking

WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_SEG_WEIGHTS = WEIGHTS_DIR / "caliban_segmentation.pt"
DEFAULT_LINK_WEIGHTS = WEIGHTS_DIR / "caliban_linking.pt"


def find_weights(path: str | Path | None = None) -> Path:
    """The segmentation weights file: ``path`` if given, else the package's
    ``weights/caliban_segmentation.pt``; a missing file is one clear :class:`CelltraceError` line."""
    return locate_weights(path, DEFAULT_SEG_WEIGHTS, "caliban", "caliban")


@register
class CalibanTracker(LearnedTracker):
    """Segment every frame with the trained Caliban segmentation model, then link the objects.

    ``weights``: path of the segmentation weights (default: the package's weights folder);
    ``link_weights``: path of the learned linker's weights (default: the package's), used with
    ``linker='learned'`` (giving ``link_weights`` selects it unless ``linker`` is given; the default
    ``linker='lap'`` is the standard LAP linker); ``device``: torch device; other parameters override :class:`CalibanSegConfig` or
    :class:`~.link_infer.LinkingConfig` fields (e.g. ``division_probability``).
    Weights are loaded on first use, so linking-only mode (``masks`` given) needs none.
    """

    name = "caliban"
    default_weights = DEFAULT_SEG_WEIGHTS
    description = ("Caliban: learned nuclear segmentation (inner/outer distance maps + watershed), linked by the "
                   "standard LAP linker or (linker=learned) Caliban's learned linker")
    options = {"weights": "segmentation weights file (default: the shipped weights/caliban_segmentation.pt)",
               "link_weights": "learned linker's weights file (default: the shipped weights/caliban_linking.pt; "
                               "giving one selects linker=learned)",
               "device": "torch device: cpu, cuda, cuda:N (the CLI's --device; auto there)"}
    link_config: Any = None
    link_path: Path | None = None

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", link_weights: str | Path | None = None,
                 **params: Any):
        from dataclasses import fields

        from celltrace.methods.caliban.link_infer import LinkingConfig

        link_names = {f.name for f in fields(LinkingConfig)} - {f.name for f in fields(CalibanSegConfig)}
        self.weights = weights
        self.link_weights = link_weights
        self.device = device
        self.link_params = {k: v for k, v in params.items() if k in link_names}
        self.params = {k: v for k, v in params.items() if k not in link_names}
        if link_weights is not None and "linker" not in self.params:
            self.params["linker"] = "learned"  # linking weights given: the learned linker uses them
        self.config = CalibanSegConfig.from_params(**self.params)
        LinkingConfig.from_params(**self.link_params)  # bad values fail here, before any work

    find_weights = staticmethod(find_weights)

    @classmethod
    def parameter_classes(cls) -> tuple[type, ...]:
        """Segmentation and linking parameters (the linking config imported on demand)."""
        from celltrace.methods.caliban.link_infer import LinkingConfig

        return (CalibanSegConfig, LinkingConfig)

    def resolved_config(self) -> dict[str, Any]:
        """The segmentation config, plus the linking config under ``linking`` once it is known."""
        out = super().resolved_config()
        if self.link_config is not None:
            out["linking"] = self.link_config.to_dict()
        return out

    def weights_files(self) -> list[Path]:
        """Segmentation weights (once loaded) and linking weights (once used)."""
        return super().weights_files() + ([self.link_path] if self.link_path is not None else [])

    def load_model(self, path: Path):
        """The segmentation network (with the post-processing overrides of ``params``)."""
        from celltrace.methods.caliban.segmentation_model import load_model

        return load_model(path, device=self.device, **self.params)

    def estimate_radius(self, movie: Movie) -> float:
        """Cell radius of ``movie`` (px): ``cell_radius`` if given, else estimated on
        ``radius_frames`` frames spread over the movie (:func:`.seg_infer.estimate_radius`), the
        estimate that set the scale of the training crops."""
        from celltrace.methods.caliban.seg_infer import estimate_radius

        self.model  # noqa: B018 -- fail before any work when there are no weights (and load the config)
        c = self.config
        T = len(movie)
        ts = spread(T, c.radius_frames)
        return estimate_radius([movie[int(t)] for t in ts], c)

    def segment(self, image: np.ndarray, radius: float | None = None, dtype: Any = np.uint32) -> np.ndarray:
        """Label image of one raw frame whose cells have ``radius`` (default: estimated on the frame)."""
        from celltrace.methods.caliban.seg_infer import segment_frame

        return segment_frame(self.model, image, self.config, self.device, radius=radius, dtype=dtype)

    def _link(self, movie: Movie, segmentation: Frames, objects: list[pd.DataFrame], radius: float,
              progress: bool) -> tuple[np.ndarray, str]:
        """Caliban's learned linker when linking weights exist (``link_weights``, else the package's
        ``weights/caliban_linking.pt``), with the linking settings stored in them (the division
        threshold chosen on validation frames among them); else, or with ``linker='lap'``, celltrace's
        standard LAP linker (:func:`celltrace.linking.standard.build_linker`, default settings)."""
        if self.config.linker == "lap":
            from celltrace.linking.standard import LAPLinkingConfig, link_objects

            return link_objects(LAPLinkingConfig(), objects, radius, progress=progress)[0], "lap"
        link_path = (locate_weights(self.link_weights, DEFAULT_LINK_WEIGHTS, "caliban linking", "caliban-linking")
                     if self.link_weights is not None else DEFAULT_LINK_WEIGHTS)
        if link_path.is_file():
            from celltrace.methods.caliban.link_infer import LinkingConfig, link_with_model
            from celltrace.methods.caliban.linking_model import load_model

            model, extra = load_model(link_path, map_location=self.device)
            config = LinkingConfig.from_params(**{**(extra.get("linking") or {}), **self.link_params})
            self.link_config, self.link_path = config, link_path
            links, _ = link_with_model(movie.frames, segmentation, model, config, progress=progress)
            return np.asarray(links), "caliban"
        from celltrace.linking import DivisionDetector, EuclideanCost, GapCloser, LAPLinker

        c = self.config
        gaps = GapCloser(max_gap=c.max_gap, max_distance=c.max_distance_factor * radius) if c.max_gap > 0 else None
        linker = LAPLinker(cost=EuclideanCost(c.max_distance_factor * radius),
                           divisions=DivisionDetector(max_distance=c.max_distance_factor * radius), gap_closing=gaps)
        return linker.link(objects, progress=progress), "lap-euclidean"

    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given) and link every frame; timings in ``meta['timing']``."""
        from celltrace.linking.features import measure_masks, radius_from_objects, segment_movie

        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        t_start = time.perf_counter()
        cell_radius = None
        if masks is None:
            cell_radius = self.estimate_radius(movie)  # also fails early when there are no weights
            segmentation, objects, _ = segment_movie(movie, lambda im: self.segment(im, cell_radius),
                                                     np.uint32, desc="caliban: segmenting", progress=progress)
        else:
            segmentation, objects, _ = measure_masks(masks, movie, desc="caliban: measuring", progress=progress)
        t_seg = time.perf_counter() - t_start
        radius = radius_from_objects(objects)
        t0 = time.perf_counter()
        links, linker = self._link(movie, segmentation, objects, radius, progress)
        t_link = time.perf_counter() - t0
        tracking = Tracking.from_links(segmentation, links,
                                       labels_per_frame=[o["label"].to_numpy(np.int64) for o in objects])
        tracking.meta.update({"method": self.name, "linker": linker, "cell_radius": radius,
                              "segmentation_radius": cell_radius,
                              "weights": str(self.weights or DEFAULT_SEG_WEIGHTS) if masks is None else None,
                              "timing": {"segmentation_s": t_seg, "linking_s": t_link,
                                         "total_s": time.perf_counter() - t_start}})
        return tracking


__all__ = ["CalibanTracker", "find_weights", "DEFAULT_SEG_WEIGHTS", "WEIGHTS_DIR"]
