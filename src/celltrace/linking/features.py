"""Per-frame object tables, the linker's input: one row per labelled object."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

OBJECT_COLUMNS = ["label", "y", "x", "area"]


def object_features(labels: np.ndarray, image: np.ndarray | None = None) -> pd.DataFrame:
    """Table ``label, y, x, area`` (+ ``mean_intensity`` with ``image``) of the positive labels of a
    2D label image: centroid ``(y, x) = (1/|S|) sum_{p in S} p`` and area ``|S|`` of each label ``S``.

    Uses bincount over label values (no sorting), so it is linear in the number of pixels.
    """
    lab = np.asarray(labels)
    if lab.ndim != 2:
        raise ValueError(f"expected a 2D label image, got shape {lab.shape}")
    if lab.size == 0 or lab.max() <= 0:
        cols = {c: pd.Series(dtype=np.int64 if c in ("label", "area") else np.float64) for c in OBJECT_COLUMNS}
        if image is not None:
            cols["mean_intensity"] = pd.Series(dtype=np.float64)
        return pd.DataFrame(cols)
    flat = lab.ravel()
    if flat.dtype.kind == "i" and flat.min() < 0:
        flat = np.where(flat < 0, 0, flat)
    top = int(flat.max())
    if top > 4 * flat.size:  # sparse huge label values: compress them first
        present, flat = np.unique(flat, return_inverse=True)
        values = present
    else:
        values = None
    flat = flat.astype(np.intp, copy=False)
    n = int(flat.max()) + 1
    area = np.bincount(flat, minlength=n)
    H, W = lab.shape
    rows = np.bincount(flat, weights=np.repeat(np.arange(H, dtype=np.float64), W), minlength=n)
    cols = np.bincount(flat, weights=np.tile(np.arange(W, dtype=np.float64), H), minlength=n)
    ids = np.flatnonzero(area)
    ids = ids[ids > 0] if values is None else ids[values[ids] > 0]
    out = pd.DataFrame({
        "label": (ids if values is None else values[ids]).astype(np.int64),
        "y": rows[ids] / area[ids],
        "x": cols[ids] / area[ids],
        "area": area[ids].astype(np.int64),
    })
    if image is not None:
        s = np.bincount(flat, weights=np.asarray(image, dtype=np.float64).ravel(), minlength=n)
        out["mean_intensity"] = s[ids] / area[ids]
    return out


def nearest_displacements(objs_t: pd.DataFrame, objs_t1: pd.DataFrame) -> np.ndarray:
    """Distance from each object of ``objs_t1`` to its nearest object of ``objs_t`` (empty when
    either table is empty): one frame pair's share of :func:`typical_displacement`."""
    if len(objs_t) == 0 or len(objs_t1) == 0:
        return np.zeros(0)
    d, _ = cKDTree(objs_t[["y", "x"]].to_numpy(np.float64)).query(objs_t1[["y", "x"]].to_numpy(np.float64))
    return np.asarray(d, dtype=np.float64)


def typical_displacement(objects: list, percentile: float = 90.0) -> float:
    """A robust scale of frame-to-frame motion: the ``percentile`` of the distances from each object
    at t+1 to its nearest object at t, pooled over all consecutive frame pairs (0 if undefined).

    For sparse, fast cells this is about their displacement; for dense, slow cells it is bounded by
    the spacing, so a gate derived from it never shrinks below what the density allows.
    """
    dists = [nearest_displacements(a, b) for a, b in zip(objects[:-1], objects[1:])]
    return pooled_percentile(dists, percentile)


def pooled_percentile(dists: list, percentile: float = 90.0) -> float:
    """The ``percentile`` of the values of all arrays in ``dists`` together (0 when there are none)."""
    pooled = np.concatenate(dists) if dists else np.zeros(0)
    return float(np.percentile(pooled, percentile)) if pooled.size else 0.0


def radius_from_objects(objects: list, default: float = 10.0) -> float:
    """Typical cell radius ``r = sqrt(median area / pi)`` over all objects of all frames."""
    areas = np.concatenate([o["area"].to_numpy() for o in objects]) if objects else np.zeros(0)
    return float(np.sqrt(np.median(areas) / np.pi)) if areas.size else default


def segment_movie(movie, segment, dtype, desc: str = "segmenting", progress: bool = True):
    """Segment ``movie`` frame by frame with ``segment(image) -> labels`` and measure the objects.

    Returns ``(segmentation, objects, timing)``: the label frames, kept zlib-compressed on disk in a
    :class:`~celltrace.frames.FrameStore` (memory stays flat with movie length) and read back lazily;
    one :func:`object_features` table per frame; seconds spent in ``segmentation_s`` / ``features_s``.
    """
    import time

    from tqdm.auto import tqdm

    from celltrace.frames import FrameStore

    T = len(movie)
    store = FrameStore(tuple(movie.shape[1:]), dtype, prefix="celltrace-seg-")
    objects = []
    timing = {"segmentation_s": 0.0, "features_s": 0.0}
    for t in tqdm(range(T), desc=desc, unit="frame", disable=not progress):
        t0 = time.perf_counter()
        labels = segment(movie[t])
        t1 = time.perf_counter()
        store.append(labels)
        objects.append(object_features(labels))
        timing["segmentation_s"] += t1 - t0
        timing["features_s"] += time.perf_counter() - t1
    return store.frames(), objects, timing


def measure_masks(masks, movie, desc: str = "measuring", progress: bool = True):
    """The user's per-frame label images as the linker's input (linking-only mode).

    Checks one integer label image per movie frame of the same shape, then returns
    ``(segmentation, objects, timing)`` like :func:`segment_movie`; the masks are not changed.
    """
    import time

    from tqdm.auto import tqdm

    from celltrace.frames import as_frames

    segmentation = as_frames(masks)
    T = len(movie)
    if len(segmentation) != T or tuple(segmentation.shape[1:]) != tuple(movie.shape[1:]):
        raise ValueError(f"masks of shape {tuple(segmentation.shape)} do not match the movie's {tuple(movie.shape)}")
    if not np.issubdtype(np.dtype(segmentation.dtype), np.integer):
        raise ValueError(f"masks have dtype {segmentation.dtype}; expected integer labels")
    objects = []
    timing = {"segmentation_s": 0.0, "features_s": 0.0}
    for t in tqdm(range(T), desc=desc, unit="frame", disable=not progress):
        t1 = time.perf_counter()
        objects.append(object_features(np.asarray(segmentation[t])))
        timing["features_s"] += time.perf_counter() - t1
    return segmentation, objects, timing
