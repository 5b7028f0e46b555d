"""Ground truth → the cell instances of a training frame, with track identities.

**Instances of a frame** (labels are TRA track ids, so identities carry across frames):

1. *SEG frame*: each SEG object takes the track id of the TRA marker it overlaps most (an object
   without a marker gets an id of its own, ``≥ UNTRACKED``, and no tracking target). A TRA marker
   with less than ``covered_fraction`` of its pixels on SEG labels is a cell the frame does not
   annotate: its marker pixels become its instance and the pixels within ``ignore_factor · r_m +
   ignore_margin`` of it that no instance covers are **ignored** — never taught as background
   (:mod:`celltrace.train.annotations`).
2. *frame without SEG whose markers are masks* (SIM+): the markers are the instances.
3. *other frames without SEG*: the markers are the instances (they lie inside their cells), the
   pixels near a marker but outside it are ignored, the rest is background.

**Centres** are medoids (:mod:`celltrace.segmentation.medoids`), computed on the whole frame.
Used by EmbedTrack's and DistNet2D's training targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from celltrace.segmentation.medoids import medoids
from celltrace.train.annotations import marker_neighbourhood, unannotated_markers
from celltrace.train.data import CTCSequence, FrameSample

UNTRACKED = 1_000_000
"""Instance ids from here on are SEG objects without a TRA marker (no identity over time)."""


@dataclass(frozen=True)
class AnnotationRules:
    """How partial annotations are read (the fields a method's config repeats with its own defaults)."""

    covered_fraction: float = 0.5
    """A TRA marker with less than this fraction of its pixels on SEG labels is an unannotated cell."""
    ignore_factor: float = 1.0
    """Ignore radius around a marker-only instance: ``ignore_factor · r_m + ignore_margin`` pixels."""
    ignore_margin: float = 3.0
    """Extra pixels of that ignore radius."""


@dataclass
class FrameLabels:
    """Instances of one frame: ``labels`` (int32 track ids, 0 background), ``ignore`` (bool),
    ``centres`` (id → medoid), ``kind`` ('seg', 'markers' or 'weak')."""

    labels: np.ndarray
    ignore: np.ndarray
    centres: dict[int, tuple[int, int]]
    kind: str


def _majority_marker(seg: np.ndarray, markers: np.ndarray) -> dict[int, int]:
    """SEG label → the marker label it overlaps most (only objects that overlap one)."""
    both = (seg > 0) & (markers > 0)
    if not both.any():
        return {}
    pairs, counts = np.unique(np.stack([seg[both], markers[both]]).astype(np.int64), axis=1, return_counts=True)
    out: dict[int, int] = {}
    best: dict[int, int] = {}
    for (s, m), c in zip(pairs.T.tolist(), counts.tolist()):
        if c > best.get(s, 0):
            best[s], out[s] = c, m
    return out


def frame_labels(sample: FrameSample, config: AnnotationRules | Any = None) -> FrameLabels:
    """Instances, ignore mask and centres of one frame by rules 1–3 of the module docstring;
    ``config``: any object with the fields of :class:`AnnotationRules` (a method's config)."""
    c = config or AnnotationRules()
    markers = np.asarray(sample.markers).astype(np.int64)
    if sample.seg is not None:
        seg = np.asarray(sample.seg).astype(np.int64)
        to_track = _majority_marker(seg, markers)
        seg_ids = np.unique(seg[seg > 0])
        used: set[int] = set()
        lut = np.zeros(int(seg.max()) + 1, dtype=np.int64)
        for s in seg_ids.tolist():
            m = to_track.get(s)
            if m is None or m in used:
                lut[s] = UNTRACKED + s
            else:
                lut[s] = m
                used.add(m)
        labels = lut[seg]
        missing = np.setdiff1d(unannotated_markers(seg, markers, c.covered_fraction), np.fromiter(used, np.int64))
        if missing.size:
            add = np.isin(markers, missing) & (labels == 0)
            labels[add] = markers[add]
            ignore = marker_neighbourhood(markers, missing, c.ignore_factor, c.ignore_margin) & (labels == 0)
        else:
            ignore = np.zeros(labels.shape, dtype=bool)
        kind = "seg"
    elif sample.markers_are_masks:
        labels, ignore, kind = markers, np.zeros(markers.shape, dtype=bool), "markers"
    else:
        labels = markers
        ignore = marker_neighbourhood(markers, None, c.ignore_factor, c.ignore_margin) & (markers == 0)
        kind = "weak"
    labels = labels.astype(np.int32)
    return FrameLabels(labels, ignore, medoids(labels), kind)


def mask_sizes(sample: FrameSample, config: Any = None) -> np.ndarray:
    """Pixel counts of the full cell masks of a frame (SEG objects, or markers that are masks); empty
    for frames that have neither (marker sizes would be about half a cell)."""
    lab = sample.seg if sample.seg is not None else (sample.markers if sample.markers_are_masks else None)
    if lab is None:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(np.asarray(lab).ravel().astype(np.int64))
    return counts[1:][counts[1:] > 0]


def parents_of(sequence: CTCSequence) -> dict[int, int]:
    """Track id → parent id (0 none) from the sequence's ``TRA/man_track.txt`` (empty if absent)."""
    from celltrace.io.ctc import read_lineage

    path = sequence.gt_dir / "TRA" / "man_track.txt"
    if not path.is_file():
        return {}
    lin = read_lineage(path)
    return dict(zip(lin["label"].astype(int).tolist(), lin["parent"].astype(int).tolist()))


__all__ = ["UNTRACKED", "AnnotationRules", "FrameLabels", "frame_labels", "mask_sizes", "parents_of"]
