"""DistNet2D (Ollion et al. 2024, "DistNet2D: Leveraging long-range temporal information for
enhanced 2D cell segmentation and tracking"): one network sees a window of frames around ``t`` and
predicts, for each frame, the Euclidean distance map (EDM) and the geodesic distance to the
cell's centre (GDCM), and for each frame pair the centre displacements and link multiplicity in
both directions; watershed post-processing segments, the displacements link, and merge/split
links that contradict the multiplicity are corrected or reported as suspects.

>>> tracker = celltrace.load_tracker("distnet2d")
"""

from celltrace.methods.distnet2d.config import DistNet2DConfig
from celltrace.methods.distnet2d.tracker import DistNet2DTracker, find_weights

__all__ = ["DistNet2DConfig", "DistNet2DTracker", "find_weights"]
