"""Network output → label image (§3.4.4): peaks of the inner distance are the markers of a watershed
on the inverse outer distance.

0. the frame is resampled by ``s = target_radius / r̂`` (``r̂`` the movie's threshold estimate of
   the cell radius, :func:`estimate_radius`, as in training) and the maps come back to the frame's
   resolution (:mod:`celltrace.nn.scaling`);
1. foreground ``F = {v > t_fg} ∩ {p_fg > 0.5}`` (``v`` the outer distance, ``t_fg = 0.01``, ``p_fg``
   the fg/bg head); cell radius ``r = r̂``, or :func:`~celltrace.segmentation.foreground_radius`
   of ``F`` when no radius is given;
2. markers: local maxima of the inner distance ``u`` at least ``ρ = peak_radius · r / reference_radius``
   pixels apart (paper: 10 px) with ``u > 0.1`` and inside ``F``;
3. watershed of ``−v`` from the markers, restricted to ``F``
   (:func:`celltrace.segmentation.watershed_from_maps`); objects under ``min_size`` pixels dropped.
"""

from __future__ import annotations

import numpy as np
import torch

from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.methods.caliban.seg_targets import preprocess
from celltrace.nn.tiling import predict_tiled
from celltrace.nn.scaling import resample, to_frame
from celltrace.segmentation import foreground_radius, watershed_from_maps


def radius_from_foreground(fg: np.ndarray, default: float = 10.0) -> float:
    """Area-weighted median over components of ``fg`` of their largest inscribed-disk radius."""
    return max(foreground_radius(fg, min_radius=0.0, default=default), 1.0)


def scale_for(radius: float | None, config: CalibanSegConfig) -> float:
    """``target_radius / radius`` (1 without a target radius or a radius)."""
    if not config.target_radius or not radius:
        return 1.0
    return float(config.target_radius) / float(radius)


def find_peaks(inner: np.ndarray, foreground: np.ndarray, min_distance: float, threshold: float) -> np.ndarray:
    """``(n, 2)`` positions of the local maxima of ``inner`` at least ``min_distance`` apart (Chebyshev),
    above ``threshold`` and inside ``foreground`` (skimage ``peak_local_max``)."""
    from skimage.feature import peak_local_max

    pts = peak_local_max(np.asarray(inner, dtype=np.float32), min_distance=max(1, int(round(min_distance))),
                         threshold_abs=threshold, exclude_border=False)
    if len(pts):
        pts = pts[np.asarray(foreground, bool)[pts[:, 0], pts[:, 1]]]
    return pts.reshape(-1, 2)


def postprocess(inner: np.ndarray, outer: np.ndarray, config: CalibanSegConfig | None = None,
                radius: float | None = None, dtype: np.dtype | type = np.uint32,
                fg: np.ndarray | None = None) -> np.ndarray:
    """Label image from predicted inner and outer distances (steps 1–3 of the module docstring);
    ``fg``, the foreground probability, also bounds the watershed mask when given."""
    c = config or CalibanSegConfig()
    v = np.asarray(outer, dtype=np.float32)
    mask = v > c.foreground_threshold
    if fg is not None and c.foreground_probability > 0:
        mask &= np.asarray(fg) > c.foreground_probability
    fg = mask
    r = float(radius) if radius is not None else radius_from_foreground(fg)
    rho = c.peak_radius * r / c.reference_radius if c.reference_radius > 0 else c.peak_radius
    pts = find_peaks(inner, fg, rho, c.peak_threshold)
    markers = np.zeros(v.shape, dtype=np.int32)
    markers[pts[:, 0], pts[:, 1]] = np.arange(1, len(pts) + 1, dtype=np.int32)
    return watershed_from_maps(fg, elevation=v, markers=markers, min_size=c.min_size, dtype=dtype)


@torch.inference_mode()
def predict_maps(model: torch.nn.Module, image: np.ndarray, config: CalibanSegConfig | None = None,
                 device: str | torch.device = "cpu", preprocessed: bool = False,
                 scale: float = 1.0) -> dict[str, np.ndarray]:
    """The model's maps of one raw frame: ``fg`` (foreground probability), ``inner``, ``outer``
    (float32, frame-sized; distances clipped at 0). Preprocessing (percentiles + CLAHE) is done on
    the whole frame, which is then resampled by ``scale`` (the maps come back to the frame's size);
    frames larger than ``config.tile`` go through in overlapping tiles."""
    c = config or CalibanSegConfig()
    img = np.asarray(image, dtype=np.float32) if preprocessed else preprocess(image, c.percentiles,
                                                                              c.clahe_kernel_fraction, c.clahe_clip)
    shape = img.shape
    img = resample(img, scale)
    was_training = model.training
    model.eval()

    def run(window: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None, None].to(device)
        out = model(x)
        fg = torch.softmax(out["fgbg"], dim=1)[0, 1]
        return {"fg": fg.cpu().numpy(), "inner": out["inner"][0, 0].clamp(min=0).cpu().numpy(),
                "outer": out["outer"][0, 0].clamp(min=0).cpu().numpy()}

    try:
        maps = predict_tiled(run, img, tile=c.tile, overlap=c.tile_overlap)
        return to_frame(maps, scale, shape) if img.shape != shape else maps
    finally:
        model.train(was_training)


def segment_frame(model: torch.nn.Module, image: np.ndarray, config: CalibanSegConfig | None = None,
                  device: str | torch.device = "cpu", radius: float | None = None,
                  dtype: np.dtype | type = np.uint32) -> np.ndarray:
    """Label image of one raw frame: :func:`predict_maps` at the scale of ``radius`` (the cell
    radius of the movie; ``None``: :func:`estimate_radius` on this frame) then :func:`postprocess`."""
    c = config or getattr(model, "config", None) or CalibanSegConfig()
    if radius is None:
        radius = estimate_radius([image], c)
    maps = predict_maps(model, image, c, device, scale=scale_for(radius, c))
    return postprocess(maps["inner"], maps["outer"], c, radius=radius, dtype=dtype, fg=maps["fg"])


def estimate_radius(images: list[np.ndarray], config: CalibanSegConfig | None = None) -> float:
    """The movie's cell radius ``r̂`` (px) that sets the network's input scale: ``config.cell_radius``
    if set, else the classic threshold estimate on ``images`` (the same estimate training used)."""
    from celltrace.segmentation import estimate_cell_radius

    c = config or CalibanSegConfig()
    return float(c.cell_radius) if c.cell_radius else float(estimate_cell_radius(list(images)))


__all__ = ["radius_from_foreground", "scale_for", "find_peaks", "postprocess", "predict_maps", "segment_frame",
           "estimate_radius"]
