"""Parameters of the classic tracker, with defaults measured on the CTC training sets.

Lengths are given as factors of the typical cell radius ``r`` (pixels), which is estimated from
the movie (:func:`~celltrace.segmentation.estimate_cell_radius`) unless ``cell_radius`` is set,
so that one set of defaults works for small nuclei and large cells alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from celltrace.methods.config import AT_LEAST_ONE, PERCENT, POSITIVE, MethodConfig
from celltrace.segmentation.threshold import THRESHOLD_METHODS


@dataclass
class ClassicConfig(MethodConfig):
    """Segmentation (threshold + distance-transform watershed) and LAP linking parameters."""

    method = "classic"
    # values allowed where not "finite and ≥ 0" (checked by MethodConfig.from_params)
    limits = {"cell_radius": POSITIVE, "radius_frames": AT_LEAST_ONE, "threshold_factor": POSITIVE,
              "max_distance_factor": POSITIVE, "link_power": POSITIVE, "alternative_factor": POSITIVE,
              "alternative_percentile": PERCENT, "division_distance_factor": POSITIVE,
              "division_scale_factor": POSITIVE}
    choices = {"threshold_method": THRESHOLD_METHODS}

    # --- scale
    cell_radius: float | None = None
    """Typical cell radius ``r`` in pixels; ``None`` = estimated from ``radius_frames`` frames
    (or, in linking-only mode, ``sqrt(median area / pi)`` of the given objects)."""
    radius_frames: int = 3
    """Number of frames, spread evenly over the movie, used to estimate ``r``."""

    # --- segmentation (see celltrace.segmentation.segment_nuclei)
    threshold_method: str = "li"
    """Global threshold of the smoothed image: ``li`` (min. cross-entropy), ``otsu``, ``triangle``, ``mean``."""
    log_threshold: bool = True
    """Threshold ``log(1 + I - min)`` instead of ``I``: takes dim cells in when brightness varies."""
    threshold_factor: float = 1.0
    """Scales the threshold above the image minimum (< 1: more foreground)."""
    noise_k: float = 2.0
    """The threshold is at least ``median + noise_k x 1.4826 MAD`` (background + noise_k noise sigmas)."""
    sigma_factor: float = 0.1
    """Gaussian smoothing of the image, ``sigma = sigma_factor r``."""
    distance_sigma_factor: float = 0.15
    """Smoothing of the distance transform before finding markers, ``sigma_factor r``."""
    min_distance_factor: float = 0.5
    """Markers (distance maxima) at least ``min_distance_factor r`` apart."""
    h_factor: float = 0.25
    """Neighbouring maxima whose saddle is shallower than ``h_factor r`` are one cell (h-maxima)."""
    min_size_factor: float = 0.15
    """Objects smaller than ``min_size_factor pi r^2`` pixels are removed."""

    # --- frame-to-frame LAP (Jaqaman et al. 2008)
    max_distance_factor: float = 1.0
    """Link gate: objects farther apart than ``max_distance_factor r`` between frames are never linked."""
    motion_gate_factor: float = 1.5
    """The link gate is at least ``motion_gate_factor`` × the 90th percentile of nearest-neighbour
    displacements between consecutive frames (:func:`~celltrace.linking.features.typical_displacement`),
    so fast-moving sparse cells stay linkable; 0 disables."""
    link_power: float = 2.0
    """Link cost ``|x_i - x_j|^link_power`` (2: Brownian motion, Jaqaman's choice)."""
    alternative_factor: float = 1.05
    """Birth and death cost = ``alternative_factor`` x the largest candidate link cost (Jaqaman: 1.05)."""
    alternative_percentile: float | None = None
    """Use this percentile of the candidate costs instead of the maximum (stricter linking)."""

    # --- divisions
    divisions: bool = True
    """Detect divisions (a birth next to a mother becomes her second daughter)."""
    division_distance_factor: float = 1.5
    """Largest mother–daughter centroid distance, ``division_distance_factor r``."""
    division_scale_factor: float = 0.5
    """Length scale ``s = division_scale_factor r`` of the mother-between-daughters cost term."""
    division_area_weight: float = 1.0
    """Weight of ``ln((A_a + A_b)/A_m)^2`` (daughters together as large as the mother)."""
    division_symmetry_weight: float = 1.0
    """Weight of ``ln(A_a/A_b)^2`` (daughters of similar size)."""
    division_max_cost: float = 1.5
    """Largest accepted division cost."""

    # --- gap closing
    max_gap: int = 2
    """Close gaps of up to ``max_gap`` missing frames (0: no gap closing)."""
    gap_distance_factor: float = 1.5
    """Gap-closing gate, ``gap_distance_factor r``."""

