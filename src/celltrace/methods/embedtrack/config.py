"""Hyper-parameters of EmbedTrack (Löffler & Mikut 2022), with the paper's values and names; where
we differ (a CPU-sized ERFNet, instance terms averaged rather than summed) the field says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from celltrace.methods.config import ANY, AT_LEAST_ONE, FRACTION, PERCENT, POSITIVE, MethodConfig


@dataclass
class EmbedTrackConfig(MethodConfig):
    """Network, loss, clustering, tracking, inference and training of EmbedTrack."""

    method = "embedtrack"
    # values allowed where not "finite and ≥ 0" (checked by MethodConfig.from_params)
    limits = {"widths": AT_LEAST_ONE, "dropout": FRACTION, "position_scale": POSITIVE, "w_s": ANY,
              "covered_fraction": FRACTION, "seed_threshold": FRACTION, "score_threshold": FRACTION,
              "tile": AT_LEAST_ONE, "percentiles": PERCENT, "lr": POSITIVE, "batch": AT_LEAST_ONE,
              "crop": AT_LEAST_ONE, "scale_range": POSITIVE, "p_shift": FRACTION, "max_shift": FRACTION,
              "p_blur": FRACTION, "p_clahe": FRACTION, "p_centre": FRACTION, "clip_norm": POSITIVE,
              "val_fraction": FRACTION}
    choices = {"split": ("tail", "every", "none")}

    # --- network (§3.1: branched ERFNet)
    widths: tuple[int, ...] = (16, 32, 64)
    """ERFNet widths ``(w1, w2, w3)`` at strides 2, 4, 8 (paper's ERFNet: 16, 64, 128; ours is
    CPU-sized, ~0.4 M parameters, 1.5 MB)."""
    blocks: tuple[int, ...] = (3, 4)
    """Non-bottleneck-1D blocks at stride 4 and 8 in the encoder (ERFNet: 5, 8)."""
    decoder_blocks: int = 1
    """Non-bottleneck-1D blocks per decoder stage (ERFNet: 2)."""
    dropout: tuple[float, ...] = (0.03, 0.3)
    """Dropout in the encoder's stride-4 and stride-8 blocks (ERFNet: 0.03, 0.3)."""

    # --- positions and loss (§3.2)
    position_scale: float = 256.0
    """Pixel positions are ``p = (y, x) / position_scale``, offsets in the same unit (paper: pixel
    coordinates of a crop normalised to [0, 1], i.e. the crop size, 256). One scale for both axes
    keeps offsets isotropic, so rotations are exact; inference uses the same scale."""
    w_s: float = -10.0
    """``s_m = exp(w_s · s̄_m)`` turns the mean bandwidth into the Gaussian's variance (paper: −10)."""
    w_instance: float = 1.0
    """Weight of the Lovász instance loss (paper: 1)."""
    w_var: float = 10.0
    """Weight of the bandwidth variance loss (paper: 10)."""
    w_seed: float = 1.0
    """Weight of the seed loss (paper: 1)."""
    w_fg: float = 1.0
    """Weight of the foreground part of the seed loss (paper: 1)."""
    w_seg: float = 1.0
    """Weight of the segmentation loss ``L_seg(t−1) + L_seg(t)`` (paper: 1)."""
    w_track: float = 1.0
    """Weight of the tracking loss (paper: 1)."""

    # --- ground truth (§4.3: GT combined with TRA markers)
    covered_fraction: float = 0.5
    """A TRA marker with less than this fraction of its pixels on SEG labels is an unannotated cell:
    its marker becomes its instance and the pixels around it are ignored, never background."""
    ignore_factor: float = 1.0
    """Ignore radius around a marker-only instance: ``ignore_factor · r_m + ignore_margin`` pixels,
    ``r_m = sqrt(marker area / π)`` (markers cover about half a cell)."""
    ignore_margin: float = 3.0
    """Extra pixels of that ignore radius."""

    # --- clustering (§3.3)
    seed_threshold: float = 0.5
    """Pixels with seediness above this are clustered (paper: 0.5)."""
    min_votes: int = 5
    """A candidate centre needs more than this many shifted pixels in its 3×3 neighbourhood (paper: 5)."""
    score_threshold: float = 0.5
    """A pixel joins a centre where the Gaussian score ``d_{j,i} > score_threshold`` (paper: 0.5)."""
    min_size: int = 10
    """Smallest instance (pixels). Training sets it to half the 1 % percentile of the training mask
    sizes (paper) and stores it with the weights."""

    # --- inference (§4.4)
    tile: int = 1024
    """Tiles of ``tile × tile`` pixels (paper: 256; 512 for MSC). Ours 1024 (a CTC frame in one or
    a few windows): with the shipped model on the held-out frames of 02, without TTA, tiles of
    256 / 512 / 1024 gave TRA 0.836 / 0.872 / 0.884 on SIM+ and 0.168 / 0.628 / 0.701 on MSC, and
    the larger windows are also faster (``benchmarks/validation.py``)."""
    tile_overlap: int = 96
    """Overlap of neighbouring tiles (each keeps the pixels nearer its centre)."""
    tta: bool = False
    """Test-time augmentation: the 8 rotations/flips, outputs transformed back and averaged (paper:
    on). Ours off by default: with the shipped model on the held-out frames of 02 (tile 1024) TTA
    changed TRA by +0.010 on SIM+, −0.004 on GOWT1 and −0.070 on MSC, at 12× the time."""
    percentiles: tuple[float, ...] = (1.0, 99.0)
    """Each tile is min–max normalised to the 1 % and 99 % percentiles (paper)."""

    # --- training (§4.3)
    lr: float = 5e-4
    """Adam maximal learning rate of the one-cycle schedule (paper: 5·10⁻⁴)."""
    batch: int = 2
    """Image pairs per step."""
    crop: int = 256
    """Training crop size (paper: 256; 512 for MSC)."""
    scale_range: tuple[float, ...] = (1.0, 1.0)
    """Random scaling of crops (the paper does not scale)."""
    p_shift: float = 0.3
    """Probability of shifting the ``t−1`` crop window (simulates larger motion, paper)."""
    max_shift: float = 0.1
    """Largest such shift, as a fraction of the crop size per axis."""
    p_blur: float = 0.3
    """Probability of a Gaussian blur (σ uniform in [0.5, 1.5]) of both images (paper: blur)."""
    p_clahe: float = 0.2
    """Probability of CLAHE on both images (paper: CLAHE)."""
    p_centre: float = 0.7
    """Probability that a crop is centred on a random cell rather than placed uniformly."""
    clip_norm: float | None = None
    """Gradient-norm clip (the paper does not clip)."""
    split: str = "tail"
    """Train/validation split of each sequence's frames (see :func:`celltrace.train.split_frames`)."""
    val_fraction: float = 0.2
    """Fraction of frames held out for validation (tail)."""
    cache_mb: float = 1000.0
    """Memory for cached frames and their labels."""
    val_frames: int = 6
    """Validation: at most this many held-out frame pairs per sequence are scored."""

    def network(self) -> dict[str, Any]:
        """The fields that define the network's shape (stored with the weights)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k in ("widths", "blocks", "decoder_blocks", "dropout")}

    def network_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`celltrace.nn.BranchedERFNet`."""
        return {"widths": tuple(self.widths), "blocks": tuple(self.blocks), "decoder_blocks": self.decoder_blocks,
                "dropout": tuple(self.dropout)}

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


__all__ = ["EmbedTrackConfig"]
