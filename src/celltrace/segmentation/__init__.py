"""Shared segmentation post-processing: thresholds, cell-size estimation, marker watershed.

Classical methods segment raw intensities with :func:`segment_nuclei`; learned methods turn their
predicted foreground and distance/centre maps into labels with :func:`watershed_from_maps`.
"""

from celltrace.segmentation.cell_size import component_radii, estimate_cell_radius, foreground_radius
from celltrace.segmentation.threshold import as_float, clean_mask, foreground_mask, smooth, threshold_value
from celltrace.segmentation.watershed import (distance_map, find_markers, relabel_sequential, segment_nuclei,
                                              watershed_from_maps)

__all__ = ["estimate_cell_radius", "foreground_radius", "component_radii", "as_float", "smooth", "threshold_value", "foreground_mask",
           "clean_mask", "distance_map", "find_markers", "relabel_sequential", "watershed_from_maps",
           "segment_nuclei"]
