"""Track many movies on a ``dask.distributed`` cluster: one result folder per movie, one summary table.

``celltrace.batch(inputs, out)`` (and ``celltrace batch``) finds the movies
(:func:`~celltrace.batch.inputs.find_movies`), skips those whose result is already complete, and
tracks the others, one movie per task, each with :func:`celltrace.api.track_to_folder` (so every
result folder is written atomically, exactly as ``celltrace track`` writes it). The cluster is a
:class:`~distributed.LocalCluster` on this machine (worker processes, one movie at a time each, the
tracker built once per worker by :class:`~celltrace.batch.worker.LoadTracker`) or an existing one
reached by its scheduler address.

Failure and resumption:

* a movie that fails (unreadable file, no cells, ...) gets ``status = failed`` and its one-line
  error in the table; the others go on;
* a worker that dies while tracking (killed, out of memory) loses nothing but its task: the
  scheduler runs the movie again on another worker (``distributed.scheduler.allowed-failures``
  times, then the movie is recorded as failed); the dead worker's unfinished output is a hidden
  temporary that the next write beside it removes (:mod:`celltrace.io.atomic`);
* running the same batch again skips every movie whose result folder is complete (it exists with
  its ``run.json``, made from that movie by the same method and parameters), so a batch that was
  killed half-way resumes where it stopped.

Modules: ``inputs`` (which movies, which outputs), ``table`` (``batch.csv``, finished results),
``worker`` (what runs on a dask worker; imports ``distributed``), ``run`` (the cluster and the loop).
``celltrace.batch`` is the function :func:`batch`; this package is ``sys.modules['celltrace.batch']``.
"""

from celltrace.batch.inputs import MovieJob, default_output, find_movies, read_job_list
from celltrace.batch.run import batch, local_cluster
from celltrace.batch.table import BATCH_FILE, COLUMNS, finished

__all__ = ["BATCH_FILE", "COLUMNS", "MovieJob", "batch", "default_output", "find_movies", "finished",
           "local_cluster", "read_job_list"]
