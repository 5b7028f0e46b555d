"""Per-cell inputs of the Caliban neighbourhood encoder (paper §3.5.2), one frame at a time.

For every labelled cell ``S`` of a frame (label image ``L``, raw image ``I``):

* **appearance** — a ``crop_size x crop_size`` crop of ``I`` centred on the centroid, sampled
  bilinearly from a window of side ``crop_factor * r`` (``r`` the typical cell radius, so the crop
  covers the same part of a cell at any magnification; the paper's fixed 16 px crop at its
  ``reference_radius``), normalised with the cell's own statistics
  ``(I - mean_S I) / std_S I``; a second channel holds the cell's mask ``[L = label]``;
* **centroid** ``c = (1/|S|) sum_{p in S} p`` (y, x);
* **morphology** — area ``|S|``, perimeter (4-connected boundary pixels weighted by their
  8-neighbourhood configuration, the estimator of :func:`skimage.measure.perimeter`), and
  eccentricity ``sqrt(1 - l_2 / l_1)`` with ``l_1 >= l_2`` the eigenvalues of the coordinate
  covariance of ``S``;
* **adjacency** — directed pairs ``(i, j)``, ``i != j``, with ``|c_i - c_j| < neighbor_distance``.
  The paper links cells closer than 64 px at 0.65 µm/px; here the distance is
  ``64 * r / reference_radius``.

Everything is computed with ``bincount`` over the label image (no per-cell loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from celltrace.frames import spread

PAPER_NEIGHBOR_DISTANCE = 64.0
"""Adjacency distance of the paper in pixels (41.6 µm at 0.65 µm/px)."""
REFERENCE_RADIUS = 8.0
"""Typical nucleus radius (pixels) at the paper's 0.65 µm/px; lengths scale by ``r / REFERENCE_RADIUS``."""

# weights of the 8-neighbourhood codes of a boundary pixel (code = 1 + 2 * #4-neighbours on the
# boundary + 10 * #diagonal neighbours on the boundary): straight runs count 1, diagonal runs
# sqrt(2), corners (1 + sqrt(2)) / 2 — Benkrid & Crookes' perimeter estimator
_PERIMETER_WEIGHTS = np.zeros(50, dtype=np.float64)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1.0
_PERIMETER_WEIGHTS[[21, 33]] = np.sqrt(2.0)
_PERIMETER_WEIGHTS[[13, 23]] = (1.0 + np.sqrt(2.0)) / 2.0


@dataclass
class FrameFeatures:
    """Encoder inputs of the ``n`` cells of one frame (row ``k`` = ``labels[k]``)."""

    labels: np.ndarray       # (n,) int64
    centroids: np.ndarray    # (n, 2) float64, (y, x) pixels
    crops: np.ndarray        # (n, 2, S, S) float32: normalised intensity, mask
    morphology: np.ndarray   # (n, 3) float64: area, perimeter, eccentricity
    edges: np.ndarray        # (2, e) int64: (i, j) with |c_i - c_j| < neighbor_distance, i != j
    shape: tuple[int, int]   # (H, W) of the frame

    def __len__(self) -> int:
        return int(self.labels.size)

    def table(self) -> pd.DataFrame:
        """Object table for the linker: ``label, y, x, area, perimeter, eccentricity``."""
        return pd.DataFrame({"label": self.labels, "y": self.centroids[:, 0], "x": self.centroids[:, 1],
                             "area": self.morphology[:, 0].astype(np.int64), "perimeter": self.morphology[:, 1],
                             "eccentricity": self.morphology[:, 2]})


