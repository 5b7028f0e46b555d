"""Hyper-parameters of Caliban's nuclear segmentation (Schwartz et al. 2023, §3.4), with the paper's
values and names; where we differ (a CPU-sized backbone, pixel values scaled by the cell size) the
field says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from celltrace.methods.config import AT_LEAST_ONE, FRACTION, PERCENT, POSITIVE, MethodConfig, Range


@dataclass
class CalibanSegConfig(MethodConfig):
    """Network, targets, loss, post-processing and training of the segmentation model."""

    method = "caliban"
    # values allowed where not "finite and ≥ 0" (checked by MethodConfig.from_params)
    limits = {"widths": AT_LEAST_ONE, "fpn_channels": AT_LEAST_ONE, "p1_channels": AT_LEAST_ONE, "beta": POSITIVE,
              "covered_fraction": FRACTION, "percentiles": PERCENT, "clahe_kernel_fraction": Range(0, 1, open_lo=True),
              "cell_radius": POSITIVE, "radius_frames": AT_LEAST_ONE, "peak_radius": POSITIVE,
              "foreground_probability": FRACTION, "tile": AT_LEAST_ONE, "lr": POSITIVE, "clip_norm": POSITIVE,
              "batch": AT_LEAST_ONE, "crop": AT_LEAST_ONE, "scale_range": POSITIVE, "lr_decay": Range(0, 1, open_lo=True),
              "decay_every": AT_LEAST_ONE, "val_fraction": FRACTION, "max_distance_factor": POSITIVE}
    choices = {"outer_normalize": ("frame", "cell", "none"), "weak_frames": ("markers", "ignore"),
               "split": ("tail", "every", "none"), "linker": ("learned", "lap")}

    # --- network (§3.4.1: EfficientNetV2L + FPN P1–P7 + coordinate map; ours is a CPU-sized FPN)
    widths: tuple[int, ...] = (16, 24, 48, 64, 96)
    """Encoder stage widths C1..C5 (paper: EfficientNetV2L backbone, levels C1–C5)."""
    depths: tuple[int, ...] = (0, 1, 1, 2, 1)
    """Residual blocks per stage after its stride-2 convolution."""
    fpn_channels: int = 32
    """Width of the pyramid levels P2..P5."""
    p1_channels: int = 16
    """Width of P1 (stride 2), where the heads sit (paper: pyramid layers P1–P7)."""
    coords: bool = True
    """Concatenate a 2-channel coordinate map to the input (paper: "coordinate map")."""

    # --- targets (§3.4.2)
    beta: float = 1.0
    """``β`` of the inner distance ``1 / (1 + α β r)``, ``α = 1/sqrt(cell area)`` (paper: β = 1)."""
    outer_normalize: str = "frame"
    """Scale of the outer distance (the EDT ``d`` of the labels): ``frame`` — ``d / r`` with ``r =
    sqrt(median cell area / π)`` of the frame (scale-free like the inner distance, and one factor
    for all cells, so the watershed's flooding order at cell contacts is that of ``d`` and ideal maps
    give back the labels exactly); ``cell`` — ``d / max_cell d`` (deepcell's ``normalize=True``;
    mis-assigns contact pixels between cells of different size); ``none`` — ``d`` in pixels."""
    ignore_factor: float = 1.0
    """Unannotated cells (a TRA marker but no SEG label) are ignored within ``ignore_factor · r_m +
    ignore_margin`` pixels of their marker, ``r_m = sqrt(marker area / π)`` (TRA markers cover about
    half a cell, so the cell edge lies ~0.4 r_m outside the marker)."""
    ignore_margin: float = 3.0
    """Extra pixels of the ignore region around an unannotated cell's marker."""
    covered_fraction: float = 0.5
    """A marker with at least this fraction of its pixels on SEG labels belongs to an annotated cell."""
    weak_frames: str = "markers"
    """Frames without SEG (and markers that are not masks): ``markers`` — teach only the
    foreground/background head, marker pixels as foreground and pixels farther than the ignore
    distance from every marker as background (every cell has a marker); ``ignore`` — skip them."""

    # --- loss (§3.4.2)
    ce_weight: float = 0.01
    """Scale of the class-weighted cross-entropy of the foreground/background head (paper: 0.01)."""

    # --- preprocessing (§3.4.3)
    percentiles: tuple[float, float] = (1.0, 99.8)
    """Percentile normalisation ``(I - p_lo) / (p_hi - p_lo)`` clipped to [0, 1] before CLAHE."""
    clahe_kernel_fraction: float = 0.125
    """CLAHE kernel size as a fraction of the image size (paper: 1/8)."""
    clahe_clip: float = 0.01
    """CLAHE clip limit (skimage's default)."""

    # --- cell scale (ours: the paper trains and predicts at one magnification)
    target_radius: float = 14.0
    """Frames are resampled by ``target_radius / r̂`` before the network sees them, in training and
    at inference alike, ``r̂`` the movie's cell radius from the classic threshold estimate
    (:func:`celltrace.segmentation.estimate_cell_radius` on ``radius_frames`` frames, no labels
    needed): cells of every magnification reach the network at about the same size, and whatever
    bias the estimate has on a kind of image is the same in training and use. The predicted maps
    are resampled back, so post-processing runs at the frame's own resolution. 0: no resampling."""
    cell_radius: float | None = None
    """The movie's cell radius ``r̂`` (px), if known (as the threshold estimate would give it)."""
    radius_frames: int = 3
    """Frames (spread over the movie) used to estimate the cell radius."""

    # --- post-processing (§3.4.4)
    peak_radius: float = 25.0
    """Peak-finding radius on the inner distance for cells of ``reference_radius`` (paper: 10 px;
    ours chosen on the held-out frames of 02 by ``benchmarks/caliban_postprocess_sweep.py``: with
    10 px the large, flat MSC cells split into several objects)."""
    reference_radius: float = 20.0
    """Cell radius (px) at which ``peak_radius`` applies unscaled: peaks are ``peak_radius · r̂ /
    reference_radius`` apart, ``r̂`` the movie's threshold estimate of the cell radius (which
    runs low, 0.6–0.9 of the true radius on the 02 sequences); 0: no scaling."""
    peak_threshold: float = 0.5
    """Inner-distance peaks must exceed this (paper: 0.1; ours 0.5, chosen with ``peak_radius``; the
    inner distance is already normalised by the cell size, so the threshold needs no scaling)."""
    foreground_threshold: float = 0.01
    """Watershed mask: pixels whose predicted outer distance exceeds this (paper: 0.01)…"""
    foreground_probability: float = 0.5
    """… and whose foreground probability (the fg/bg head) exceeds this (ours: the regressed outer
    distance is rarely exactly 0 on background; 0 = outer distance only, as the paper)."""
    min_size: int = 10
    """Objects smaller than this many pixels are dropped."""
    tile: int = 1024
    """Frames larger than this are predicted in overlapping tiles of this size."""
    tile_overlap: int = 96
    """Overlap of neighbouring tiles (each tile's border half is discarded)."""

    # --- training (§3.4.5: Adam, lr 1e-4, clipnorm 1e-3, batch 16, 16 epochs, lr·0.99^epoch)
    lr: float = 1e-3
    """Adam learning rate (paper: 1e-4 for a pretrained backbone; ours starts from scratch)."""
    clip_norm: float | None = 1.0
    """Gradient-norm clip (paper: Keras ``clipnorm`` 1e-3)."""
    batch: int = 4
    """Crops per step (paper: 16 images)."""
    crop: int = 256
    """Training crop size (pixels)."""
    scale_range: tuple[float, float] = (0.75, 1.33)
    """Random scaling of crops around the ``target_radius`` scale (paper: "random rotations,
    crops, flips, and scaling"); it also covers the error of the radius estimate at inference."""
    photometric: float = 1.0
    """Strength of the random photometric shifts applied to every training crop after
    normalisation (:func:`celltrace.shifts.random_photometric`: gamma, contrast, offset, uneven
    background, blur, noise — what a new movie changes); 0 = none (ours, for unseen movies)."""
    lr_decay: float = 0.99
    """Learning rate multiplied by ``lr_decay`` every ``decay_every`` steps (paper: 0.99 per epoch)."""
    decay_every: int = 100
    """Steps per "epoch" for the decay."""
    split: str = "tail"
    """Train/validation split of each sequence's frames (see :func:`celltrace.train.split_frames`)."""
    val_fraction: float = 0.2
    """Fraction of frames held out for validation (paper: 20 %)."""
    cache_mb: float = 1500.0
    """Memory for cached preprocessed frames and targets."""

    # --- linking
    linker: str = "lap"
    """``lap`` (ours, the default): celltrace's standard LAP linker on the segmented objects
    (:mod:`celltrace.linking.standard`, the classic method's linker with its defaults) — on the
    generalization protocol it scores at least the learned linker's TRA in every family and a
    higher BC(2) (SIM+ spatial hold-out 0.769 vs 0.640); ``learned``: Caliban's linker
    (graph-attention + LSTM link probabilities, shipped weights, trained on GT masks only; trained
    on predicted masks too, ``celltrace train caliban-linking --param masks=both``, it gained on SIM+
    and lost on MSC, ``benchmarks/results/caliban-linker-predicted-masks/``, so it is not shipped)."""

    # --- tracking without a learned linker (fallback: shared LAP linker, Euclidean cost)
    max_distance_factor: float = 1.5
    """Fallback linker gate, in cell radii."""
    max_gap: int = 2
    """Fallback linker: close gaps of up to this many frames."""

    def network(self) -> dict[str, Any]:
        """The fields that define the network's shape (stored with the weights)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k in ("widths", "depths", "fpn_channels", "p1_channels", "coords")}

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


__all__ = ["CalibanSegConfig"]
