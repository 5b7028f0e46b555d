"""Network output → label image (§3.4.4): peaks of the inner distance are the markers of a watershed
on the inverse outer distance.

1. cell radius ``r``: area-weighted median of the largest inscribed-disk radius of the components
   of ``F = {v > t_fg}`` (``v`` the outer distance, ``t_fg = 0.01``) — or given;
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
from celltrace.segmentation import component_radii, watershed_from_maps


def radius_from_foreground(fg: np.ndarray, default: float = 10.0) -> float:
    """Area-weighted median over components of ``fg`` of their largest inscribed-disk radius."""
    from scipy import ndimage as ndi

    comp, n = ndi.label(fg)
    if n == 0:
        return float(default)
    r = component_radii(fg)
    area = np.bincount(comp.ravel(), minlength=n + 1)[1:].astype(np.float64)
    order = np.argsort(r)
    cum = np.cumsum(area[order])
    return float(max(r[order][np.searchsorted(cum, 0.5 * cum[-1])], 1.0))


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
                radius: float | None = None, dtype: np.dtype | type = np.uint32) -> np.ndarray:
    """Label image from predicted inner and outer distances (steps 1–3 of the module docstring)."""
    c = config or CalibanSegConfig()
    v = np.asarray(outer, dtype=np.float32)
    fg = v > c.foreground_threshold
    r = float(radius) if radius is not None else radius_from_foreground(fg)
    rho = c.peak_radius * r / c.reference_radius if c.reference_radius > 0 else c.peak_radius
    pts = find_peaks(inner, fg, rho, c.peak_threshold)
    markers = np.zeros(v.shape, dtype=np.int32)
    markers[pts[:, 0], pts[:, 1]] = np.arange(1, len(pts) + 1, dtype=np.int32)
    return watershed_from_maps(fg, elevation=v, markers=markers, min_size=c.min_size, dtype=dtype)


@torch.inference_mode()
def predict_maps(model: torch.nn.Module, image: np.ndarray, config: CalibanSegConfig | None = None,
                 device: str | torch.device = "cpu", preprocessed: bool = False) -> dict[str, np.ndarray]:
    """The model's maps of one raw frame: ``fg`` (foreground probability), ``inner``, ``outer``
    (float32, frame-sized; distances clipped at 0). Preprocessing (percentiles + CLAHE) is done on
    the whole frame; frames larger than ``config.tile`` go through in overlapping tiles."""
    c = config or CalibanSegConfig()
    img = np.asarray(image, dtype=np.float32) if preprocessed else preprocess(image, c.percentiles,
                                                                              c.clahe_kernel_fraction, c.clahe_clip)
    was_training = model.training
    model.eval()

    def run(window: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(window, dtype=np.float32))[None, None].to(device)
        out = model(x)
        fg = torch.softmax(out["fgbg"], dim=1)[0, 1]
        return {"fg": fg.cpu().numpy(), "inner": out["inner"][0, 0].clamp(min=0).cpu().numpy(),
                "outer": out["outer"][0, 0].clamp(min=0).cpu().numpy()}

    try:
        return predict_tiled(run, img, tile=c.tile, overlap=c.tile_overlap)
    finally:
        model.train(was_training)


def segment_frame(model: torch.nn.Module, image: np.ndarray, config: CalibanSegConfig | None = None,
                  device: str | torch.device = "cpu", radius: float | None = None,
                  dtype: np.dtype | type = np.uint32) -> np.ndarray:
    """Label image of one raw frame: :func:`predict_maps` then :func:`postprocess`."""
    c = config or getattr(model, "config", None) or CalibanSegConfig()
    maps = predict_maps(model, image, c, device)
    return postprocess(maps["inner"], maps["outer"], c, radius=radius, dtype=dtype)


__all__ = ["radius_from_foreground", "find_peaks", "postprocess", "predict_maps", "segment_frame"]
