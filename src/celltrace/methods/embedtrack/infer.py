"""Network output for whole frames (paper §4.4): overlapping tiles, per-tile percentile
normalisation, test-time augmentation, stitching.

A frame pair ``(t−1, t)`` is cut into ``tile × tile`` windows (:func:`celltrace.nn.predict_tiled`;
each output pixel comes from the window it is most central in). Each window of each frame is
min–max normalised to its own 1 % / 99 % percentiles. With TTA the window pair goes through the
network under each of the 8 symmetries ``g = flip^f ∘ rot90^k`` of the square and the outputs are
mapped back and averaged. Mapping back an output computed on ``g(I)``: scalar maps ``M(q) = M'(g q)``
(the spatial inverse); vector maps also undergo the inverse of ``g``'s linear part ``L_g`` — with
``rot90: (v_y, v_x) → (−v_x, v_y)`` and ``flip_x: (v_y, v_x) → (v_y, −v_x)``,
``L_g⁻¹ = rot90^{−k} ∘ flip^f``; per-axis bandwidths swap their ``y``/``x`` channels for odd ``k``.
Offsets are in units of ``position_scale`` pixels on both axes, so rotations are exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.methods.embedtrack.targets import normalize
from celltrace.nn.tiling import predict_tiled

SYMMETRIES: list[tuple[int, bool]] = [(k, f) for f in (False, True) for k in range(4)]
"""The 8 symmetries ``(k, flip_x)`` of the square: rotate by ``k·90°`` then optionally flip x."""


def apply_symmetry(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """``g(x)``: rotate the last two axes by ``k·90°`` (as ``np.rot90``), then flip the last axis."""
    x = torch.rot90(x, k, dims=(-2, -1)) if k % 4 else x
    return torch.flip(x, dims=(-1,)) if flip else x


def invert_symmetry(x: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """``g⁻¹(x)`` spatially (no change of vector components)."""
    x = torch.flip(x, dims=(-1,)) if flip else x
    return torch.rot90(x, -k, dims=(-2, -1)) if k % 4 else x


def invert_vectors(v: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """Map a ``(…, 2, H, W)`` ``(y, x)`` vector field computed on ``g(I)`` back to ``I``: spatial
    inverse, then ``L_g⁻¹`` on the components (module docstring)."""
    v = invert_symmetry(v, k, flip)
    vy, vx = v[..., 0, :, :], v[..., 1, :, :]
    if flip:
        vx = -vx
    for _ in range(k % 4):  # rot90⁻¹: (v_y, v_x) → (v_x, −v_y)
        vy, vx = vx, -vy
    return torch.stack([vy, vx], dim=-3)


def invert_bandwidths(s: torch.Tensor, k: int, flip: bool) -> torch.Tensor:
    """Per-axis bandwidths ``(s_y, s_x)`` computed on ``g(I)`` back to ``I`` (swap for odd ``k``)."""
    s = invert_symmetry(s, k, flip)
    return s.flip(dims=(-3,)) if k % 2 else s


@torch.inference_mode()
def _predict_window(model: Any, prev: np.ndarray, curr: np.ndarray, tta: bool, device: Any,
                    segment_prev: bool = False) -> dict[str, np.ndarray]:
    syms = SYMMETRIES if tta else SYMMETRIES[:1]
    x0 = torch.from_numpy(np.ascontiguousarray(prev, dtype=np.float32))[None, None].to(device)
    x1 = torch.from_numpy(np.ascontiguousarray(curr, dtype=np.float32))[None, None].to(device)
    acc: dict[str, torch.Tensor] = {}
    for odd in (False, True):  # one batch per output shape
        group = [(k, f) for k, f in syms if (k % 2 == 1) == odd]
        if not group:
            continue
        a = torch.cat([apply_symmetry(x0, k, f) for k, f in group])
        b = torch.cat([apply_symmetry(x1, k, f) for k, f in group])
        size = (a.shape[-2], a.shape[-1])
        feats = model.encode(torch.cat([a, b]))
        n = len(group)
        seg = model.segment(feats[n:], size)
        track = model.track(feats[:n], feats[n:], size)
        maps = {"offset": seg["offset"], "sigma": seg["sigma"], "seed": seg["seed"], "track": track}
        if segment_prev:
            sp = model.segment(feats[:n], size)
            maps.update({"prev_offset": sp["offset"], "prev_sigma": sp["sigma"], "prev_seed": sp["seed"]})
        for i, (k, f) in enumerate(group):
            for name, m in maps.items():
                m = m[i]
                if name.endswith("offset") or name == "track":
                    m = invert_vectors(m, k, f)
                elif name.endswith("sigma"):
                    m = invert_bandwidths(m, k, f)
                else:
                    m = invert_symmetry(m, k, f)
                acc[name] = acc[name] + m if name in acc else m.clone()
    out = {}
    for name, m in acc.items():
        m = (m / len(syms)).float().cpu().numpy()
        out[name] = m[0] if name.endswith("seed") else m
    return out


def predict_maps(model: Any, prev: np.ndarray, curr: np.ndarray, config: EmbedTrackConfig | None = None,
                 device: str | torch.device = "cpu", tta: bool | None = None,
                 segment_prev: bool = False) -> dict[str, np.ndarray]:
    """Frame-sized maps of the pair ``(prev, curr)`` = raw frames ``t−1``, ``t``: ``offset`` (2, H, W),
    ``sigma`` (2, H, W), ``seed`` (H, W) of ``t`` and ``track`` (2, H, W) from ``t`` to ``t−1`` (float32;
    with ``segment_prev`` also ``prev_offset``, ``prev_sigma``, ``prev_seed`` of ``t−1``). ``model``
    needs ``encode``, ``segment`` and ``track`` (:class:`~celltrace.methods.embedtrack.model.EmbedTrackModel`)."""
    c = config or getattr(model, "config", None) or EmbedTrackConfig()
    use_tta = c.tta if tta is None else bool(tta)
    pair = np.stack([np.asarray(prev, dtype=np.float32), np.asarray(curr, dtype=np.float32)])
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()

    def run(window: np.ndarray) -> dict[str, np.ndarray]:
        return _predict_window(model, normalize(window[0], c.percentiles), normalize(window[1], c.percentiles),
                               use_tta, device, segment_prev)

    try:
        return predict_tiled(run, pair, tile=c.tile, overlap=c.tile_overlap)
    finally:
        if was_training:
            model.train()


__all__ = ["SYMMETRIES", "apply_symmetry", "invert_symmetry", "invert_vectors", "invert_bandwidths", "predict_maps"]
