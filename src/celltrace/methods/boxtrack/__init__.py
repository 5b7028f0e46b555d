"""BoxTrack (Khalid et al. 2025, "Box it and Track it: A Weakly Supervised Framework for Cell
Tracking"): one box per cell in the first frame prompts a promptable segmenter; a Kalman filter on
each track's box predicts the next prompt, a score (token affinity, motion IoU, objectness)
selects among the mask proposals, and a score-curated memory bank conditions the segmenter.
Beyond the paper: unprompted cells found by the default detector start new tracks, and a track's
mask falling into two parts becomes a division.

>>> tracker = celltrace.load_tracker("boxtrack", boxes="boxes.csv")
"""

from celltrace.methods.boxtrack.config import BoxTrackConfig
from celltrace.methods.boxtrack.tracker import BoxTrackTracker, find_weights

__all__ = ["BoxTrackConfig", "BoxTrackTracker", "find_weights"]
