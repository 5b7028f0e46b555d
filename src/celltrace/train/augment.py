"""Geometric augmentations applied identically to an image and every map aligned with it.

One random transform ``T`` is drawn per sample and applied to all arrays of the sample (image,
labels, targets, weights), so pixel ``p`` of every output comes from the same source position
``T^{-1}(p)``: alignment is exact by construction. ``T`` is a crop of ``crop/s`` source pixels
resized to ``crop`` (scale ``s``, drawn log-uniformly from ``scale_range``), followed by a random
90° rotation ``k ∈ {0,1,2,3}`` and random flips. Continuous maps are interpolated bilinearly
(``order=1``), label-like maps (labels, classes, weights, masks) by nearest neighbour
(``order=0``); positions outside the source are filled with 0 (give your weight map 0 there, so
padding is ignored by the loss).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi

if TYPE_CHECKING:  # torch is imported where it runs, so that numpy-only use never loads it
    import torch


@dataclass(frozen=True)
class Transform:
    """One drawn transform: source window origin ``(y0, x0)``, scale ``s`` (output px per source
    px), 90° rotations ``k`` and flips."""

    y0: float
    x0: float
    scale: float
    k: int
    flip_y: bool
    flip_x: bool
    crop: tuple[int, int]


def draw_transform(shape: tuple[int, int], crop: int | tuple[int, int], rng: np.random.Generator,
                   scale_range: tuple[float, float] = (1.0, 1.0), rotate: bool = True, flip: bool = True,
                   centre: tuple[float, float] | None = None) -> Transform:
    """Draw a transform for a source of ``shape``: scale log-uniform in ``scale_range``, window
    uniform over positions (or centred on ``centre`` when given), rotation and flips uniform."""
    ch, cw = (crop, crop) if isinstance(crop, (int, np.integer)) else crop
    lo, hi = scale_range
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if hi > lo else float(lo)
    sh, sw = ch / s, cw / s  # source window size
    H, W = shape
    if centre is None:
        y0 = rng.uniform(0, max(H - sh, 0)) if H > sh else (H - sh) / 2
        x0 = rng.uniform(0, max(W - sw, 0)) if W > sw else (W - sw) / 2
    else:
        y0 = float(np.clip(centre[0] - sh / 2, min(0, H - sh), max(0, H - sh)))
        x0 = float(np.clip(centre[1] - sw / 2, min(0, W - sw), max(0, W - sw)))
    if s == 1.0:  # integer windows: a pure crop, no resampling
        y0, x0 = float(np.floor(y0)), float(np.floor(x0))
    k = int(rng.integers(4)) if rotate else 0
    fy, fx = (bool(rng.integers(2)), bool(rng.integers(2))) if flip else (False, False)
    return Transform(y0, x0, s, k, fy, fx, (int(ch), int(cw)))


def apply_transform(array: np.ndarray, tr: Transform, order: int = 1) -> np.ndarray:
    """Apply ``tr`` to a 2D array: output pixel ``(i, j)`` samples source ``(y0 + i/s, x0 + j/s)``,
    then rotate by ``k·90°`` and flip. ``order`` 0 = nearest, 1 = bilinear; outside = 0."""
    a = np.asarray(array)
    if a.ndim != 2:
        raise ValueError(f"expected a 2D array, got shape {a.shape}")
    ch, cw = tr.crop
    if tr.scale == 1.0:
        out = np.zeros((ch, cw), dtype=a.dtype)
        y0, x0 = int(tr.y0), int(tr.x0)
        sy0, sx0 = max(y0, 0), max(x0, 0)
        sy1, sx1 = min(y0 + ch, a.shape[0]), min(x0 + cw, a.shape[1])
        if sy1 > sy0 and sx1 > sx0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = a[sy0:sy1, sx0:sx1]
    else:
        inv = 1.0 / tr.scale
        if a.dtype == bool:
            src = a.view(np.uint8)
        elif a.dtype in (np.float32, np.float64) or (order == 0 and a.dtype.kind in "iu"):
            src = a
        else:
            src = a.astype(np.float32)
        out = ndi.affine_transform(src, [inv, inv], offset=(tr.y0, tr.x0), output_shape=(ch, cw), order=order,
                                   mode="constant", cval=0, prefilter=False)
        out = out.astype(a.dtype, copy=False) if a.dtype != bool else out.astype(bool)
    if tr.k:
        out = np.rot90(out, tr.k)
    if tr.flip_y:
        out = out[::-1]
    if tr.flip_x:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)


def apply_transform_torch(stack: "torch.Tensor", tr: Transform, nearest: Sequence[bool]) -> "torch.Tensor":
    """:func:`apply_transform` on the GPU (or any torch device): ``stack`` is ``(C, H, W)``, channel
    ``c`` sampled by nearest neighbour where ``nearest[c]``, else bilinearly; outside = 0. Output
    ``(C, ch, cw)`` float32 (``ch, cw`` swapped by an odd rotation, as :func:`apply_transform`)."""
    import torch
    import torch.nn.functional as F

    C, H, W = stack.shape
    ch, cw = tr.crop
    dev = stack.device
    ys = tr.y0 + torch.arange(ch, device=dev, dtype=torch.float32) / tr.scale
    xs = tr.x0 + torch.arange(cw, device=dev, dtype=torch.float32) / tr.scale
    gy = (2 * ys / max(H - 1, 1) - 1)[:, None].expand(ch, cw)
    gx = (2 * xs / max(W - 1, 1) - 1)[None, :].expand(ch, cw)
    grid = torch.stack([gx, gy], dim=-1)[None]
    src = stack[None].float()
    near = torch.as_tensor(list(nearest), device=dev)
    out = torch.empty((C, ch, cw), device=dev, dtype=torch.float32)
    for mode, sel in (("nearest", near), ("bilinear", ~near)):
        if bool(sel.any()):
            out[sel] = F.grid_sample(src[:, sel], grid, mode=mode, padding_mode="zeros", align_corners=True)[0]
    if tr.k:
        out = torch.rot90(out, tr.k, dims=(1, 2))
    if tr.flip_y:
        out = torch.flip(out, dims=(1,))
    if tr.flip_x:
        out = torch.flip(out, dims=(2,))
    return out


def transform_points(points: np.ndarray, tr: Transform) -> np.ndarray:
    """Where source positions ``(y, x)`` (an ``(n, 2)`` array, sub-pixel allowed) land in the output
    of :func:`apply_transform` with ``tr``: ``((y − y0)·s, (x − x0)·s)``, then each 90° rotation
    ``(y, x) → (w − 1 − x, y)`` (``w`` the current width) and the flips ``y → h − 1 − y``,
    ``x → w − 1 − x``. Points outside the window come out outside ``[0, crop)``."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    y = (p[:, 0] - tr.y0) * tr.scale
    x = (p[:, 1] - tr.x0) * tr.scale
    h, w = tr.crop
    for _ in range(tr.k % 4):
        y, x = (w - 1) - x, y
        h, w = w, h
    if tr.flip_y:
        y = (h - 1) - y
    if tr.flip_x:
        x = (w - 1) - x
    return np.stack([y, x], axis=1)


def augment(arrays: Mapping[str, np.ndarray], rng: np.random.Generator, crop: int | tuple[int, int], *,
            orders: Mapping[str, int] | None = None, scale_range: tuple[float, float] = (1.0, 1.0),
            rotate: bool = True, flip: bool = True, centre: tuple[float, float] | None = None) -> dict[str, np.ndarray]:
    """Apply one random transform to every array of ``arrays`` (all of the same 2D shape).

    ``orders[name]`` is the interpolation order per array (default: 0 for integer and boolean
    arrays, 1 for floating ones). A non-square ``crop`` with an odd ``k`` comes out transposed in
    shape ((w, h)); use square crops for batches.
    """
    shapes = {np.asarray(a).shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"arrays of different shapes {sorted(shapes)}")
    shape = shapes.pop()
    tr = draw_transform(shape, crop, rng, scale_range, rotate, flip, centre)
    orders = dict(orders or {})
    out = {}
    for name, a in arrays.items():
        a = np.asarray(a)
        order = orders.get(name, 1 if np.issubdtype(a.dtype, np.floating) else 0)
        out[name] = apply_transform(a, tr, order)
    return out


__all__ = ["Transform", "draw_transform", "apply_transform", "apply_transform_torch", "transform_points", "augment"]
