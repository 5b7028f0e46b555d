"""Results a person can look at: overlay movie, lineage trees, track statistics, error view, HTML.

    from celltrace.report import write_report
    path = write_report("02_RES", "Fluo-N2DH-GOWT1/02", "report/", gt="02_GT")   # → report/report.html

Modules: :mod:`.overlay` (rendered frames, MP4 + GIF), :mod:`.lineage_plot` (trees),
:mod:`.statistics` (lengths, speeds, MSD, divisions, counts), :mod:`.errors` (where a result
disagrees with the ground truth), :mod:`.html` (the self-contained page), :mod:`.build`
(:func:`write_report`, one pass over the frames).
"""

from celltrace.report.build import REPORT_FILE, write_report
from celltrace.report.errors import ErrorReport, find_errors
from celltrace.report.lineage_plot import layout_trees, plot_lineage
from celltrace.report.overlay import label_color, label_colors, write_overlay
from celltrace.report.statistics import TrackStatistics, plot_statistics, track_statistics

__all__ = ["write_report", "REPORT_FILE", "find_errors", "ErrorReport", "plot_lineage", "layout_trees",
           "label_color", "label_colors", "write_overlay", "track_statistics", "plot_statistics", "TrackStatistics"]
