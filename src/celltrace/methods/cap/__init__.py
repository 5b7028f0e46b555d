"""CAP (Song et al. 2025, "Cell as Point: One-Stage Framework for Efficient Cell Tracking"): every cell
is a point; a transformer with time and cross-trajectory attention tracks the points of all cells of
a window jointly, with three slots per cell (the cell, two daughters) whose visibilities tell
divisions. Trained on TRA markers only (no segmentation), pre-trained on synthetic movies.

>>> tracker = celltrace.load_tracker("cap")
"""

from celltrace.methods.cap.config import CapConfig
from celltrace.methods.cap.tracker import CapTracker, find_weights

__all__ = ["CapConfig", "CapTracker", "find_weights"]
