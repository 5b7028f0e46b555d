"""The classic (non-learned) tracker: threshold + distance-transform watershed segmentation and
LAP linking with shadow objects, division detection and gap closing (Jaqaman et al. 2008).

>>> tracker = celltrace.load_tracker("classic", max_gap=3)
"""

from celltrace.methods.classic.config import ClassicConfig
from celltrace.linking.standard import build_linker
from celltrace.methods.classic.tracker import ClassicTracker

__all__ = ["ClassicConfig", "ClassicTracker", "build_linker"]
