"""Marker-controlled watershed on a "centre-ness" map (distance transform or a network's map).

Given a foreground mask ``F`` and an elevation map ``E`` that is high in cell centres (the
Euclidean distance transform of ``F``, or a predicted distance / centre-probability map):

1. markers are the local maxima of ``E`` at least ``min_distance`` apart with ``E > min_height``;
   two maxima ``a, b`` closer than ``merge_radius`` are merged into one marker when the straight
   segment between them never dips more than ``h`` below the lower peak,
   ``min_{s in [a,b]} E(s) >= min(E(a), E(b)) - h`` (a straight-line version of h-maxima:
   shallow saddles do not split a cell); every component of ``F`` gets at least one marker;
2. regions grow from the markers over ``-E`` restricted to ``F`` (watershed by flooding);
3. regions smaller than ``min_size`` pixels are removed and labels are renumbered 1..n.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from celltrace.segmentation.threshold import clean_mask, foreground_mask, smooth, touches_border


def _bbox(mask: np.ndarray, pad: int = 1) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    H, W = mask.shape
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, H)),
            slice(max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, W)))


def distance_map(foreground: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """Euclidean distance of each foreground pixel to the background (float32), optionally
    Gaussian-smoothed with ``sigma``. Computed per connected component on its padded bounding box
    (a pixel's nearest background pixel is within that box), so the cost follows the foreground
    area, not the image size."""
    fg = np.asarray(foreground, dtype=bool)
    out = np.zeros(fg.shape, dtype=np.float32)
    pad = max(1, int(np.ceil(3 * sigma)))
    comp, n = ndi.label(fg)
    if n == 0:
        return out
    boxes = ndi.find_objects(comp)
    H, W = fg.shape
    if n > 256:  # many small objects: one transform over the joint bounding box is cheaper
        box = _bbox(fg, pad=pad)
        boxes, n = [box], 1
        comp = fg.astype(np.int32)
    for k, (sy, sx) in enumerate(boxes, start=1):
        y0, y1 = max(sy.start - pad, 0), min(sy.stop + pad, H)
        x0, x1 = max(sx.start - pad, 0), min(sx.stop + pad, W)
        part = comp[y0:y1, x0:x1] == k
        d = ndi.distance_transform_edt(part).astype(np.float32)
        if sigma > 0:
            d = ndi.gaussian_filter(d, sigma, truncate=3.0)
        view = out[y0:y1, x0:x1]
        # smoothed values spill outside the component: keep them only inside it, or where nothing else is
        np.copyto(view, d, where=part | (view == 0))
    out[~fg] = 0.0
    return out


def union_find_roots(n: int, pairs: np.ndarray) -> np.ndarray:
    """For items ``0..n-1`` joined by ``pairs`` (rows ``a, b``): each item's group, the smallest item of it."""
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([root(i) for i in range(n)])


def find_markers(elevation: np.ndarray, foreground: np.ndarray, min_distance: float = 5.0, h: float = 0.0,
                 merge_radius: float | None = None, min_height: float = 0.0) -> np.ndarray:
    """Marker label image (int32, 0 = none) for :func:`watershed_from_maps` (steps 1 of the module).

    ``min_distance`` is the half-size of the square window of the local-maximum test,
    ``h`` the saddle depth under which neighbouring maxima merge (0: no merging), ``merge_radius``
    the largest peak separation tested for merging (default ``4 * min_distance``).
    """
    E = np.asarray(elevation, dtype=np.float32)
    fg = np.asarray(foreground, dtype=bool)
    size = 2 * max(int(round(min_distance)), 1) + 1
    box = _bbox(fg, pad=size)
    markers = np.zeros(E.shape, dtype=np.int32)
    if box is None:
        return markers
    Eb, fgb = E[box], fg[box]
    peak = (Eb == ndi.maximum_filter(Eb, size=size, mode="nearest")) & fgb & (Eb > min_height)
    # plateaus give several touching pixels: keep one point per connected plateau piece
    plab, npk = ndi.label(peak, structure=np.ones((3, 3), bool))
    if npk == 0:
        pts = np.zeros((0, 2), dtype=np.int64)
    else:
        # one pixel per plateau (its first in raster order)
        yy, xx = np.nonzero(plab)
        _, first = np.unique(plab[yy, xx], return_index=True)
        pts = np.stack([yy[first], xx[first]], axis=1).astype(np.int64)
    group = np.arange(len(pts))
    if h > 0 and len(pts) > 1:
        radius = merge_radius if merge_radius is not None else 4.0 * min_distance
        pairs = cKDTree(pts).query_pairs(r=radius, output_type="ndarray")
        if len(pairs):
            a, b = pts[pairs[:, 0]], pts[pairs[:, 1]]
            length = np.sqrt(((a - b) ** 2).sum(1))
            n_s = int(np.ceil(length.max())) + 2
            s = np.linspace(0.0, 1.0, n_s)
            yy = np.rint(a[:, None, 0] + s[None, :] * (b - a)[:, None, 0]).astype(np.int64)
            xx = np.rint(a[:, None, 1] + s[None, :] * (b - a)[:, None, 1]).astype(np.int64)
            saddle = Eb[yy, xx].min(axis=1)
            low = np.minimum(Eb[a[:, 0], a[:, 1]], Eb[b[:, 0], b[:, 1]])
            merge = pairs[(saddle >= low - h) & (saddle > 0)]
            if len(merge):
                group = union_find_roots(len(pts), merge)
    _, group = np.unique(group, return_inverse=True)
    mb = markers[box]
    if len(pts):
        mb[pts[:, 0], pts[:, 1]] = group + 1
    # every foreground component gets a marker: its highest pixel when it has none
    comp, ncomp = ndi.label(fgb)
    if ncomp:
        has = np.zeros(ncomp + 1, bool)
        has[comp[mb > 0]] = True
        missing = np.flatnonzero(~has[1:]) + 1
        if missing.size:
            where = ndi.maximum_position(Eb, comp, missing)
            nxt = int(mb.max())
            for k, (y, x) in enumerate(where):
                mb[y, x] = nxt + k + 1
    return markers


def relabel_sequential(labels: np.ndarray, min_size: int = 0, dtype: np.dtype | type = np.uint32,
                       border_min_size: int | None = None) -> np.ndarray:
    """Renumber the positive labels of ``labels`` to 1..n (by first label value), dropping regions
    smaller than ``min_size`` pixels (``border_min_size`` for regions on the image border; default
    ``min_size``)."""
    lab = np.asarray(labels)
    if lab.size == 0 or lab.max() <= 0:
        return np.zeros(lab.shape, dtype=dtype)
    counts = np.bincount(lab.ravel().astype(np.int64, copy=False))
    keep = counts >= max(min_size, 1)
    if border_min_size is not None:
        edge = touches_border(lab.astype(np.int64, copy=False))  # one entry per label, as counts
        keep[edge] = counts[edge] >= max(border_min_size, 1)
    keep[0] = False
    lut = np.zeros(counts.size, dtype=dtype)
    lut[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int64).astype(dtype)
    return lut[lab]


def watershed_from_maps(foreground: np.ndarray, elevation: np.ndarray | None = None,
                        markers: np.ndarray | None = None, threshold: float = 0.5, min_distance: float = 5.0,
                        h: float = 0.0, merge_radius: float | None = None, min_size: int = 0,
                        min_height: float = 0.0, dtype: np.dtype | type = np.uint32,
                        border_min_size: int | None = None) -> np.ndarray:
    """Label image from a foreground (boolean mask or probability map, thresholded at ``threshold``)
    and an elevation map high at cell centres (default: the distance transform of the foreground).

    ``markers`` (label image or boolean seeds) replaces the automatic markers of
    :func:`find_markers` (then foreground components without a marker stay background). Learned methods pass their predicted foreground probability and
    distance / centre map here. Returns labels 1..n in ``dtype``, 0 = background.
    """
    from skimage.segmentation import watershed

    fg = np.asarray(foreground)
    fg = fg if fg.dtype == bool else fg > threshold
    E = distance_map(fg) if elevation is None else np.asarray(elevation, dtype=np.float32)
    if markers is None:
        markers = find_markers(E, fg, min_distance=min_distance, h=h, merge_radius=merge_radius,
                               min_height=min_height)
    else:
        markers = np.asarray(markers)
        markers = ndi.label(markers)[0] if markers.dtype == bool else markers.astype(np.int32, copy=False)
    out = np.zeros(fg.shape, dtype=np.int32)
    box = _bbox(fg)
    if box is not None:
        out[box] = watershed(-E[box], markers[box], mask=fg[box])
    return relabel_sequential(out, min_size=min_size, dtype=dtype, border_min_size=border_min_size)


def segment_nuclei(image: np.ndarray, cell_radius: float, sigma_factor: float = 0.1,
                   threshold_method: str = "li", threshold_factor: float = 1.0, log: bool = False, noise_k: float = 2.0,
                   min_size_factor: float = 0.15, distance_sigma_factor: float = 0.15,
                   min_distance_factor: float = 0.5, h_factor: float = 0.25, grow_factor: float = 0.0,
                   grow_sigma_factor: float = 0.15, grow_noise_k: float = 3.0, grow_rim_fraction: float = 0.4,
                   grow_residual_k: float = 0.0, grow_residual_max_area: float = 1.5,
                   grow_residual_margin: float = 2.0,
                   merge_ratio: float = 0.0, faint_noise_k: float = 0.0, faint_sigma_factor: float = 0.3,
                   faint_min_area_factor: float = 0.6, faint_min_inner_factor: float = 0.6,
                   faint_surround_factor: float = 0.0,
                   border_min_size_factor: float | None = None, hull_max_ratio: float = 0.0,
                   hull_min_ratio: float = 1.15, hull_min_roundness: float = 0.6,
                   piece_ratio: float = 0.0, piece_max_area_factor: float = 2.5, piece_max_hull_ratio: float = 1.3,
                   speck_fraction: float = 0.0, dtype: np.dtype | type = np.uint32) -> np.ndarray:
    """Classical segmentation of bright cells/nuclei on a dark background, all scales set by the
    typical cell radius ``r`` (see :func:`~celltrace.segmentation.cell_size.estimate_cell_radius`):

    foreground ``F = G_{sigma_factor r} * I > thr`` (``thr`` at least ``noise_k`` noise deviations
    above the background, see :func:`~celltrace.segmentation.threshold.foreground_mask`; holes filled, components < ``min_size_factor
    pi r^2`` removed); elevation ``E = G_{distance_sigma_factor r} * EDT(F)``; markers at least
    ``min_distance_factor r`` apart, merged across saddles shallower than ``h_factor r``; watershed
    of ``-E`` in ``F``; regions under ``min_size_factor pi r^2`` pixels dropped; with ``merge_ratio``
    > 0, a region that is only a slope of its brighter neighbour merged into it
    (:func:`~celltrace.segmentation.slopes.merge_slopes`); with ``grow_factor`` > 0, each object
    grown into its dim rim (:func:`~celltrace.segmentation.growth.grow_objects`); with
    ``hull_max_ratio`` > 1, each object filled out to its convex hull where that hull is
    ``hull_min_ratio``–``hull_max_ratio`` times its area and round (axis ratio ≥
    ``hull_min_roundness``; :func:`~celltrace.segmentation.convexity.fill_convex_hulls`); with
    ``piece_ratio`` > 0, adjacent objects sharing a border of at least ``piece_ratio`` × the smaller
    one's equivalent diameter merged when together they are at most ``piece_max_area_factor pi r^2``
    and about convex (:func:`~celltrace.segmentation.pieces.merge_cut_pieces`); with
    ``speck_fraction`` > 0, objects under that fraction of the frame's typical object area dropped
    (:func:`~celltrace.segmentation.specks.drop_specks`); with ``faint_noise_k`` > 0, cell-sized
    faint objects added where nothing was found, also against their surroundings over ``faint_surround_factor r`` when that is > 0
    (:func:`~celltrace.segmentation.faint.add_faint_objects`). With ``border_min_size_factor``, regions
    on the image border have their own size limit, ``border_min_size_factor pi r^2`` (a cell cut by
    the edge of the field).
    """
    r = float(cell_radius)
    min_size = int(min_size_factor * np.pi * r * r)
    border_min_size = None if border_min_size_factor is None else int(border_min_size_factor * np.pi * r * r)
    smoothed = smooth(image, sigma_factor * r)  # thresholded, and the slope merge's intensities
    fg = foreground_mask(smoothed, sigma=0.0, method=threshold_method, min_size=min_size,
                         threshold_factor=threshold_factor, log=log, noise_k=noise_k,
                         border_min_size=border_min_size)
    E = distance_map(fg, sigma=distance_sigma_factor * r)
    labels = watershed_from_maps(fg, E, min_distance=min_distance_factor * r, h=h_factor * r,
                                 merge_radius=2.5 * r, min_size=min_size, dtype=dtype,
                                 border_min_size=border_min_size)
    if merge_ratio > 0:
        from celltrace.segmentation.slopes import merge_slopes

        labels = merge_slopes(labels, smoothed, ratio=merge_ratio)
    if grow_factor > 0:
        from celltrace.segmentation.growth import grow_objects

        labels = grow_objects(labels, image, r, grow=grow_factor, sigma_factor=grow_sigma_factor,
                              noise_k=grow_noise_k, rim_fraction=grow_rim_fraction,
                              residual_k=grow_residual_k, residual_max_area=grow_residual_max_area,
                              residual_margin=grow_residual_margin)
    if hull_max_ratio > 1:
        from celltrace.segmentation.convexity import fill_convex_hulls

        labels = fill_convex_hulls(labels, max_ratio=hull_max_ratio, min_ratio=hull_min_ratio,
                                   min_roundness=hull_min_roundness)
    if piece_ratio > 0:
        from celltrace.segmentation.pieces import merge_cut_pieces

        labels = merge_cut_pieces(labels, r, ratio=piece_ratio, max_area_factor=piece_max_area_factor,
                                  max_hull_ratio=piece_max_hull_ratio)
    if speck_fraction > 0:
        from celltrace.segmentation.specks import drop_specks

        labels = drop_specks(labels, speck_fraction, dtype=dtype)
    if faint_noise_k > 0:
        from celltrace.segmentation.faint import add_faint_objects

        labels = add_faint_objects(labels, image, r, noise_k=faint_noise_k, sigma_factor=faint_sigma_factor,
                                   min_area_factor=faint_min_area_factor, min_inner_factor=faint_min_inner_factor,
                                   surround_factor=faint_surround_factor)
    return labels


__all__ = ["distance_map", "find_markers", "relabel_sequential", "watershed_from_maps", "segment_nuclei",
           "clean_mask", "smooth"]
