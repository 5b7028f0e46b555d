"""EmbedTrack (Löffler & Mikut 2022, "EmbedTrack — Simultaneous Cell Segmentation and Tracking
Through Learning Offsets and Clustering Bandwidths"): a branched ERFNet predicts, for a frame pair
``(t−1, t)``, offsets of pixels to their cell centre, clustering bandwidths and seediness per frame,
and tracking offsets from pixels at ``t`` to their cell's centre at ``t−1``; clustering gives the
masks, the tracking offsets' votes link them.

>>> tracker = celltrace.load_tracker("embedtrack", weights="embedtrack.pt")
"""

from celltrace.methods.embedtrack.config import EmbedTrackConfig
from celltrace.methods.embedtrack.tracker import EmbedTrackTracker, find_weights

__all__ = ["EmbedTrackConfig", "EmbedTrackTracker", "find_weights"]
