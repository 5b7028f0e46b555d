"""Hyper-parameters of DistNet2D (Ollion et al. 2024, "DistNet2D: Leveraging long-range temporal
information for enhanced 2D cell segmentation and tracking"), with the paper's values and names;
where ours differ (a CPU-sized network, two decoders instead of four) the field says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from celltrace.methods.config import AT_LEAST_ONE, FRACTION, PERCENT, POSITIVE, MethodConfig


@dataclass
class DistNet2DConfig(MethodConfig):
    """Network, targets, loss, post-processing, tracking and training of DistNet2D."""

    method = "distnet2d"
    limits = {"frames": AT_LEAST_ONE, "gap": AT_LEAST_ONE, "widths": AT_LEAST_ONE, "blend_width": AT_LEAST_ONE,
              "decoder_width": AT_LEAST_ONE, "output_gain": POSITIVE, "cell_radius": POSITIVE, "huber_delta": POSITIVE, "sigma_range": POSITIVE,
              "centre_ratio": FRACTION, "centre_size_range": POSITIVE, "max_eccentricity": FRACTION,
              "lr": POSITIVE, "batch": AT_LEAST_ONE, "crop": AT_LEAST_ONE, "scale_range": POSITIVE,
              "subsample": AT_LEAST_ONE, "p_blur": FRACTION, "p_noise": FRACTION, "p_histogram": FRACTION,
              "max_drift": POSITIVE, "percentiles_low": PERCENT, "percentiles_high": PERCENT,
              "percentiles": PERCENT, "val_fraction": FRACTION, "clip_norm": POSITIVE,
              "covered_fraction": FRACTION, "tile": AT_LEAST_ONE}
    choices = {"split": ("tail", "every", "none")}

    # --- window (§2, Figure 3)
    frames: int = 7
    """Frames ``N`` of the input window (odd, ≥ 3; paper: 7): ``t−1, t, t+1`` and ``m = (N−3)/2``
    more each side at ``t−1−kδ`` and ``t+1+kδ``. ``N = 3`` keeps only the central three; the
    window-2 ablation uses ``N = 2`` (frames ``t−1, t``, one pair)."""
    gap: int = 3
    """Gap ``δ`` between the outer frames of the window (paper: time window ``(N−3)δ+3``, 15 frames at δ = 3)."""

    # --- network (§3.1, Table S1)
    widths: tuple[int, ...] = (16, 32, 48)
    """Encoder filters at strides 2, 4, 8 (paper: up to F = 128 at stride 8); ours CPU-sized."""
    blend_width: int = 96
    """Filters of the feature-blending module (paper: ``F·N/2`` = 448 at N = 7); ours CPU-sized."""
    decoder_width: int = 16
    """Filters of the decoders at full and half resolution (twice that at stride 4, four times in the
    per-frame / per-pair features the extractors hand them)."""
    dilations: tuple[int, ...] = (1, 2)
    """Dilations of the residual blocks at stride 8 (one block per value; Table S1 uses dilated blocks)."""
    cell_radius: float | None = None
    """Every movie is resampled so that its typical cell (the default method's radius estimate)
    has this radius in pixels, in training and at inference; maps come back to the frame's pixels.
    ``None`` = native pixels (the paper). Ours: one cell size for all datasets keeps large cells
    (MSC, ~10× the area of a GOWT1 nucleus) inside the receptive field and the crop, and makes a
    1024² frame of large cells cheap."""
    output_gain: float = 1.0
    """EDM, GDCM and displacement = ``output_gain`` × the decoder's output (pixels). Ours: targets
    of 10–40 px are out of reach of a freshly initialised head for thousands of Adam steps at
    lr 10⁻⁴ (each step moves a weight by about lr), so a gain of ~10 lets a short CPU run
    reach them; 1 = the paper's plain head."""

    # --- loss (§3.2)
    huber_delta: float = 1.0
    """δ of the Pseudo-Huber loss ``δ²(√(1 + (r/δ)²) − 1)`` for EDM, GDCM and displacements (paper: 1)."""
    w_edm: float = 1.0
    """Weight of the EDM loss (over every annotated pixel, background included)."""
    balance_edm: bool = False
    """EDM loss as the mean of its average over cell pixels and over background pixels (instead of
    one average over all pixels, paper): a short training run leaves the trivial "all background"
    answer sooner."""
    w_gdcm: float = 1.0
    """Weight of the GDCM loss (inside fully annotated cells only)."""
    w_displacement: float = 1.0
    """Weight of the displacement loss (inside cells only)."""
    w_multiplicity: float = 1.0
    """Weight of the balanced categorical cross-entropy of the link multiplicity (inside cells)."""
    covered_fraction: float = 0.5
    """A TRA marker with less than this fraction of its pixels on SEG labels is a cell the SEG frame
    does not annotate (``train.annotations``): never background, no EDM/GDCM target."""
    ignore_factor: float = 1.0
    """Ignore radius around a marker-only cell: ``ignore_factor · r_m + ignore_margin`` pixels."""
    ignore_margin: float = 3.0
    """Extra pixels of that ignore radius."""

    # --- segmentation post-processing (§2.1, §3.6)
    edm_threshold: float = 0.5
    """Foreground = ``EDM > edm_threshold`` (the target is −1 on background, ≥ 1 inside cells)."""
    edm_h: float = 1.0
    """Seeds of the EDM watershed: regional maxima of height ≥ ``edm_h`` (h-maxima; 0 = every maximum)."""
    sigma_fraction: float = 0.25
    """σ of the centre detection = this fraction of the typical cell thickness (paper: 25 %) ..."""
    sigma_range: tuple[float, float] = (1.0, 3.0)
    """... limited to this range in pixels (paper: [1, 3])."""
    centre_ratio: float = 0.5
    """Two touching regions with centres merge when the ratio of their centre amplitudes (smaller /
    larger) is below this (paper: a user-defined threshold)."""
    centre_size_range: tuple[float, float] = (0.5, 2.0)
    """Centres whose area is outside this range of the expected (median) centre area are dropped (paper)."""
    max_eccentricity: float = 0.9
    """Centres more eccentric than this are dropped (paper: 0.9)."""
    min_size: int = 20
    """Smallest cell (pixels) kept after the watershed."""

    # --- inference
    tile: int = 1024
    """Windows of at most ``tile × tile`` pixels (whole CTC frames fit one window)."""
    tile_overlap: int = 64
    """Overlap of neighbouring windows."""
    percentiles: tuple[float, float] = (1.0, 99.0)
    """Each frame is min–max normalised to these percentiles at inference."""
    postprocess: bool = False
    """Segmentation correction from the link multiplicity (§2.3). Off by default, chosen on the
    protocol's spatial hold-outs with the shipped weights: SIM+ TRA 0.815 and BC(2) 0.33 off,
    0.780 and 0 on (the correction merges daughters whose forward multiplicity the network
    under-predicts); GOWT1 and MSC equal. ``postprocess=true`` turns it on."""

    # --- training (§3.3, §3.5)
    lr: float = 4e-4
    """Adam learning rate (paper: 2·10⁻⁴ with batches of 16–24; ours higher for batches of 2)."""
    batch: int = 2
    """Windows per step (paper: 16–24)."""
    crop: int = 128
    """Training crop size (paper: 192 / 384)."""
    scale_range: tuple[float, float] = (0.9, 1.1)
    """Random zoom applied with the crop (paper: ±10 %)."""
    max_drift: float = 8.0
    """Per-frame crop shifts drawn in ``[0, max_drift]`` pixels (stage drift; paper: 10–20)."""
    subsample: tuple[int, int] = (1, 2)
    """Random temporal subsampling: the frame step of each batch is drawn in this range (paper: δ drawn per batch)."""
    percentiles_low: tuple[float, float] = (0.01, 20.0)
    """Training normalisation: lower percentile drawn in this range (paper: [0.01, 20]) ..."""
    percentiles_high: tuple[float, float] = (80.0, 99.9)
    """... upper percentile in this range (paper: [80, 99.9])."""
    p_blur: float = 0.5
    """Probability of a Gaussian blur of σ ∈ [1, 2] (paper: 50 %)."""
    p_noise: float = 0.5
    """Probability of additive Gaussian noise of random level."""
    p_histogram: float = 0.5
    """Probability of an elastic deformation of the histogram (a random monotone intensity curve)."""
    clip_norm: float | None = 10.0
    """Gradient-norm clip."""
    split: str = "tail"
    """Train/validation split of each sequence's frames (see :func:`celltrace.train.split_frames`)."""
    val_fraction: float = 0.2
    """Fraction of frames held out for validation (tail)."""
    cache_mb: float = 1500.0
    """Memory for cached frames and their targets."""

    def __post_init__(self) -> None:
        if self.frames != 2 and (self.frames < 3 or self.frames % 2 == 0):
            from celltrace.methods.config import ParameterError

            raise ParameterError(self.method, "frames", f"expected 2 or an odd number ≥ 3, got {self.frames}")

    def network(self) -> dict[str, Any]:
        """The fields that define the network's shape (stored with the weights)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k in ("frames", "widths", "blend_width", "decoder_width", "dilations", "output_gain", "cell_radius")}

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


__all__ = ["DistNet2DConfig"]
