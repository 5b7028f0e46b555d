"""The standard linker of celltrace: frame-to-frame LAP with the Euclidean cost (Jaqaman et al.
2008), an adaptive motion gate, divisions from mother–daughter geometry and gap closing — its
settings (:class:`LAPLinkingConfig`, lengths in cell radii) and :func:`build_linker`.

The classic method uses it on its threshold segmentation; a learned segmentation can use it too
(caliban's ``linker='lap'``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from celltrace.linking.divisions import DivisionDetector, GeometricDivisionCost
from celltrace.linking.features import typical_displacement
from celltrace.linking.gaps import GapCloser
from celltrace.linking.lap import EuclideanCost, LAPLinker
from celltrace.methods.config import PERCENT, POSITIVE

LINKING_LIMITS = {"max_distance_factor": POSITIVE, "link_power": POSITIVE, "alternative_factor": POSITIVE,
                  "alternative_percentile": PERCENT, "division_distance_factor": POSITIVE,
                  "division_scale_factor": POSITIVE, "division_max_daughter_fraction": POSITIVE}
"""Allowed ranges of the fields below where not "finite and ≥ 0" (see ``MethodConfig.limits``)."""


@dataclass
class LAPLinkingConfig:
    """Settings of the standard LAP linker; lengths are factors of the cell radius ``r``."""

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
    division_distance_factor: float = 2.0
    """Largest mother–daughter centroid distance, ``division_distance_factor r``."""
    division_scale_factor: float = 0.5
    """Length scale ``s = division_scale_factor r`` of the mother-between-daughters cost term."""
    division_area_weight: float = 1.0
    """Weight of ``ln((A_a + A_b)/A_m)^2`` (daughters together as large as the mother)."""
    division_symmetry_weight: float = 0.25
    """Weight of ``ln(A_a/A_b)^2`` (daughters of similar size). 0.25 and ``division_distance_factor``
    2 (were 1 and 1.5) chosen on the generalization protocol
    (``benchmarks/results/classic-division-pruning/``): linking SIM+ 02's GT markers, BC(2) 0.902 →
    0.941 (a daughter is often much smaller than her sister in her first frame, or farther than
    1.5 r from the mother); TRA unchanged on every case; BC(2) on classic's own masks a tie (mean of
    spatial, LODO and shift 0.539 vs 0.547, one or two divisions of the few in those cases)."""
    division_shrink_weight: float = 0.0
    """Weight of ``max(0, ln(max(A_a, A_b) / (f A_m)))^2``, ``f`` = ``division_max_daughter_fraction``:
    no daughter is larger than a fraction of her mother (a mother that keeps her size next to a
    birth did not divide); 0 = off. ``classic`` turns it on (its segmentation was measured with
    it); caliban's segmentation gives daughters larger than 0.7 of the mother, and with the term
    its SIM+ BC(2) fell 0.741 → 0.583, so the linker's own default is off."""
    division_max_daughter_fraction: float = 0.7
    """The ``f`` of ``division_shrink_weight``."""
    division_shrink_ended: bool = False
    """Apply ``division_shrink_weight`` also where the mother has no successor (both daughters are
    births), not only where she continues into one of the two. Off: the term's reason, a mother
    that keeps her size beside a birth, needs a mother that continues; the last object of a mother
    that ends is often condensed mitotic chromatin, smaller than either daughter (SIM+ 02: 5 of the 6
    divisions classic's linker missed with both daughters found). Chosen on the generalization
    protocol (``benchmarks/results/classic-division-shrink-ended/``): classic's SIM+ BC(2) LODO
    0.562 → 0.632, GT markers linked 0.952 → 0.965, spatial 0.667 → 0.643 (one false division),
    TRA within 0.001 everywhere."""
    division_max_cost: float = 1.5
    """Largest accepted division cost."""
    division_min_branch_frames: int = 3
    """Once the movie is linked, a division whose shorter daughter branch dies within fewer frames
    than this is taken back (:func:`~celltrace.linking.divisions.prune_short_daughters`): fragments
    of over-segmented cells are born next to a cell and vanish; 0 or 1 = keep every division.
    3 chosen on the generalization protocol (``benchmarks/results/classic-division-pruning/``):
    SIM+ BC(2) spatial 0.292 → 0.400, LODO 0.265 → 0.383, TRA unchanged everywhere. The live
    linker decides a division ``division_min_branch_frames - 1 + max_gap + 1`` frames after it
    (:class:`~celltrace.linking.online.OnlineLinker`)."""

    # --- gap closing
    max_gap: int = 2
    """Close gaps of up to ``max_gap`` missing frames (0: no gap closing)."""
    gap_distance_factor: float = 1.5
    """Gap-closing gate, ``gap_distance_factor r``."""
    close_jumps: bool = False
    """Gap closing also joins a track end to a track start in the very next frame
    (:class:`~celltrace.linking.gaps.GapCloser` ``jumps``): an object that moved farther than the
    frame-to-frame gate but within the gap gate. Off here (the linker's own default, as measured
    for every method); ``classic`` turns it on."""



def build_linker(config: LAPLinkingConfig, radius: float, motion: float = 0.0) -> LAPLinker:
    """The :class:`~celltrace.linking.LAPLinker` ``config`` describes, lengths scaled by ``radius``;
    the link gate is ``max(max_distance_factor·r, motion_gate_factor·motion)``, ``motion`` the
    typical displacement (:func:`~celltrace.linking.features.typical_displacement`)."""
    r = float(radius)
    divisions = None
    if config.divisions:
        cost = GeometricDivisionCost(scale=config.division_scale_factor * r, w_area=config.division_area_weight,
                                     w_sym=config.division_symmetry_weight, w_shrink=config.division_shrink_weight,
                                     max_daughter_fraction=config.division_max_daughter_fraction)
        divisions = DivisionDetector(
            max_distance=config.division_distance_factor * r, max_cost=config.division_max_cost, cost=cost,
            min_branch_frames=config.division_min_branch_frames,
            ended_cost=None if config.division_shrink_ended else replace(cost, w_shrink=0.0))
    gaps = GapCloser(max_gap=config.max_gap, max_distance=config.gap_distance_factor * r,
                     jumps=config.close_jumps) if config.max_gap > 0 else None
    gate = max(config.max_distance_factor * r, config.motion_gate_factor * float(motion))
    return LAPLinker(cost=EuclideanCost(gate, config.link_power),
                     alternative_factor=config.alternative_factor,
                     alternative_percentile=config.alternative_percentile,
                     divisions=divisions, gap_closing=gaps)


def link_objects(config: LAPLinkingConfig, objects: Sequence[pd.DataFrame], radius: float,
                 progress: bool = False) -> tuple[np.ndarray, float]:
    """Link per-frame object tables with the standard linker: ``(links, motion)``, ``motion`` the
    typical displacement the gate used (0 when ``motion_gate_factor`` is 0)."""
    motion = typical_displacement(objects) if config.motion_gate_factor > 0 else 0.0
    return build_linker(config, radius, motion).link(objects, progress=progress), motion


__all__ = ["LAPLinkingConfig", "LINKING_LIMITS", "build_linker", "link_objects"]
