"""DistNet2D's network maps for frame ``t`` of a movie: the window of frames around ``t``
(:func:`~celltrace.methods.distnet2d.model.window_offsets`, indices clamped to the movie: an edge
frame repeats), each frame min–max normalised to its own percentiles, cut into tiles
(:func:`celltrace.nn.predict_tiled`) padded to multiples of 8; only the central frame's EDM/GDCM and
the pair ``(t−1, t)`` are decoded. Frames that fit one tile are encoded once each
(:class:`EncodedFrames`) and the encodings shared by the windows. Multiplicity logits become probabilities (softmax).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.methods.distnet2d.model import centre_index, window_offsets
from celltrace.nn.normalize import normalize
from celltrace.nn.scaling import resample
from celltrace.nn.tiling import predict_tiled


def window_times(t: int, n_frames: int, config: DistNet2DConfig, step: int = 1) -> list[int]:
    """Movie frames of the window centred on ``t`` (clamped to ``[0, n_frames)``)."""
    return [int(np.clip(t + o, 0, n_frames - 1)) for o in window_offsets(config.frames, config.gap, step)]


class NormalizedFrames:
    """``frames(u)``: movie frame ``u`` resampled by ``scale`` (network pixels per frame pixel,
    :func:`celltrace.nn.scaling.resample`) and min–max normalised to its ``percentiles`` (float32),
    the last ``keep`` frames cached (a window reuses most frames of the previous one)."""

    def __init__(self, movie: Any, percentiles: tuple[float, float], keep: int = 32, scale: float = 1.0):
        self.movie, self.percentiles, self.keep, self.scale = movie, tuple(percentiles), keep, float(scale)
        self.cache: dict[int, np.ndarray] = {}

    def __call__(self, u: int) -> np.ndarray:
        if u not in self.cache:
            frame = np.asarray(self.movie[u])
            if self.scale != 1.0:
                frame = resample(frame.astype(np.float32), self.scale)
            self.cache[u] = normalize(frame, self.percentiles)
            while len(self.cache) > self.keep:
                self.cache.pop(min(self.cache))
        return self.cache[u]


def _pad8(window: np.ndarray) -> np.ndarray:
    h, w = window.shape[-2:]
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    if (H, W) == (h, w):
        return window
    return np.pad(window, [(0, 0)] * (window.ndim - 2) + [(0, H - h), (0, W - w)], mode="edge")


def _decode_central(model: Any, encoded: list, h: int, w: int) -> dict[str, np.ndarray]:
    c = centre_index(model.config.frames)
    out = model.decode(encoded, frames=[c], pairs=[c - 1])
    maps = {"edm": out["edm"][0, 0], "gdcm": out["gdcm"][0, 0], "disp_bwd": out["disp_bwd"][0, 0],
            "disp_fwd": out["disp_fwd"][0, 0], "mult_bwd": torch.softmax(out["mult_bwd"][0, 0], 0),
            "mult_fwd": torch.softmax(out["mult_fwd"][0, 0], 0)}
    return {k: v[..., :h, :w].float().cpu().numpy() for k, v in maps.items()}


@torch.inference_mode()
def _predict_window(model: Any, window: np.ndarray, device: Any) -> dict[str, np.ndarray]:
    N, h, w = window.shape
    xt = torch.from_numpy(np.ascontiguousarray(_pad8(window), dtype=np.float32))[:, None].to(device)
    skips, feats = model.encode(xt)
    encoded = [([s[i:i + 1] for s in skips], feats[i:i + 1]) for i in range(N)]
    return _decode_central(model, encoded, h, w)


class EncodedFrames:
    """Encoder outputs of whole frames (frames that fit one tile), computed once per frame and kept
    while a window may still need them (the ``keep`` most recent): each frame is in ``N`` windows."""

    def __init__(self, model: Any, frames: Callable[[int], np.ndarray], device: Any, keep: int):
        self.model, self.frames, self.device, self.keep = model, frames, device, keep
        self.cache: dict[int, tuple[list[torch.Tensor], torch.Tensor]] = {}

    @torch.inference_mode()
    def __call__(self, u: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        if u not in self.cache:
            x = torch.from_numpy(np.ascontiguousarray(_pad8(self.frames(u)), dtype=np.float32))[None, None]
            self.cache[u] = self.model.encode(x.to(self.device))
            while len(self.cache) > self.keep:
                self.cache.pop(min(self.cache))
        return self.cache[u]


def predict_maps(model: Any, frame: Callable[[int], np.ndarray], t: int, n_frames: int,
                 config: DistNet2DConfig | None = None, device: str | torch.device = "cpu",
                 step: int = 1, encoded: EncodedFrames | None = None) -> dict[str, np.ndarray]:
    """Maps of frame ``t`` (``frame(u)`` returns frame ``u`` normalised, see :class:`NormalizedFrames`): ``edm``,
    ``gdcm`` ``(H, W)``; ``disp_bwd`` ``(2, H, W)`` at ``t``'s cells, ``disp_fwd`` ``(2, H, W)`` at ``t−1``'s cells
    (``(dY, dX)`` pixels); ``mult_bwd``, ``mult_fwd`` ``(3, H, W)`` probabilities of 0, 1, >1 links.
    With ``encoded`` (frames no larger than a tile) each frame's encoder output is reused by every
    window that contains it, so a movie costs one encoder pass per frame instead of ``N``."""
    c = config or model.config
    times = window_times(t, n_frames, c, step)
    h, w = frame(t).shape
    if encoded is not None and h <= c.tile and w <= c.tile:
        with torch.inference_mode():
            return _decode_central(model, [encoded(u) for u in times], h, w)
    window = np.stack([frame(u) for u in times])
    return predict_tiled(lambda win: _predict_window(model, win, device), window, tile=c.tile,
                         overlap=c.tile_overlap)


LENGTH_MAPS = ("edm", "gdcm", "disp_bwd", "disp_fwd")
"""Maps whose values are lengths in pixels (rescaled with the maps); the multiplicities are probabilities."""


def maps_to_frame(maps: dict[str, np.ndarray], scale: float, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Maps predicted on a frame resampled by ``scale`` back on the frame's ``shape`` (bilinear,
    as :func:`celltrace.nn.scaling.to_frame`, plane by plane), lengths (EDM, GDCM, displacements) in frame pixels (÷ ``scale``)."""
    if scale == 1.0 and next(iter(maps.values())).shape[-2:] == tuple(shape):
        return maps
    out = {}
    for k, v in maps.items():
        planes = v.reshape(-1, *v.shape[-2:])
        back = np.stack([resample(p, 1.0 / scale, shape) for p in planes]).reshape(*v.shape[:-2], *shape)
        out[k] = (back / np.float32(scale)).astype(np.float32) if k in LENGTH_MAPS else back
    return out


__all__ = ["window_times", "NormalizedFrames", "EncodedFrames", "predict_maps", "maps_to_frame", "LENGTH_MAPS"]
