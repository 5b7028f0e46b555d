"""Shared linking: frame-to-frame LAP with shadow objects, divisions, gap closing; links → tracks.

Typical use::

    objects = [object_features(labels_t) for labels_t in segmentation]      # label, y, x, area
    linker = LAPLinker(cost=EuclideanCost(max_distance=20),
                       divisions=DivisionDetector(max_distance=30),
                       gap_closing=GapCloser(max_gap=2, max_distance=30))
    links = linker.link(objects)                                            # (t0, l0, t1, l1)
    tracking = Tracking.from_links(segmentation, links)

A learned link cost plugs in as ``LAPLinker(cost=GatedCost(score, max_distance))`` with
``score(t, objs_t, objs_t1, rows, cols) -> -log p_same``, a learned division score as
``DivisionDetector(cost=my_division_cost)``.
"""

from celltrace.linking.divisions import DivisionDetector, GeometricDivisionCost
from celltrace.linking.features import object_features
from celltrace.linking.gaps import GapCloser, brownian_gap_cost
from celltrace.linking.lap import (EuclideanCost, GatedCost, LAPLinker, alternative_cost, candidate_pairs, link,
                                   solve_lap)

__all__ = ["LAPLinker", "EuclideanCost", "GatedCost", "solve_lap", "candidate_pairs", "alternative_cost", "link",
           "DivisionDetector", "GeometricDivisionCost", "GapCloser", "brownian_gap_cost", "object_features"]
