"""The classic tracker: threshold + watershed segmentation, then LAP linking with divisions and
gap closing. No learning, no weights."""

from __future__ import annotations

import hashlib
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from celltrace.errors import CelltraceWarning
from celltrace.frames import Frames, FrameStore, spread
from celltrace.linking.features import measure_masks, object_features, radius_from_objects, segment_movie
from celltrace.linking.merges import edited_segmentation, holder, reemerged_cells, split_merged
from celltrace.linking.mitosis import Joins, join_daughters, joined_labels, joined_segmentation, take_back_remerged
from celltrace.linking.standard import link_objects
from celltrace.methods.base import Tracker, register
from celltrace.methods.classic.config import ClassicConfig
from celltrace.movie import Movie
from celltrace.segmentation import estimate_cell_radius, segment_nuclei
from celltrace.segmentation.background import flatten_background
from celltrace.segmentation.growth import grow_dim_objects
from celltrace.segmentation.pieces import union_hull_ratio
from celltrace.tracking import Tracking


NO_CELL_RADIUS = 10.0
"""The cell radius (px) classic uses when the frames it estimates it on show no cell."""


@register
class ClassicTracker(Tracker):
    """Segment each frame (:func:`~celltrace.segmentation.segment_nuclei`), measure its objects,
    link them with a shadow-object LAP (Jaqaman et al. 2008) plus division detection and gap
    closing, and build the CTC tracking. See :class:`ClassicConfig` for the parameters."""

    name = "classic"
    description = "threshold + watershed segmentation, LAP linking with divisions and gap closing; no learning"
    config_classes = (ClassicConfig,)

    def __init__(self, config: ClassicConfig | None = None, **params: Any):
        self.config = config if config is not None else ClassicConfig.from_params(**params)
        if config is not None and params:
            self.config = ClassicConfig.from_params(**{**vars(config), **params})
        self._last_flattened: tuple[tuple, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last_flattened": None}  # a cache, not state: never pickled

    # ------------------------------------------------------------------ segmentation
    def estimate_radius(self, movie: Movie) -> float:
        """``cell_radius`` from the config, else estimated on a few frames spread over the movie;
        :data:`NO_CELL_RADIUS`, with a warning, when those frames show no cell (an estimate under
        ``min_cell_radius``: the specks of camera noise)."""
        if self.config.cell_radius is not None:
            return float(self.config.cell_radius)
        T = len(movie)
        ts = [int(t) for t in spread(T, self.config.radius_frames)]
        frames = [self.flattened(movie[t]) for t in ts]
        r = estimate_cell_radius(frames, method=self.config.threshold_method, log=self.config.log_threshold,
                                 sigma_factor=self.config.radius_sigma_factor, default=None)
        if r is None or r < self.config.min_cell_radius:  # nothing, or the specks of camera noise
            where = f"frame {ts[0]}" if len(ts) == 1 else f"frames {', '.join(map(str, ts))}"
            warnings.warn(f"classic: no cell on {where} to estimate the cell radius from; using {NO_CELL_RADIUS:g} px "
                          f"(give it with --param cell_radius=R)", CelltraceWarning, stacklevel=2)
            return NO_CELL_RADIUS
        return r

    def flattened(self, image: np.ndarray) -> np.ndarray:
        """``image`` with its uneven illumination removed (``background``), as it is segmented.

        The last frame's result is kept (read-only) and returned again for a frame of the same
        shape, dtype and content (BLAKE2b of its bytes: 3 ms for a 1024² frame, the flattening
        30 ms): live tracking segments a frame and then finishes it (:meth:`finish_frame`), and
        flattened it twice before."""
        if self.config.background <= 0:
            return image
        image = np.ascontiguousarray(image)
        key = (image.shape, image.dtype.str, hashlib.blake2b(image.data, digest_size=16).digest())
        cached = self._last_flattened  # one read: (key, value) are replaced together
        if cached is not None and cached[0] == key:
            return cached[1]
        flat = flatten_background(image, self.config.background)
        flat.setflags(write=False)  # shared with the next caller of the same frame
        self._last_flattened = (key, flat)
        return flat

    def segment(self, image: np.ndarray, radius: float, dtype: Any = np.uint32) -> np.ndarray:
        """Label image of one frame (labels 1..n)."""
        c = self.config
        image = self.flattened(image)
        return segment_nuclei(image, radius, sigma_factor=c.sigma_factor, threshold_method=c.threshold_method,
                              threshold_factor=c.threshold_factor, log=c.log_threshold, noise_k=c.noise_k,
                              min_size_factor=c.min_size_factor, distance_sigma_factor=c.distance_sigma_factor,
                              min_distance_factor=c.min_distance_factor, h_factor=c.h_factor, grow_factor=c.grow_factor,
                              grow_sigma_factor=c.grow_sigma_factor, grow_noise_k=c.grow_noise_k,
                              grow_rim_fraction=c.grow_rim_fraction, grow_residual_k=c.grow_residual_k,
                              grow_residual_max_area=c.grow_residual_max_area,
                              grow_residual_margin=c.grow_residual_margin,
                              merge_ratio=c.merge_ratio,
                              faint_noise_k=c.faint_noise_k, faint_sigma_factor=c.faint_sigma_factor,
                              faint_min_area_factor=c.faint_min_area_factor,
                              faint_min_inner_factor=c.faint_min_inner_factor,
                              faint_surround_factor=c.faint_surround_factor,
                              border_min_size_factor=c.border_min_size_factor, hull_max_ratio=c.hull_max_ratio,
                              hull_min_ratio=c.hull_min_ratio, hull_min_roundness=c.hull_min_roundness,
                              piece_ratio=c.piece_ratio, piece_max_area_factor=c.piece_max_area_factor,
                              piece_max_hull_ratio=c.piece_max_hull_ratio, speck_fraction=c.speck_fraction,
                              dtype=dtype)

    def mend_divisions(self, links: np.ndarray, segmentation: Frames, objects: list[pd.DataFrame],
                       labels: list[np.ndarray]) -> tuple[np.ndarray, Frames, list[np.ndarray]]:
        """Classic's own segmentation only: take back the divisions whose daughter was a piece of
        her sister (``division_piece_fraction``, :func:`~celltrace.linking.mitosis.take_back_remerged`:
        more than half of her last object under her sister's next one, and her median area over
        her branch at most that fraction of her sister's or her branch at most
        ``division_piece_frames`` frames long), then report the others
        ``division_join_frames`` later (:func:`~celltrace.linking.mitosis.join_daughters`).
        Returns links, segmentation and labels per frame with the joins applied."""
        c, seg = self.config, segmentation
        joins: Joins = {}
        if c.division_piece_fraction > 0:
            area = [dict(zip(o["label"].tolist(), o["area"].tolist())) for o in objects]

            def remerged(piece: list[tuple[int, int]], sister: dict[int, int]) -> bool:
                short = len(piece) <= c.division_piece_frames
                piece_like = short or np.median([area[t][lab] for t, lab in piece]) <= \
                    c.division_piece_fraction * np.median([area[t][sister[t]] for t, _ in piece])
                (t_end, last), nxt = piece[-1], sister[piece[-1][0] + 1]
                return bool(piece_like and holder(np.asarray(seg[t_end + 1]), np.asarray(seg[t_end]) == last) == nxt)

            links, joins = take_back_remerged(links, len(seg), remerged)
        if c.division_join_frames > 0:
            links, later = join_daughters(links, c.division_join_frames,
                                          accept=lambda t, a, b: union_hull_ratio(seg[t], a, b) >= c.division_join_min_hull)
            for t, pairs in later.items():
                joins.setdefault(t, []).extend(pairs)
        return links, joined_segmentation(segmentation, joins), joined_labels(labels, joins)

    def finish_frame(self, labels: np.ndarray, image: np.ndarray, radius: float) -> np.ndarray:
        """Classic's own objects of one frame once linked: the dim ones grown into their faint rims
        (``dim_rim_factor``, :func:`~celltrace.segmentation.growth.grow_dim_objects`; 0 = as they
        are). Every link and division decision was made on the objects before it."""
        c = self.config
        if c.dim_rim_factor <= 0:
            return labels
        return grow_dim_objects(labels, self.flattened(image), radius, grow=c.dim_rim_factor,
                                sigma_factor=c.dim_rim_sigma_factor, noise_k=c.dim_rim_noise_k,
                                dim_fraction=c.dim_rim_fraction, margin=c.grow_residual_margin,
                                max_area=c.grow_residual_max_area, max_gain=c.dim_rim_max_gain)

    def grow_dim_rims(self, movie: Movie, segmentation: Frames, radius: float, progress: bool = False) -> Frames:
        """:meth:`finish_frame` of every frame of the linked movie, kept on disk like the
        segmentation (:class:`~celltrace.frames.FrameStore`)."""
        store = FrameStore(tuple(segmentation.shape[1:]), segmentation.dtype, prefix="celltrace-seg-")
        for t in tqdm(range(len(segmentation)), desc="classic: dim rims", unit="frame", disable=not progress):
            store.append(self.finish_frame(np.asarray(segmentation[t]), movie[t], radius))
        return store.frames()

    # ------------------------------------------------------------------ tracking
    def track(self, movie: Movie, masks: Frames | None = None, progress: bool = True) -> Tracking:
        """Segment (unless ``masks`` is given) and link every frame of ``movie``; returns a Tracking
        whose masks are the segmentation relabelled to track labels. With ``masks`` (per-frame label
        images, labels local to each frame), their objects are linked as they are: no pixel changes
        except the label value, no object is split or merged. Timings go to ``meta['timing']``."""
        if not isinstance(movie, Movie):
            movie = Movie(frames=movie)
        H, W = movie.frame_shape
        t_start = time.perf_counter()
        if masks is None:
            radius = self.estimate_radius(movie)
            c = self.config
            border = c.min_size_factor if c.border_min_size_factor is None else c.border_min_size_factor
            max_objects = H * W // max(1, int(min(c.min_size_factor, border) * np.pi * radius ** 2))
            dtype = np.dtype(np.uint16) if max_objects < 2**16 - 1 else np.dtype(np.uint32)
            segmentation, objects, timing = segment_movie(movie, lambda image: self.segment(image, radius, dtype=dtype),
                                                          dtype, desc="classic: segmenting", progress=progress)
        else:
            segmentation, objects, timing = measure_masks(masks, movie, desc="classic: measuring", progress=progress)
            radius = float(self.config.cell_radius) if self.config.cell_radius is not None else \
                radius_from_objects(objects)
        t0 = time.perf_counter()
        links, motion = link_objects(self.config, objects, radius, progress=progress)
        labels = [o["label"].to_numpy(np.int64) for o in objects]
        if masks is None and self.config.divisions and self.config.merge_split_frames > 0:
            links = reemerged_cells(links, segmentation, objects, self.config.merge_split_frames)
        if masks is None and self.config.split_merged_cells:
            links, edits, labels = split_merged(links, segmentation, labels)
            segmentation = edited_segmentation(segmentation, edits)
            objects = [object_features(edits[t]) if t in edits else o for t, o in enumerate(objects)]
        if masks is None and self.config.divisions:
            links, segmentation, labels = self.mend_divisions(links, segmentation, objects, labels)
        timing["linking_s"] = time.perf_counter() - t0
        if masks is None and self.config.dim_rim_factor > 0:
            t0 = time.perf_counter()
            segmentation = self.grow_dim_rims(movie, segmentation, radius, progress=progress)
            timing["dim_rims_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        tracking = Tracking.from_links(segmentation, links, labels_per_frame=labels)
        timing["tracks_s"] = time.perf_counter() - t0
        timing["total_s"] = time.perf_counter() - t_start
        tracking.meta.update({"method": self.name, "cell_radius": radius, "typical_displacement": motion, "timing": timing,
                              "n_objects": int(sum(len(lab) for lab in labels)), "n_links": int(len(links))})
        return tracking
