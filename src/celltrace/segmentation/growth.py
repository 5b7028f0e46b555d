"""Objects grown into their dim rims (hysteresis by distance).

A global threshold keeps a cell's bright core; its periphery can be barely above the background
(SIM+ 02: cores 5–30 grey levels above a background of 94, rims 0.5–2 above it). A detection
covering less than half of a cell is, for the CTC matching, a false positive *and* a miss. Each
object is therefore grown into the pixels around it where the image, smoothed more heavily
(``G_s * I``, ``s = sigma_factor · r``), stands out of the background noise:

``R = {p : d(p, F) <= grow · r  and  G_s * I(p) > b + k · n}``

with ``F`` the objects' pixels, ``b`` and ``n`` the median and the robust standard deviation
(1.4826 MAD) of ``G_s * I`` on the pixels farther than ``r`` from every object, and ``k`` =
``noise_k``. A rim pixel goes to the nearest object and must keep ``rim_fraction`` of that
object's contrast (mean of ``G_s * I`` over the object minus ``b``), so that the blur around a bright
core is not taken for a rim. A dimmer rim pixel is still taken (``residual_k > 0``) where the
pixels *outside* the objects alone stand out, ``G_s * (I · Q) / G_s * Q > b + residual_k · n``
with ``Q`` the pixels farther than ``residual_margin`` pixels from every object (a normalised
convolution): the blur of a bright core, which reaches a pixel or two past the threshold's
boundary, does not enter that mean, a dim part of the cell does (SIM+ 02: nuclei whose bright
core is half of the annotated nucleus; PhC-C2DL-PSC, cells of radius 7 px: without the margin
their edges' blur grew every object, SEG 0.734 → 0.655). Only objects smaller than
``residual_max_area · pi r^2`` are grown so: a detection of a whole large cell is not a core, and
the light scattered around it (MSC) would pass the same test. Pixels of ``R`` connected to no
object stay background, and no object pixel changes owner. The defaults are ``classic``'s, chosen
on the generalization protocol.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from celltrace.segmentation.background import block_reduce
from celltrace.segmentation.threshold import masked_mean, robust_level, smooth


def grow_objects(labels: np.ndarray, image: np.ndarray, radius: float, grow: float = 0.5,
                 sigma_factor: float = 0.15, noise_k: float = 3.0, rim_fraction: float = 0.4,
                 residual_k: float = 0.0, residual_max_area: float = 1.5,
                 residual_margin: float = 2.0) -> np.ndarray:
    """``labels`` (0 = background) with each object grown into its dim rim (module docstring);
    same dtype. ``grow <= 0`` or no objects: ``labels`` unchanged. The rim and its owners are
    found on a grid twice as coarse when cells are large (``radius >= 8``: a rim is then at
    least 2 coarse pixels wide), which quarters the cost; the result is at full resolution."""
    lab = np.asarray(labels)
    fg = lab > 0
    if grow <= 0 or not fg.any() or fg.all():
        return lab
    H, W = lab.shape
    k = 2 if radius >= 8 and min(H, W) >= 16 else 1
    r = float(radius) / k
    img = block_reduce(np.asarray(image, np.float32), k, np.mean)
    g = smooth(img, sigma_factor * r)
    lab_c = block_reduce(lab, k, np.max)  # a coarse pixel touching an object belongs to it
    fg_c = lab_c > 0
    dist, (iy, ix) = ndi.distance_transform_edt(~fg_c, return_indices=True)
    far = dist > r
    if far.sum() < 100:  # no background to measure the noise on
        return lab
    b, n = robust_level(g[far], max_values=200_000)
    rim = (dist <= grow * r) & (g > b + noise_k * n)
    owner = np.where(rim, lab_c[iy, ix], 0)  # the nearest object
    if rim_fraction > 0:
        # a rim pixel keeps rim_fraction of its object's contrast: a bright core's blur is no rim
        flat = lab_c.ravel().astype(np.int64)
        size = int(lab.max()) + 1
        sums = np.bincount(flat, weights=g.ravel(), minlength=size)
        contrast = sums / np.maximum(np.bincount(flat, minlength=size), 1) - b  # labels absent: −b
        dim = g - b < rim_fraction * contrast[owner]
        if residual_k > 0:
            # ... unless the pixels outside the objects alone stand out there: a dim part of
            # the cell, not the blur of its core
            outside, seen = masked_mean(img, dist * k > residual_margin, sigma_factor * r)
            resid = seen & (outside > b + residual_k * n)
            if residual_max_area > 0:  # only objects smaller than a cell can be a cell's core
                area = np.bincount(lab.ravel().astype(np.int64), minlength=size)
                resid &= area[owner] < residual_max_area * np.pi * float(radius) ** 2
            dim &= ~resid
        owner[dim] = 0
    if k > 1:
        owner = np.repeat(np.repeat(owner, k, axis=0), k, axis=1)[:H, :W]
    out = lab.copy()
    new = ~fg & (owner > 0)
    out[new] = owner[new]
    # rim pixels cut off from every object (through rim pixels) stay background
    comp, _ = ndi.label(out > 0)
    attached = np.zeros(int(comp.max()) + 1, bool)
    attached[comp[fg]] = True
    out[new & ~attached[comp]] = 0
    return out


__all__ = ["grow_objects"]
