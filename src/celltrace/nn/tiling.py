"""Tiled prediction of dense maps for frames too large for one forward pass.

The frame is covered by windows of ``tile × tile`` pixels whose starts are ``tile − overlap``
apart (the last window ends at the frame's edge). Of each window only the part farther than
``overlap/2`` from an inner window edge is kept, so every output pixel comes from exactly one
window and has at least ``overlap/2`` pixels of context on every side that has image there.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Window starts along one axis: ``0, step, 2·step, …`` and ``size − tile`` last (``step = tile − overlap``)."""
    if size <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return sorted(set(starts))


def predict_tiled(fn: Callable[[np.ndarray], dict[str, np.ndarray]], image: np.ndarray, tile: int = 1024,
                  overlap: int = 64) -> dict[str, np.ndarray]:
    """Apply ``fn`` (window → ``{name: (C, h, w) or (h, w) map}``) over windows of ``image`` and
    stitch the maps (see the module docstring). ``image`` is ``(H, W)`` or ``(..., H, W)`` (e.g. a
    stack of frames tiled alike); windows are cut from its last two axes. A frame no larger than
    ``tile`` is one call."""
    img = np.asarray(image)
    H, W = img.shape[-2:]
    if H <= tile and W <= tile:
        return fn(img)
    ys, xs = tile_starts(H, tile, overlap), tile_starts(W, tile, overlap)
    out: dict[str, np.ndarray] = {}
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            th, tw = min(tile, H), min(tile, W)
            res = fn(img[..., y0:y0 + th, x0:x0 + tw])
            # keep [a, b) of this window: the pixels nearer to it than to its neighbours
            ay = 0 if i == 0 else (ys[i - 1] + th + y0) // 2 - y0
            by = th if i == len(ys) - 1 else (y0 + th + ys[i + 1]) // 2 - y0
            ax = 0 if j == 0 else (xs[j - 1] + tw + x0) // 2 - x0
            bx = tw if j == len(xs) - 1 else (x0 + tw + xs[j + 1]) // 2 - x0
            for name, m in res.items():
                m = np.asarray(m)
                if name not in out:
                    out[name] = np.zeros(m.shape[:-2] + (H, W), dtype=m.dtype)
                out[name][..., y0 + ay:y0 + by, x0 + ax:x0 + bx] = m[..., ay:by, ax:bx]
    return out


__all__ = ["tile_starts", "predict_tiled"]
