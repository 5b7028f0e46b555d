"""Tracking: label masks + lineage table with the Cell Tracking Challenge (CTC) semantics.

* ``masks`` — (T, H, W) integer labels, 0 = background, one label per track *segment*.
* ``lineage`` — one row per label: ``label, begin, end, parent`` (CTC ``L B E P``). A label is
  present in every frame ``begin..end`` and in no other. ``parent`` is 0 or the label of the
  segment this one continues from: across a division (the mother ends at ``end``, each daughter
  begins at ``end + 1``) or across a gap (a single child beginning later than ``end + 1``).

Every method returns this type, so any result can be written, validated and scored the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from celltrace.errors import TrackingError
from celltrace.frames import Frames, LazyFrames, as_frames
from celltrace.units import add_unit_columns, scale_of

LINEAGE_COLUMNS = ["label", "begin", "end", "parent"]
MAX_LABEL = 2**32 - 1
"""The largest label (and frame number) celltrace accepts: CTC masks are at most uint32."""


def make_lineage(rows: Iterable[Iterable[int]] | np.ndarray | pd.DataFrame) -> pd.DataFrame:
    """Return a lineage DataFrame (columns label, begin, end, parent; int64) sorted by label."""
    if isinstance(rows, pd.DataFrame):
        df = rows[LINEAGE_COLUMNS].copy()
    else:
        arr = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.int64).reshape(-1, 4)
        df = pd.DataFrame(arr, columns=LINEAGE_COLUMNS)
    df = df.astype(np.int64).sort_values("label", kind="stable").reset_index(drop=True)
    return df


def label_dtype(max_label: int) -> np.dtype:
    """Smallest unsigned dtype CTC tools read that holds ``max_label`` (uint16, else uint32)."""
    return np.dtype(np.uint16) if max_label < 2**16 else np.dtype(np.uint32)


def cell_table_of(measurements: pd.DataFrame, lineage: pd.DataFrame, pixel_size_um: Any = None,
                  frame_interval_s: float | None = None) -> pd.DataFrame:
    """The cell table (:meth:`Tracking.cell_table`) from per-frame :func:`frame_measurements`: each
    row's ``parent`` (the lineage's, 0 for none) inserted after ``label``, and the unit columns
    where the scale is known (:func:`~celltrace.units.add_unit_columns`)."""
    parents = dict(zip(lineage["label"], lineage["parent"]))
    measurements.insert(2, "parent", measurements["label"].map(parents).fillna(0).astype(np.int64))
    return add_unit_columns(measurements, pixel_size_um, frame_interval_s)


@dataclass
class Tracking:
    """Label masks (T, H, W) and the lineage table (label, begin, end, parent)."""

    masks: Frames
    lineage: pd.DataFrame
    points: pd.DataFrame | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.masks = as_frames(self.masks)
        self.lineage = make_lineage(self.lineage)

    # ------------------------------------------------------------------ basic facts
    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.masks.shape)  # type: ignore[return-value]

    @property
    def n_frames(self) -> int:
        return self.shape[0]

    @property
    def n_tracks(self) -> int:
        return len(self.lineage)

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (f"Tracking(shape={self.shape}, tracks={self.n_tracks}, "
                f"divisions={len(self.divisions())})")

    def children(self) -> dict[int, list[int]]:
        """Map parent label → labels whose parent it is (division daughters or gap continuations)."""
        out: dict[int, list[int]] = {}
        for label, parent in zip(self.lineage["label"].to_numpy(), self.lineage["parent"].to_numpy()):
            if parent:
                out.setdefault(int(parent), []).append(int(label))
        return out

    def divisions(self) -> pd.DataFrame:
        """One row per division: ``parent``, ``frame`` (first frame of the daughters), ``daughters``.

        A division is a parent with two or more children that begin right after it ends.
        """
        ends = dict(zip(self.lineage["label"], self.lineage["end"]))
        begins = dict(zip(self.lineage["label"], self.lineage["begin"]))
        rows = []
        for parent, kids in sorted(self.children().items()):
            at = [k for k in kids if parent in ends and begins[k] == ends[parent] + 1]
            if len(at) >= 2:
                rows.append((parent, int(ends[parent]) + 1, tuple(sorted(at))))
        return pd.DataFrame(rows, columns=["parent", "frame", "daughters"])

    def object_links(self) -> set[tuple[int, int, int, int]]:
        """The links between objects, whatever the track numbering: ``(t0, p0, t1, p1)`` for a
        track's consecutive frames and for parent → child (parent's last frame → child's first),
        each object named by its first pixel in raster order. Two trackings of one segmentation
        link the same cells exactly when these sets are equal (a cell that continues her
        mother's track under a new label, as the live linker writes it, links the same)."""
        first: dict[tuple[int, int], int] = {}
        for t in range(self.n_frames):
            labels, idx = np.unique(np.asarray(self.masks[t]).ravel(), return_index=True)
            first.update({(t, int(lab)): int(i) for lab, i in zip(labels, idx) if lab > 0})
        ends = dict(zip(self.lineage["label"].tolist(), self.lineage["end"].tolist()))
        links = set()
        for lab, b, e, parent in self.lineage[["label", "begin", "end", "parent"]].itertuples(index=False):
            for t in range(b, e):
                if (t, lab) in first and (t + 1, lab) in first:
                    links.add((t, first[t, lab], t + 1, first[t + 1, lab]))
            if parent > 0 and (ends[parent], parent) in first and (b, lab) in first:
                links.add((ends[parent], first[ends[parent], parent], b, first[b, lab]))
        return links

    # ------------------------------------------------------------------ validation
    def problems(self, max_problems: int = 20) -> list[str]:
        """Every way this tracking breaks the CTC rules (up to ``max_problems``), as sentences."""
        out: list[str] = []
        lin = self.lineage
        T = self.n_frames
        lineage_file = self.meta.get("lineage_file", "lineage table")
        mask_files = self.meta.get("mask_files")

        def frame_name(t: int) -> str:
            return f"frame {t} ({Path(mask_files[t]).name})" if mask_files else f"frame {t}"

        def add(msg: str) -> bool:
            out.append(msg)
            return len(out) >= max_problems

        if not np.issubdtype(np.dtype(self.masks.dtype), np.integer):
            add(f"masks have dtype {self.masks.dtype}; labels must be integers")
            return out
        labels = lin["label"].to_numpy()
        if (labels < 1).any():
            if add(f"{lineage_file}: label {int(labels[labels < 1][0])} is < 1 (labels must be ≥ 1, 0 is background)"):
                return out
        uniq, counts = np.unique(labels, return_counts=True)
        for lab in uniq[counts > 1]:
            if add(f"{lineage_file}: label {int(lab)} is listed more than once"):
                return out
        info = {int(r.label): (int(r.begin), int(r.end), int(r.parent)) for r in lin.itertuples()}
        cycles = parent_cycles({lab: p for lab, (_, _, p) in info.items()})
        on_cycle = {lab: cyc for cyc in cycles for lab in cyc}
        for lab, (b, e, p) in info.items():
            if b < 0 or e >= T:
                if add(f"{lineage_file}: label {lab} spans frames {b}..{e} outside the movie's 0..{T - 1}"):
                    return out
            if e < b:
                if add(f"{lineage_file}: label {lab} ends (frame {e}) before it begins (frame {b})"):
                    return out
            if lab in on_cycle:
                cyc = on_cycle[lab]
                if lab == cyc[0]:
                    what = (f"label {lab} is its own parent" if len(cyc) == 1 else
                            f"parent cycle: label {lab}'s parent is "
                            + ", whose parent is ".join(map(str, cyc[1:] + [lab])))
                    if add(f"{lineage_file}: {what} (a track cannot descend from itself)"):
                        return out
            elif p:
                if p not in info:
                    if add(f"{lineage_file}: label {lab} has parent {p}, which is not listed"):
                        return out
                elif info[p][1] >= b:
                    if add(f"{lineage_file}: label {lab} begins at frame {b} but its parent {p} "
                           f"ends at frame {info[p][1]} (a parent must end before its child begins)"):
                        return out
        begin = lin["begin"].to_numpy()
        end = lin["end"].to_numpy()
        for t in range(T):
            frame = np.asarray(self.masks[t])
            present = np.unique(frame)
            if present.size and present[0] < 0:
                if add(f"{frame_name(t)}: negative label {int(present[0])}"):
                    return out
            if present.size and present[-1] > MAX_LABEL:
                if add(f"{frame_name(t)}: label {int(present[-1])} exceeds {MAX_LABEL}, the largest label "
                       f"celltrace accepts"):
                    return out
            present = present[(present > 0) & (present <= MAX_LABEL)].astype(np.int64)
            expected = labels[(begin <= t) & (end >= t)]  # sorted, as labels are
            listed = in_sorted(present, labels)  # lookups, not set operations on every label per frame
            for lab in present[~listed]:
                if add(f"{frame_name(t)}: label {int(lab)} is not listed in {lineage_file}"):
                    return out
            for lab in present[listed & ~in_sorted(present, expected)]:
                b, e, _ = info[int(lab)]
                if add(f"{frame_name(t)}: label {int(lab)} is present but {lineage_file} gives it frames {b}..{e}"):
                    return out
            for lab in np.unique(expected[~in_sorted(expected, present)]):
                b, e, _ = info[int(lab)]
                if add(f"{frame_name(t)}: label {int(lab)} is missing though {lineage_file} gives it frames {b}..{e}"):
                    return out
        return out

    def validate(self) -> "Tracking":
        """Raise :class:`TrackingError` (first problem, and how many more) unless the CTC rules hold.

        Rules: labels unique and ≥ 1; ``end ≥ begin`` within the movie; a parent is listed and ends
        strictly before its child begins; every label is in the masks in every frame
        ``begin..end`` and in no other; every mask label is listed; 0 is background.
        """
        found = self.problems(max_problems=50)
        if found:
            more = f" (and {len(found) - 1} more problems)" if len(found) > 1 else ""
            raise TrackingError(found[0] + more)
        return self

    def window(self, start: int, stop: int) -> "Tracking":
        """Frames ``start..stop-1`` as a Tracking of their own (frame ``start`` becomes 0).

        Labels living outside the window are dropped, the others' spans clipped to it; a parent
        that is dropped leaves its children without parent. Masks stay lazy; ``meta`` keeps the
        source and the window's mask files.
        """
        T = self.n_frames
        if not 0 <= start < stop <= T:
            raise ValueError(f"window {start}:{stop} does not fit {T} frames")
        lin = self.lineage
        keep = lin[(lin["begin"] < stop) & (lin["end"] >= start)].copy()
        keep["begin"] = keep["begin"].clip(lower=start) - start
        keep["end"] = keep["end"].clip(upper=stop - 1) - start
        keep.loc[~keep["parent"].isin(keep["label"]), "parent"] = 0
        meta = dict(self.meta)
        if meta.get("mask_files"):
            meta["mask_files"] = list(meta["mask_files"])[start:stop]
        meta["window"] = (start, stop)
        return Tracking(masks=self.masks[start:stop], lineage=keep, meta=meta)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_ctc(cls, folder: str | Path) -> "Tracking":
        """Read a CTC GT folder (``TRA/man_track*.tif`` + ``man_track.txt``) or RES folder."""
        from celltrace.io.ctc import read_ctc

        return read_ctc(folder)

    def to_ctc(self, folder: str | Path, kind: str = "res", overwrite: bool = False) -> Path:
        """Write a CTC RES folder (``mask*.tif`` + ``res_track.txt``) or GT folder (``kind='gt'``)."""
        from celltrace.io.ctc import write_ctc

        return write_ctc(self, folder, kind=kind, overwrite=overwrite)

    @classmethod
    def from_links(cls, segmentation: Frames, links: Iterable[tuple[int, int, int, int]] | np.ndarray,
                   labels_per_frame: list[np.ndarray] | None = None) -> "Tracking":
        """Build a Tracking from per-frame segmentations and links between their objects.

        ``segmentation[t]`` labels objects of frame t (labels local to that frame). ``links`` are
        ``(t0, label0, t1, label1)`` with ``t1 > t0``. An object with one link to the next frame,
        whose target has no other incoming link, continues its track; otherwise the track ends, and
        each linked object starts a new track whose parent is the ended one (a division for two
        targets right after, a gap-closing continuation for a later frame). An object with several
        incoming links keeps the first (CTC tracks cannot merge). Masks keep the input pixels, only
        relabelled; a lazy segmentation gives lazy masks.
        """
        from celltrace.linking.graph import tracks_from_links

        return tracks_from_links(cls, segmentation, links, labels_per_frame)

    # ------------------------------------------------------------------ tables and exports
    def cell_table(self, movie: Any = None, frames: range | None = None) -> pd.DataFrame:
        """One row per cell per frame: frame, label, parent, centroid_y, centroid_x, area,
        bbox_min_y, bbox_min_x, bbox_max_y, bbox_max_x (exclusive), mean_intensity (NaN without movie),
        in pixels and frames; then, when the scale is known (the movie's, else ``meta``'s
        ``pixel_size_um`` / ``frame_interval_s``), ``y_um, x_um, area_um2`` and ``time_s``
        (:func:`~celltrace.units.add_unit_columns`). ``frames``: only these frames (the rows of the
        whole table that have them; for writing a long movie's table a chunk at a time)."""
        parts = []
        for t in range(self.n_frames) if frames is None else frames:
            frame = np.asarray(self.masks[t])
            image = None if movie is None else np.asarray(movie[t], dtype=np.float64)
            parts.append(frame_measurements(frame, image, t))
        df = pd.concat(parts, ignore_index=True) if parts else frame_measurements(np.zeros((1, 1), int), None, 0)
        return cell_table_of(df, self.lineage, *scale_of(movie, self.meta))

    def to_csv(self, path: str | Path, movie: Any = None, overwrite: bool = True) -> Path:
        """Write :meth:`cell_table` as CSV (atomically, a chunk of frames at a time; without
        ``overwrite`` an existing file is kept)."""
        from celltrace.io.atomic import atomic_file
        from celltrace.io.results import write_cell_table

        path = Path(path)
        with atomic_file(path, overwrite=overwrite) as tmp:
            write_cell_table(self, tmp, movie)
        return path

    def to_napari_tracks(self) -> tuple[np.ndarray, dict[int, list[int]]]:
        """``(data, graph)`` for ``napari.layers.Tracks``: data rows ``[track_id, t, y, x]``,
        graph ``{child: [parent]}`` for every lineage link."""
        table = self.cell_table()
        data = table[["label", "frame", "centroid_y", "centroid_x"]].to_numpy(dtype=np.float64)
        graph = {int(r.label): [int(r.parent)] for r in self.lineage.itertuples() if r.parent}
        return data, graph

    def to_geff(self, path: str | Path, overwrite: bool = False) -> Path:
        """Write the cell graph (one node per cell per frame, edges along tracks and to children)
        as a GEFF zarr store."""
        from celltrace.io.geff import write_geff

        return write_geff(self, path, overwrite=overwrite)


def frame_measurements(labels: np.ndarray, image: np.ndarray | None, t: int) -> pd.DataFrame:
    """Per-label measurements of one frame (see :meth:`Tracking.cell_table`): centroid, area and
    mean intensity from :func:`~celltrace.linking.features.object_features`, plus the bounding box."""
    from celltrace.linking.features import object_features

    cols = ["frame", "label", "centroid_y", "centroid_x", "area",
            "bbox_min_y", "bbox_min_x", "bbox_max_y", "bbox_max_x", "mean_intensity"]
    obj = object_features(labels, image)
    if len(obj) == 0:
        return pd.DataFrame({c: pd.Series(dtype=np.float64 if c.startswith(("centroid", "mean")) else np.int64)
                             for c in cols})
    present = obj["label"].to_numpy()
    # bounding boxes on labels compressed to 1..n, so find_objects stays small whatever the values
    flat = labels.ravel()
    idx = np.where(flat > 0, np.searchsorted(present, flat) + 1, 0)
    slices = ndi.find_objects(idx.reshape(labels.shape))
    bbox = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop] for s in slices], dtype=np.int64)
    return pd.DataFrame({
        "frame": np.full(present.size, t, dtype=np.int64), "label": present.astype(np.int64),
        "centroid_y": obj["y"].to_numpy(), "centroid_x": obj["x"].to_numpy(), "area": obj["area"].to_numpy(np.int64),
        "bbox_min_y": bbox[:, 0], "bbox_min_x": bbox[:, 1], "bbox_max_y": bbox[:, 2], "bbox_max_x": bbox[:, 3],
        "mean_intensity": obj["mean_intensity"].to_numpy() if image is not None else np.full(present.size, np.nan),
    })


