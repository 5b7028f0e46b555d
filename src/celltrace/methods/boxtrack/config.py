"""Hyper-parameters of BoxTrack (Khalid et al. 2025, "Box it and Track it"), with the paper's
values and names where it has them; where we differ (a compact promptable segmenter of our own
instead of a frozen SAM2 hiera-large) the field says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from celltrace.methods.config import AT_LEAST_ONE, FRACTION, POSITIVE, MethodConfig


@dataclass
class BoxTrackConfig(MethodConfig):
    """Segmenter network, training, and the tracking module of BoxTrack."""

    method = "boxtrack"
    limits = {"window": AT_LEAST_ONE, "dim": AT_LEAST_ONE, "heads": AT_LEAST_ONE, "proposals": AT_LEAST_ONE,
              "context": POSITIVE, "lambda_a": FRACTION, "lambda_m": FRACTION, "lambda_o": FRACTION,
              "memory_size": AT_LEAST_ONE, "memory_threshold": FRACTION, "min_score": FRACTION,
              "min_objectness": FRACTION, "mask_threshold": FRACTION, "new_cell_overlap": FRACTION,
              "daughter_fraction": FRACTION, "revive_iou": FRACTION, "lr": POSITIVE, "batch": AT_LEAST_ONE, "jitter": FRACTION,
              "p_negative": FRACTION, "p_photometric": FRACTION, "val_fraction": FRACTION,
              "memory_frames": AT_LEAST_ONE}
    choices = {"memory_policy": ("score", "fifo"), "split": ("tail", "every", "none")}

    # --- segmenter network (§3.1; ours, CPU-sized)
    window: int = 64
    """The prompt window: a square around the prompt box, resampled to ``window × window`` pixels,
    is what the image encoder sees (SAM2 encodes the whole 1024² frame; cells are small, so a
    window per prompt is far cheaper on a CPU and keeps the cell at a fixed scale)."""
    context: float = 2.0
    """The window's side is ``context × max(w, h)`` of the prompt box."""
    min_window: float = 24.0
    """Smallest window side in frame pixels (tiny boxes still see their neighbourhood)."""
    dim: int = 64
    """Channels of the image features and width of every token (SAM2: 256)."""
    heads: int = 4
    """Attention heads of the memory attention and the mask decoder."""
    decoder_layers: int = 2
    """Two-way transformer layers of the mask decoder (SAM2: 2)."""
    proposals: int = 3
    """Mask proposals per prompt, each with its object token (SAM2 multimask: 3)."""
    memory_tokens: int = 8
    """Each memory entry is pooled to ``memory_tokens × memory_tokens`` spatial tokens plus its object token."""
    max_age: int = 16
    """Temporal position embeddings of memory entries: ages ``1..max_age`` (older ones share the last)."""

    # --- tracking module (§3.2)
    lambda_a: float = 0.25
    """Weight of the affinity score ``cos(z_t, z_{t−1})`` (Eq. 5, 8)."""
    lambda_m: float = 0.25
    """Weight of the motion score ``IoU(M_t, M̃_t)`` between a proposal and the previous mask moved
    by the Kalman prediction (Eq. 6, 8)."""
    lambda_o: float = 0.5
    """Weight of the objectness score ``σ(MLP(z_t))`` (Eq. 7, 8). ``λa + λm + λo`` must be 1;
    values that are not are normalised to sum 1."""
    memory_size: int = 7
    """Entries in each track's memory bank (SAM2's window: 7)."""
    memory_policy: str = "score"
    """``score``: a full bank evicts the entry with the lowest score recorded at insertion (paper);
    ``fifo``: the oldest (SAM2)."""
    memory_threshold: float = 0.5
    """Only a selected proposal scoring at least this is added to the memory ("high-quality candidate")."""
    min_score: float = 0.3
    """A track whose best proposal scores below this is lost (ends) in that frame."""
    min_objectness: float = 0.3
    """…or whose best proposal's objectness is below this."""
    mask_threshold: float = 0.5
    """A pixel belongs to a mask proposal when its probability exceeds this."""
    min_area: int = 12
    """Masks smaller than this many pixels are empty (track lost, detection ignored)."""
    new_cell_overlap: float = 0.3
    """A detector object starts a new track when less than this fraction of it lies under tracked masks."""
    revive_iou: float = 0.2
    """A lost track continues with an unclaimed detector object overlapping its predicted mask by this IoU."""
    daughter_fraction: float = 0.2
    """A track's mask falling into two parts, each at least this fraction of the mask, is a division."""
    detect_new: bool = True
    """Start tracks from the default detector's unprompted objects (cells that enter, missed boxes)."""
    std_position: float = 1 / 20
    """Kalman process noise of box position and size, as a fraction of the box side (SORT: 1/20)."""
    std_velocity: float = 1 / 160
    """Kalman process noise of the velocities, same unit (SORT: 1/160)."""

    # --- training (ours: the paper trains nothing, its SAM2 is frozen)
    lr: float = 1e-3
    """Adam maximal learning rate of the one-cycle schedule."""
    batch: int = 16
    """Cells (prompt + memory pairs) per step."""
    jitter: float = 0.15
    """Box jitter: each side moves by up to this fraction of the box size (a prompt is never exact)."""
    memory_frames: int = 3
    """Memory comes from 1..``memory_frames`` frames before the prompted frame."""
    p_negative: float = 0.1
    """Fraction of prompts placed on background (empty target, objectness 0)."""
    p_photometric: float = 0.5
    """Probability of a random photometric shift of a sample (celltrace.shifts)."""
    w_dice: float = 1.0
    """Weight of the dice term of the mask loss (beside the binary cross-entropy)."""
    w_objectness: float = 1.0
    """Weight of the objectness loss (BCE against the proposal's IoU with the target)."""
    w_affinity: float = 0.5
    """Weight of the token-affinity loss (InfoNCE between z_t and z_{t−1} of the same cell)."""
    split: str = "tail"
    """Train/validation split of each sequence's frames."""
    val_fraction: float = 0.2
    """Fraction of frames held out for validation (tail)."""
    val_samples: int = 64
    """Validation prompts per sequence."""

    def lambdas(self) -> tuple[float, float, float]:
        """``(λa, λm, λo)`` normalised to sum 1 (all equal if all are 0)."""
        total = self.lambda_a + self.lambda_m + self.lambda_o
        if total <= 0:
            return (1 / 3, 1 / 3, 1 / 3)
        return (self.lambda_a / total, self.lambda_m / total, self.lambda_o / total)

    def network(self) -> dict[str, Any]:
        """The fields that define the network's shape (stored with the weights)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("window", "dim", "heads", "decoder_layers", "proposals", "memory_tokens", "max_age")}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["BoxTrackConfig"]