def _compress(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(present, idx)``: sorted positive labels, and the image with label ``present[k]`` -> ``k + 1``."""
    flat = labels.ravel()
    present = np.unique(flat)
    present = present[present > 0]
    idx = np.searchsorted(present, flat) + 1
    idx = np.where(flat > 0, idx, 0)
    return present.astype(np.int64), idx.reshape(labels.shape)


def _shift(a: np.ndarray, dy: int, dx: int, fill: int = 0) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]`` (``fill`` outside)."""
    out = np.full_like(a, fill)
    H, W = a.shape
    ys, yd = (slice(dy, H), slice(0, H - dy)) if dy >= 0 else (slice(0, H + dy), slice(-dy, H))
    xs, xd = (slice(dx, W), slice(0, W - dx)) if dx >= 0 else (slice(0, W + dx), slice(-dx, W))
    out[yd, xd] = a[ys, xs]
    return out


def perimeters(idx: np.ndarray, n: int) -> np.ndarray:
    """Perimeter of each region ``1..n`` of a compressed label image (see module docstring).

    A pixel is on the boundary of its region when one of its 4-neighbours (or the image edge)
    belongs to another region; each boundary pixel's code counts the boundary pixels of the *same*
    region among its neighbours, and the codes' weights are summed per region.
    """
    inner = idx > 0
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        inner &= _shift(idx, dy, dx, fill=-1) == idx
    border = (idx > 0) & ~inner
    b_lab = np.where(border, idx, 0)
    code = border.astype(np.int64)
    for dy, dx, w in ((-1, 0, 2), (1, 0, 2), (0, -1, 2), (0, 1, 2), (-1, -1, 10), (-1, 1, 10), (1, -1, 10), (1, 1, 10)):
        code += w * ((_shift(b_lab, dy, dx) == idx) & border)
    weight = _PERIMETER_WEIGHTS[np.minimum(code, 49)] * border
    return np.bincount(idx.ravel(), weights=weight.ravel(), minlength=n + 1)[1:]


def morphology(idx: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(centroids (n, 2), morphology (n, 3))`` of regions ``1..n``: area, perimeter, eccentricity."""
    flat = idx.ravel()
    area = np.bincount(flat, minlength=n + 1)[1:].astype(np.float64)
    yy, xx = np.indices(idx.shape, dtype=np.float64)
    yy, xx = yy.ravel(), xx.ravel()

    def mean(w: np.ndarray) -> np.ndarray:
        return np.bincount(flat, weights=w, minlength=n + 1)[1:] / np.maximum(area, 1)

    cy, cx = mean(yy), mean(xx)
    # central second moments, computed around the centroid for numerical stability
    dy = yy - np.concatenate([[0.0], cy])[flat]
    dx = xx - np.concatenate([[0.0], cx])[flat]
    syy, sxx, sxy = mean(dy * dy), mean(dx * dx), mean(dy * dx)
    half_tr, det = 0.5 * (syy + sxx), syy * sxx - sxy ** 2
    root = np.sqrt(np.maximum(half_tr ** 2 - det, 0.0))
    l1, l2 = half_tr + root, half_tr - root
    ecc = np.where(l1 > 0, np.sqrt(np.clip(1.0 - l2 / np.where(l1 > 0, l1, 1.0), 0.0, 1.0)), 0.0)
    return np.stack([cy, cx], 1), np.stack([area, perimeters(idx, n), ecc], 1)


def crops(image: np.ndarray, idx: np.ndarray, centroids: np.ndarray, side: float, size: int = 16) -> np.ndarray:
    """``(n, 2, size, size)`` float32: bilinear samples of ``image`` on a ``size x size`` grid over a
    window of side ``side`` centred on each centroid, normalised by the cell's mean and standard
    deviation inside its mask; channel 1 is the cell's mask (nearest-neighbour samples)."""
    n = len(centroids)
    if n == 0:
        return np.zeros((0, 2, size, size), np.float32)
    img = np.asarray(image, dtype=np.float64)
    flat = idx.ravel()
    cnt = np.maximum(np.bincount(flat, minlength=n + 1)[1:], 1)
    mu = np.bincount(flat, weights=img.ravel(), minlength=n + 1)[1:] / cnt
    var = np.bincount(flat, weights=img.ravel() ** 2, minlength=n + 1)[1:] / cnt - mu ** 2
    sd = np.sqrt(np.maximum(var, 0.0))
    sd = np.where(sd > 1e-6 * max(1.0, np.abs(mu).max()), sd, 1.0)
    g = ((np.arange(size) + 0.5) / size - 0.5) * side
    Y = centroids[:, 0, None, None] + g[None, :, None] + 0 * g[None, None, :]
    X = centroids[:, 1, None, None] + 0 * g[None, :, None] + g[None, None, :]
    coords = np.stack([Y.ravel(), X.ravel()])
    vals = ndi.map_coordinates(img, coords, order=1, mode="nearest").reshape(n, size, size)
    mask = ndi.map_coordinates(idx, coords, order=0, mode="constant", cval=0).reshape(n, size, size)
    out = np.empty((n, 2, size, size), np.float32)
    out[:, 0] = (vals - mu[:, None, None]) / sd[:, None, None]
    out[:, 1] = mask == np.arange(1, n + 1)[:, None, None]
    return out


def neighbor_edges(centroids: np.ndarray, distance: float) -> np.ndarray:
    """``(2, e)`` directed pairs of distinct cells closer than ``distance`` (both directions)."""
    if len(centroids) < 2:
        return np.zeros((2, 0), np.int64)
    pairs = cKDTree(centroids).query_pairs(distance, output_type="ndarray").astype(np.int64)
    if pairs.size == 0:
        return np.zeros((2, 0), np.int64)
    return np.concatenate([pairs.T, pairs[:, ::-1].T], axis=1)


def scaled_neighbor_distance(radius: float, reference_radius: float = REFERENCE_RADIUS,
                             paper_distance: float = PAPER_NEIGHBOR_DISTANCE) -> float:
    """The paper's 64 px adjacency scaled to this movie: ``64 * r / reference_radius``."""
    return float(paper_distance) * float(radius) / float(reference_radius)


def frame_features(image: np.ndarray, labels: np.ndarray, radius: float, crop_size: int = 16,
                   crop_factor: float = 2.0, neighbor_distance: float | None = None) -> FrameFeatures:
    """All encoder inputs of one frame (see module docstring). ``radius`` = typical cell radius
    ``r`` in pixels; ``neighbor_distance`` defaults to :func:`scaled_neighbor_distance`."""
    lab = np.asarray(labels)
    if lab.ndim != 2 or np.shape(image) != lab.shape:
        raise ValueError(f"image {np.shape(image)} and labels {lab.shape} must be equal 2D shapes")
    present, idx = _compress(lab)
    n = present.size
    cen, morph = morphology(idx, n)
    side = crop_factor * float(radius)
    dist = scaled_neighbor_distance(radius) if neighbor_distance is None else float(neighbor_distance)
    return FrameFeatures(labels=present, centroids=cen, crops=crops(image, idx, cen, side, crop_size),
                         morphology=morph, edges=neighbor_edges(cen, dist), shape=(int(lab.shape[0]), int(lab.shape[1])))


def estimate_radius(segmentation: object, frames: int = 5) -> float:
    """Typical cell radius ``r = sqrt(median area / pi)`` from ``frames`` frames spread over a label stack."""
    from celltrace.linking.features import object_features, radius_from_objects

    T = len(segmentation)  # type: ignore[arg-type]
    ts = spread(T, frames)
    return radius_from_objects([object_features(np.asarray(segmentation[int(t)])) for t in ts])  # type: ignore[index]


def movie_features(movie: object, segmentation: object, radius: float | None = None, crop_size: int = 16,
                   crop_factor: float = 2.0, neighbor_distance: float | None = None,
                   progress: bool = False) -> tuple[list[FrameFeatures], float]:
    """:func:`frame_features` of every frame (read one frame at a time) and the radius used."""
    from tqdm.auto import tqdm

    r = estimate_radius(segmentation) if radius is None else float(radius)
    out = [frame_features(np.asarray(movie[t]), np.asarray(segmentation[t]), r, crop_size,  # type: ignore[index]
                          crop_factor, neighbor_distance)
           for t in tqdm(range(len(segmentation)), desc="caliban: features", unit="frame",  # type: ignore[arg-type]
                         disable=not progress)]
    return out, r