def in_sorted(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    """For each of ``values``, whether it is in the ascending array ``sorted_ref`` (binary search:
    ``O(n log m)``, no sorting of ``sorted_ref``)."""
    if sorted_ref.size == 0:
        return np.zeros(values.shape, dtype=bool)
    i = np.clip(np.searchsorted(sorted_ref, values), 0, sorted_ref.size - 1)
    return sorted_ref[i] == values


def label_problem(frame: np.ndarray) -> str | None:
    """Why ``frame`` cannot be a label image (not integer, a negative label, a label beyond
    :data:`MAX_LABEL`), or None if it can."""
    if not np.issubdtype(frame.dtype, np.integer):
        return f"labels of dtype {frame.dtype}; labels must be integers"
    if frame.size == 0:
        return None
    lo, hi = frame.min(), frame.max()
    if lo < 0:
        return f"negative label {int(lo)} (labels are ≥ 1, 0 is background)"
    if hi > MAX_LABEL:
        return f"label {int(hi)} exceeds {MAX_LABEL}, the largest label celltrace accepts"
    return None


def parent_cycles(parent: dict[int, int]) -> list[list[int]]:
    """Every cycle of the parent relation ``label → parent`` (0 = none), each as the list of its
    labels starting from its smallest. Visits each label once, so it ends on any input."""
    state: dict[int, int] = {}          # 1 = on the path being walked, 2 = done
    cycles = []
    for start in parent:
        path: list[int] = []
        lab = start
        while lab and lab in parent and state.get(lab, 0) == 0:
            state[lab] = 1
            path.append(lab)
            lab = parent[lab]
        if lab and state.get(lab) == 1:   # walked back onto this path: a cycle from lab
            cyc = path[path.index(lab):]
            i = cyc.index(min(cyc))
            cycles.append(cyc[i:] + cyc[:i])
        for p in path:
            state[p] = 2
    return sorted(cycles)


def lineage_from_masks(masks: Frames) -> pd.DataFrame:
    """Lineage (no parents) of masks whose labels are already track identities: begin/end per label."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t in range(len(masks)):
        for lab in np.unique(np.asarray(masks[t])):
            if lab > 0:
                first.setdefault(int(lab), t)
                last[int(lab)] = t
    return make_lineage([(lab, first[lab], last[lab], 0) for lab in sorted(first)])


__all__ = ["Tracking", "make_lineage", "parent_cycles", "label_problem", "MAX_LABEL", "lineage_from_masks", "frame_measurements", "label_dtype", "LazyFrames"]
