"""Prompt windows: the square of the frame around a prompt box that the segmenter sees.

Coordinates are pixel *edges*: a box ``(x0, y0, x1, y1)`` covering pixels ``i0..i1−1`` has
``x0 = i0, x1 = i1``; pixel ``i``'s centre is at ``i + 0.5``. A window ``(cx, cy, side)`` is the
square of side ``side`` centred on ``(cx, cy)``; it is resampled (bilinear) to ``S × S`` pixels,
pixel ``j`` of the window sitting at ``c − side/2 + (j + 0.5)·side/S`` in the frame. Inside the
window, positions are normalised to ``[−1, 1]`` (its edges), which is how boxes are given to the
prompt encoder. Parts of a window outside the frame read the frame's border pixels.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def prompt_windows(boxes: np.ndarray, context: float, min_side: float) -> np.ndarray:
    """``(N, 3)`` windows ``(cx, cy, side)`` for ``(N, 4)`` boxes: centred on the box, side
    ``max(context · max(w, h), min_side)``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    side = np.maximum(context * np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), min_side)
    return np.stack([cx, cy, side], axis=1)


def boxes_in_windows(boxes: np.ndarray, windows: np.ndarray) -> np.ndarray:
    """Boxes as corner points in their windows' ``[−1, 1]`` coordinates: ``(N, 2, 2)`` =
    ``[[x0, y0], [x1, y1]]``."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    cx, cy, half = windows[:, 0:1], windows[:, 1:2], windows[:, 2:3] / 2
    xs = (boxes[:, [0, 2]] - cx) / half
    ys = (boxes[:, [1, 3]] - cy) / half
    return np.stack([xs, ys], axis=2)


def _grid(windows: np.ndarray, size: int, frame_shape: tuple[int, int], device: torch.device | str) -> torch.Tensor:
    """``(N, S, S, 2)`` sampling grid of ``grid_sample`` (align_corners=False) for the windows."""
    H, W = frame_shape
    w = torch.as_tensor(np.asarray(windows, dtype=np.float64), dtype=torch.float32, device=device)
    j = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size - 0.5  # (S,) in (−½, ½)
    x = w[:, 0:1] + j[None] * w[:, 2:3]  # (N, S) frame edge coordinates
    y = w[:, 1:2] + j[None] * w[:, 2:3]
    gx = (2 * x / W - 1)[:, None, :].expand(-1, size, -1)
    gy = (2 * y / H - 1)[:, :, None].expand(-1, -1, size)
    return torch.stack([gx, gy], dim=-1)


def crop_windows(frame: torch.Tensor, windows: np.ndarray, size: int, nearest: bool = False) -> torch.Tensor:
    """``(N, C, S, S)`` windows of ``frame`` (``(C, H, W)`` or ``(H, W)`` tensor), bilinear (or
    nearest for labels); outside the frame: the border pixels (bilinear) or 0 (nearest)."""
    f = frame if frame.ndim == 3 else frame[None]
    n = len(windows)
    if n == 0:
        return f.new_zeros((0, f.shape[0], size, size))
    grid = _grid(windows, size, tuple(f.shape[-2:]), f.device)
    src = f[None].float().expand(n, -1, -1, -1)
    return F.grid_sample(src, grid, mode="nearest" if nearest else "bilinear",
                         padding_mode="zeros" if nearest else "border", align_corners=False)


def window_extent(window: np.ndarray, frame_shape: tuple[int, int]) -> tuple[slice, slice]:
    """The frame pixels (rows, columns) whose centres lie inside ``window`` (clipped to the frame)."""
    cx, cy, side = (float(v) for v in window)
    H, W = frame_shape
    x0 = max(0, int(np.ceil(cx - side / 2 - 0.5)))
    x1 = min(W, int(np.floor(cx + side / 2 - 0.5)) + 1)
    y0 = max(0, int(np.ceil(cy - side / 2 - 0.5)))
    y1 = min(H, int(np.floor(cy + side / 2 - 0.5)) + 1)
    return slice(y0, max(y0, y1)), slice(x0, max(x0, x1))


def paste_window(values: torch.Tensor, window: np.ndarray, frame_shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
    """Resample a window's ``(S, S)`` map back onto the frame: ``((rows, cols), map)`` where ``map``
    covers the frame pixels :func:`window_extent` gives (bilinear)."""
    rows, cols = window_extent(window, frame_shape)
    h, w = rows.stop - rows.start, cols.stop - cols.start
    if h == 0 or w == 0:
        return (rows, cols), np.zeros((h, w), np.float32)
    cx, cy, side = (float(v) for v in window)
    xs = torch.arange(cols.start, cols.stop, dtype=torch.float32) + 0.5
    ys = torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5
    gx = ((xs - cx) / (side / 2))[None, :].expand(h, w)
    gy = ((ys - cy) / (side / 2))[:, None].expand(h, w)
    grid = torch.stack([gx, gy], dim=-1)[None].to(values.device)
    out = F.grid_sample(values[None, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (rows, cols), out[0, 0].cpu().numpy()


def mask_box(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """Bounding box ``(x0, y0, x1, y1)`` (pixel edges) of a boolean mask, shifted by ``offset``
    (row, column); ``None`` when the mask is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    dy, dx = offset
    return np.array([cols[0] + dx, rows[0] + dy, cols[-1] + 1 + dx, rows[-1] + 1 + dy], dtype=np.float64)


__all__ = ["prompt_windows", "boxes_in_windows", "crop_windows", "window_extent", "paste_window", "mask_box"]
