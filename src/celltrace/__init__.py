"""celltrace: segment, track and lineage-trace cells in 2D+time microscopy movies.

Two calls from a movie to a result::

    import celltrace
    movie = celltrace.open_movie("Fluo-N2DH-SIM+/02")
    result = celltrace.track(movie, method="classic")
    result.to_ctc("02_RES")
"""

from celltrace.errors import CelltraceError, InputError, TrackingError
from celltrace.frames import LazyFrames
from celltrace.movie import Movie, open_movie
from celltrace.tracking import Tracking
from celltrace.methods.base import available_methods, load_tracker
from celltrace.api import track, track_to_folder
from celltrace.batch import batch
from celltrace.synth import synthetic_movie
from celltrace.metrics import evaluate

__version__ = "0.1.0"

__all__ = ["CelltraceError", "InputError", "TrackingError", "LazyFrames", "Movie", "open_movie",
           "Tracking", "available_methods", "load_tracker", "track", "track_to_folder", "batch", "synthetic_movie", "evaluate", "__version__"]
