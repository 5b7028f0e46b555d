"""Objects filled out to their convex hull: a nucleus whose threshold kept only a bright crescent.

A nucleus is about convex, but its brightness need not be even: a global threshold can keep a
bright crescent on one side and leave the dimmer rest (SIM+ 02 nuclei whose chromatin is bright
on one side; a dimmed GOWT1 nucleus: the crescent covers a third of the annotated marker, so the
CTC matching counts a miss *and* a false object). An object ``O`` takes the background pixels of
its convex hull ``H(O)``,

``O ← O ∪ (H(O) \\ F)``  (``F`` every object's pixels: no pixel changes owner),

when it is clearly not convex but its hull looks like a nucleus:

* ``min_ratio <= |H(O)| / |O| <= max_ratio``: an about convex object (GOWT1's nuclei, hull ratio
  1.01–1.07) would only gain the gaps of its ragged edge, which lie outside the nucleus (the SIM+
  02 objects the fill makes match their marker have ratios 1.17–1.34);
* the hull's axis ratio ``sqrt(λ2 / λ1) >= min_roundness`` (``λ`` the eigenvalues of its pixels'
  covariance): the hull of a spindle-shaped cell's protrusions is no nucleus (MSC 02: 80 % of its
  non-convex objects have hulls under 0.6, SIM+ 02's 10 %).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def fill_convex_hulls(labels: np.ndarray, max_ratio: float = 2.0, min_ratio: float = 1.15,
                      min_roundness: float = 0.6) -> np.ndarray:
    """``labels`` (0 = background) with each object's hull filled as in the module docstring; same
    dtype, a new array. ``max_ratio <= 1``: ``labels`` unchanged."""
    from skimage.morphology import convex_hull_image

    lab = np.asarray(labels)
    if max_ratio <= 1 or lab.size == 0 or lab.max() <= 0:
        return lab
    out = lab.copy()
    for k, box in enumerate(ndi.find_objects(lab), start=1):
        if box is None:
            continue
        obj = lab[box] == k
        area = int(obj.sum())
        if area < 3:
            continue
        hull = convex_hull_image(obj)
        if not min_ratio * area <= hull.sum() <= max_ratio * area or axis_ratio(hull) < min_roundness:
            continue
        view = out[box]
        view[hull & (view == 0)] = k
    return out


def axis_ratio(mask: np.ndarray) -> float:
    """``sqrt(λ2 / λ1)`` of the covariance of the pixel coordinates of ``mask`` (1 = round, 0 = a line)."""
    ys, xs = np.nonzero(mask)
    if ys.size < 3:
        return 0.0
    lam = np.linalg.eigvalsh(np.cov(np.stack([ys, xs]).astype(np.float64)))
    return float(np.sqrt(max(lam[0], 0.0) / lam[1])) if lam[1] > 0 else 0.0


__all__ = ["fill_convex_hulls", "axis_ratio"]
