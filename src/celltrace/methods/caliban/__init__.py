"""Caliban (Schwartz et al. 2023, "Caliban: Accurate cell tracking and lineage construction in
live-cell imaging experiments with deep learning"): a feature-pyramid network predicts
foreground, inner and outer distance maps; a marker watershed turns them into nuclei; the
objects are then linked.

>>> tracker = celltrace.load_tracker("caliban", weights="caliban_seg.pt")
"""

from celltrace.methods.caliban.config import CalibanSegConfig
from celltrace.methods.caliban.tracker import CalibanTracker, find_weights

__all__ = ["CalibanSegConfig", "CalibanTracker", "find_weights"]
